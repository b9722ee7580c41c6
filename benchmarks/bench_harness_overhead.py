#!/usr/bin/env python
"""What does measuring cost? The harness's overhead against a bare timing loop, side by side.

Three comparisons, each run in this one process, interleaved, with the median over repeats:

1. Meter overhead per phase: ``model.predict(X)`` timed with a bare ``perf_counter`` pair
   against the same call inside ``JobMeter.phase`` (which also resets and reads the peak-RSS
   counter, reads CPU times and, when present, energy counters and CUDA statistics). Printed for
   calls of three sizes, as the absolute overhead (µs) and the ratio of medians.
2. Job overhead: one fold of ``emt_formation_energy`` with ``magpie_rf`` as a bare script would
   run it (load, fit, predict in this process) against ``run_job`` (meters, latency percentiles
   switched off, result record) in this process.
3. Process isolation: the same ``run_job`` submitted to ``JobProcessExecutor``, two ways:
   a fresh process forked from the preloaded fork server (``plain``), and a fresh process forked
   from the job group's process, which parsed the dataset and imported the task's and model's
   modules once (``grouped``: what the driver does; the group is started before timing). A
   grouped job does not parse the dataset, so it is set beside a bare script whose dataset is
   already in memory (base case B); the plain one beside the bare script that loads it (A).

The last lines (``HEADLINE``) are read by ``benchmarks/run_all.py``.

Usage::

    python benchmarks/bench_harness_overhead.py [--repeats 15] [--n-structures 2500]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _median_us(xs):
    return statistics.median(xs) * 1e6


def meter_overhead(repeats: int) -> None:
    from matscibench.cost.meters import JobMeter

    rng = np.random.default_rng(0)
    print("1. meter overhead per phase (median of %d, µs)" % repeats)
    print(f"   {'call':<28}{'bare':>12}{'metered':>12}{'overhead':>12}{'ratio':>8}")
    for label, size in (("tiny (sum of 10 floats)", 10), ("small (sort 1e5 floats)", 100_000), ("medium (sort 2e6 floats)", 2_000_000)):
        x = rng.random(size)
        call = (lambda x=x: x.sum()) if size == 10 else (lambda x=x: np.sort(x))
        bare, metered = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            call()
            bare.append(time.perf_counter() - t)
            m = JobMeter()
            t = time.perf_counter()
            with m.phase("predict"):
                call()
            metered.append(time.perf_counter() - t)
        b, mt = _median_us(bare), _median_us(metered)
        print(f"   {label:<28}{b:>12.1f}{mt:>12.1f}{mt - b:>12.1f}{mt / b:>8.2f}")


def job_overhead(repeats: int, n_structures: int) -> None:
    from matscibench.families.registry import build_model, get_task
    from matscibench.run.executor import JobProcessExecutor
    from matscibench.run.job import run_job, warm_group
    from matscibench.spec import JobSpec, ModelRef, TaskRef

    params = {"dataset_params": {"n_structures": n_structures}}
    task = get_task("emt_formation_energy", **params)
    task.prepare()
    spec = JobSpec("bench", TaskRef("emt_formation_energy", params), ModelRef("magpie_rf", "magpie_rf"), 0, 0,
                   task.dataset_checksum(), {"latency": False, "threads": 1})

    def bare(ds=None):
        ds = ds if ds is not None else task.load()
        train, test = task.folds(ds)[0]
        y = task.y(ds)
        model = build_model("magpie_rf", {"random_state": 0})
        model.fit([ds.inputs[i] for i in train], y[train])
        return model.predict([ds.inputs[i] for i in test])

    loaded = task.load()
    warm = (warm_group, ([("emt_formation_energy", params)], ["magpie_rf"]))
    ex = JobProcessExecutor(max_workers=1)
    ex.submit(run_job, spec).result()  # start the fork server before timing
    ex.submit_limited(run_job, spec, timeout_s=None, group="g", warm=warm).result()  # and the group's process
    t_bare, t_loaded, t_job, t_proc, t_group = [], [], [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        bare()
        t_bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        bare(loaded)
        t_loaded.append(time.perf_counter() - t)
        t = time.perf_counter()
        res = run_job(spec)
        t_job.append(time.perf_counter() - t)
        assert res.status == "ok", res.error_message
        t = time.perf_counter()
        ex.submit(run_job, spec).result()
        t_proc.append(time.perf_counter() - t)
        t = time.perf_counter()
        res = ex.submit_limited(run_job, spec, timeout_s=None, group="g", warm=warm).result()
        t_group.append(time.perf_counter() - t)
        assert res.status == "ok", res.error_message
    ex.shutdown()
    b, bl, j, p, g = (statistics.median(x) for x in (t_bare, t_loaded, t_job, t_proc, t_group))
    print(f"\n2./3. one fold of emt_formation_energy ({n_structures} structures) with magpie_rf, median of {repeats}:")
    print(f"   A: bare script (load, fit, predict)             {b * 1e3:9.1f} ms   (base case A)")
    print(f"   B: bare script, dataset already in memory       {bl * 1e3:9.1f} ms   (base case B)")
    print(f"   run_job in process (meters, record) vs A        {j * 1e3:9.1f} ms   ratio {j / b:5.3f}   overhead {1e3 * (j - b):+8.1f} ms")
    print(f"   run_job, fresh process from the fork server, vs A {p * 1e3:7.1f} ms   ratio {p / b:5.3f}   overhead {1e3 * (p - b):+8.1f} ms")
    print(f"   run_job, fresh process from its group, vs B     {g * 1e3:9.1f} ms   ratio {g / bl:5.3f}   overhead {1e3 * (g - bl):+8.1f} ms")
    print(f"HEADLINE | run_job in process / bare script (magpie_rf, one fold) | {j / b:.3f} | <= 1.02")
    print(f"HEADLINE | fresh worker process from the fork server, overhead vs bare (ms) | {1e3 * (p - b):.0f} | -")
    print(f"HEADLINE | fresh worker process from its job group, overhead vs bare with data in memory (ms) | {1e3 * (g - bl):.0f} | <= 50")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--n-structures", type=int, default=2500)
    args = ap.parse_args()
    from matscibench.cost.sysinfo import system_info

    si = system_info()
    print(f"machine: {si['cpu_model']}, {si['cpu_logical_cores']} logical cores; Python {si['python']}")
    meter_overhead(max(args.repeats, 31))
    job_overhead(args.repeats, args.n_structures)


if __name__ == "__main__":
    main()
