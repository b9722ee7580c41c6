#!/usr/bin/env python
"""Scaling and overhead of the executors, measured side by side in one run.

1. Speedup of 2 workers over 1 on CPU-bound jobs (a fixed amount of work per job, single
   threaded), with the Dask executor and with the local one; the 1-worker wall time is printed
   next to every speedup as the base case.
2. Per-job overhead with many tiny jobs (ms/job): raw Dask tasks (``client.submit`` of a no-op,
   the scheduler's own cost), the engine's job path on Dask (fresh process per job on the worker,
   result back through the scheduler), and the local process-per-job executor.

Usage::

    python benchmarks/bench_dask_scaling.py [--jobs 8] [--work 1500] [--tiny 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


noop = abs  # a builtin: picklable by reference in every process


def cpu_suite(n_jobs: int, work: int, n_structures: int):
    from matscibench.suite import Suite

    return Suite.model_validate(
        {
            "name": "bench-scaling",
            "folds": list(range(min(5, n_jobs))),
            "repeats": max(1, -(-n_jobs // 5)),
            "options": {"latency": False},
            "tasks": [{"name": "emt_formation_energy", "params": {"dataset_params": {"n_structures": n_structures}}}],
            "models": [{"name": "matscibench.models.faulty:BusyModel", "label": "busy", "params": {"work": work}}],
        }
    )


def timed_run(suite, kind: str, workers: int) -> tuple[float, float]:
    """(seconds to start the executor, seconds to run the suite on it)."""
    from matscibench.run.driver import make_executor, run_suite

    t = time.perf_counter()
    ex = make_executor(kind, workers=workers, timeout_s=None, memory_limit_MiB=None)
    if kind == "local":  # start the fork server now, as the Dask cluster starts its workers now
        ex.submit(noop, 0).result()
    else:
        [f.result() for f in [ex.submit(noop, i) for i in range(2 * workers)]]
    start = time.perf_counter() - t
    try:
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            out = run_suite(suite, results=d, workers=workers, executor=ex, quiet=True, report=False)
            wall = time.perf_counter() - t
            assert out.counts.get("ok") == out.n_planned, out.counts
    finally:
        ex.shutdown()
    return start, wall


def tiny_overhead(n: int) -> None:
    import dask
    from distributed import Client, LocalCluster

    from matscibench.run.dask_executor import DaskExecutor
    from matscibench.run.executor import JobProcessExecutor

    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40)
    client = Client(cluster)
    try:
        client.gather(client.map(noop, range(50), pure=False))  # warm up
        t = time.perf_counter()
        client.gather(client.map(noop, range(n), pure=False))
        raw = (time.perf_counter() - t) / n
        ex = DaskExecutor(client)
        m = max(50, n // 10)
        grp = {"group": "g", "warm": (noop, (0,))}  # as the driver submits: jobs of one dataset share a group
        [f.result() for f in [ex.submit_limited(noop, i, timeout_s=None, **grp) for i in range(20)]]  # fork servers up
        t = time.perf_counter()
        [f.result() for f in [ex.submit_limited(noop, i, timeout_s=None, **grp) for i in range(m)]]
        ours_dask = (time.perf_counter() - t) / m
    finally:
        client.close()
        cluster.close()
    local = JobProcessExecutor(max_workers=2, preload=["matscibench.run.job"])
    [f.result() for f in [local.submit_limited(noop, i, timeout_s=None, **grp) for i in range(10)]]
    t = time.perf_counter()
    [f.result() for f in [local.submit_limited(noop, i, timeout_s=None, **grp) for i in range(m)]]
    ours_local = (time.perf_counter() - t) / m
    t = time.perf_counter()
    [f.result() for f in [local.submit(noop, i) for i in range(m)]]
    plain_local = (time.perf_counter() - t) / m
    local.shutdown()
    print("\n2. per-job overhead, 2 workers (wall time / jobs):")
    print(f"   raw Dask task (no-op), {n} tasks                          {raw * 1e3:8.2f} ms/job")
    print(f"   engine on Dask (fresh process per job, grouped), {m} jobs  {ours_dask * 1e3:8.2f} ms/job")
    print(f"   engine, local executor (grouped), {m} jobs                 {ours_local * 1e3:8.2f} ms/job")
    print(f"   engine, local executor (no group: fork server), {m} jobs   {plain_local * 1e3:8.2f} ms/job")
    print(f"HEADLINE | engine overhead per tiny job, local executor (ms) | {ours_local * 1e3:.1f} | <= 5")
    print(f"HEADLINE | engine per tiny job on Dask / raw Dask task | {ours_dask / raw:.2f} | <= 2")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=10)
    ap.add_argument("--work", type=int, default=1500, help="matrix products per job (~1.5 s on one core)")
    ap.add_argument("--tiny", type=int, default=1000)
    ap.add_argument("--n-structures", type=int, default=300)
    args = ap.parse_args()
    from matscibench.cost.sysinfo import system_info

    si = system_info()
    print(f"machine: {si['cpu_model']}, {si['cpu_logical_cores']} logical cores ({os.cpu_count()} usable)")
    suite = cpu_suite(args.jobs, args.work, args.n_structures)
    from matscibench.families.registry import get_task

    get_task("emt_formation_energy", dataset_params={"n_structures": args.n_structures}).prepare()
    speedups: dict[str, float] = {}
    print(f"1. {args.jobs} CPU-bound jobs ({args.work} 256x256 matrix products each, 1 thread):")
    for executor in ("dask", "local"):
        s1, t1 = timed_run(suite, executor, 1)
        s2, t2 = timed_run(suite, executor, 2)
        print(
            f"   {executor:<6} 1 worker {t1:7.2f} s (base case)   2 workers {t2:7.2f} s   speedup {t1 / t2:4.2f}x"
            f"   (executor start-up, not included: {s1:.2f} s / {s2:.2f} s)"
        )
        speedups[executor] = t1 / t2
    for executor, sp in speedups.items():
        print(f"HEADLINE | 2 workers vs 1 on CPU-bound jobs, {executor} | {sp:.2f} | >= 1.85")
    tiny_overhead(args.tiny)


if __name__ == "__main__":
    main()
