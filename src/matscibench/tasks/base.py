"""What every task family implements so the engine can plan, run and re-score its jobs.

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

__all__ = ["Task", "DatasetTask", "TaskOutput", "JobContext"]


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
    #: time-to-target threshold on the primary metric (None: the task sets none)
    target: float | None = None
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

    @abstractmethod
    def incompatibility(self, model: Any) -> str | None:
        """Why ``model`` cannot run on this task, or None when it can."""

    @abstractmethod
    def run(self, model: Any, fold: int, ctx: JobContext) -> TaskOutput:
        """Train and evaluate ``model`` on one fold, metering phases with ``ctx.meter``."""

    @abstractmethod
    def rescore(self, predictions: pd.DataFrame) -> dict[str, float]:
        """Recompute the metrics from stored predictions."""

    def target_reached(self, value: float) -> bool:
        if self.target is None or value is None or not math.isfinite(value):
            return False
        info = self.metric_info(self.primary_metric)
        return value >= self.target if info.higher_is_better else value <= self.target

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
            from matscibench.data.registry import get_dataset

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
