"""Turn a stored run into per-task tables of summaries (the data behind every report format).

Accuracy metrics over folds and repeats: mean with a Student-t 95 % interval. Times: median with
a distribution-free 95 % interval. Rates (structures/s): harmonic mean. Memory: arithmetic mean.
(Hoefler & Belli, SC'15; see ``matscibench.cost.stats``.)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matscibench.cost.stats import Summary, summarize
from matscibench.families import all_families
from matscibench.families.base import CostColumn, Glance
from matscibench.metrics import METRICS
from matscibench.store import Store

__all__ = ["CostColumn", "COST_COLUMNS", "register_cost_column", "Glance", "FAMILY_GLANCE", "register_glance", "ModelRow",
           "TaskReport", "RunReport", "aggregate_run"]


COST_COLUMNS: list[CostColumn] = [
    CostColumn("train.total_s", "train total, load + fit (s)", "time", "train, load + fit (s)"),
    CostColumn("load.wall_s", "load (s)", "time"),
    CostColumn("fit.wall_s", "fit wall (s)", "time"),
    CostColumn("fit.cpu_s", "fit CPU (s)", "cost"),
    CostColumn("fit/featurize.wall_s", "featurize in fit (s)", "time"),
    CostColumn("train.time_to_target_s", "time to target (s)", "time", "time to target (s)"),
    CostColumn("predict.wall_s", "predict wall (s)", "time"),
    CostColumn("predict.throughput_structures_per_s", "inference (structures/s)", "rate", "inference (structures/s)"),
    CostColumn("predict.throughput_atoms_per_s", "inference (atoms/s)", "rate"),
    CostColumn("predict.latency_p50_ms", "latency p50 (ms)", "time", "latency p50 (ms)"),
    CostColumn("predict.latency_p95_ms", "latency p95 (ms)", "time"),
    CostColumn("predict.latency_p99_ms", "latency p99 (ms)", "time"),
    CostColumn("job.peak_rss_MiB", "peak RSS (MiB)", "cost", "peak RSS (MiB)"),
    CostColumn("job.gpu_peak_MiB", "peak GPU memory (MiB)", "cost"),
    CostColumn("job.concurrent_jobs", "jobs at once on the node", "cost", "jobs at once on the node"),
    CostColumn("fit.energy_cpu_J", "fit CPU energy (J)", "cost"),
    CostColumn("fit.energy_gpu_J", "fit GPU energy (J)", "cost"),
]


def register_cost_column(col: CostColumn, after: str | None = None) -> CostColumn:
    """Add a family's cost (e.g. MD throughput) to the report tables, optionally after ``after``."""
    if any(c.key == col.key for c in COST_COLUMNS):
        return col
    idx = next((i + 1 for i, c in enumerate(COST_COLUMNS) if c.key == after), len(COST_COLUMNS))
    COST_COLUMNS.insert(idx, col)
    return col


#: family -> its side-by-side table (families without one get the accuracy and cost tables only)
FAMILY_GLANCE: dict[str, Glance] = {}


def register_glance(family: str, glance: Glance) -> Glance:
    """Give a family a side-by-side table in the reports (Markdown, HTML leaderboard, console)."""
    FAMILY_GLANCE[family] = glance
    return glance


def _register_families() -> None:
    """The built-in families' cost columns and side-by-side tables, in family order."""
    for fam in all_families().values():
        for col, after in fam.cost_columns:
            register_cost_column(col, after=after)
        if fam.glance is not None:
            register_glance(fam.name, fam.glance)


_register_families()


@dataclass
class ModelRow:
    model: str
    n_ok: int
    n_failed: int
    n_skipped: int
    metrics: dict[str, Summary] = field(default_factory=dict)
    costs: dict[str, Summary] = field(default_factory=dict)
    target_reached: tuple[int, int] | None = None  # (reached, jobs with a target)
    failures: list[dict[str, Any]] = field(default_factory=list)
    #: finished jobs' predictions files: {"fold", "seed", "path"} (path relative to the results folder)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    #: machine fingerprints and hosts of the finished jobs
    machines: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    #: the model card its jobs recorded (``ModelCard.as_dict``), None for jobs without one
    card: dict[str, Any] | None = None
    #: the sources of the task's data that the card's training data share (possible leakage)
    leakage: list[str] = field(default_factory=list)
    #: the jobs replayed a predictions file: its model costs were not measured here
    replayed: bool = False
    #: cost keys whose values the submitter declared (shown marked, never as measured)
    declared_costs: list[str] = field(default_factory=list)
    #: a published result read from a file (e.g. matbench's ``results.json.gz``): its path; the
    #: row's machine is unknown and none of its costs were measured here
    published: str = ""

    def cost_source(self, key: str) -> str:
        """``"declared"``, ``"not measured here"`` (a replayed model's cost without a declared
        value, any cost of a published row) or ``"measured"``."""
        if self.published:
            return "not measured here"
        if key in self.declared_costs:
            return "declared"
        if self.replayed and key not in self.costs:
            return "not measured here"
        return "measured"

    @property
    def not_applicable(self) -> str | None:
        """The reason when every job of this model on this task was skipped as incompatible."""
        if self.n_ok == 0 and self.n_failed == 0 and self.n_skipped and self.failures:
            return self.failures[0]["error"].split(": ", 1)[-1]
        return None


@dataclass
class TaskReport:
    task: str
    description: str
    unit: str | None
    metrics: list[str]
    target: float | None
    rows: list[ModelRow]
    family: str = ""
    #: "regression" / "classification" for property tasks, None when the task does not say
    task_type: str | None = None
    #: datasets the jobs read: {"dataset", "source"}
    datasets: list[dict[str, str]] = field(default_factory=list)

    def metric_label(self, m: str) -> str:
        info = METRICS[m]
        unit = info.unit_for(self.unit)
        return f"{info.label} ({unit})" if unit else info.label

    @property
    def primary(self) -> str:
        return self.metrics[0]

    def glance(self) -> tuple[str, list[str], list[CostColumn]] | None:
        """(title, metrics, cost columns) of the family's side-by-side table, restricted to what this
        task measures and its jobs recorded; None when the family has none."""
        g = FAMILY_GLANCE.get(self.family)
        if g is None:
            return None
        metrics = [m for m in g.metrics if m in self.metrics]
        by_key = {c.key: c for c in COST_COLUMNS}
        costs = [by_key[k] for k in g.costs if k in by_key and (any(k in r.costs for r in self.rows) or
                 (k == "train.time_to_target_s" and self.target is not None))]
        return (g.title, metrics, costs) if metrics or costs else None


@dataclass
class RunReport:
    run_id: str
    suite_name: str
    run: dict[str, Any]
    tasks: list[TaskReport]
    n_jobs: dict[str, int]
    hosts: list[str]
    machines: list[str]
    #: the folder holding ``predictions/`` (None: unknown, e.g. a store given by URL)
    results_dir: Path | None = None
    #: machine fingerprint -> hosts that ran this run's jobs on it
    machine_hosts: dict[str, list[str]] = field(default_factory=dict)
    #: what the harness cost this run, outside the models' own work (``harness_summary``)
    harness: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def summ(s: Summary) -> dict[str, Any]:
            return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in s.as_dict().items()}

        return {
            "schema": "matscibench.report/1",
            "run_id": self.run_id,
            "suite": self.suite_name,
            "created_at": self.run.get("created_at"),
            "status": self.run.get("status"),
            "matscibench_version": self.run.get("matscibench_version"),
            "git_commit": self.run.get("git_commit"),
            "system": self.run.get("system"),
            "jobs": self.n_jobs,
            "hosts": self.hosts,
            "harness": {k: (None if not math.isfinite(v) else v) for k, v in self.harness.items()},
            "tasks": [
                {
                    "task": t.task,
                    "family": t.family,
                    "task_type": t.task_type,
                    "description": t.description,
                    "unit": t.unit,
                    "metrics": t.metrics,
                    "metric_labels": {m: t.metric_label(m) for m in t.metrics},
                    "target": t.target,
                    "models": [
                        {
                            "model": r.model,
                            "jobs": {"ok": r.n_ok, "failed": r.n_failed, "skipped": r.n_skipped},
                            "metrics": {m: summ(s) for m, s in r.metrics.items()},
                            "costs": {c: summ(s) for c, s in r.costs.items()},
                            "target_reached": list(r.target_reached) if r.target_reached else None,
                            "failures": r.failures,
                            "machines": r.machines,
                            "card": r.card,
                            "possible_leakage": r.leakage,
                            "predictions_file": r.replayed,
                            "declared_costs": r.declared_costs,
                            "published": r.published or None,
                        }
                        for r in t.rows
                    ],
                }
                for t in self.tasks
            ],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, default=str, allow_nan=False)


def _task_meta(name: str, params: dict[str, Any]) -> tuple[str, list[str] | None, float | None, str, str | None]:
    """(description, metrics, target, family, task_type) of a task; blanks when it cannot be built."""
    try:
        from matscibench.families.registry import get_task

        t = get_task(name, **params)
        return t.description, list(t.metrics), t.target, getattr(t, "family", ""), getattr(t, "task_type", None)
    except Exception:
        return "", None, None, "", None


def _default_results_dir(store: Store) -> Path | None:
    """The folder of a SQLite store file (where the driver writes ``predictions/`` by default)."""
    if store.url.startswith("sqlite:///"):
        return Path(store.url[len("sqlite:///") :]).parent
    return None


def _clip(s: Summary, bounds: tuple[float, float] | None) -> Summary:
    """An interval cannot leave the range the metric can take (e.g. ROC-AUC <= 1)."""
    if bounds is None or not s.has_ci:
        return s
    lo, hi = bounds
    return Summary(s.center, min(max(s.low, lo), hi), max(min(s.high, hi), lo), s.n, s.method, s.confidence)


def aggregate_run(store: Store, run_id: str, results_dir: str | Path | None = None) -> RunReport:
    """Summarise a stored run; ``results_dir`` is where its predictions files live (default: the
    folder of a SQLite store)."""
    run = store.get_run(run_id)
    if run is None:
        raise KeyError(f"no run {run_id!r} in {store.url}")
    jobs = store.jobs_frame(run_id)
    mets = store.metrics_frame(run_id)
    costs = store.costs_frame(run_id)
    suite = run.get("suite") or {}
    task_params = {t["name"]: t.get("params", {}) for t in suite.get("tasks", []) if isinstance(t, dict)}
    model_order = [m.get("label") or m.get("name") for m in suite.get("models", []) if isinstance(m, dict)]
    task_order = [t["name"] for t in suite.get("tasks", []) if isinstance(t, dict)]

    mw = mets.pivot_table(index="key", columns="name", values="value", aggfunc="first") if not mets.empty else pd.DataFrame()
    cw = costs.pivot_table(index="key", columns="name", values="value", aggfunc="first") if not costs.empty else pd.DataFrame()

    tasks_out: list[TaskReport] = []
    present = list(dict.fromkeys(jobs["task"])) if not jobs.empty else []
    ordered = [t for t in task_order if t in present] + [t for t in present if t not in task_order]
    for tname in ordered:
        tj = jobs[jobs["task"] == tname]
        desc, metric_list, target, family, task_type = _task_meta(tname, task_params.get(tname, {}))
        infos = {k: json.loads(x) for k, x in zip(tj["key"], tj["info_json"]) if isinstance(x, str)}
        unit = next((i.get("unit") for i in infos.values() if "unit" in i), None)
        datasets = list(
            {
                (str(i["dataset"]), str(i.get("dataset_source") or "")): None
                for i in infos.values()
                if i.get("dataset")
            }
        )
        if metric_list is None:
            keys = tj.loc[tj["status"] == "ok", "key"]
            metric_list = [m for m in METRICS if m in mw.columns and mw.loc[mw.index.isin(keys), m].notna().any()]
        models = list(dict.fromkeys(tj["model"]))
        models = [m for m in model_order if m in models] + [m for m in models if m not in model_order]
        rows = [_model_row(model, tj[tj["model"] == model], infos, metric_list, mw, cw) for model in models]
        tasks_out.append(
            TaskReport(
                tname, desc, unit, metric_list, target, rows,
                family=family or "", task_type=task_type,
                datasets=[{"dataset": d, "source": src} for d, src in datasets],
            )
        )

    n_jobs = jobs["status"].value_counts().to_dict() if not jobs.empty else {}
    n_jobs = {k: int(v) for k, v in n_jobs.items()}
    n_jobs["planned"] = int(run.get("n_planned") or 0)
    hosts = sorted(set(jobs["host"].dropna())) if not jobs.empty else []
    machines = sorted({json.loads(x).get("machine", "") for x in jobs["info_json"].dropna()} - {""}) if not jobs.empty else []
    rdir = Path(results_dir) if results_dir is not None else _default_results_dir(store)
    return RunReport(
        run_id, run.get("suite_name", ""), run, tasks_out, n_jobs, hosts, machines, rdir,
        machine_hosts=_machine_hosts(jobs), harness=harness_summary(jobs, cw),
    )


#: the parts of a job's time that are the harness's, not the model's (see ``harness_summary``)
HARNESS_PARTS = (
    ("start_s", "process start"),
    ("load_s", "data loading"),
    ("in_job_s", "task, model and meters set-up, result record"),
    ("return_s", "result back to the driver"),
    ("record_s", "writing to the store"),
)


def harness_summary(jobs: pd.DataFrame, cw: pd.DataFrame) -> dict[str, float]:
    """Sums over a run's jobs (seconds) of the models' own work (every top-level metered phase
    but data loading: training, prediction, latency, metrics, MD, ...) and of what the harness
    added around it: process start (``harness.start_s``), data loading (``load.wall_s``),
    set-up and bookkeeping inside the job (``harness.in_job_s``), the result's way back
    (``harness.return_s``) and recording (the job's ``recorded_at`` after it came back).
    ``overhead_s`` is their total, ``per_job_ms`` its mean per job, ``fraction`` its share of
    the jobs' time. Empty for runs recorded before the harness was metered."""
    if jobs.empty or cw.empty or "harness.in_job_s" not in cw.columns:
        return {}
    keys = [k for k in jobs["key"] if k in cw.index and math.isfinite(float(cw.at[k, "harness.in_job_s"]))]
    if not keys:
        return {}
    j = jobs.set_index("key").loc[keys]
    c = cw.loc[keys]
    top = [col for col in c.columns if col.endswith(".wall_s") and "/" not in col and col != "load.wall_s"]

    def col(name: str) -> pd.Series:
        return c[name].astype(float).fillna(0.0) if name in c.columns else pd.Series(0.0, index=c.index)

    ret = col("harness.return_s")
    record = (j["recorded_at"].astype(float) - j["finished_at"].astype(float) - ret).clip(lower=0.0).fillna(0.0)
    out = {
        "jobs": float(len(keys)),
        "work_s": float(c[top].astype(float).fillna(0.0).to_numpy().sum()) if top else 0.0,
        "start_s": float(col("harness.start_s").sum()),
        "load_s": float(col("load.wall_s").sum()),
        "in_job_s": float(col("harness.in_job_s").sum()),
        "return_s": float(ret.sum()),
        "record_s": float(record.sum()),
    }
    out["overhead_s"] = sum(out[k] for k, _ in HARNESS_PARTS)
    out["per_job_ms"] = 1e3 * out["overhead_s"] / len(keys)
    total = out["overhead_s"] + out["work_s"]
    out["fraction"] = out["overhead_s"] / total if total > 0 else float("nan")
    return out


def _machine_hosts(jobs: pd.DataFrame) -> dict[str, list[str]]:
    """machine fingerprint -> hosts that ran jobs on it (skipped jobs ran nowhere)."""
    out: dict[str, set[str]] = {}
    if not jobs.empty:
        ran = jobs[jobs["status"] != "skipped"]
        for host, info in zip(ran["host"], ran["info_json"]):
            fp = json.loads(info).get("machine", "") if isinstance(info, str) else ""
            out.setdefault(str(fp or ""), set()).add(str(host) if isinstance(host, str) else "")
    return {k: sorted(v - {""}) for k, v in out.items()}


def _model_row(model: str, mj: pd.DataFrame, infos: dict[str, dict[str, Any]], metric_list: list[str],
               mw: pd.DataFrame, cw: pd.DataFrame) -> ModelRow:
    """One model's row of a task: job counts, metric and cost summaries over its finished jobs,
    target reached, failures, predictions files, machines and hosts."""
    ok = mj[mj["status"] == "ok"]
    row = ModelRow(model=model, n_ok=len(ok), n_failed=int((mj["status"] == "failed").sum()),
                   n_skipped=int((mj["status"] == "skipped").sum()))
    keys = ok["key"].tolist()
    for _, j in ok.iterrows():
        if isinstance(j["predictions_path"], str) and j["predictions_path"]:
            row.predictions.append({"fold": int(j["fold"]), "seed": int(j["seed"]), "path": j["predictions_path"]})
    row.machines = sorted({str(infos.get(k, {}).get("machine") or "") for k in keys} - {""})
    row.hosts = sorted({str(h) for h in ok["host"].dropna()})
    for m in metric_list:
        vals = mw.loc[mw.index.intersection(keys), m].to_numpy(dtype=float) if m in mw.columns else np.array([])
        row.metrics[m] = _clip(summarize(vals, "accuracy"), METRICS[m].bounds if m in METRICS else None)
    for col in COST_COLUMNS:
        if col.key not in cw.columns:
            continue
        vals = cw.loc[cw.index.intersection(keys), col.key].to_numpy(dtype=float)
        if np.isfinite(vals).any():
            row.costs[col.key] = summarize(vals, col.kind)
    if "train.target_reached" in cw.columns and keys:
        r = cw.loc[cw.index.intersection(keys), "train.target_reached"].dropna()
        if r.size:
            row.target_reached = (int(r.sum()), int(r.size))
    _provenance(row, [infos.get(k, {}) for k in (keys or mj["key"].tolist())])
    for _, f in mj[mj["status"] != "ok"].iterrows():
        row.failures.append({"fold": int(f["fold"]), "seed": int(f["seed"]), "status": f["status"],
                             "error": f"{f['error_type']}: {f['error_message']}"})
    return row


def _provenance(row: ModelRow, infos: list[dict[str, Any]]) -> None:
    """The row's model card, its possible leakage (card training data against the task's data
    sources) and whether its costs come from a predictions file (declared or not measured here)."""
    from matscibench.data.sources import overlap
    from matscibench.models.base import TRAINED_ON_TASK

    cards = [i["model_card"] for i in infos if isinstance(i.get("model_card"), dict)]
    row.card = cards[0] if cards else None
    sources = list(dict.fromkeys(s for i in infos for s in (i.get("dataset_sources") or [])))
    if row.card:
        row.leakage = overlap(row.card.get("training_data") or [], sources, ignore=[TRAINED_ON_TASK])
    notes = [i["costs"] for i in infos if isinstance(i.get("costs"), dict)]
    row.replayed = bool(notes) or any("predictions_file" in i for i in infos)
    row.declared_costs = sorted({k for n in notes for k in (n.get("declared") or [])})
