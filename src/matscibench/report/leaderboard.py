"""A leaderboard across runs: several result stores (users, machines, days) -> one static site.

Every finished (task, model) row of every run is a candidate; per task the site keeps each
model's best row (by the task's primary metric: mean over folds and repeats), with the run, store,
date and machine it came from. Rows keep their own costs, measured on their own machine: wherever
the rows of a task come from machines with different fingerprints (a hash of CPU model, cores,
memory, architecture and GPUs), the task says so, because their costs are not comparable;
accuracies are. Published rows (e.g. matbench's ``results.json.gz``) join with an unknown machine.

The site is ``index.html`` (overview, sources, machines, one section per task: leaderboard,
model cards, accuracy-against-cost plots) and ``models/<model>.html`` (its card and its rows on
every task). Pages are self-contained (inline CSS, SVG figures, one hashed script): they open
offline, from the file system.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matscibench.errors import MatscibenchError
from matscibench.report.aggregate import ModelRow, RunReport, TaskReport, aggregate_run
from matscibench.store import Store

__all__ = ["Candidate", "Leaderboard", "build_leaderboard", "open_sources", "write_leaderboard"]


@dataclass
class Candidate:
    """One model's row on one task in one run, with where it came from."""

    row: ModelRow
    task: TaskReport
    run_id: str
    source: str
    created_at: float | None
    system: dict[str, Any] = field(default_factory=dict)


@dataclass
class Leaderboard:
    tasks: list[TaskReport]
    #: task -> model -> the candidate kept (its best row)
    best: dict[str, dict[str, Candidate]]
    #: (source, run id, suite, created_at, status, machine fingerprints)
    runs: list[dict[str, Any]]
    #: fingerprint -> the system a run recorded for it (empty when only the fingerprint is known)
    machines: dict[str, dict[str, Any]]
    #: task -> how many candidate rows it had (all runs)
    n_candidates: dict[str, int] = field(default_factory=dict)

    def models(self) -> list[str]:
        return list(dict.fromkeys(r.model for t in self.tasks for r in t.rows))


def open_sources(paths: list[str | Path]) -> list[tuple[str, Store, Path | None]]:
    """(label, store, results folder) per argument: a results folder holding ``results.sqlite``,
    a SQLite file, or a SQLAlchemy URL."""
    out = []
    for p in paths:
        s = str(p)
        if "://" in s:
            out.append((s, Store(s), None))
            continue
        path = Path(s)
        if path.is_dir():
            db = path / "results.sqlite"
            if not db.exists():
                raise MatscibenchError(f"{path}: no results.sqlite in this folder; give a results folder (-r of `run`) or a store file")
            out.append((str(path), Store(db), path))
        elif path.is_file():
            out.append((str(path), Store(path), path.parent))
        else:
            raise MatscibenchError(f"{path} does not exist; give a results folder, a results.sqlite file or a store URL")
    return out


def _score(row: ModelRow, task: TaskReport) -> float | None:
    from matscibench.metrics import METRICS

    if not task.metrics or row.n_ok == 0:
        return None
    s = row.metrics.get(task.primary)
    if s is None or not s.n or not math.isfinite(s.center):
        return None
    return s.center if METRICS[task.primary].higher_is_better else -s.center


def build_leaderboard(sources: list[str | Path], published: list[str | Path] = ()) -> Leaderboard:
    """Collect every run of every source, keep per task each model's best row."""
    cands: dict[str, list[Candidate]] = {}
    meta: dict[str, TaskReport] = {}
    runs: list[dict[str, Any]] = []
    machines: dict[str, dict[str, Any]] = {}
    for label, store, folder in open_sources(list(sources)):
        listed = store.list_runs()
        if listed.empty:
            raise MatscibenchError(f"{label}: the store has no runs")
        for rid in listed["run_id"]:
            rep: RunReport = aggregate_run(store, rid, results_dir=folder)
            system = rep.run.get("system") or {}
            if system.get("fingerprint"):
                machines[str(system["fingerprint"])] = system
            for fp in rep.machines:
                machines.setdefault(fp, {})
            runs.append({"source": label, "run_id": rid, "suite": rep.suite_name, "created_at": rep.run.get("created_at"),
                         "status": rep.run.get("status"), "machines": rep.machines, "system": system,
                         "version": rep.run.get("matscibench_version")})
            for t in rep.tasks:
                meta.setdefault(t.task, t)
                for r in t.rows:
                    if _score(r, t) is not None:
                        cands.setdefault(t.task, []).append(Candidate(r, t, rid, label, rep.run.get("created_at"), system))
    tasks: list[TaskReport] = []
    best: dict[str, dict[str, Candidate]] = {}
    for name, cs in cands.items():
        keep: dict[str, Candidate] = {}
        for c in cs:
            old = keep.get(c.row.model)
            if old is None or (_score(c.row, c.task), c.created_at or 0) > (_score(old.row, old.task), old.created_at or 0):
                keep[c.row.model] = c
        m = meta[name]
        order = sorted(keep.values(), key=lambda c: -(_score(c.row, c.task) or -math.inf))
        rows = [copy.copy(c.row) for c in order]
        tasks.append(TaskReport(m.task, m.description, m.unit, list(m.metrics), m.target, rows, family=m.family,
                                task_type=m.task_type, datasets=list(m.datasets)))
        best[name] = {c.row.model: c for c in order}
    lb = Leaderboard(tasks, best, runs, machines, {k: len(v) for k, v in cands.items()})
    if published:
        from matscibench.report.matbench import add_published, published_rows

        for p in published:
            add_published(lb.tasks, published_rows(p), new_tasks=True)
    if not lb.tasks:
        raise MatscibenchError("no finished results in " + ", ".join(map(str, sources)))
    return lb


# ------------------------------------------------------------------------------------------ HTML
def _slug(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:60] or "model"
    return f"{base}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def _machine_text(fp: str, system: dict[str, Any]) -> str:
    if not system:
        return f"{fp[:8]} (only its fingerprint is recorded)"
    gpus = ", ".join(str(g.get("name")) for g in system.get("gpus") or []) or "no GPU"
    return (f"{fp[:8]}: {system.get('cpu_model') or '?'}, {system.get('cpu_logical_cores') or '?'} cores, "
            f"{system.get('memory_GiB') or '?'} GiB, {gpus}")


def _hardware_warning(lb: Leaderboard, t: TaskReport) -> str:
    from matscibench.report.html import esc

    per = {}
    for r in t.rows:
        for fp in r.machines:
            per.setdefault(fp, []).append(r.model)
    if len(per) < 2:
        return ""
    items = "".join(f"<li>{esc(_machine_text(fp, lb.machines.get(fp, {})))}: {esc(', '.join(models))}</li>"
                    for fp, models in sorted(per.items()))
    return ('<div class="warn hardware" role="alert"><b>Costs from different hardware</b>: the rows of this task were '
            f"measured on {len(per)} different machines. Compare times, throughput and memory only between rows of the "
            f"same machine (the accuracy-against-cost plots put them on one axis); accuracies are comparable.<ul>{items}</ul></div>")


def _provenance(lb: Leaderboard, t: TaskReport) -> str:
    from matscibench.report.html import _when, esc, th_cell

    head = "".join(th_cell(h, sortable=False) for h in ("model", "run", "store", "started", "machine", "hosts"))
    body = []
    for r in t.rows:
        link = f'<a href="models/{esc(_slug(r.model))}.html">{esc(r.model)}</a>'
        c = lb.best.get(t.task, {}).get(r.model)
        if c is None:  # a published row
            body.append(f'<tr><th scope="row">{link}</th><td colspan="5" class="small">published: {esc(r.published)}; '
                        "machine unknown, costs not measured here</td></tr>")
            continue
        mach = "; ".join(_machine_text(fp, lb.machines.get(fp, {})) for fp in r.machines) or "not recorded"
        body.append(f'<tr><th scope="row">{link}</th><td class="mono">{esc(c.run_id)}</td><td class="small">{esc(c.source)}</td>'
                    f"<td>{esc(_when(c.created_at))}</td><td class=\"small\">{esc(mach)}</td>"
                    f"<td class=\"small\">{esc(', '.join(r.hosts) or '–')}</td></tr>")
    n = lb.n_candidates.get(t.task, 0)
    return (f'<p class="muted small">Each model\'s best row (by {esc(t.metric_label(t.primary))}) of {n} results from '
            f"all runs; where it came from:</p>"
            '<div class="table-wrap"><table class="provenance"><thead><tr>' + head + "</tr></thead><tbody>"
            + "\n".join(body) + "</tbody></table></div>")


def _sources_section(lb: Leaderboard) -> str:
    from matscibench.report.html import _when, esc, th_cell

    head = "".join(th_cell(h) for h in ("store", "run", "suite", "started", "status", "machines", "matscibench"))
    body = [f'<tr><td class="small">{esc(r["source"])}</td><td class="mono">{esc(r["run_id"])}</td><td>{esc(r["suite"])}</td>'
            f'<td>{esc(_when(r["created_at"]))}</td><td>{esc(r["status"])}</td>'
            f'<td class="mono">{esc(", ".join(fp[:8] for fp in r["machines"]) or "–")}</td><td>{esc(r["version"] or "?")}</td></tr>'
            for r in lb.runs]
    mach = "".join(f'<li class="mono small">{esc(_machine_text(fp, s))}</li>' for fp, s in sorted(lb.machines.items()))
    return ('<h2 id="sources">Runs and machines</h2><div class="table-wrap"><table class="sortable runs"><thead><tr>' + head
            + "</tr></thead><tbody>" + "\n".join(body) + f"</tbody></table></div><h3>Machines</h3><ul>{mach}</ul>")


def _model_page(lb: Leaderboard, model: str) -> str:
    from matscibench.report.html import _cards, _when, esc, page, summary_cell, th_cell

    rows = []
    card_task = None
    for i, t in enumerate(lb.tasks):
        r = next((x for x in t.rows if x.model == model), None)
        if r is None:
            continue
        if r.card and card_task is None:
            card_task = TaskReport(t.task, "", t.unit, t.metrics, None, [r])
        ranked = [x.model for x in t.rows if t.metrics and x.metrics.get(t.primary) is not None]
        rank = ranked.index(model) + 1 if model in ranked else 0
        c = lb.best.get(t.task, {}).get(model)
        where = (f"{c.run_id} ({c.source}), {_when(c.created_at)}" if c else f"published: {r.published}")
        mach = ", ".join(fp[:8] for fp in r.machines) or ("unknown (published)" if r.published else "not recorded")
        rows.append(f'<tr><th scope="row"><a href="../index.html#task-{i}">{esc(t.task)}</a></th>'
                    f"<td>{esc(t.metric_label(t.primary))}</td>{summary_cell(r.metrics.get(t.primary))}"
                    f'<td class="num" data-sort="{rank}">{rank} of {len(t.rows)}</td><td class="small">{esc(where)}</td>'
                    f'<td class="mono">{esc(mach)}</td></tr>')
    head = "".join(th_cell(h) for h in ("task", "primary metric", "value [95 % CI]", "rank", "run", "machine"))
    body = [f"<h1>{esc(model)}</h1>", '<p><a href="../index.html">← leaderboard</a></p>',
            _cards(card_task).replace("<details ", "<details open ") if card_task else "<p class=\"muted\">No model card recorded.</p>",
            '<h2>Its best result on every task</h2><div class="table-wrap"><table class="sortable model"><thead><tr>' + head
            + "</tr></thead><tbody>" + "\n".join(rows) + "</tbody></table></div>"]
    return page(f"matscibench leaderboard: {model}", "\n".join(body))


def render_index(lb: Leaderboard) -> str:
    from matscibench.report.html import _Figures, _overview, _task_section, esc, page
    from matscibench.report.plots import model_styles

    styles = model_styles(lb.models())
    rep = RunReport("leaderboard", "", {}, lb.tasks, {}, [], [])
    fps = sorted(lb.machines)
    body = ["<h1>matscibench leaderboard</h1>",
            (f"<p>{len(lb.runs)} runs from {len({r['source'] for r in lb.runs})} stores, {len(lb.tasks)} tasks, "
             f"{len(lb.models())} models, {len(fps)} machines. Per task each model's best result.</p>")]
    if len(fps) > 1:
        body.append('<div class="warn" role="alert"><b>Results from different hardware</b>: these runs ran on '
                    f"{len(fps)} machines ({esc(', '.join(f[:8] for f in fps))}). Costs are comparable only between rows "
                    "of the same machine; each task below says where its rows differ.</div>")
    body.append('<h2 id="overview">Overview</h2>' + _overview(rep))
    body.append("<h2>Models</h2><ul>" + "".join(f'<li><a href="models/{esc(_slug(m))}.html">{esc(m)}</a></li>'
                                                 for m in lb.models()) + "</ul>")
    body.append('<h2 id="tasks">Tasks</h2>')
    for i, t in enumerate(lb.tasks):
        section = _task_section(t, i, {}, _Figures(f"t{i}f"), styles)
        extra = _hardware_warning(lb, t) + _provenance(lb, t)
        section = section.replace("<h4>Leaderboard</h4>", extra + "<h4>Leaderboard</h4>", 1)
        body.append(section)
    body.append(_sources_section(lb))
    return page("matscibench leaderboard", "\n".join(body))


def write_leaderboard(lb: Leaderboard, out_dir: str | Path) -> Path:
    """Write ``index.html`` and ``models/*.html`` under ``out_dir``; returns the index's path."""
    from matscibench.data.cache import atomic_path

    out = Path(out_dir)
    (out / "models").mkdir(parents=True, exist_ok=True)
    pages = {out / "index.html": render_index(lb)}
    for m in lb.models():
        pages[out / "models" / f"{_slug(m)}.html"] = _model_page(lb, m)
    for path, text in pages.items():
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return out / "index.html"
