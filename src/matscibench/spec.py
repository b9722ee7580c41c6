"""Job specifications and results: plain, picklable, JSON-able records.

A job is a pure function of (task, model, fold, seed, dataset checksum); its key is a hash of
exactly those, so a re-planned suite finds the jobs it already recorded and skips them.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
import traceback as tb
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

__all__ = ["TaskRef", "ModelRef", "JobSpec", "JobResult", "canonical_json", "NAME_MAX_CHARS", "METRIC_NAME_MAX_CHARS"]

#: longest run id, suite name, task name and model label the results store holds (its column
#: sizes; PostgreSQL refuses longer values, so suites are checked against these when read)
NAME_MAX_CHARS = 200
#: longest metric or cost name the store holds
METRIC_NAME_MAX_CHARS = 100


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class TaskRef:
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.params}


@dataclass(frozen=True)
class ModelRef:
    """``label`` is how the model is shown; ``model`` the registry name or import path."""

    label: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "model": self.model, "params": self.params}


@dataclass(frozen=True)
class JobSpec:
    run_id: str
    task: TaskRef
    model: ModelRef
    fold: int
    seed: int
    dataset_checksum: str
    #: harness options: threads (part of the key when not 1), latency settings (not part of the key)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        ident = {
            "task": self.task.as_dict(),
            "model": self.model.as_dict(),
            "fold": self.fold,
            "seed": self.seed,
            "data": self.dataset_checksum,
        }
        threads = int(self.options.get("threads", 1) or 1)
        if threads != 1:  # numbers depend on the thread count (reduction order); 1 keeps older keys
            ident["threads"] = threads
        return hashlib.sha256(canonical_json(ident).encode()).hexdigest()[:20]

    def title(self) -> str:
        return f"{self.task.name} · {self.model.label} · fold {self.fold} · seed {self.seed}"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["key"] = self.key
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobSpec:
        """Inverse of ``as_dict`` (the stored ``spec_json`` of a job rebuilds the job)."""
        spec = cls(
            run_id=d["run_id"],
            task=TaskRef(**d["task"]),
            model=ModelRef(**d["model"]),
            fold=int(d["fold"]),
            seed=int(d["seed"]),
            dataset_checksum=d["dataset_checksum"],
            options=dict(d.get("options") or {}),
        )
        if "key" in d and d["key"] != spec.key:
            raise ValueError(f"job spec does not match its key {d['key']} (got {spec.key})")
        return spec


@dataclass
class JobResult:
    key: str
    run_id: str
    task: str
    model: str
    fold: int
    seed: int
    status: str  # ok | failed | skipped
    metrics: dict[str, float] = field(default_factory=dict)
    costs: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    curve: list[tuple[int, float, float]] = field(default_factory=list)
    predictions: pd.DataFrame | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float = field(default_factory=time.time)
    host: str = field(default_factory=socket.gethostname)
    pid: int | None = None
    spec: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(cls, spec: JobSpec, exc: BaseException, status: str = "failed", **kw: Any) -> JobResult:
        """A failed (or skipped) job; whatever the exception carries becomes bounded, valid text
        (a 20 MB message, lone surrogates, a ``__str__`` that raises)."""
        from matscibench.errors import TRACEBACK_MAX_CHARS, clean_text, safe_str

        if status == "failed":
            try:
                trace = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
            except Exception:  # noqa: BLE001 - a hostile exception
                trace = "".join(tb.format_tb(exc.__traceback__)) + f"{type(exc).__name__}: <message could not be read>"
            trace = clean_text(trace, TRACEBACK_MAX_CHARS)
        else:
            trace = None
        return cls(
            key=spec.key,
            run_id=spec.run_id,
            task=spec.task.name,
            model=spec.model.label,
            fold=spec.fold,
            seed=spec.seed,
            status=status,
            error_type=clean_text(type(exc).__name__, NAME_MAX_CHARS),
            error_message=clean_text(safe_str(exc) or type(exc).__name__),
            traceback=trace,
            spec=spec.as_dict(),
            **kw,
        )

    @property
    def wall_s(self) -> float:
        return self.finished_at - self.started_at
