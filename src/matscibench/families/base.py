"""What a task family is made of: its declaration (``Family``) and its tasks (``Task``).

A family lives in one folder, ``matscibench/families/<name>/``, whose ``__init__`` declares
``FAMILY = Family(...)``: its title, the modules that register its tasks, datasets and metrics, its
models, the cost columns and side-by-side table it adds to the reports, its plots and its default
time limit. ``matscibench.families.FAMILY_NAMES`` lists the built-in families, one line each.

What every task implements so the engine can plan, run and re-score its jobs:

A task is a dataset, fixed folds and metrics (matbench's definition). The engine knows nothing
else about it: a job calls ``task.run(model, fold, ctx)`` inside a worker process and gets back a
``TaskOutput`` (metrics, predictions, facts about the split). Families differ in their model
contract (``fit``/``predict`` for properties, an ASE calculator for potentials, ``sample`` for
generators) and in what ``run`` does with the model; all of that stays inside the family module.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from matscibench.cost.meters import JobMeter
from matscibench.metrics import METRICS, MetricInfo
from matscibench.models.base import EpochCallback, ModelEntry

__all__ = ["Family", "CostColumn", "Glance", "Task", "DatasetTask", "TaskOutput", "JobContext"]


@dataclass(frozen=True)
class CostColumn:
    """A column of the cost tables: ``key`` as recorded (``"md.ns_per_day"``), ``label`` with unit,
    ``kind`` the summary (``time``: median + distribution-free CI, ``rate``: harmonic mean,
    ``cost``: arithmetic mean), ``console`` a short label for the terminal ("" = not shown)."""

    key: str
    label: str
    kind: str
    console: str = ""


@dataclass(frozen=True)
class Glance:
    """A family's headline columns, shown in one table: accuracy metrics and costs side by side
    (e.g. potentials: errors, MD stability, cost of a call and of MD, scaling exponent)."""

    title: str
    metrics: tuple[str, ...]
    costs: tuple[str, ...]


@dataclass(frozen=True)
class Family:
    """One task family, declared once in ``families/<name>/__init__.py`` as ``FAMILY``.

    Modules are named, not imported, so that listing families stays cheap; each named module
    provides one function: ``tasks`` -> ``register_tasks(register)``, ``datasets`` ->
    ``register_datasets(register)``; ``metrics`` registers the family's metrics when imported;
    ``plots`` is ``"module:function"`` with ``function(task_report, frames) -> list[ReportFigure]``.
    """

    name: str
    title: str
    tasks: str
    datasets: str | None = None
    metrics: str | None = None
    models: tuple[ModelEntry, ...] = ()
    #: (column, key of the column it goes after; None: at the end)
    cost_columns: tuple[tuple[CostColumn, str | None], ...] = ()
    glance: Glance | None = None
    plots: str | None = None
    #: metrics another family (or none) owns that this family's docs table lists too
    shared_metrics: tuple[str, ...] = ()
    #: default wall-clock limit of one job (s); a suite's ``timeout_s`` or ``--timeout`` replaces it
    default_timeout_s: float = 3 * 3600.0


@dataclass
class JobContext:
    """What the harness gives a task for one job."""

    meter: JobMeter
    seed: int
    threads: int = 1
    #: harness options: latency_batch_size, latency_budget_s, ...
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskOutput:
    """What a job returns besides its costs (which the meter holds)."""

    metrics: dict[str, float]
    #: one row per test item: at least ``id``, ``y_true``, ``y_pred`` (families add columns)
    predictions: pd.DataFrame
    #: facts: n_train, n_test, split_hash, dataset_checksum, ...
    info: dict[str, Any] = field(default_factory=dict)
    #: extra costs computed by the task (throughput, latency, time to target), name -> value
    costs: dict[str, float] = field(default_factory=dict)


class Task(ABC):
    """Base class of all task families."""

    name: str
    family: str
    description: str = ""
    #: metric names, in report order; the first is the primary metric
    metrics: tuple[str, ...] = ()
    #: time-to-target threshold on ``target_metric`` (None: the task sets none)
    target: float | None = None
    #: the metric ``target`` applies to (None: the primary metric)
    target_metric_name: str | None = None
    citation: str = ""

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]

    def metric_info(self, name: str) -> MetricInfo:
        return METRICS[name]

    def metric_unit(self, name: str) -> str | None:
        """Unit of a metric on this task (e.g. eV/atom for MAE on formation energy)."""
        return self.metric_info(name).unit_for(self.unit)

    #: unit of the quantity the task predicts
    unit: str | None = None
    #: ``"module:Class"`` of the family's replay model, which scores a predictions file on this
    #: task (``models.replay``); None: the task does not take predictions files
    predictions_file_model: str | None = None

    def data_sources(self) -> tuple[str, ...]:
        """Where the task's data come from, as named sources (``"Materials Project"``, ``"QM9"``,
        ``"EMT (generated here)"``): the report compares them with a model card's training data."""
        return ()

    @abstractmethod
    def n_folds(self) -> int:
        """Number of folds (fold indices are 0 .. n_folds-1)."""

    @abstractmethod
    def prepare(self, progress=None) -> None:
        """Make the data available (download / generate / parse into the cache). Runs in the driver."""

    @abstractmethod
    def data_available(self) -> bool:
        """Whether ``prepare`` can succeed without a network."""

    @abstractmethod
    def dataset_checksum(self) -> str:
        """Checksum of the data the task reads (after ``prepare``)."""

    def warm(self) -> None:
        """Read into memory what ``run`` will read, so that a process forked afterwards finds it
        parsed (a job group's preloaded process calls this with ``data.base.keep_loaded`` on).
        Default: nothing."""

    @abstractmethod
    def incompatibility(self, model: Any) -> str | None:
        """Why ``model`` cannot run on this task, or None when it can."""

    @abstractmethod
    def run(self, model: Any, fold: int, ctx: JobContext) -> TaskOutput:
        """Train and evaluate ``model`` on one fold, metering phases with ``ctx.meter``."""

    @abstractmethod
    def rescore(self, predictions: pd.DataFrame) -> dict[str, float]:
        """Recompute the metrics from stored predictions."""

    @property
    def target_metric(self) -> str:
        return self.target_metric_name or self.primary_metric

    def target_reached(self, value: float) -> bool:
        if self.target is None or value is None or not math.isfinite(value):
            return False
        info = self.metric_info(self.target_metric)
        return value >= self.target if info.higher_is_better else value <= self.target

    def time_to_target(
        self, cb: EpochCallback | None, metrics: dict[str, float], fit_end: float
    ) -> tuple[dict[str, float], str]:
        """(costs, source) of time to target, the one rule of every family.

        ``source`` is ``"epochs"`` when the model reported validation values of the target metric
        through ``cb`` (time of the first epoch that meets the target), ``"final"`` when it did not
        (``fit_end`` if the test value of the target metric meets the target, else NaN), and
        ``"none"`` when the task sets no target (then no costs).
        """
        if self.target is None:
            return {}, "none"
        if cb is not None and cb.history and cb.metric == self.target_metric:
            hits = [t for (_, t, v) in cb.history if cb.reached(v)]
            ttt, source = (hits[0] if hits else float("nan")), "epochs"
        else:
            value = metrics.get(self.target_metric, float("nan"))
            ttt, source = (fit_end if self.target_reached(value) else float("nan")), "final"
        return {"train.time_to_target_s": ttt, "train.target_reached": float(math.isfinite(ttt))}, source

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "metrics": list(self.metrics),
            "unit": self.unit,
            "target": self.target,
            "n_folds": self.n_folds(),
        }


class DatasetTask(Task):
    """A task over one registered dataset (``dataset_name`` + ``dataset_params``) with a fixed
    number of folds (``_n_folds``): the data-side methods every such task shares."""

    dataset_name: str
    dataset_params: dict[str, Any]
    _n_folds: int

    @property
    def spec(self):
        spec = self.__dict__.get("_spec")
        if spec is None:
            from matscibench.families.registry import get_dataset

            spec = self.__dict__["_spec"] = get_dataset(self.dataset_name, **self.dataset_params)
        return spec

    def n_folds(self) -> int:
        return self._n_folds

    def prepare(self, progress=None) -> None:
        self.spec.prepare(progress)

    def data_available(self) -> bool:
        return self.spec.available_offline()

    def dataset_checksum(self) -> str:
        return self.spec.checksum()

    def warm(self) -> None:
        self.spec.load()

    def data_sources(self) -> tuple[str, ...]:
        return tuple(getattr(self.spec, "sources", ()) or ())
