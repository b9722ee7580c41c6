"""Compare two runs: per task, model and metric the two means with their 95 % CIs, the difference
(B − A) and whether the intervals overlap.

Non-overlapping 95 % intervals are a simple, conservative flag of a real difference (two means
can differ significantly at the 5 % level while their intervals still overlap a little; Schenker
& Gentleman, The American Statistician 55(3), 2001). Overlap is not proof of equality. Costs are
compared the same way (median or harmonic-mean intervals) and only mean something when both runs
came from the same machine: the comparison warns when the machine fingerprints differ.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from matscibench.cost.stats import Summary
from matscibench.report.aggregate import COST_COLUMNS, RunReport

__all__ = ["ci_overlap", "verdict", "CompareRow", "Comparison", "compare_reports", "console_compare", "compare_html"]

#: costs compared besides the metrics (those with a label in the terminal report, except bookkeeping)
COMPARED_COSTS = ("train.total_s", "train.time_to_target_s", "predict.throughput_structures_per_s",
                  "predict.latency_p50_ms", "job.peak_rss_MiB")


def ci_overlap(a: Summary | None, b: Summary | None) -> bool | None:
    """Whether the two confidence intervals share a point; None when either has no interval."""
    if a is None or b is None or not (a.has_ci and b.has_ci):
        return None
    return bool(a.low <= b.high and b.low <= a.high)


def verdict(a: Summary | None, b: Summary | None, higher_is_better: bool | None) -> str:
    """``A better`` / ``B better`` (intervals apart), ``overlap``, ``no CI``, ``only A`` / ``only B``."""
    has_a = a is not None and a.n > 0 and math.isfinite(a.center)
    has_b = b is not None and b.n > 0 and math.isfinite(b.center)
    if not (has_a and has_b):
        return "only A" if has_a else "only B" if has_b else "–"
    ov = ci_overlap(a, b)
    if ov is None:
        return "no CI"
    if ov:
        return "overlap"
    if higher_is_better is None:
        return "differ"
    b_higher = b.center > a.center
    return "B better" if b_higher == higher_is_better else "A better"


@dataclass
class CompareRow:
    task: str
    model: str
    name: str  # metric or cost key
    label: str  # with unit
    kind: str  # "metric" or "cost"
    higher_is_better: bool | None
    a: Summary | None
    b: Summary | None

    @property
    def diff(self) -> float:
        """B − A of the centres (NaN when either is missing)."""
        if self.a is None or self.b is None or not (self.a.n and self.b.n):
            return math.nan
        return self.b.center - self.a.center

    @property
    def overlap(self) -> bool | None:
        return ci_overlap(self.a, self.b)

    @property
    def verdict(self) -> str:
        return verdict(self.a, self.b, self.higher_is_better)

    def to_json(self) -> dict[str, Any]:
        def summ(s: Summary | None):
            if s is None:
                return None
            return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in s.as_dict().items()}

        d = self.diff
        return {
            "task": self.task,
            "model": self.model,
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "higher_is_better": self.higher_is_better,
            "a": summ(self.a),
            "b": summ(self.b),
            "diff": d if math.isfinite(d) else None,
            "ci_overlap": self.overlap,
            "verdict": self.verdict,
        }


@dataclass
class Comparison:
    run_a: str
    run_b: str
    rows: list[CompareRow]
    machines_a: list[str] = field(default_factory=list)
    machines_b: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "matscibench.compare/1",
            "run_a": self.run_a,
            "run_b": self.run_b,
            "machines_a": self.machines_a,
            "machines_b": self.machines_b,
            "warnings": self.warnings,
            "rows": [r.to_json() for r in self.rows],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, default=str, allow_nan=False)

    def tasks(self) -> list[str]:
        return list(dict.fromkeys(r.task for r in self.rows))


def _machines(rep: RunReport) -> list[str]:
    fps = {fp for fp in (rep.machine_hosts or {}) if fp} | set(rep.machines)
    if not fps:
        fp = (rep.run.get("system") or {}).get("fingerprint")
        if fp:
            fps = {fp}
    return sorted(fps)


def machine_warnings(a: RunReport, b: RunReport) -> list[str]:
    """Why the two runs' costs may not be comparable (different machines, mixed machines)."""
    out = []
    ma, mb = _machines(a), _machines(b)
    sa, sb = a.run.get("system") or {}, b.run.get("system") or {}
    if ma and mb and set(ma) != set(mb):
        out.append(
            f"the runs came from different machines: A on {', '.join(ma)} ({sa.get('cpu_model', '?')}, host {sa.get('hostname', '?')}), "
            f"B on {', '.join(mb)} ({sb.get('cpu_model', '?')}, host {sb.get('hostname', '?')}); compare their costs with care "
            "(accuracies are comparable)"
        )
    for name, rep, m in (("A", a, ma), ("B", b, mb)):
        if len(m) > 1:
            out.append(f"run {name} ({rep.run_id}) itself mixes {len(m)} machines: {', '.join(m)}")
    pa, pb = sa.get("packages") or {}, sb.get("packages") or {}
    changed = [f"{k} {pa[k]} → {pb[k]}" for k in sorted(set(pa) & set(pb)) if pa[k] != pb[k]]
    if changed:
        out.append("library versions differ: " + ", ".join(changed))
    return out


def compare_reports(a: RunReport, b: RunReport, costs: bool = True) -> Comparison:
    """Rows for every (task, model) present in either run and every metric (and key cost)."""
    from matscibench.metrics import METRICS

    cost_cols = [c for c in COST_COLUMNS if c.key in COMPARED_COSTS] if costs else []
    tasks_a = {t.task: t for t in a.tasks}
    tasks_b = {t.task: t for t in b.tasks}
    rows: list[CompareRow] = []
    for tname in list(dict.fromkeys([*tasks_a, *tasks_b])):
        ta, tb = tasks_a.get(tname), tasks_b.get(tname)
        ref = ta or tb
        metrics = list(dict.fromkeys([*(ta.metrics if ta else []), *(tb.metrics if tb else [])]))
        ra = {r.model: r for r in ta.rows} if ta else {}
        rb = {r.model: r for r in tb.rows} if tb else {}
        for model in list(dict.fromkeys([*ra, *rb])):
            xa, xb = ra.get(model), rb.get(model)
            if (xa is None or xa.not_applicable) and (xb is None or xb.not_applicable):
                continue
            for m in metrics:
                info = METRICS.get(m)
                rows.append(CompareRow(tname, model, m, ref.metric_label(m) if info else m, "metric",
                                       info.higher_is_better if info else None,
                                       xa.metrics.get(m) if xa else None, xb.metrics.get(m) if xb else None))
            for c in cost_cols:
                sa = xa.costs.get(c.key) if xa else None
                sb = xb.costs.get(c.key) if xb else None
                if sa is None and sb is None:
                    continue
                higher = True if c.kind == "rate" else False
                rows.append(CompareRow(tname, model, c.key, c.label, "cost", higher, sa, sb))
    return Comparison(a.run_id, b.run_id, rows, _machines(a), _machines(b), machine_warnings(a, b))


# ----------------------------------------------------------------------------- output
def _fmt(s: Summary | None) -> str:
    from matscibench.report.render import fmt_summary

    return fmt_summary(s)


def _fmt_diff(x: float) -> str:
    from matscibench.report.fmt import fmt_value

    if not math.isfinite(x):
        return "–"
    return ("+" if x > 0 else "") + fmt_value(x)


_STYLE = {"A better": "bold cyan", "B better": "bold green", "overlap": "dim", "no CI": "yellow", "differ": "bold"}


def console_compare(cmp: Comparison) -> list:
    """Rich renderables: warnings, then one table per task."""
    from rich.markup import escape
    from rich.table import Table

    out: list = []
    for w in cmp.warnings:
        out.append(f"[bold yellow]warning:[/] {escape(w)}")
    for task in cmp.tasks():
        tab = Table(title=f"[bold]{escape(task)}[/]: A = {escape(cmp.run_a)}, B = {escape(cmp.run_b)}", title_justify="left")
        for c in ("model", "metric / cost", "A [95 % CI]", "B [95 % CI]", "B − A", "CIs"):
            tab.add_column(c, justify="right" if c in ("B − A",) else "left", no_wrap=c in ("model",))
        last = None
        for r in (r for r in cmp.rows if r.task == task):
            first = r.model != last
            if last is not None and first:
                tab.add_section()
            last = r.model
            v = r.verdict
            style = _STYLE.get(v)
            tab.add_row(escape(r.model) if first else "", escape(r.label), _fmt(r.a), _fmt(r.b), _fmt_diff(r.diff),
                        f"[{style}]{escape(v)}[/]" if style else escape(v))
        out.append(tab)
    out.append("[dim]CIs: 'overlap' = the 95 % intervals overlap (no clear difference); 'A/B better' = they do not.[/]")
    return out


def compare_html(cmp: Comparison) -> str:
    """The comparison as a self-contained HTML page (sortable tables, warnings)."""
    from matscibench.report.html import th_cell, esc, page, summary_cell

    body = [f"<h1>matscibench: <code>{esc(cmp.run_a)}</code> (A) vs <code>{esc(cmp.run_b)}</code> (B)</h1>",
            '<p class="muted">Per task, model and metric: the mean of each run with its 95 % interval, the difference '
            "B − A, and whether the intervals overlap. Non-overlapping intervals flag a difference (a conservative "
            "test); overlap does not prove the results equal. Click a header to sort.</p>"]
    for w in cmp.warnings:
        body.append(f'<div class="warn" role="alert"><b>Warning</b>: {esc(w)}</div>')
    body.append(f'<p class="small">Machines: A {esc(", ".join(cmp.machines_a) or "?")}; B {esc(", ".join(cmp.machines_b) or "?")}.</p>')
    for i, task in enumerate(cmp.tasks()):
        body.append(f'<h2 id="task-{i}">{esc(task)}</h2>')
        head = [th_cell("model"), th_cell("metric / cost"), th_cell("A [95 % CI]"), th_cell("B [95 % CI]"), th_cell("B − A"), th_cell("CIs")]
        rows = []
        for r in (r for r in cmp.rows if r.task == task):
            v = r.verdict
            flag = f"<b>{esc(v)}</b>" if v in ("A better", "B better", "differ") else esc(v)
            d = r.diff
            rows.append(
                f'<tr><th scope="row">{esc(r.model)}</th><td>{esc(r.label)}</td>{summary_cell(r.a)}{summary_cell(r.b)}'
                f'<td class="num" data-sort="{d if math.isfinite(d) else ""}">{esc(_fmt_diff(d))}</td><td>{flag}</td></tr>'
            )
        body.append('<div class="table-wrap"><table class="sortable compare"><thead><tr>' + "".join(head)
                    + "</tr></thead><tbody>" + "\n".join(rows) + "</tbody></table></div>")
    return page(f"matscibench compare {cmp.run_a} vs {cmp.run_b}", "\n".join(body))
