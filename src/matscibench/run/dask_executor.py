"""Run jobs on a Dask cluster: a local one, an existing scheduler, or Slurm/PBS via dask-jobqueue.

Each job still runs in a fresh process, forked on the Dask worker that picked it up (so a
segfaulting model fails its own job, a time or memory limit can be enforced, and peak memory is
the job's own). A Dask worker that dies mid-job (killed, node lost) is Dask's business: the
scheduler runs the job again on another worker, and the store records it once.

Resources: a job carries ``resources`` (e.g. ``{"GPU": 1}``); Dask places it only on workers that
advertise them (``dask worker --resources "GPU=1"``), so two timed GPU jobs never share a device.
In exclusive mode every job also asks for ``{"NODE": 1}``: start one worker per node with
``--resources "NODE=1"`` and no two jobs run on a node at once.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import threading
import uuid
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, Callable

__all__ = ["DaskExecutor", "make_cluster", "load_cluster_config"]

_LOCAL: dict[str, Any] = {}
_LOCK = threading.Lock()


def _isolated_call(fn: Callable, args: tuple, kwargs: dict, timeout_s: float | None, memory_limit_MiB: float | None,
                   group: Any = None, warm: Any = None) -> Any:
    """On a Dask worker: run ``fn`` in a fresh forked process and return its result (forked from
    the worker's process of the job's ``group`` when one is given, see ``JobProcessExecutor``)."""
    from matscibench.run.executor import JobProcessExecutor

    if mp.current_process().daemon:  # a daemonic worker may not have children
        mp.current_process()._config["daemon"] = False  # type: ignore[attr-defined]
    with _LOCK:
        ex = _LOCAL.get("executor")
        if ex is None or ex.memory_limit_MiB != memory_limit_MiB:
            ex = JobProcessExecutor(max_workers=64, memory_limit_MiB=memory_limit_MiB)
            _LOCAL["executor"] = ex
    return ex.submit_limited(fn, *args, timeout_s=timeout_s, group=group, warm=warm, **kwargs).result()


def _transfer(dfut: Any, cf: Future) -> None:
    if dfut.status == "cancelled":
        cf.cancel()
        return
    try:
        exc = dfut.exception()
    except Exception as e:  # cancelled or lost
        cf.set_exception(e)
        return
    if exc is not None:
        cf.set_exception(exc)
    else:
        cf.set_result(dfut.result())


class DaskExecutor(Executor):
    """A ``concurrent.futures.Executor`` over a ``distributed.Client``.

    Parameters
    ----------
    client: a connected ``distributed.Client``.
    timeout_s, memory_limit_MiB: per-job limits enforced by the forked job process.
    exclusive: every job also requests ``{"NODE": 1}``.
    owned: objects to close at shutdown (a cluster started for this run).
    """

    accepts_resources = True
    #: jobs of one dataset are forked, on each worker, from a process that loaded it once
    accepts_groups = True

    def __init__(
        self,
        client: Any,
        *,
        timeout_s: float | None = None,
        memory_limit_MiB: float | None = None,
        exclusive: bool = False,
        owned: list[Any] | None = None,
    ) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.memory_limit_MiB = memory_limit_MiB
        self.exclusive = exclusive
        self._owned = owned or []
        self._futures: set[Any] = set()

    @property
    def max_workers(self) -> int:
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:
            return 1

    def submit(self, fn: Callable, /, *args: Any, resources: dict[str, float] | None = None, **kwargs: Any) -> Future:
        return self.submit_limited(fn, *args, timeout_s=self.timeout_s, resources=resources, **kwargs)

    def submit_limited(
        self, fn: Callable, /, *args: Any, timeout_s: float | None, resources: dict[str, float] | None = None,
        group: Any = None, warm: Any = None, last_in_group: bool = False, **kwargs: Any
    ) -> Future:
        """``submit`` with this call's own wall-clock limit (seconds; None: no limit), and the
        job group of ``JobProcessExecutor.submit_limited`` (``last_in_group`` is ignored: a
        group's jobs spread over workers; each worker keeps at most a few groups' processes)."""
        res = dict(resources or {})
        if self.exclusive:
            res["NODE"] = 1
        dfut = self.client.submit(
            _isolated_call,
            fn,
            args,
            kwargs,
            timeout_s,
            self.memory_limit_MiB,
            group,
            warm,
            pure=False,
            key=f"matscibench-{getattr(fn, '__name__', 'call')}-{uuid.uuid4().hex[:12]}",
            resources=res or None,
        )
        cf: Future = Future()
        cf.set_running_or_notify_cancel()
        self._futures.add(dfut)
        dfut.add_done_callback(lambda f: (_transfer(f, cf), self._futures.discard(f)))
        return cf

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            with contextlib.suppress(Exception):
                self.client.cancel(list(self._futures))
        with contextlib.suppress(Exception):
            self.client.close()
        for obj in self._owned:
            with contextlib.suppress(Exception):
                obj.close()


def load_cluster_config(path: str | Path) -> dict[str, Any]:
    """A cluster description in TOML::

        kind = "slurm"            # slurm | pbs | sge | lsf | local
        jobs = 4                  # batch jobs (nodes) to start
        [options]                 # passed to dask_jobqueue.SLURMCluster(...)
        cores = 32
        memory = "128GB"
        processes = 1
        walltime = "04:00:00"
        queue = "gpu"
        job_extra_directives = ["--gres=gpu:4"]
        worker_extra_args = ["--resources", "GPU=4,NODE=1"]
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    p = Path(path)
    try:
        cfg = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"cluster config {p} does not exist") from None
    kind = str(cfg.get("kind", "")).lower()
    if kind not in ("slurm", "pbs", "sge", "lsf", "local"):
        raise ValueError(f"{p}: kind must be slurm, pbs, sge, lsf or local, got {kind!r}")
    return {"kind": kind, "jobs": int(cfg.get("jobs", 1)), "options": dict(cfg.get("options", {}))}


def make_cluster(config: dict[str, Any]):
    """A dask-jobqueue cluster (or a LocalCluster) from ``load_cluster_config``'s dictionary."""
    kind, opts = config["kind"], config["options"]
    if kind == "local":
        from distributed import LocalCluster

        return LocalCluster(**opts)
    try:
        import dask_jobqueue
    except ImportError as exc:
        raise ImportError("a batch-system cluster needs dask-jobqueue: pip install 'matscibench[cluster]'") from exc
    cls = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}[kind]
    cluster = getattr(dask_jobqueue, cls)(**opts)
    return cluster


def local_cluster(workers: int, threads_per_worker: int = 1, exclusive: bool = False, memory_limit: str | None = None):
    """A LocalCluster sized to this machine: one single-threaded worker per job slot.

    Workers are not daemonic, so they can fork the per-job processes.
    """
    import dask
    from distributed import LocalCluster

    n_gpus = _gpu_count()
    resources: dict[str, float] = {"NODE": 1}
    if n_gpus:
        resources["GPU"] = 1
    with dask.config.set({"distributed.worker.daemon": False}):
        return LocalCluster(
            n_workers=1 if exclusive else workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=None,
            resources=resources,
            memory_limit=memory_limit or 0,
            silence_logs=40,
        )


def _gpu_count() -> int:
    vis = os.environ.get("CUDA_VISIBLE_DEVICES")
    if vis is not None:
        return len([v for v in vis.split(",") if v.strip()])
    with contextlib.suppress(Exception):
        from matscibench.cost.sysinfo import gpu_list

        return len(gpu_list())
    return 0


def make_dask_executor(
    *,
    workers: int,
    scheduler: str | None = None,
    cluster_config: str | Path | None = None,
    timeout_s: float | None = None,
    memory_limit_MiB: float | None = None,
    exclusive: bool = False,
) -> DaskExecutor:
    """Connect to ``scheduler``, or start a cluster from ``cluster_config``, or a LocalCluster."""
    from distributed import Client

    owned: list[Any] = []
    if scheduler:
        client = Client(scheduler)
    elif cluster_config:
        cfg = load_cluster_config(cluster_config)
        cluster = make_cluster(cfg)
        if hasattr(cluster, "scale") and cfg["kind"] != "local":
            cluster.scale(jobs=cfg["jobs"])
        owned.append(cluster)
        client = Client(cluster)
    else:
        cluster = local_cluster(workers, exclusive=exclusive)
        owned.append(cluster)
        client = Client(cluster)
    return DaskExecutor(client, timeout_s=timeout_s, memory_limit_MiB=memory_limit_MiB, exclusive=exclusive and bool(scheduler or cluster_config), owned=owned)
