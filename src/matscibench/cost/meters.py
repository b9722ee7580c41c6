"""Meters for one job: wall and CPU time, peak memory, GPU time and memory, energy.

Use a ``JobMeter`` around the phases of a job::

    meter = JobMeter()
    with meter.phase("fit"):
        model.fit(X, y)

Inside a model, ``matscibench.cost.meters.phase("featurize")`` records a sub-phase of whatever
phase the harness has open (``fit/featurize``); outside a job it does nothing, so models can use it
unconditionally.

What each number means:

- ``wall_s``: ``time.perf_counter`` difference. When PyTorch has initialised CUDA, the device is
  synchronised before each clock read, so asynchronous kernels are counted in the phase that
  launched them.
- ``cpu_s``: user + system CPU time of this process (all its threads) plus of child processes
  that finished during the phase.
- ``peak_rss_MiB``: the high-water mark of resident memory during the phase (Linux: ``VmHWM``
  after resetting it through ``/proc/self/clear_refs``; elsewhere the process's lifetime peak).
- ``gpu_peak_MiB``: ``torch.cuda.max_memory_allocated`` during the phase, when CUDA is in use.
- ``energy_cpu_J``: RAPL package energy (whole sockets, every process on them) where
  ``/sys/class/powercap`` is readable; ``energy_gpu_J``: NVML total energy of the devices.
"""

from __future__ import annotations

import contextlib
import contextvars
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "JobMeter",
    "PhaseRecord",
    "phase",
    "current_meter",
    "peak_rss_reset",
    "peak_rss_mib",
    "latency_percentiles",
]

_MIB = 1024.0 * 1024.0
_current: contextvars.ContextVar[JobMeter | None] = contextvars.ContextVar("matscibench_meter", default=None)


# --------------------------------------------------------------------------------------- memory
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def peak_rss_reset() -> bool:
    """Reset the kernel's resident-memory high-water mark of this process; False if unsupported."""
    try:
        with open(_CLEAR_REFS, "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _status_kib(field_name: str) -> float | None:
    try:
        with open(_STATUS) as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_mib() -> float:
    """Peak resident set size since the last reset (MiB)."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib / 1024.0
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return ru / _MIB if sys.platform == "darwin" else ru / 1024.0


def rss_mib() -> float:
    kib = _status_kib("VmRSS")
    if kib is not None:
        return kib / 1024.0
    try:
        import psutil

        return psutil.Process().memory_info().rss / _MIB
    except Exception:  # pragma: no cover
        return float("nan")


# ------------------------------------------------------------------------------------------ gpu
def _cuda():
    """The torch module if it is imported and CUDA is initialised, else None (never imports torch)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch
    except Exception:  # pragma: no cover
        return None
    return None


def _sync() -> None:
    torch = _cuda()
    if torch is not None:
        torch.cuda.synchronize()


# --------------------------------------------------------------------------------------- energy
class _Rapl:
    """Package energy counters from Linux powercap (microjoules, wrapping at max_energy_range_uj)."""

    def __init__(self) -> None:
        self.domains: list[tuple[Path, float]] = []
        root = Path("/sys/class/powercap")
        if root.is_dir():
            for d in sorted(root.glob("intel-rapl:*")):
                if d.name.count(":") != 1:  # packages only, not sub-domains
                    continue
                f = d / "energy_uj"
                try:
                    rng = float((d / "max_energy_range_uj").read_text())
                    float(f.read_text())
                except (OSError, ValueError):
                    continue
                self.domains.append((f, rng))

    def read(self) -> list[float] | None:
        if not self.domains:
            return None
        try:
            return [float(f.read_text()) for f, _ in self.domains]
        except (OSError, ValueError):
            return None

    def joules(self, start: list[float] | None, end: list[float] | None) -> float | None:
        if start is None or end is None:
            return None
        total = 0.0
        for (_, rng), a, b in zip(self.domains, start, end):
            d = b - a
            if d < 0:
                d += rng
            total += d
        return total / 1e6


class _Nvml:
    def __init__(self) -> None:
        self.handles: list[Any] = []
        self.nvml = None
        if _cuda() is None:
            return
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            for h in self.handles:
                pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
            self.nvml = pynvml
        except Exception:
            self.handles = []
            self.nvml = None

    def read(self) -> list[float] | None:
        if self.nvml is None:
            return None
        try:
            return [float(self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self.handles]
        except Exception:
            return None

    @staticmethod
    def joules(start: list[float] | None, end: list[float] | None) -> float | None:
        if start is None or end is None:
            return None
        return sum(b - a for a, b in zip(start, end)) / 1e3  # mJ -> J


# ---------------------------------------------------------------------------------------- meter
@dataclass
class PhaseRecord:
    name: str
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_MiB: float = float("nan")
    gpu_peak_MiB: float | None = None
    energy_cpu_J: float | None = None
    energy_gpu_J: float | None = None
    start_s: float = 0.0  # seconds since the job started

    def costs(self) -> dict[str, float]:
        out = {"wall_s": self.wall_s, "cpu_s": self.cpu_s, "peak_rss_MiB": self.peak_rss_MiB}
        for k in ("gpu_peak_MiB", "energy_cpu_J", "energy_gpu_J"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        return out


@dataclass
class JobMeter:
    """Collects phase records, extra costs and a learning curve for one job."""

    events: Callable[[dict], None] | None = None
    phases: dict[str, PhaseRecord] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    curve: list[tuple[int, float, float]] = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)
    baseline_rss_MiB: float = field(default_factory=rss_mib)
    _stack: list[str] = field(default_factory=list)
    # running peaks (rss MiB, gpu MiB) of the open phases: a nested phase resets the kernel's
    # high-water mark, so what was reached before the reset is folded into the outer phases here
    _peaks: list[list[float]] = field(default_factory=list)
    _rapl: _Rapl = field(default_factory=_Rapl)
    _nvml: _Nvml | None = None

    def elapsed(self) -> float:
        """Seconds since the job started (the clock of time-to-target)."""
        _sync()
        return time.perf_counter() - self.t0

    def emit(self, **event: Any) -> None:
        if self.events is not None:
            with contextlib.suppress(Exception):
                self.events(event)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[PhaseRecord]:
        full = "/".join([*self._stack, name])
        if self._nvml is None:
            self._nvml = _Nvml()
        rec = PhaseRecord(full)
        top = not self._stack
        if top:
            self.emit(kind="phase", phase=full)
        token = _current.set(self)
        self._stack.append(name)
        torch = _cuda()
        if torch is not None:
            torch.cuda.synchronize()
        self._fold_peaks(self._read_peaks(torch))
        self._peaks.append([0.0, 0.0])
        if torch is not None:
            torch.cuda.reset_peak_memory_stats()
        peak_rss_reset()
        e_cpu, e_gpu = self._rapl.read(), self._nvml.read()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        c0 = time.process_time()
        w0 = time.perf_counter()
        rec.start_s = w0 - self.t0
        try:
            yield rec
        finally:
            _sync()
            rec.wall_s = time.perf_counter() - w0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            rec.cpu_s = (time.process_time() - c0) + (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
            own = self._peaks.pop()
            rss, gpu = self._read_peaks(torch)
            own = [max(own[0], rss), max(own[1], gpu)]
            self._fold_peaks(own)
            rec.peak_rss_MiB = own[0]
            if torch is not None:
                rec.gpu_peak_MiB = own[1]
            rec.energy_cpu_J = self._rapl.joules(e_cpu, self._rapl.read())
            rec.energy_gpu_J = self._nvml.joules(e_gpu, self._nvml.read())
            self._stack.pop()
            _current.reset(token)
            prev = self.phases.get(full)
            if prev is not None:  # a phase entered twice (e.g. featurize in fit and predict) adds up
                rec.wall_s += prev.wall_s
                rec.cpu_s += prev.cpu_s
                rec.peak_rss_MiB = max(rec.peak_rss_MiB, prev.peak_rss_MiB)
            self.phases[full] = rec

    @staticmethod
    def _read_peaks(torch) -> tuple[float, float]:
        gpu = torch.cuda.max_memory_allocated() / _MIB if torch is not None else 0.0
        return peak_rss_mib(), gpu

    def _fold_peaks(self, peaks) -> None:
        for p in self._peaks:
            p[0] = max(p[0], peaks[0])
            p[1] = max(p[1], peaks[1])

    def record_epoch(self, epoch: int, value: float) -> float:
        """Record a validation value reported by the model; returns seconds since job start."""
        t = self.elapsed()
        self.curve.append((int(epoch), t, float(value)))
        self.emit(kind="epoch", epoch=int(epoch), value=float(value))
        return t

    def costs(self) -> dict[str, float]:
        """Flat ``{"<phase>.<quantity>": value}`` plus job-level totals and extras."""
        out: dict[str, float] = {}
        for name, rec in self.phases.items():
            for k, v in rec.costs().items():
                out[f"{name}.{k}"] = v
        peaks = [r.peak_rss_MiB for r in self.phases.values() if np.isfinite(r.peak_rss_MiB)]
        if peaks:
            out["job.peak_rss_MiB"] = max(peaks)
        out["job.baseline_rss_MiB"] = self.baseline_rss_MiB
        gpu = [r.gpu_peak_MiB for r in self.phases.values() if r.gpu_peak_MiB is not None]
        if gpu:
            out["job.gpu_peak_MiB"] = max(gpu)
        out.update(self.extra)
        return out


def current_meter() -> JobMeter | None:
    """The meter of the job running in this process, if any."""
    return _current.get()


@contextlib.contextmanager
def phase(name: str) -> Iterator[PhaseRecord | None]:
    """Record a sub-phase (e.g. ``featurize``) inside the harness's current phase; no-op outside."""
    meter = _current.get()
    if meter is None:
        yield None
        return
    with meter.phase(name) as rec:
        yield rec


# --------------------------------------------------------------------------------------- latency
def latency_percentiles(
    call: Callable[[Sequence[Any]], Any],
    items: Sequence[Any],
    batch_size: int,
    *,
    warmup: int = 2,
    max_batches: int = 50,
    budget_s: float = 5.0,
    rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """Time ``call(batch)`` on random batches after ``warmup`` untimed calls.

    Returns p50/p95/p99 latency in milliseconds and the number of timed batches. Stops after
    ``max_batches`` or when ``budget_s`` is spent, whichever comes first (at least 3 batches).
    """
    n = len(items)
    if n == 0:
        return {}
    rng = rng or np.random.default_rng(0)
    bs = max(1, min(batch_size, n))

    def batch():
        idx = rng.choice(n, size=bs, replace=False)
        return [items[i] for i in idx]

    for _ in range(warmup):
        call(batch())
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_batches and (len(times) < 3 or time.perf_counter() - start < budget_s):
        b = batch()
        _sync()
        t = time.perf_counter()
        call(b)
        _sync()
        times.append(time.perf_counter() - t)
    ms = np.asarray(times) * 1e3
    return {
        "latency_p50_ms": float(np.percentile(ms, 50)),
        "latency_p95_ms": float(np.percentile(ms, 95)),
        "latency_p99_ms": float(np.percentile(ms, 99)),
        "latency_batches": float(len(ms)),
        "latency_batch_size": float(bs),
    }
