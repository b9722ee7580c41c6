"""Render a ``RunReport`` as Markdown, JSON files and terminal tables."""

from __future__ import annotations

import time
from pathlib import Path

from matscibench.cost.stats import Summary
from matscibench.data.cache import atomic_path
from matscibench.errors import clean_text
from matscibench.report.aggregate import COST_COLUMNS, RunReport, TaskReport
from matscibench.report.fmt import fmt_value

__all__ = ["fmt_value", "fmt_summary", "to_markdown", "write_reports", "console_tables"]


def fmt_summary(s: Summary | None, with_ci: bool = True) -> str:
    if s is None or s.n == 0:
        return "–"
    out = fmt_value(s.center)
    if with_ci and s.has_ci:
        out += f" [{fmt_value(s.low)}, {fmt_value(s.high)}]"
    return out


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _ttt_cell(task: TaskReport, row) -> str:
    s = row.costs.get("train.time_to_target_s")
    reached = row.target_reached
    if reached is None:
        return "–"
    base = fmt_summary(s) if s is not None and s.n else "not reached"
    return f"{base} ({reached[0]}/{reached[1]})"


def cost_text(row, key: str, with_ci: bool = True) -> str:
    """A cost as text: measured; "<value> (declared)" when the submitter of a predictions file
    declared it; "not measured here" for a predictions file's other model costs."""
    source = row.cost_source(key)
    if source == "not measured here":
        return "not measured here"
    if key == "train.time_to_target_s" and source == "measured" and not row.replayed:
        return None  # the caller's time-to-target cell
    text = fmt_summary(row.costs.get(key), with_ci=with_ci)
    return f"{text} (declared)" if source == "declared" else text


def card_lines(t: TaskReport) -> list[str]:
    """One Markdown line per model card of the task, with its possible leakage."""
    out = []
    for r in t.rows:
        c = r.card
        if not c:
            continue
        parts = [f"**{_md_escape(r.model)}**: {_md_escape(c.get('name') or r.model)}"]
        for key, label in (("version", "version"), ("authors", "authors"), ("license", "license"), ("doi", "DOI"),
                           ("code_url", "code"), ("training_data", "trained on"), ("n_parameters", "parameters"),
                           ("hardware", "hardware"), ("hyperparameters", "hyperparameters")):
            v = c.get(key)
            if v in (None, "", [], {}):
                continue
            if isinstance(v, list):
                v = ", ".join(map(str, v))
            elif isinstance(v, dict):
                v = ", ".join(f"{a}={b}" for a, b in v.items())
            parts.append(f"{label} {_md_escape(v)}")
        if r.leakage:
            parts.append(f"**possible leakage**: its training data share {_md_escape(', '.join(r.leakage))} with this task's data")
        if r.replayed:
            parts.append("scored from a predictions file (model costs not measured here" +
                         (f"; declared: {', '.join(r.declared_costs)})" if r.declared_costs else ")"))
        out.append("- " + "; ".join(parts))
    return out


def _cost_md(t: TaskReport, r, key: str, with_ci: bool = True) -> str:
    text = cost_text(r, key, with_ci)
    return _ttt_cell(t, r) if text is None else text


def _task_markdown(t: TaskReport) -> list[str]:
    out = [f"### {t.task}", ""]
    if t.description:
        out += [_md_escape(t.description), ""]
    if t.target is not None:
        from matscibench.metrics import METRICS

        op = "≥" if METRICS[t.primary].higher_is_better else "≤"
        out += [f"Time to target: first time the {t.metric_label(t.primary)} reaches {op} {fmt_value(t.target)}.", ""]
    rows = [r for r in t.rows if not r.not_applicable]
    glance = t.glance()
    if glance and rows:
        title, g_metrics, g_costs = glance
        out += [f"{title} (accuracy: mean; times: median; rates: harmonic mean):", ""]
        header = ["model"] + [t.metric_label(m) for m in g_metrics] + [c.label for c in g_costs]
        out += ["| " + " | ".join(_md_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
        for r in rows:
            cells = [r.model] + [fmt_summary(r.metrics.get(m), with_ci=False) for m in g_metrics]
            cells += [_cost_md(t, r, c.key, with_ci=False) for c in g_costs]
            out.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
        out.append("")
    out += ["Accuracy (mean over folds and repeats, [95 % CI]):", ""]
    header = ["model", "jobs ok/failed"] + [t.metric_label(m) for m in t.metrics]
    out += ["| " + " | ".join(_md_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    na = [r for r in t.rows if r.not_applicable]
    for r in rows:
        cells = [r.model, f"{r.n_ok}/{r.n_failed}" + (f" (+{r.n_skipped} skipped)" if r.n_skipped else "")]
        cells += [fmt_summary(r.metrics.get(m)) for m in t.metrics]
        out.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    out += ["", "Cost (times: median [95 % CI]; rates: harmonic mean; memory: mean):", ""]
    cols = [c for c in COST_COLUMNS if any(c.key in r.costs for r in t.rows) or c.key == "train.time_to_target_s"]
    header = ["model"] + [c.label for c in cols]
    out += ["| " + " | ".join(_md_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r.model]
        for c in cols:
            cells.append(_cost_md(t, r, c.key))
        out.append("| " + " | ".join(_md_escape(x) for x in cells) + " |")
    published = [r for r in rows if r.published]
    if published:
        out += [""] + [f"Published: {_md_escape(r.model)}: per-fold scores read from {_md_escape(r.published)}; "
                       "machine unknown, costs not measured here." for r in published]
    cards = card_lines(t)
    if cards:
        out += ["", "Model cards:", ""] + cards
    if na:
        out += [""] + [f"Not applicable: {_md_escape(r.model)} ({_md_escape(r.not_applicable)})." for r in na]
    fails = [(r.model, f) for r in rows for f in r.failures]
    if fails:
        out += ["", "Jobs that did not finish:", ""]
        for model, f in fails:
            out.append(f"- {_md_escape(model)}, fold {f['fold']}, seed {f['seed']}: **{f['status']}**: {_md_escape(clean_text(f['error'] or '', 2000))}")
    out.append("")
    return out


def harness_text(rep: RunReport) -> tuple[str, list[tuple[str, float]]] | None:
    """(one-line summary, [(part, seconds), ...]) of what the harness cost the run, or None when
    the run's jobs did not record it (see ``aggregate.harness_summary``)."""
    from matscibench.report.aggregate import HARNESS_PARTS

    h = rep.harness
    if not h:
        return None
    line = (f"The harness cost {h['overhead_s']:.1f} s over {int(h['jobs'])} jobs ({h['per_job_ms']:.0f} ms per job), "
            f"{100 * h['fraction']:.1f} % of the jobs' time; the models' own work (training, prediction, metrics, ...) "
            f"took {h['work_s']:.1f} s.")
    return line, [(label, h[k]) for k, label in HARNESS_PARTS]


def to_markdown(rep: RunReport) -> str:
    sysinfo = rep.run.get("system") or {}
    created = rep.run.get("created_at")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created)) if created else "?"
    lines = [
        f"# matscibench run `{rep.run_id}`",
        "",
        f"Suite **{_md_escape(rep.suite_name)}**, started {when}, status **{rep.run.get('status')}**. "
        f"Jobs: " + ", ".join(f"{k} {v}" for k, v in sorted(rep.n_jobs.items())) + ".",
        "",
        f"matscibench {rep.run.get('matscibench_version')} (commit {rep.run.get('git_commit') or 'unknown'}).",
        "",
        "## Machine",
        "",
        f"- CPU: {sysinfo.get('cpu_model')} ({sysinfo.get('cpu_physical_cores')} physical / "
        f"{sysinfo.get('cpu_logical_cores')} logical cores), memory {sysinfo.get('memory_GiB')} GiB",
        "- GPUs: " + (", ".join(f"{g['name']} (driver {g['driver']})" for g in sysinfo.get("gpus", [])) or "none"),
        f"- OS: {sysinfo.get('os')}; Python {sysinfo.get('python')}",
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in (sysinfo.get("packages") or {}).items()),
        f"- Hosts that ran jobs: {', '.join(rep.hosts) or '–'}",
        "",
    ]
    if len(rep.hosts) > 1:
        lines += ["> **Warning**: jobs of this run ran on more than one host; compare costs only within one host.", ""]
    lines += ["## Results", ""]
    for t in rep.tasks:
        lines += _task_markdown(t)
    ht = harness_text(rep)
    if ht is not None:
        lines += ["## What the harness cost", "", ht[0], "", "| part | seconds, all jobs |", "|---|---:|"]
        lines += [f"| {label} | {sec:.2f} |" for label, sec in ht[1]]
        lines.append("")
    return "\n".join(lines)


def write_reports(rep: RunReport, out_dir: Path, html: bool = True) -> dict[str, Path]:
    """Write ``report.md``, ``report.json`` and (unless ``html=False``) the self-contained
    ``report.html`` into ``out_dir``; returns their paths (keys markdown, json, html)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "report.md", "json": out_dir / "report.json"}
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(to_markdown(rep), encoding="utf-8")
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(rep.dumps(), encoding="utf-8")
    if html:
        from matscibench.report.html import write_html

        paths["html"] = write_html(rep, out_dir / "report.html")
    return paths


def console_tables(rep: RunReport):
    """Rich renderables, one table per task: a row per metric and key cost, a column per model.

    Accuracy cells are ``mean ± half-width`` of the 95 % interval; cost cells are medians (times),
    harmonic means (rates) or means (memory).
    """
    from rich.markup import escape
    from rich.table import Table

    out: list = []
    for t in rep.tasks:
        rows = [r for r in t.rows if not r.not_applicable]
        title = f"[bold]{escape(t.task)}[/]" + (f" — {escape(t.description)}" if t.description else "")
        tab = Table(title=title, title_justify="left")
        tab.add_column("", style="bold", no_wrap=True)
        for r in rows:
            tab.add_column(escape(r.model), justify="right", no_wrap=True)
        jobs = []
        for r in rows:
            cell = f"{r.n_ok} ok"
            if r.n_failed:
                cell += f" [red]{r.n_failed} failed[/]"
            jobs.append(cell)
        tab.add_row("jobs", *jobs)
        for m in t.metrics:
            tab.add_row(escape(t.metric_label(m)), *[_pm(r.metrics.get(m)) for r in rows])
        tab.add_section()
        glance = t.glance()
        g_keys = {c.key for c in glance[2]} if glance else set()
        for c in COST_COLUMNS:
            if not c.console and c.key not in g_keys:
                continue
            if c.key == "train.time_to_target_s":
                if t.target is None:
                    continue
                from matscibench.metrics import METRICS

                op = "≥" if METRICS[t.primary].higher_is_better else "≤"
                label = f"time to {METRICS[t.primary].label} {op} {fmt_value(t.target)} (s)"
                if len(label) > 26:
                    label = c.console
                tab.add_row(escape(label), *[_cost_md(t, r, c.key, with_ci=False) for r in rows])
                continue
            if not any(c.key in r.costs for r in rows):
                continue
            tab.add_row(escape(c.console or c.label), *[escape(_cost_md(t, r, c.key, with_ci=False)) for r in rows])
        out.append(tab)
        for r in rows:
            if r.leakage:
                out.append(f"  [yellow]possible leakage[/]: {escape(r.model)} was trained on "
                           f"{escape(', '.join((r.card or {}).get('training_data') or []))}, which shares "
                           f"{escape(', '.join(r.leakage))} with the data of {escape(t.task)}")
            if r.replayed:
                out.append(f"  [dim]{escape(r.model)}: scored from a predictions file; model costs not measured here"
                           + (f" (declared: {escape(', '.join(r.declared_costs))})" if r.declared_costs else "") + "[/]")
        for r in t.rows:
            if r.not_applicable:
                out.append(f"  [dim]not applicable: {escape(r.model)} ({escape(r.not_applicable)})[/]")
                continue
            for f in r.failures:
                out.append(
                    f"  [red]{f['status']}[/]: {escape(t.task)} · {escape(r.model)} · fold {f['fold']} · "
                    f"seed {f['seed']}: {escape(clean_text(f['error'] or '', 500))}"
                )
    return out


def _pm(s: Summary | None) -> str:
    """``mean ± half-width`` (symmetric t-interval); the mean alone without an interval."""
    if s is None or s.n == 0:
        return "–"
    if not s.has_ci:
        return fmt_value(s.center)
    return f"{fmt_value(s.center)} ± {fmt_value((s.high - s.low) / 2.0)}"
