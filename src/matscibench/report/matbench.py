"""matbench's results format, both ways: export a stored run, read published results files.

matbench (Dunn et al., npj Comput. Mater. 6, 138 (2020); package ``matbench`` 0.6) keeps a
benchmark's results as one JSON document (``MatbenchBenchmark.as_dict``)::

    {"@module": "matbench.bench", "@class": "MatbenchBenchmark", "version": "0.6",
     "benchmark_name": "matbench_v0.1", "datestamp": "%Y.%m.%d %H:%M.%S", "user_metadata": {...},
     "tasks": {<task>: {"@module": "matbench.task", "@class": "MatbenchTask",
                        "benchmark_name": "matbench_v0.1", "dataset_name": <task>,
                        "results": {"fold_<i>": {"data": {<mbid>: prediction},
                                                 "parameters": {...}, "scores": {<metric>: float},
                                                 "uncertainty": null}}}},
     "hash": sha256 of the JSON text of the document without "hash", dict keys sorted}

Regression predictions are floats; classification ones booleans (labels) or floats in [0, 1]
(probabilities). Scores: ``mae``, ``rmse``, ``mape``, ``max_error`` (regression); ``accuracy``,
``balanced_accuracy``, ``f1``, ``rocauc`` (classification; ``rocauc`` of labels is this project's
``roc_auc_labels``). ``MatbenchBenchmark.from_dict`` checks the keys, the hash, every fold's test
ids and the data types. matbench 0.6's ``from_file`` reads plain JSON text (whatever the file is
called); the leaderboard's ``benchmarks/*/results.json.gz`` are read here whether gzipped or not.

The export writes labels (``y_pred``) for classification, so matbench's scores of the file are the
run's own accuracy, balanced accuracy, F1 and label ROC-AUC.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matscibench.cost.stats import summarize
from matscibench.errors import MatscibenchError
from matscibench.families.properties.matbench import MATBENCH_TASKS
from matscibench.families.properties.matbench_published import MATBENCH_METRIC_NAMES
from matscibench.store import Store

__all__ = [
    "BENCHMARK",
    "MATBENCH_VERSION",
    "PublishedEntry",
    "export_matbench",
    "matbench_hash",
    "published_rows",
    "read_matbench_results",
    "write_matbench_file",
]

BENCHMARK = "matbench_v0.1"
#: the matbench package version written in exported files (the one whose format this follows)
MATBENCH_VERSION = "0.6"
N_FOLDS = 5
REG_METRICS = ("mae", "rmse", "mape", "max_error")
CLF_METRICS = ("accuracy", "balanced_accuracy", "f1", "rocauc")


def _canonical(v: Any) -> Any:
    """Dicts with their keys sorted, recursively through dicts (not through lists): the order in
    which matbench serialises a document to hash it."""
    if isinstance(v, dict):
        return {k: _canonical(v[k]) for k in sorted(v)}
    return v


def matbench_hash(doc: dict[str, Any]) -> str:
    """sha256 (hex) of the JSON text of ``doc`` without its ``hash`` key, keys sorted."""
    body = {k: v for k, v in doc.items() if k != "hash"}
    return hashlib.sha256(json.dumps(_canonical(body)).encode("utf-8")).hexdigest()


def _native(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _native(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_native(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def write_matbench_file(doc: dict[str, Any], path: Path) -> Path:
    """Write a document (gzip when the name ends in ``.gz``, plain JSON text otherwise)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ export
def _fold_results(task: str, preds: pd.DataFrame, scores: dict[str, float], params: dict[str, Any],
                  where: str) -> dict[str, Any]:
    info = MATBENCH_TASKS[task]
    if info.task_type == "classification":
        data = {str(i): bool(p) for i, p in zip(preds["id"], preds["y_pred"])}
        names = CLF_METRICS
    else:
        data = {str(i): float(p) for i, p in zip(preds["id"], preds["y_pred"])}
        names = REG_METRICS
    bad = next((i for i, p in data.items() if isinstance(p, float) and not math.isfinite(p)), None)
    if bad is not None:
        raise MatscibenchError(f"{where}: prediction for {bad!r} is {data[bad]}; matbench takes finite numbers only")
    missing = [m for m in names if MATBENCH_METRIC_NAMES[m] not in scores]
    if missing:
        raise MatscibenchError(f"{where}: the stored job has no {', '.join(missing)}; re-run it with this version of matscibench")
    return {"data": data, "parameters": params,
            "scores": {m: float(scores[MATBENCH_METRIC_NAMES[m]]) for m in names}, "uncertainty": None}


def export_matbench(store: Store, run_id: str, out: Path, results_dir: Path | None = None,
                    model: str | None = None, seed: int | None = None,
                    skip_incomplete: bool = False) -> tuple[Path, dict[str, Any]]:
    """Write the run's matbench v0.1 results (one model, one seed, all five folds of each
    ``matbench_*`` task it ran) as a matbench results file; returns (path, document).

    ``model``: the model's label in the run (needed when the run has several on matbench tasks);
    ``seed``: the repeat to export (default the smallest); ``skip_incomplete``: leave out tasks
    without all five folds instead of stopping. Composition-only views of structure tasks
    (``matbench_*_composition``) are not matbench tasks and are never exported."""
    from matscibench.report.aggregate import _default_results_dir

    run = store.get_run(run_id)
    if run is None:
        raise MatscibenchError(f"no run {run_id!r} in {store.url}")
    jobs = store.jobs_frame(run_id)
    jobs = jobs[jobs["task"].isin(list(MATBENCH_TASKS)) & (jobs["status"] == "ok")] if not jobs.empty else jobs
    if jobs.empty:
        raise MatscibenchError(f"run {run_id} has no finished jobs on matbench tasks ({', '.join(sorted(MATBENCH_TASKS)[:3])}, ...)")
    models = sorted(set(jobs["model"]))
    if model is None:
        if len(models) > 1:
            raise MatscibenchError(f"run {run_id} has several models on matbench tasks ({', '.join(models)}): choose one with --model")
        model = models[0]
    elif model not in models:
        raise MatscibenchError(f"run {run_id} has no finished matbench jobs of model {model!r}; it has {', '.join(models)}")
    jobs = jobs[jobs["model"] == model]
    seed = int(jobs["seed"].min()) if seed is None else int(seed)
    jobs = jobs[jobs["seed"] == seed]
    if jobs.empty:
        raise MatscibenchError(f"run {run_id}: model {model!r} has no finished matbench jobs with seed {seed}")
    base = Path(results_dir) if results_dir is not None else _default_results_dir(store)
    mets = store.metrics_frame(run_id)
    mw = mets.pivot_table(index="key", columns="name", values="value", aggfunc="first") if not mets.empty else pd.DataFrame()
    tasks: dict[str, Any] = {}
    card = None
    machines: set[str] = set()
    for task, tj in jobs.groupby("task", sort=True):
        folds = {int(f): j for f, j in zip(tj["fold"], tj.itertuples())}
        missing = [f for f in range(N_FOLDS) if f not in folds]
        if missing:
            if skip_incomplete:
                continue
            raise MatscibenchError(f"run {run_id}, {task}, model {model!r}: folds {missing} are not recorded; matbench needs "
                                   f"all {N_FOLDS} (run them, or pass --skip-incomplete to leave the task out)")
        results = {}
        for f in range(N_FOLDS):
            j = folds[f]
            where = f"run {run_id}, {task}, fold {f}"
            rel = j.predictions_path if isinstance(j.predictions_path, str) else ""
            path = (base / rel) if (base is not None and rel) else None
            if path is None or not path.exists():
                raise MatscibenchError(f"{where}: predictions file {rel or '(none recorded)'} not found under {base}; "
                                       "give the results folder with --results")
            preds = pd.read_parquet(path)
            info = json.loads(j.info_json) if isinstance(j.info_json, str) else {}
            card = card or info.get("model_card")
            if info.get("machine"):
                machines.add(str(info["machine"]))
            scores = mw.loc[j.key].dropna().to_dict() if j.key in mw.index else {}
            spec = json.loads(j.spec_json) if isinstance(j.spec_json, str) else {}
            params = _native({"model": model, "seed": seed, "matscibench_job": j.key,
                              "model_params": (spec.get("model") or {}).get("params") or {}})
            results[f"fold_{f}"] = _fold_results(task, preds, scores, params, where)
        tasks[task] = {"@module": "matbench.task", "@class": "MatbenchTask", "benchmark_name": BENCHMARK,
                       "dataset_name": task, "results": results}
    if not tasks:
        raise MatscibenchError(f"run {run_id}, model {model!r}: no matbench task has all {N_FOLDS} folds recorded")
    meta = _native({"algorithm": model, "model_card": card, "matscibench": {
        "run_id": run_id, "version": run.get("matscibench_version"), "git_commit": run.get("git_commit"),
        "machines": sorted(machines), "system": run.get("system") or {}}})
    doc = {"@module": "matbench.bench", "@class": "MatbenchBenchmark", "version": MATBENCH_VERSION,
           "tasks": tasks, "user_metadata": meta, "benchmark_name": BENCHMARK,
           "datestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y.%m.%d %H:%M.%S")}
    doc["hash"] = matbench_hash(doc)
    return write_matbench_file(doc, out), doc


# ------------------------------------------------------------------------------------------ import
def read_matbench_results(path: str | Path) -> dict[str, Any]:
    """A matbench results document (gzipped or plain JSON), its shape and hash checked."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        doc = json.loads(text)
    except (OSError, ValueError, EOFError) as exc:
        raise MatscibenchError(f"{path}: not a matbench results file (JSON, optionally gzipped): {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("tasks"), dict):
        raise MatscibenchError(f"{path}: no 'tasks' mapping; a matbench results file is MatbenchBenchmark.as_dict()")
    if "hash" in doc and doc["hash"] != matbench_hash(doc):
        raise MatscibenchError(f"{path}: its hash does not match its content (edited after matbench wrote it?)")
    for name, t in doc["tasks"].items():
        results = t.get("results") if isinstance(t, dict) else None
        if not isinstance(results, dict):
            raise MatscibenchError(f"{path}: task {name!r} has no 'results' mapping")
        for fk, fr in results.items():
            if not isinstance(fr, dict) or not isinstance(fr.get("scores"), dict):
                raise MatscibenchError(f"{path}: task {name!r}, {fk} has no 'scores' mapping")
    return doc


@dataclass
class PublishedEntry:
    """One published algorithm's per-fold scores on one matbench task (this project's metric names)."""

    algorithm: str
    task: str
    folds: dict[int, dict[str, float]]
    source: str
    info: dict[str, Any] = field(default_factory=dict)

    def per_metric(self) -> dict[str, list[float]]:
        names = sorted({m for s in self.folds.values() for m in s})
        return {m: [self.folds[f][m] for f in sorted(self.folds) if m in self.folds[f]] for m in names}


def published_rows(path: str | Path, algorithm: str | None = None) -> list[PublishedEntry]:
    """The per-fold scores of a published results file, one entry per task. ``algorithm``: the
    name to show (default: ``info.json`` next to the file's ``algorithm``, else the user
    metadata's, else the folder's name without ``matbench_v0.1_``)."""
    path = Path(path)
    doc = read_matbench_results(path)
    info: dict[str, Any] = {}
    info_path = path.parent / "info.json"
    if info_path.exists():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise MatscibenchError(f"{info_path}: not JSON ({exc})") from exc
    meta = doc.get("user_metadata") if isinstance(doc.get("user_metadata"), dict) else {}
    name = algorithm or info.get("algorithm") or meta.get("algorithm") or path.parent.name.replace(f"{BENCHMARK}_", "")
    out = []
    for task in sorted(doc["tasks"]):
        folds = {}
        for fk, fr in doc["tasks"][task]["results"].items():
            try:
                f = int(str(fk).rsplit("_", 1)[-1])
            except ValueError:
                raise MatscibenchError(f"{path}: task {task!r} has a fold named {fk!r}; matbench's are fold_0 .. fold_4") from None
            folds[f] = {MATBENCH_METRIC_NAMES.get(m, m): float(v) for m, v in fr["scores"].items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)}
        out.append(PublishedEntry(str(name), task, folds, str(path), info))
    return out


def published_summaries(entry: PublishedEntry) -> dict[str, Any]:
    """metric -> Summary over the folds (mean with a Student-t 95 % interval, as for local rows)."""
    return {m: summarize(np.asarray(v, dtype=float), "accuracy") for m, v in entry.per_metric().items()}


def published_model_row(entry: PublishedEntry, metrics: list[str] | None = None) -> Any:
    """A report row (``ModelRow``) of a published entry: its per-fold scores summarised like local
    results, marked published (machine unknown, costs not measured here)."""
    from matscibench.report.aggregate import ModelRow

    summaries = published_summaries(entry)
    n = len(entry.folds)
    row = ModelRow(model=f"{entry.algorithm} (published)", n_ok=n, n_failed=0, n_skipped=0,
                   published=entry.source)
    row.metrics = {m: s for m, s in summaries.items() if metrics is None or m in metrics}
    card = {"name": entry.algorithm}
    for key, src in (("doi", "doi"), ("code_url", "code_url"), ("notes", "notes")):
        val = entry.info.get(src) if isinstance(entry.info, dict) else None
        if isinstance(val, str) and val:
            card[key] = val
    if isinstance(entry.info.get("bibtex_refs"), list):
        card.setdefault("notes", "; ".join(map(str, entry.info["bibtex_refs"]))[:500])
    row.card = card
    return row


def add_published(rep: Any, entries: list[PublishedEntry], new_tasks: bool = True) -> int:
    """Put published rows beside a report's local ones (``RunReport`` or a list of ``TaskReport``);
    a task the report does not have gets its own section when ``new_tasks``. Returns the rows added."""
    from matscibench.report.aggregate import TaskReport, _task_meta

    tasks = rep.tasks if hasattr(rep, "tasks") else rep
    by_name = {t.task: t for t in tasks}
    added = 0
    for e in entries:
        t = by_name.get(e.task)
        if t is None:
            if not new_tasks:
                continue
            desc, metrics, target, family, task_type = _task_meta(e.task, {})
            info = MATBENCH_TASKS.get(e.task)
            t = TaskReport(e.task, desc, info.unit if info else None, metrics or sorted(e.per_metric()), target, [],
                           family=family, task_type=task_type)
            tasks.append(t)
            by_name[e.task] = t
        t.rows.append(published_model_row(e, t.metrics))
        added += 1
    return added
