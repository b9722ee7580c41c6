"""Figures of the HTML report: matplotlib (Agg) rendered to inline SVG.

- ``pareto_front``: which models no other model beats on both accuracy and cost;
- ``pareto_figure``: the primary metric against a cost (training time, inference throughput);
- ``prediction_plots``: parity plot + error histogram (regression) or confusion matrix
  (classification, N classes, labels from the predictions) for each model of a task;
- ``register_task_plots(family, fn)``: the plug-in point through which a task family adds its own
  per-task figures (DOS overlays, property histograms, MD survival curves ...).

Colours follow the Okabe–Ito palette (M. Okabe and K. Ito, "Color Universal Design", 2008), which
stays distinguishable under the common colour-vision deficiencies; each model also gets its own
marker shape, so a figure stays readable in grey.

matplotlib is imported inside functions: importing this module is cheap.
"""

from __future__ import annotations

import importlib

import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matscibench.report.aggregate import TaskReport

__all__ = [
    "OKABE_ITO",
    "ReportFigure",
    "TASK_PLOTS",
    "register_task_plots",
    "task_plots",
    "model_styles",
    "pareto_front",
    "pareto_figure",
    "confusion_counts",
    "confusion_figure",
    "parity_figure",
    "prediction_plots",
    "figure_to_svg",
    "mpl_text",
]

#: Okabe–Ito colours, the low-contrast yellow last but one
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p")

#: above this many points a scatter is drawn as an embedded image inside the SVG (small, fast)
RASTER_POINTS = 400
#: resolution of such embedded images (dots per inch)
RASTER_DPI = 160


@dataclass
class ReportFigure:
    """A figure for the report: a matplotlib ``Figure`` with a title and an optional caption.

    ``model`` names the model the figure belongs to (None: the whole task).
    """

    title: str
    figure: Any
    caption: str = ""
    model: str | None = None


#: family -> function(task_report, {model: predictions DataFrame}) -> list of ReportFigure
TaskPlotter = Callable[["TaskReport", dict[str, pd.DataFrame]], list[ReportFigure]]
TASK_PLOTS: dict[str, TaskPlotter] = {}


def register_task_plots(family: str, fn: TaskPlotter) -> TaskPlotter:
    """Give a task family its own per-task figures in the HTML report.

    ``fn(task, frames)`` gets the ``TaskReport`` and, per model, that model's predictions of all its
    finished jobs concatenated (the family's own columns plus ``fold`` and ``seed``), and returns a
    list of ``ReportFigure``. Families without a function get ``prediction_plots`` (parity plot or
    confusion matrix from ``y_true``/``y_pred``). A function that raises costs only its figures:
    the report shows the error in their place.
    """
    TASK_PLOTS[family] = fn
    return fn


def task_plots(task: TaskReport, frames: dict[str, pd.DataFrame]) -> list[ReportFigure]:
    """The family's figures for one task (``prediction_plots`` for families without their own)."""
    fn = TASK_PLOTS.get(task.family, prediction_plots)
    with report_style():
        return list(fn(task, frames))


# ----------------------------------------------------------------------------- helpers
def mpl_text(s: Any) -> str:
    """A user string shown literally by matplotlib: no mathtext, not hidden from legends."""
    s = str(s).replace("$", r"\$")  # outside mathtext a backslash is literal, "\$" is a dollar
    return "\u200b" + s if s.startswith("_") else s


def _short_label(s: str, n: int = 28) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def model_styles(models: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(colour, marker) per model, in the given order."""
    return {m: (OKABE_ITO[i % len(OKABE_ITO)], MARKERS[i % len(MARKERS)]) for i, m in enumerate(models)}


def _rc() -> dict[str, Any]:
    return {
        "svg.fonttype": "none",  # text stays text: crisp, searchable, small
        "svg.hashsalt": "matscibench",  # same input, same SVG
        "font.size": 9.0,
        "axes.titlesize": 10.0,
        "axes.labelsize": 9.0,
        "legend.fontsize": 8.0,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "font.family": ["DejaVu Sans", "sans-serif"],
    }


def report_style():
    """Context manager: the report's matplotlib style (font sizes, grid, SVG text as text)."""
    import matplotlib

    return matplotlib.rc_context(_rc())


def _styled(fn):
    """Build a figure inside ``report_style()`` (matplotlib reads most style at artist creation)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with report_style():
            return fn(*args, **kwargs)

    return wrapper


def new_figure(
    width: float,
    height: float,
    ncols: int = 1,
    *,
    margins: tuple[float, float, float, float] = (0.75, 0.15, 0.55, 0.35),
    wspace: float = 0.8,
    layout: str | None = None,
):
    """A matplotlib figure with ``ncols`` axes, not attached to pyplot (no GUI, no global state),
    so it renders with the Agg/SVG canvases whatever backend the user chose.

    Sizes in inches. By default the axes sit inside fixed ``margins`` (left, right, bottom, top) with
    ``wspace`` between them: laying out a figure this way costs nothing, where
    ``layout="constrained"`` (fits any label, for plug-ins that need it) draws it twice, and a
    report of a large run has hundreds of figures.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    if layout is None:
        left, right, bottom, top = margins
        avail = width - left - right
        fig.subplots_adjust(
            left=left / width,
            right=1.0 - right / width,
            bottom=bottom / height,
            top=1.0 - top / height,
            wspace=(wspace / ((avail - (ncols - 1) * wspace) / ncols)) if ncols > 1 else 0.2,
        )
    return fig, axes


_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(\bid="|href="#|url\(#)([^"\)]+)(?=["\)])')


def figure_to_svg(fig: Any, prefix: str) -> str:
    """The figure as an ``<svg>`` element for inline use; element ids get ``prefix`` so several
    figures share one page without clashing."""
    buf = io.StringIO()
    with report_style():
        fig.savefig(buf, format="svg", dpi=RASTER_DPI, metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, count=1, flags=re.S)
    ids = set(_ID.findall(svg))
    if ids:
        svg = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}" if m.group(2) in ids else m.group(0), svg)
    return svg


# ----------------------------------------------------------------------------- Pareto
def pareto_front(x: Sequence[float], y: Sequence[float], x_higher_better: bool = False, y_higher_better: bool = False) -> np.ndarray:
    """Mask of the non-dominated points.

    A point is dominated when another point is at least as good on both axes and strictly better
    on one; points with a non-finite coordinate are never on the front. Identical points are both
    on the front when neither is dominated by a third.
    """
    xs = np.asarray(x, dtype=float) * (-1.0 if x_higher_better else 1.0)  # lower is better below
    ys = np.asarray(y, dtype=float) * (-1.0 if y_higher_better else 1.0)
    ok = np.isfinite(xs) & np.isfinite(ys)
    front = ok.copy()
    for i in np.nonzero(ok)[0]:
        others = ok.copy()
        others[i] = False
        le = (xs[others] <= xs[i]) & (ys[others] <= ys[i])
        lt = (xs[others] < xs[i]) | (ys[others] < ys[i])
        if np.any(le & lt):
            front[i] = False
    return front


def _err(s: Any) -> tuple[float, float]:
    """(below, above) error-bar lengths of a Summary; zeros without an interval."""
    if s is None or not s.has_ci or not math.isfinite(s.center):
        return 0.0, 0.0
    lo = s.center - s.low if math.isfinite(s.low) else 0.0
    hi = s.high - s.center if math.isfinite(s.high) else 0.0
    return max(lo, 0.0), max(hi, 0.0)


@_styled
def pareto_figure(
    task: TaskReport,
    cost_key: str,
    cost_label: str,
    cost_higher_better: bool,
    styles: dict[str, tuple[str, str]],
) -> ReportFigure | None:
    """The task's primary metric (mean, 95 % CI) against one cost (centre, 95 % CI) per model,
    the Pareto front drawn as a step line. None when fewer than one model has both numbers."""
    from matscibench.metrics import METRICS

    m = task.primary
    higher = METRICS[m].higher_is_better
    pts = []
    for r in task.rows:
        ms, cs = r.metrics.get(m), r.costs.get(cost_key)
        if ms is None or cs is None or not (ms.n and cs.n):
            continue
        if not (math.isfinite(ms.center) and math.isfinite(cs.center)) or cs.center <= 0:
            continue
        pts.append((r.model, cs, ms))
    if not pts:
        return None
    xs = np.array([c.center for _, c, _ in pts])
    ys = np.array([s.center for _, _, s in pts])
    front = pareto_front(xs, ys, cost_higher_better, higher)
    from matplotlib.lines import Line2D

    legend_models = len(pts) <= 8  # with more models the point labels alone say which is which
    longest = max([len(_short_label(mm)) for mm, _, _ in pts] + [12]) if legend_models else 12
    side = 0.45 + 0.062 * longest  # the legend sits right of the axes, never over a point
    fig, (ax,) = new_figure(3.9 + side, 3.3, margins=(0.75, side, 0.55, 0.15))
    colours = [styles.get(model, ("#444444", "o"))[0] for model, _, _ in pts]
    markers = [styles.get(model, ("#444444", "o"))[1] for model, _, _ in pts]
    # 95 % intervals: one collection per direction (cheap with many models)
    yerr = np.array([_err(ms) for _, _, ms in pts])
    xerr = np.array([_err(cs) for _, cs, _ in pts])
    ax.vlines(xs, ys - yerr[:, 0], ys + yerr[:, 1], colors=colours, linewidth=1.0, zorder=2)
    ax.hlines(ys, xs - xerr[:, 0], xs + xerr[:, 1], colors=colours, linewidth=1.0, zorder=2)
    for mk in dict.fromkeys(markers):
        sel = np.array([mm == mk for mm in markers])
        ax.scatter(xs[sel], ys[sel], marker=mk, s=46, c=[c for c, k in zip(colours, sel) if k],
                   edgecolors=["black" if on else "#666666" for on, k in zip(front, sel) if k],
                   linewidths=[1.5 if on else 0.5 for on, k in zip(front, sel) if k], zorder=3)
    log_x = xs.max() / xs.min() > 20
    pos = np.log10(xs) if log_x else xs
    span = float(pos.max() - pos.min()) or 1.0
    declared = {r.model for r in task.rows if r.cost_source(cost_key) == "declared"}
    for (model, _, _), x, y, px in zip(pts, xs, ys, pos):
        right_edge = (px - pos.min()) / span > 0.7  # label on the left of points near the right edge
        text = model + (" (cost declared)" if model in declared else "")  # never passed off as measured here
        ax.annotate(mpl_text(text), (x, y), xytext=(-5 if right_edge else 5, 4), textcoords="offset points",
                    ha="right" if right_edge else "left", fontsize=7.5, color="#333333")
    order = np.argsort(xs[front])
    fx, fy = xs[front][order], ys[front][order]
    handles = []
    if len(fx):
        (line,) = ax.plot(fx, fy, drawstyle="steps-post" if not cost_higher_better else "steps-pre", color="#555555",
                          linewidth=1.2, linestyle="--", zorder=1, label="Pareto front")
        handles.append(line)
    if legend_models:
        handles += [Line2D([], [], marker=mk, color=c, linestyle="none", markersize=6, label=mpl_text(_short_label(model)))
                    for (model, _, _), c, mk in zip(pts, colours, markers)]
    if log_x:
        ax.set_xscale("log")
    ax.margins(x=0.08, y=0.1)
    better_x = "→ better" if cost_higher_better else "← better"
    better_y = "↑ better" if higher else "↓ better"
    ax.set_xlabel(f"{cost_label}   {better_x}")
    ax.set_ylabel(f"{mpl_text(task.metric_label(m))}   {better_y}")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False, fontsize=7.5)
    title = f"{task.metric_label(m)} vs {cost_label}"
    n_front = int(front.sum())
    caption = (
        f"Mean {task.metric_label(m)} (95 % CI) against {cost_label} per model; the dashed line joins the "
        f"{n_front} model(s) on the Pareto front (outlined): no other model is better on both axes."
    )
    if declared & {mm for mm, _, _ in pts}:
        caption += (" Points marked 'cost declared' show a cost their submitter declared for a predictions file; it "
                    "was not measured here, on this machine.")
    return ReportFigure(title, fig, caption)


# ----------------------------------------------------------------------------- predictions
def confusion_counts(y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None) -> tuple[list[Any], np.ndarray]:
    """(labels, counts) with ``counts[i, j]`` = items of true class ``labels[i]`` predicted as
    ``labels[j]`` (scikit-learn's convention). Labels default to the sorted union of both arrays."""
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true and y_pred differ in length: {yt.shape} vs {yp.shape}")
    if labels is None:
        values = list(pd.unique(pd.Series(np.concatenate([yt.astype(object), yp.astype(object)]))))
        try:
            labels = sorted(values)
        except TypeError:  # mixed types: sort by their text
            labels = sorted(values, key=str)
    labels = list(labels)
    index = {lab: i for i, lab in enumerate(labels)}
    n = len(labels)
    ti = np.array([index.get(v, -1) for v in yt.tolist()], dtype=int)
    pi = np.array([index.get(v, -1) for v in yp.tolist()], dtype=int)
    keep = (ti >= 0) & (pi >= 0)
    counts = np.bincount(ti[keep] * n + pi[keep], minlength=n * n).reshape(n, n)
    return labels, counts


@_styled
def confusion_figure(y_true: Sequence[Any], y_pred: Sequence[Any], model: str, colour: str = "#0072B2") -> ReportFigure:
    """Confusion matrix (counts; colour = share of the true class) for any number of classes."""
    labels, counts = confusion_counts(y_true, y_pred)
    n = len(labels)
    cell = 0.6 if n <= 6 else 0.45 if n <= 12 else max(0.1, 5.0 / n)  # inches
    longest = min(24, max((len(str(lab)) for lab in labels), default=1)) if n <= 40 else 0
    char = 0.07  # inches per character at the tick-label size
    rotate = longest * char > 0.9 * cell
    left = 0.45 + longest * char  # y tick labels and the axis label
    bottom = 0.5 + (0.72 * longest * char if rotate else 0.15)
    side = cell * n
    fig, (ax,) = new_figure(left + side + 1.3, bottom + side + 0.2, margins=(left, 1.3, bottom, 0.2))
    ax.grid(False)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts, dtype=float), where=rows > 0)
    im = ax.imshow(share, cmap="cividis", vmin=0.0, vmax=1.0, interpolation="nearest", aspect="equal")
    cax = fig.add_axes((1.0 - 1.12 / fig.get_figwidth(), ax.get_position().y0, 0.12 / fig.get_figwidth(), ax.get_position().height))
    cb = fig.colorbar(im, cax=cax)
    cb.set_label("share of the true class")
    if n <= 12:  # counts in the cells (more classes: colour only)
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{counts[i, j]:d}", ha="center", va="center", fontsize=8.5,
                        color="white" if share[i, j] < 0.55 else "black")
    if n <= 40:
        ticks = [mpl_text(lab) for lab in labels]
        ax.set_xticks(range(n), ticks, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                      rotation_mode="anchor" if rotate else "default")
        ax.set_yticks(range(n), ticks)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for s in ax.spines.values():
        s.set_visible(False)
    total = int(counts.sum())
    acc = float(np.trace(counts)) / total if total else float("nan")
    caption = f"{total} test predictions over all folds, {n} classes; accuracy {acc:.3f}. Numbers are counts."
    return ReportFigure(f"{model}: confusion matrix", fig, caption, model)


@_styled
def parity_figure(y_true: Sequence[float], y_pred: Sequence[float], model: str, unit: str | None, colour: str = "#0072B2") -> ReportFigure:
    """Parity plot (predicted against true, with y = x) beside a histogram of the errors."""
    yt = np.asarray(y_true, dtype=float)
    yp = np.asarray(y_pred, dtype=float)
    ok = np.isfinite(yt) & np.isfinite(yp)
    yt, yp = yt[ok], yp[ok]
    u = f" ({mpl_text(unit)})" if unit else ""
    fig, (ax, axh) = new_figure(6.6, 3.1, ncols=2, margins=(0.7, 0.15, 0.5, 0.3), wspace=0.8)
    raster = yt.size > RASTER_POINTS
    ax.scatter(yt, yp, s=10 if yt.size < 500 else 5, alpha=0.6 if yt.size < 500 else 0.35, color=colour,
               edgecolors="none", rasterized=raster, label=f"test items (n = {yt.size})", zorder=3)
    if yt.size:
        lo = float(min(yt.min(), yp.min()))
        hi = float(max(yt.max(), yp.max()))
        pad = 0.04 * (hi - lo) if hi > lo else 0.5
        lo, hi = lo - pad, hi + pad
        ax.plot([lo, hi], [lo, hi], color="#333333", linewidth=1.0, linestyle="--", label="y = x", zorder=2)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal", adjustable="box")
    err = yp - yt
    mae = float(np.abs(err).mean()) if err.size else float("nan")
    ax.set_xlabel(f"true value{u}")
    ax.set_ylabel(f"predicted value{u}")
    ax.set_title(mpl_text(model))
    ax.legend(loc="upper left", frameon=False)
    if err.size:
        lim = float(np.quantile(np.abs(err), 0.995)) or float(np.abs(err).max()) or 1.0
        counts, edges = np.histogram(np.clip(err, -lim, lim), bins=np.linspace(-lim, lim, 41))
        axh.stairs(counts, edges, fill=True, color=colour, alpha=0.85, label="test items")  # one artist, not 40 bars
    axh.axvline(0.0, color="#333333", linewidth=1.0, linestyle="--", label="zero error")
    axh.set_xlabel(f"error, predicted − true{u}")
    axh.set_ylabel("test items")
    axh.set_title(f"errors: MAE {mae:.4g}" + (f" {mpl_text(unit)}" if unit else ""))
    axh.legend(loc="upper left", framealpha=0.8, edgecolor="none")
    for a in (ax, axh):
        a.locator_params(nbins=5)
    caption = f"{yt.size} test predictions over all folds; errors beyond the 99.5th percentile of |error| are counted in the outermost bins."
    if (~ok).any():
        caption += f" {int((~ok).sum())} non-finite value(s) left out."
    return ReportFigure(f"{model}: parity and errors", fig, caption, model)


def _is_classification(task: TaskReport, df: pd.DataFrame) -> bool:
    if task.task_type in ("classification", "regression"):
        return task.task_type == "classification"
    yt = df["y_true"]
    if yt.dtype == bool or yt.dtype == object or isinstance(yt.dtype, pd.CategoricalDtype):
        return True
    if pd.api.types.is_integer_dtype(yt) and yt.nunique() <= 50:
        return True
    return False


def prediction_plots(task: TaskReport, frames: dict[str, pd.DataFrame]) -> list[ReportFigure]:
    """Per model: parity plot + error histogram (regression) or confusion matrix (classification),
    from the ``y_true`` and ``y_pred`` columns of the predictions (other rows are ignored)."""
    styles = model_styles([r.model for r in task.rows])
    out: list[ReportFigure] = []
    for r in task.rows:
        df = frames.get(r.model)
        if df is None or "y_true" not in df or "y_pred" not in df:
            continue
        df = df[df["y_true"].notna() & df["y_pred"].notna()]
        if df.empty:
            continue
        colour = styles[r.model][0]
        if _is_classification(task, df):
            out.append(confusion_figure(df["y_true"].to_numpy(), df["y_pred"].to_numpy(), r.model, colour))
        else:
            out.append(parity_figure(df["y_true"].to_numpy(), df["y_pred"].to_numpy(), r.model, task.unit, colour))
    return out


register_task_plots("properties", prediction_plots)


def _register_families() -> None:
    """A family whose declaration names ``plots = "module:function"`` gets that function (imported
    when a report first draws it)."""
    from matscibench.families import all_families

    for fam in all_families().values():
        if fam.plots and fam.name not in TASK_PLOTS:
            def lazy(task: TaskReport, frames: dict[str, pd.DataFrame], path: str = fam.plots) -> list[ReportFigure]:
                module, _, attr = path.partition(":")
                return list(getattr(importlib.import_module(module), attr)(task, frames))

            register_task_plots(fam.name, lazy)


_register_families()
