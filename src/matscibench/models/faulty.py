"""Models that misbehave on purpose, to test that the harness survives them.

Each follows the property-model contract on the surface and then fails in one specific way. The
test suite runs them through the engine; users can do the same to check their own pipelines.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from matscibench.models.dummy import DummyModel

__all__ = [
    "RaisingModel", "NaNModel", "WrongLengthModel", "CrashingModel", "SlowModel", "HungryModel", "BusyModel",
    "HostileMessageModel", "ChildSpawningModel", "CrashingConstructorModel",
]


class RaisingModel(DummyModel):
    """Raises ``ValueError`` in ``fit`` (or ``predict`` with ``where="predict"``)."""

    def __init__(self, where: str = "fit") -> None:
        super().__init__()
        self.where = where

    def fit(self, X: Sequence[Any], y: Any) -> RaisingModel:
        if self.where == "fit":
            raise ValueError("this model always fails in fit")
        return super().fit(X, y)

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        raise ValueError("this model always fails in predict")


class NaNModel(DummyModel):
    """Predicts NaN for every third item."""

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        out = super().predict(X).astype(float)
        out[::3] = np.nan
        return out


class WrongLengthModel(DummyModel):
    """Returns one prediction too few."""

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        return super().predict(X)[:-1]


class CrashingModel(DummyModel):
    """Kills its own process in ``fit`` (like a segfault in a compiled extension)."""

    def fit(self, X: Sequence[Any], y: Any) -> CrashingModel:
        os.abort()


class SlowModel(DummyModel):
    """Sleeps ``seconds`` in ``fit`` (for timeouts and kill-and-resume tests)."""

    def __init__(self, seconds: float = 1.0) -> None:
        super().__init__()
        self.seconds = seconds

    def fit(self, X: Sequence[Any], y: Any) -> SlowModel:
        time.sleep(self.seconds)
        return super().fit(X, y)


class HungryModel(DummyModel):
    """Allocates ``mib`` MiB during ``fit`` (to test peak-memory metering)."""

    def __init__(self, mib: int = 200) -> None:
        super().__init__()
        self.mib = mib

    def fit(self, X: Sequence[Any], y: Any) -> HungryModel:
        block = np.ones(self.mib * 1024 * 1024 // 8)
        block.sum()
        del block
        return super().fit(X, y)


class BusyModel(DummyModel):
    """Burns a fixed amount of CPU work in ``fit`` (``work`` 256x256 matrix products).

    A fixed amount of work, not a fixed time: on a loaded machine it takes longer, which is
    what scaling benchmarks need to see.
    """

    def __init__(self, work: int = 2000) -> None:
        super().__init__()
        self.work = work

    def fit(self, X: Sequence[Any], y: Any) -> BusyModel:
        rng = np.random.default_rng(0)
        a = rng.random((256, 256)) / 256
        m = np.eye(256)
        for _ in range(int(self.work)):
            m = a @ m + np.eye(256) * 1e-3
        self.trace_ = float(np.trace(m))
        return super().fit(X, y)


class _UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ refuses")


class HostileMessageModel(DummyModel):
    """Raises in ``fit`` an exception whose message is hostile to storage and display:
    ``kind="surrogate"`` (a lone surrogate, not encodable as UTF-8), ``"huge"`` (``mib`` MiB in one
    unbroken line), ``"nul"`` (NUL characters, which PostgreSQL refuses), ``"unprintable"`` (its
    ``__str__`` raises)."""

    def __init__(self, kind: str = "surrogate", mib: float = 20.0) -> None:
        super().__init__()
        self.kind = kind
        self.mib = mib

    def fit(self, X: Sequence[Any], y: Any) -> HostileMessageModel:
        if self.kind == "surrogate":
            raise ValueError("bad bytes \udcff\udc80 from a C library")
        if self.kind == "huge":
            raise ValueError("x" * int(self.mib * 2**20))
        if self.kind == "nul":
            raise ValueError("a\x00b")
        if self.kind == "unprintable":
            raise _UnprintableError()
        raise ValueError(f"unknown kind {self.kind!r}")


class ChildSpawningModel(DummyModel):
    """Starts a child process in ``fit`` (``kind="subprocess"``: a Python that sleeps; ``"pool"``:
    a multiprocessing pool), writes its pid to ``pid_file`` and sleeps ``seconds`` -- leaving the
    child running, as a careless model would."""

    def __init__(self, pid_file: str = "", seconds: float = 60.0, kind: str = "subprocess") -> None:
        super().__init__()
        self.pid_file = pid_file
        self.seconds = seconds
        self.kind = kind

    def fit(self, X: Sequence[Any], y: Any) -> ChildSpawningModel:
        import subprocess
        import sys

        if self.kind == "pool":
            import multiprocessing as mp

            self._pool = mp.get_context("fork").Pool(1)  # never closed
            pids = [p.pid for p in self._pool._pool]  # type: ignore[attr-defined]
        else:
            self._child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            pids = [self._child.pid]
        if self.pid_file:
            with open(self.pid_file, "a") as fh:
                fh.write("".join(f"{p}\n" for p in [os.getpid(), *pids]))
        time.sleep(self.seconds)
        return super().fit(X, y)


class CrashingConstructorModel(DummyModel):
    """Kills its own process while being constructed (a compiled extension that segfaults on
    import or initialisation)."""

    def __init__(self) -> None:
        os.abort()
