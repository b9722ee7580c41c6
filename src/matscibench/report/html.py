"""A self-contained static HTML report of a run: one file, inline CSS, SVG and JS, opens offline.

Per task (grouped by family): a sortable leaderboard (metrics with 95 % CIs and units, key costs,
the machine of each row), failed jobs with their reason, not-applicable models; accuracy against
cost (Pareto plots); and per model the family's figures from the predictions files (parity plot
and error histogram, confusion matrix; families add theirs with
``matscibench.report.plots.register_task_plots``). The machine and software of the run are listed,
and a warning is shown wherever results side by side came from different machines.

Every string from users (model and task names, error messages, dataset sources) is escaped; the
page also carries a Content-Security-Policy that lets only its own inline script run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from matscibench.cost.stats import Summary
from matscibench.families import family_title
from matscibench.report.aggregate import COST_COLUMNS, ModelRow, RunReport, TaskReport
from matscibench.report.fmt import fmt_value

__all__ = ["render_html", "write_html", "load_predictions", "page", "esc", "KEY_COSTS"]

log = logging.getLogger(__name__)

#: cost columns of the leaderboard, in order (the others are in the "all costs" table)
KEY_COSTS = (
    "train.time_to_target_s",
    "train.total_s",
    "predict.throughput_structures_per_s",
    "job.peak_rss_MiB",
    "job.gpu_peak_MiB",
)
#: draw the figures in several processes from this many figures on
PARALLEL_FIGURES = 40
#: (cost key, label, higher is better) of the Pareto plots
PARETO_COSTS = (
    ("train.total_s", "training time, load + fit (s)", False),
    ("predict.throughput_structures_per_s", "inference throughput (structures/s)", True),
)




def esc(x: Any) -> str:
    """Text for HTML content or a quoted attribute."""
    return html.escape("" if x is None else str(x), quote=True)


# ----------------------------------------------------------------------------- page shell
CSS = """
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg2:#f6f8fa;--warn-bg:#fff8c5;--warn:#9a6700;
--bad:#cf222e;--accent:#0072B2}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);
margin:0 auto;padding:1.2rem 1.6rem 3rem;max-width:1680px}
h1{font-size:1.55rem;margin:.2rem 0 .4rem}h2{font-size:1.3rem;margin:2rem 0 .6rem;padding-bottom:.25rem;
border-bottom:2px solid var(--line)}h3{font-size:1.1rem;margin:1.6rem 0 .4rem}h4{font-size:1rem;margin:1.2rem 0 .4rem}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em}
.muted{color:var(--muted)}.small{font-size:.88em}
.badge{display:inline-block;font-size:.72em;font-weight:600;padding:0 .35em;margin-left:.3em;border-radius:3px;
border:1px solid var(--line);color:var(--muted);vertical-align:middle}.badge.leak{border-color:#c0392b;color:#c0392b}
.declared{display:block;font-size:.75em;font-style:italic;color:#9a6700}
nav.toc{background:var(--bg2);border:1px solid var(--line);border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
nav.toc ul{margin:.2rem 0;padding-left:1.2rem}
.table-wrap{overflow-x:auto;margin:.4rem 0 .8rem}
table{border-collapse:collapse;font-size:.92em}
th,td{border-bottom:1px solid var(--line);padding:.32rem .6rem;text-align:left;vertical-align:top}
thead th{background:var(--bg2);border-bottom:2px solid var(--line);vertical-align:bottom;min-width:6.5em;max-width:9.5em}
table.leaderboard tbody th,table.leaderboard thead th:first-child{position:sticky;left:0;z-index:1}
table.leaderboard tbody th{background:#fff}
td.jobs{white-space:nowrap}
tbody tr:hover{background:#f0f6ff}
tbody th{white-space:nowrap}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.best{font-weight:700}
.ci{color:var(--muted);font-weight:400;font-size:.86em}
td.num .ci{display:block}
th button{all:unset;cursor:pointer;display:inline-block}
th button:focus-visible{outline:2px solid var(--accent)}
th button::after{content:" \\2195";color:#8c959f;font-size:.85em}
th[aria-sort=ascending] button::after{content:" \\25B2";color:var(--fg)}
th[aria-sort=descending] button::after{content:" \\25BC";color:var(--fg)}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.35em;vertical-align:-1px;
box-shadow:0 0 0 1px rgba(0,0,0,.45)}
.failed{color:var(--bad)}
.warn{background:var(--warn-bg);border:1px solid #d4a72c;border-left:5px solid #d4a72c;border-radius:4px;
padding:.5rem .8rem;margin:.6rem 0;color:#3b2300}
.note{background:var(--bg2);border-left:4px solid var(--line);padding:.35rem .7rem;margin:.4rem 0}
.err{white-space:pre-wrap;overflow-wrap:anywhere;margin:0;font-family:ui-monospace,Menlo,Consolas,monospace;
font-size:.85em;max-height:12em;overflow:auto}
.figs{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:.5rem;background:#fff;max-width:100%;
display:inline-block}
figure svg{display:block;max-width:100%;height:auto}
figcaption{contain:inline-size;font-size:.85em;color:var(--muted);margin-top:.3rem}
figcaption b{color:var(--fg)}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.4rem 0}
dl.kv dt{font-weight:600}dl.kv dd{margin:0;overflow-wrap:anywhere}
details>summary{cursor:pointer;margin:.3rem 0}
footer{margin-top:3rem;color:var(--muted);font-size:.85em}
"""

JS = """(function(){
function key(td){var v=td.getAttribute('data-sort');if(v===null){return td.textContent.trim().toLowerCase();}
var f=parseFloat(v);return isNaN(f)?null:f;}
function sortBy(table,th,col){var asc=th.getAttribute('aria-sort')!=='ascending';
var heads=table.tHead.rows[0].cells;for(var k=0;k<heads.length;k++){heads[k].removeAttribute('aria-sort');}
th.setAttribute('aria-sort',asc?'ascending':'descending');
var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);
if(x===null&&y===null){return 0;}if(x===null){return 1;}if(y===null){return -1;}
if(x<y){return asc?-1:1;}if(x>y){return asc?1:-1;}return 0;});
for(var r=0;r<rows.length;r++){body.appendChild(rows[r]);}}
var tables=document.querySelectorAll('table.sortable');
for(var t=0;t<tables.length;t++){(function(table){var heads=table.tHead.rows[0].cells;
for(var c=0;c<heads.length;c++){(function(th,col){var b=th.querySelector('button');
if(b){b.addEventListener('click',function(){sortBy(table,th,col);});}})(heads[c],c);}})(tables[t]);}
})();"""


def page(title: str, body: str, subtitle: str = "") -> str:
    """A complete HTML document: ``body`` is trusted HTML, ``title`` plain text."""
    digest = base64.b64encode(hashlib.sha256(JS.encode("utf-8")).digest()).decode("ascii")
    csp = f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{digest}'"
    from matscibench._version import __version__

    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<link rel=\"icon\" href=\"data:,\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"{body}\n<footer>Generated by matscibench {esc(__version__)} on "
        f"{esc(time.strftime('%Y-%m-%d %H:%M:%S'))}{esc(subtitle)}. One file: no network needed to view it.</footer>\n"
        f"<script>{JS}</script>\n</body>\n</html>\n"
    )


# ----------------------------------------------------------------------------- cells
def _num_attr(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else repr(float(x))


def summary_cell(s: Summary | None, best: bool = False, empty: str = "–") -> str:
    """A right-aligned table cell: centre, then the 95 % interval in grey; sorts by the centre."""
    if s is None or s.n == 0 or not math.isfinite(s.center):
        return f'<td class="num" data-sort="">{esc(empty)}</td>'
    ci = f'<span class="ci">[{esc(fmt_value(s.low))}, {esc(fmt_value(s.high))}]</span>' if s.has_ci else ""
    title = f"{s.method} of {s.n}" + (f", {int(round(s.confidence * 100))} % CI" if s.has_ci else "")
    cls = "num best" if best else "num"
    return f'<td class="{cls}" data-sort="{_num_attr(s.center)}" title="{esc(title)}">{esc(fmt_value(s.center))}{ci}</td>'


def _best_index(values: list[float | None], higher: bool) -> int | None:
    vals = [(v if v is not None and math.isfinite(v) else None) for v in values]
    finite = [v for v in vals if v is not None]
    if len(finite) < 2 or min(finite) == max(finite):
        return None
    target = max(finite) if higher else min(finite)
    return vals.index(target)


def th_cell(label: str, title: str = "", sortable: bool = True) -> str:
    t = f' title="{esc(title)}"' if title else ""
    inner = f'<button type="button">{esc(label)}</button>' if sortable else esc(label)
    return f'<th scope="col"{t}>{inner}</th>'


def _slug(prefix: str, i: int) -> str:
    return f"{prefix}-{i}"


# ----------------------------------------------------------------------------- predictions
def _candidate_dirs(rep: RunReport, results_dir: Path | None, out_dir: Path | None) -> list[Path]:
    dirs: list[Path] = []
    for d in (results_dir, rep.results_dir):
        if d is not None:
            dirs.append(Path(d))
    if out_dir is not None and out_dir.parent.name == "reports":
        dirs.append(out_dir.parent.parent)
    return list(dict.fromkeys(dirs))


def predictions_base(rep: RunReport, results_dir: Path | None = None, out_dir: Path | None = None) -> tuple[Path | None, list[str]]:
    """The folder the run's predictions paths are relative to, and problems finding it."""
    dirs = _candidate_dirs(rep, results_dir, out_dir)
    first = next((p["path"] for t in rep.tasks for r in t.rows for p in r.predictions), None)
    if first is None:
        return None, []
    base = next((d for d in dirs if (d / first).is_file()), None)
    if base is None:
        where = ", ".join(str(d) for d in dirs) or "an unknown folder"
        return None, [f"predictions files not found (looked in {where}); pass the results folder with --results"]
    return base, []


def task_predictions(t: TaskReport, base: Path | None) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Per model of one task, its finished jobs' predictions concatenated (with ``fold`` and
    ``seed`` columns); and problems (missing or unreadable files)."""
    import pyarrow.parquet as pq

    frames: dict[str, pd.DataFrame] = {}
    problems: list[str] = []
    if base is None:
        return frames, problems
    missing = 0
    for r in t.rows:
        parts = []
        for p in r.predictions:
            path = base / p["path"]
            try:
                df = pq.read_table(path).to_pandas()
            except FileNotFoundError:
                missing += 1
                continue
            except Exception as exc:  # a damaged file costs its own plot only
                problems.append(f"{path}: {type(exc).__name__}: {exc}")
                continue
            df["fold"] = p["fold"]
            df["seed"] = p["seed"]
            parts.append(df)
        if parts:
            frames[r.model] = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if missing:
        problems.append(f"{missing} predictions file(s) missing under {base}")
    return frames, problems


def load_predictions(
    rep: RunReport, results_dir: Path | None = None, out_dir: Path | None = None
) -> tuple[dict[tuple[str, str], pd.DataFrame], list[str]]:
    """Each (task, model)'s predictions of all its finished jobs, concatenated with ``fold`` and
    ``seed`` columns; and a list of problems (missing or unreadable files)."""
    base, problems = predictions_base(rep, results_dir, out_dir)
    frames: dict[tuple[str, str], pd.DataFrame] = {}
    for t in rep.tasks:
        f, p = task_predictions(t, base)
        frames.update({(t.task, m): df for m, df in f.items()})
        problems += p
    return frames, problems


# ----------------------------------------------------------------------------- sections
def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "?"


def _short(fp: str) -> str:
    return fp[:8] if fp else "?"


def _jobs_cell(r: ModelRow) -> str:
    parts = [f"{r.n_ok} ok"]
    if r.n_failed:
        parts.append(f'<span class="failed">{r.n_failed} failed</span>')
    if r.n_skipped:
        parts.append(f"{r.n_skipped} skipped")
    return f'<td class="jobs" data-sort="{r.n_ok}">{"<br>".join(parts)}</td>'


def _ttt_cell(r: ModelRow) -> str:
    s = r.costs.get("train.time_to_target_s")
    reached = r.target_reached
    if reached is None:
        return '<td class="num" data-sort="">–</td>'
    frac = f'<span class="ci">{reached[0]}/{reached[1]} reached</span>'
    if s is None or not s.n or not math.isfinite(s.center):
        return f'<td class="num" data-sort="">not reached{frac}</td>'
    return summary_cell(s)[:-5] + frac + "</td>"


def cost_cell(r: ModelRow, key: str) -> str:
    """A cost cell: measured here; declared by the submitter of a predictions file (marked); or
    "not measured here" (a predictions file's model cost nobody declared)."""
    source = r.cost_source(key)
    if source == "not measured here":
        return '<td class="num muted small" data-sort="" title="the model ran elsewhere: a predictions file">not measured here</td>'
    cell = summary_cell(r.costs.get(key))
    if source == "declared":
        cell = (cell[:-5] + '<span class="declared" title="declared by the submitter of the predictions file; not '
                'measured here">declared</span></td>')
    return cell


def _model_th(r: ModelRow, colour: str) -> str:
    """The model's row header: its name, and badges for a predictions file and possible leakage."""
    badges = ""
    if r.published:
        badges += (f' <span class="badge" title="published result read from {esc(r.published)}; machine unknown, '
                   'costs not measured here">published</span>')
    if r.replayed:
        badges += ' <span class="badge" title="scored from a predictions file: the model ran elsewhere">file</span>'
    if r.leakage:
        badges += (f' <span class="badge leak" title="its training data ({esc(", ".join((r.card or {}).get("training_data") or []))}) '
                   f'overlap this task\'s data sources: {esc(", ".join(r.leakage))}">possible leakage</span>')
    return f'<th scope="row"><span class="swatch" style="background:{colour}"></span>{esc(r.model)}{badges}</th>'


def _cards(t: TaskReport) -> str:
    """The model cards of a task's models, with the leakage check against the task's data sources."""
    rows = [r for r in t.rows if r.card]
    if not rows:
        return ""
    sources = sorted({src for r in t.rows for src in r.leakage})
    fields = [("version", "version"), ("authors", "authors"), ("license", "license"), ("doi", "paper DOI"),
              ("code_url", "code"), ("training_data", "training data"), ("n_parameters", "parameters"),
              ("hyperparameters", "hyperparameters"), ("hardware", "trained on")]
    head = [th_cell("model", sortable=False), th_cell("name", sortable=False)] + [th_cell(lab, sortable=False) for _, lab in fields]
    head.append(th_cell("possible leakage", "training data that share a source with this task's data", sortable=False))
    body = []
    for r in rows:
        c = r.card or {}
        cells = [f"<th scope=\"row\">{esc(r.model)}</th>", f"<td>{esc(c.get('name') or '–')}</td>"]
        for k, _ in fields:
            v = c.get(k)
            if isinstance(v, list):
                v = ", ".join(map(str, v))
            elif isinstance(v, dict):
                v = ", ".join(f"{a}={b}" for a, b in v.items())
            if k == "doi" and v:
                url = v if str(v).startswith("http") else f"https://doi.org/{v}"
                cells.append(f'<td class="small"><a href="{esc(url)}">{esc(v)}</a></td>')
                continue
            if k == "n_parameters" and v is not None and v != "":
                v = f"{int(v):,}"
            cells.append(f'<td class="small">{esc(v if v not in (None, "") else "not stated")}</td>')
        cells.append(f'<td class="{"failed" if r.leakage else "small"}">{esc(", ".join(r.leakage) or "none found")}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = (f'<p class="warn small">Possible leakage: training data of {", ".join(esc(r.model) for r in rows if r.leakage)} '
            f"share a source with this task's data ({esc(', '.join(sources))}); the test items may have been seen in "
            "training.</p>") if sources else ""
    return ('<details class="cards"><summary>Model cards (what each model is and what it was trained on)</summary>' + note
            + '<div class="table-wrap"><table class="cards"><thead><tr>' + "".join(head) + "</tr></thead><tbody>"
            + "\n".join(body) + "</tbody></table></div></details>")


def _leaderboard(t: TaskReport, styles: dict[str, tuple[str, str]]) -> str:
    from matscibench.metrics import METRICS

    rows = [r for r in t.rows if not r.not_applicable]
    if not rows:
        return '<p class="note">No model could run on this task.</p>'
    glance = t.glance()  # a family's headline costs join the leaderboard (e.g. MD ns/day, scaling)
    keys = set(KEY_COSTS) | ({c.key for c in glance[2]} if glance else set())
    cols = [c for c in COST_COLUMNS if c.key in keys and (any(c.key in r.costs for r in rows) or
            (c.key == "train.time_to_target_s" and t.target is not None))]
    if t.target is None:
        cols = [c for c in cols if c.key != "train.time_to_target_s"]
    head = [th_cell("model", "model label in the suite"), th_cell("jobs", "finished / failed / skipped jobs")]
    for m in t.metrics:
        info = METRICS[m]
        arrow = "↑" if info.higher_is_better else "↓"
        head.append(th_cell(f"{t.metric_label(m)} {arrow}", f"mean over folds and repeats [95 % CI]; "
                        f"{'higher' if info.higher_is_better else 'lower'} is better"))
    for c in cols:
        hint = {"time": "median [95 % CI]", "rate": "harmonic mean [95 % CI]", "cost": "mean [95 % CI]"}.get(c.kind, "")
        head.append(th_cell(c.label, hint))
    head.append(th_cell("machine", "fingerprint of the machine(s) the finished jobs ran on"))
    best = {m: _best_index([r.metrics[m].center if m in r.metrics and r.metrics[m].n else None for r in rows],
                           METRICS[m].higher_is_better) for m in t.metrics}
    mfp = {fp for r in rows for fp in r.machines}
    body = []
    for i, r in enumerate(rows):
        colour = styles.get(r.model, ("#888", "o"))[0]
        cells = [_model_th(r, colour), _jobs_cell(r)]
        all_failed = r.n_ok == 0 and r.n_failed > 0
        for m in t.metrics:
            cells.append(summary_cell(r.metrics.get(m), best=best[m] == i, empty="failed" if all_failed else "–"))
        for c in cols:
            cells.append(_ttt_cell(r) if c.key == "train.time_to_target_s" and not r.replayed else cost_cell(r, c.key))
        machine = ", ".join(_short(fp) for fp in r.machines) or "–"
        if r.replayed:
            machine = f"scored on {machine}; the model ran elsewhere"
        if r.published:
            machine = "unknown (published)"
        hosts = ", ".join(r.hosts)
        cls = ' class="failed"' if len(mfp) > 1 else ""
        cells.append(f'<td class="mono"{cls} title="{esc("hosts: " + hosts if hosts else "")}">{esc(machine)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    # the row header (model) must sort as text: a <th> in tbody is found by cells[] like a <td>
    return ('<div class="table-wrap"><table class="sortable leaderboard"><thead><tr>' + "".join(head)
            + "</tr></thead><tbody>" + "\n".join(body) + "</tbody></table></div>")


def _all_costs(t: TaskReport) -> str:
    rows = [r for r in t.rows if not r.not_applicable and r.costs]
    cols = [c for c in COST_COLUMNS if any(c.key in r.costs for r in rows)]
    if not rows or not cols:
        return ""
    head = [th_cell("model")] + [th_cell(c.label, {"time": "median [95 % CI]", "rate": "harmonic mean [95 % CI]",
                                           "cost": "mean [95 % CI]"}.get(c.kind, "")) for c in cols]
    body = ["<tr><th scope=\"row\">" + esc(r.model) + "</th>" + "".join(cost_cell(r, c.key) for c in cols) + "</tr>"
            for r in rows]
    return ("<details><summary>All costs (times: median [95 % CI]; rates: harmonic mean; memory and energy: mean)</summary>"
            '<div class="table-wrap"><table class="sortable costs"><thead><tr>' + "".join(head) + "</tr></thead><tbody>"
            + "\n".join(body) + "</tbody></table></div></details>")


def _failures(t: TaskReport) -> str:
    out = []
    na = [r for r in t.rows if r.not_applicable]
    for r in na:
        out.append(f'<p class="note"><b>Not applicable</b>: {esc(r.model)} — {esc(r.not_applicable)}</p>')
    fails = [(r.model, f) for r in t.rows if not r.not_applicable for f in r.failures]
    if fails:
        n_failed = sum(1 for _, f in fails if f["status"] == "failed")
        out.append(f'<details open><summary class="failed">{len(fails)} job(s) did not finish'
                   + (f" ({n_failed} failed)" if n_failed != len(fails) else "") + "</summary>")
        out.append('<div class="table-wrap"><table class="failures"><thead><tr><th scope="col">model</th><th scope="col">fold</th>'
                   '<th scope="col">seed</th><th scope="col">status</th><th scope="col">reason</th></tr></thead><tbody>')
        for model, f in fails:
            out.append(f"<tr><td>{esc(model)}</td><td>{esc(f['fold'])}</td><td>{esc(f['seed'])}</td>"
                       f"<td class=\"failed\">{esc(f['status'])}</td><td><pre class=\"err\">{esc(f['error'])}</pre></td></tr>")
        out.append("</tbody></table></div></details>")
    return "\n".join(out)


class _Figures:
    """Renders ReportFigures to inline SVG with page-unique ids; plotting errors become notes."""

    def __init__(self, prefix: str = "f") -> None:
        self.prefix = prefix
        self.n = 0

    def render(self, figs: Iterable[Any]) -> str:
        out = []
        for f in figs:
            self.n += 1
            try:
                from matscibench.report.plots import figure_to_svg

                svg = figure_to_svg(f.figure, f"{self.prefix}{self.n}")
            except Exception as exc:
                log.warning("figure %r failed: %s", f.title, exc)
                out.append(f'<div class="warn">Figure {esc(f.title)} could not be drawn: {esc(type(exc).__name__)}: {esc(exc)}</div>')
                continue
            cap = f"<b>{esc(f.title)}.</b> {esc(f.caption)}" if f.caption else f"<b>{esc(f.title)}</b>"
            out.append(f'<figure role="group" aria-label="{esc(f.title)}">{svg}<figcaption>{cap}</figcaption></figure>')
        return '<div class="figs">' + "\n".join(out) + "</div>" if out else ""


def _task_section(t: TaskReport, idx: int, frames: dict[str, pd.DataFrame], figs: _Figures,
                  styles: dict[str, tuple[str, str]], problems: Iterable[str] = ()) -> str:
    from matscibench.metrics import METRICS
    from matscibench.report import plots

    out = [f'<section class="task" id="{_slug("task", idx)}">', f"<h3>{esc(t.task)}</h3>"]
    facts = []
    if t.description:
        facts.append(esc(t.description))
    meta = [f"family <b>{esc(t.family or 'unknown')}</b>"]
    if t.task_type:
        meta.append(esc(t.task_type))
    if t.unit:
        meta.append(f"unit {esc(t.unit)}")
    if t.target is not None:
        op = "≥" if METRICS[t.primary].higher_is_better else "≤"
        meta.append(f"time-to-target threshold: {esc(t.metric_label(t.primary))} {op} {esc(fmt_value(t.target))}")
    for d in t.datasets:
        meta.append(f"dataset {esc(d['dataset'])}" + (f" (source: {esc(d['source'])})" if d.get("source") else ""))
    out.append(f"<p>{'<br>'.join(facts)}</p>" if facts else "")
    out.append(f'<p class="muted small">{" · ".join(meta)}</p>')
    rows = [r for r in t.rows if not r.not_applicable]
    fps = sorted({fp for r in rows for fp in r.machines})
    if len(fps) > 1:
        per = "; ".join(f"{r.model}: {', '.join(_short(f) for f in r.machines)}" for r in rows if r.machines)
        out.append('<div class="warn" role="alert"><b>Results from different machines side by side</b>: '
                   f"{len(fps)} machines ({esc(per)}). Their costs are not comparable.</div>")
    for p in problems:
        out.append(f'<div class="warn">{esc(p)}</div>')
    out.append("<h4>Leaderboard</h4>")
    out.append('<p class="muted small">Accuracy: mean over folds and repeats [95 % Student-t CI]; the best value of each '
               "metric in bold. Times: median [95 % distribution-free CI]; rates: harmonic mean. Click a header to sort.</p>")
    out.append(_leaderboard(t, styles))
    out.append(_failures(t))
    out.append(_cards(t))
    out.append(_all_costs(t))
    pareto = []
    for key, label, higher in PARETO_COSTS if t.metrics else ():
        try:
            f = plots.pareto_figure(t, key, label, higher, styles)
        except Exception as exc:
            out.append(f'<div class="warn">Pareto plot ({esc(label)}) failed: {esc(type(exc).__name__)}: {esc(exc)}</div>')
            continue
        if f is not None:
            pareto.append(f)
    if pareto:
        out.append("<h4>Accuracy against cost</h4>")
        out.append(figs.render(pareto))
    task_frames = {r.model: frames[r.model] for r in t.rows if r.model in frames}
    if task_frames:
        try:
            pf = plots.task_plots(t, task_frames)
        except Exception as exc:
            log.warning("plots of task %s failed: %s", t.task, exc)
            out.append(f'<div class="warn">The {esc(t.family or "default")} family\'s plots failed: '
                       f"{esc(type(exc).__name__)}: {esc(exc)}</div>")
            pf = []
        if pf:
            out.append("<h4>Predictions</h4>")
            out.append(figs.render(pf))
    out.append("</section>")
    return "\n".join(x for x in out if x)


def _overview(rep: RunReport) -> str:
    from matscibench.metrics import METRICS

    head = [th_cell("task"), th_cell("family"), th_cell("models"), th_cell("primary metric"), th_cell("best model"), th_cell("best value"),
            th_cell("machines", "distinct machine fingerprints behind the task's results")]
    body = []
    for i, t in enumerate(rep.tasks):
        rows = [r for r in t.rows if not r.not_applicable]
        m = t.primary if t.metrics else None
        best_txt, best_cell = "–", '<td class="num" data-sort="">–</td>'
        if m:
            bi = _best_index([r.metrics[m].center if m in r.metrics and r.metrics[m].n else None for r in rows],
                             METRICS[m].higher_is_better)
            if bi is None:
                cand = [r for r in rows if m in r.metrics and r.metrics[m].n]
                bi = rows.index(cand[0]) if len(cand) == 1 else None
            if bi is not None:
                best_txt = rows[bi].model
                best_cell = summary_cell(rows[bi].metrics[m])
        n_fp = len({fp for r in rows for fp in r.machines})
        warn_cls = ' class="failed"' if n_fp > 1 else ""
        label = t.metric_label(m) if m else "–"
        body.append(
            f'<tr><th scope="row"><a href="#{_slug("task", i)}">{esc(t.task)}</a></th><td>{esc(t.family or "–")}</td>'
            f'<td data-sort="{len(rows)}">{len(rows)}</td><td>{esc(label)}</td><td>{esc(best_txt)}</td>{best_cell}'
            f'<td data-sort="{n_fp}"{warn_cls}>{n_fp}</td></tr>'
        )
    return ('<div class="table-wrap"><table class="sortable overview"><thead><tr>' + "".join(head)
            + "</tr></thead><tbody>" + "\n".join(body) + "</tbody></table></div>")


def _section_job(args: tuple) -> str:
    """One task's section (worker processes run this too): load its predictions, draw, return HTML."""
    t, idx, base, styles, plotters = args
    from matscibench.report.plots import TASK_PLOTS

    TASK_PLOTS.update(plotters)
    frames, problems = task_predictions(t, base)
    return _task_section(t, idx, frames, _Figures(f"t{idx}f"), styles, problems)


def _workers(n_tasks: int, n_figures: int, workers: int | None) -> int:
    if workers is None:
        env = os.environ.get("MATSCIBENCH_REPORT_WORKERS", "")
        if env.strip():
            workers = int(env)
        else:
            cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            # CPUs nobody else is using: on a busy machine more processes only compete with each other
            idle = cpus - os.getloadavg()[0] if hasattr(os, "getloadavg") else cpus
            # a process pool starts in a second or two: worth it for dozens of figures, not for a few
            workers = max(1, min(8, cpus, int(idle))) if n_figures >= PARALLEL_FIGURES else 1
    return max(1, min(workers, n_tasks))


def _main_importable() -> bool:
    """Whether worker processes can re-import ``__main__`` (not when it came from standard input)."""
    import sys

    path = getattr(sys.modules.get("__main__"), "__file__", None)
    return path is None or os.path.exists(path)


def _render_sections(jobs: list[tuple], workers: int) -> list[str]:
    """Task sections in order, drawn by ``workers`` processes when > 1 (serially on any problem
    with the pool, e.g. a plot function that cannot be sent to another process)."""
    if workers > 1 and not _main_importable():
        workers = 1
    if workers > 1:
        import multiprocessing as mp
        import pickle
        from concurrent.futures import ProcessPoolExecutor

        try:
            pickle.dumps([j[4] for j in jobs])  # plug-in plot functions must be importable by name
            method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(method)) as pool:
                return list(pool.map(_section_job, jobs))
        except Exception as exc:
            log.warning("drawing the report in %d processes failed (%s: %s); drawing it here", workers, type(exc).__name__, exc)
    return [_section_job(j) for j in jobs]


def render_html(rep: RunReport, results_dir: Path | None = None, out_dir: Path | None = None,
                workers: int | None = None) -> str:
    """The report as one HTML document (a string).

    ``results_dir``: the folder holding ``predictions/`` (default: ``rep.results_dir``, then the
    results folder above ``out_dir``). ``workers``: processes that draw the figures (default:
    ``$MATSCIBENCH_REPORT_WORKERS``, else the idle CPUs (count minus load average, at most 8) when
    there are dozens of figures, else 1).
    """
    from matscibench.report.plots import TASK_PLOTS, model_styles

    base, problems = predictions_base(rep, results_dir, out_dir)
    models = list(dict.fromkeys(r.model for t in rep.tasks for r in t.rows))
    styles = model_styles(models)
    jobs = ", ".join(f"{v} {k}" for k, v in sorted(rep.n_jobs.items()))
    body = [
        f"<h1>matscibench run <code>{esc(rep.run_id)}</code></h1>",
        f"<p>Suite <b>{esc(rep.suite_name)}</b>, started {esc(_when(rep.run.get('created_at')))}, "
        f"status <b>{esc(rep.run.get('status'))}</b>. Jobs: {esc(jobs)}.</p>",
    ]
    for p in problems:
        body.append(f'<div class="warn">{esc(p)}</div>')
    families: dict[str, list[int]] = {}
    for i, t in enumerate(rep.tasks):
        families.setdefault(t.family or "other", []).append(i)
    toc = ['<nav class="toc" aria-label="contents"><b>Contents</b><ul><li><a href="#overview">Overview</a></li>']
    for fam, idxs in families.items():
        toc.append(f'<li><a href="#{_slug("family", list(families).index(fam))}">{esc(family_title(fam))}</a><ul>')
        toc += [f'<li><a href="#{_slug("task", i)}">{esc(rep.tasks[i].task)}</a></li>' for i in idxs]
        toc.append("</ul></li>")
    toc.append('<li><a href="#machine">Machine and software</a></li>'
               + ('<li><a href="#harness">What the harness cost</a></li>' if rep.harness else "") + "</ul></nav>")
    body += toc
    body.append('<h2 id="overview">Overview</h2>')
    body.append(_overview(rep))
    order = [i for idxs in families.values() for i in idxs]
    section_jobs = [
        (rep.tasks[i], i, base, styles, {rep.tasks[i].family: TASK_PLOTS[rep.tasks[i].family]} if rep.tasks[i].family in TASK_PLOTS else {})
        for i in order
    ]
    n_figures = sum(2 + sum(1 for r in rep.tasks[i].rows if r.predictions) for i in order)
    sections = dict(zip(order, _render_sections(section_jobs, _workers(len(order), n_figures, workers))))
    for fi, (fam, idxs) in enumerate(families.items()):
        body.append(f'<h2 id="{_slug("family", fi)}">{esc(family_title(fam))}</h2>')
        for i in idxs:
            body.append(sections[i])
    from matscibench.report.html_run import harness_section, machine_section

    body.append(machine_section(rep))
    body.append(harness_section(rep))
    return page(f"matscibench run {rep.run_id}", "\n".join(body))


def write_html(rep: RunReport, path: Path, results_dir: Path | None = None) -> Path:
    """Write the report to ``path`` (atomically); returns ``path``."""
    from matscibench.data.cache import atomic_path

    path = Path(path)
    text = render_html(rep, results_dir, out_dir=path.parent)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
