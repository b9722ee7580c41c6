"""How long the report of a large run takes: a store with 1,000 synthetic jobs and their
predictions files, then ``aggregate_run`` + HTML rendering (+ Markdown/JSON), timed.

    python benchmarks/bench_report.py                 # 10 tasks x 20 models x 5 folds = 1,000 jobs
    python benchmarks/bench_report.py --rows 2000     # bigger predictions files (rasterised scatter)
    python benchmarks/bench_report.py --keep /tmp/big # keep the store and report to look at

Half the tasks are regressions (parity plots), half 3-class classifications (confusion
matrices); 2 % of the jobs fail. No task by these names exists in the registry, so the report
takes metric names from the store and plots by the data type of ``y_true``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def fill_store(root: Path, n_tasks: int, n_models: int, n_folds: int, rows: int, seed: int = 0) -> tuple[str, int]:
    from matscibench.cost.sysinfo import system_info
    from matscibench.run.driver import record_result
    from matscibench.spec import JobResult
    from matscibench.store import Store

    rng = np.random.default_rng(seed)
    store = Store(root / "results.sqlite")
    si = system_info()
    run_id = "bench-report"
    tasks = [f"synthetic_{'regression' if i % 2 == 0 else 'classes'}_{i}" for i in range(n_tasks)]
    models = [f"model_{j:02d}" for j in range(n_models)]
    suite = {"name": "bench-report", "tasks": [{"name": t, "params": {}} for t in tasks],
             "models": [{"name": m, "label": m} for m in models]}
    store.ensure_run(run_id, "bench-report", suite, si, n_tasks * n_models * n_folds)
    n = 0
    for ti, task in enumerate(tasks):
        regression = ti % 2 == 0
        for mj, model in enumerate(models):
            skill = 0.2 + 0.8 * mj / max(1, n_models - 1)
            for fold in range(n_folds):
                key = f"{ti:03d}{mj:03d}{fold:03d}".ljust(20, "0")
                common = dict(key=key, run_id=run_id, task=task, model=model, fold=fold, seed=0, host=si["hostname"],
                              started_at=time.time() - 10, finished_at=time.time(), pid=1)
                if rng.random() < 0.02:
                    res = JobResult(status="failed", error_type="ValueError",
                                    error_message=f"synthetic failure of {model} on fold {fold}", traceback="", **common)
                    res.info = {"machine": si["fingerprint"]}
                    record_result(store, res, root)
                    n += 1
                    continue
                ids = [f"s{fold}-{i}" for i in range(rows)]
                n_atoms = rng.integers(2, 40, rows)
                if regression:
                    y = rng.normal(0.0, 1.0, rows)
                    yp = y + rng.normal(0.0, 1.0 - 0.9 * skill, rows)
                    err = yp - y
                    metrics = {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err**2).mean())),
                               "r2": float(1 - (err**2).sum() / ((y - y.mean()) ** 2).sum())}
                    pred = pd.DataFrame({"id": ids, "y_true": y, "y_pred": yp, "n_atoms": n_atoms})
                    unit = "eV/atom"
                else:
                    classes = np.array(["cubic", "hexagonal", "tetragonal"])
                    y = rng.integers(0, 3, rows)
                    yp = np.where(rng.random(rows) < skill, y, rng.integers(0, 3, rows))
                    metrics = {"accuracy": float((y == yp).mean())}
                    pred = pd.DataFrame({"id": ids, "y_true": classes[y], "y_pred": classes[yp], "n_atoms": n_atoms})
                    unit = None
                fit_s = float(rng.lognormal(np.log(1 + 30 * skill), 0.2))
                costs = {
                    "load.wall_s": 0.05,
                    "fit.wall_s": fit_s,
                    "train.total_s": fit_s + 0.05,
                    "predict.wall_s": rows / (1e5 / (1 + 50 * skill)),
                    "predict.throughput_structures_per_s": 1e5 / (1 + 50 * skill) * rng.lognormal(0, 0.1),
                    "predict.latency_p50_ms": 1.0 + 10 * skill,
                    "job.peak_rss_MiB": 300 + 200 * skill,
                }
                res = JobResult(status="ok", metrics=metrics, costs=costs, predictions=pred,
                                info={"unit": unit, "n_train": 4 * rows, "n_test": rows, "split_hash": "x",
                                      "dataset_checksum": "synthetic", "dataset": task, "dataset_source": "synthetic",
                                      "machine": si["fingerprint"]}, **common)
                record_result(store, res, root)
                n += 1
    store.finish_run(run_id, "complete")
    return run_id, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--rows", type=int, default=200, help="predictions per job (test items)")
    ap.add_argument("--keep", type=Path, default=None, help="folder for the store and report (kept)")
    ap.add_argument("--workers", type=int, default=None,
                    help="processes drawing the figures (default: the report's choice: usable CPUs for big reports)")
    args = ap.parse_args()

    from matscibench.report.aggregate import aggregate_run
    from matscibench.report.html import render_html
    from matscibench.report.render import write_reports
    from matscibench.store import Store

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        run_id, n = fill_store(root, args.tasks, args.models, args.folds, args.rows)
        t1 = time.perf_counter()
        print(f"filled a store with {n} jobs ({args.rows} predictions each) in {t1 - t0:.1f} s: {root}")

        import os
        import resource

        def cpu() -> float:
            own = resource.getrusage(resource.RUSAGE_SELF)
            kids = resource.getrusage(resource.RUSAGE_CHILDREN)
            return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

        if args.workers is not None:
            os.environ["MATSCIBENCH_REPORT_WORKERS"] = str(args.workers)
        c0, t2 = cpu(), time.perf_counter()
        rep = aggregate_run(Store(root / "results.sqlite"), run_id)
        t3 = time.perf_counter()
        page = render_html(rep)
        c4, t4 = cpu(), time.perf_counter()
        paths = write_reports(rep, root / "reports" / run_id)
        t5 = time.perf_counter()
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"aggregate_run:                {t3 - t2:6.2f} s")
        print(f"render_html:                  {t4 - t3:6.2f} s  ({len(page) / 1e6:.1f} MB, {page.count('<svg')} figures, "
              f"workers: {os.environ.get('MATSCIBENCH_REPORT_WORKERS', 'auto')})")
        print(f"HEADLINE | report of {n} jobs: aggregate + HTML (s) | {t4 - t2:.1f} | -")
        print(f"aggregate + HTML:             {t4 - t2:6.2f} s wall, {c4 - c0:.1f} s CPU (all processes)  "
              f"<- the report of a {n}-job run; {os.cpu_count()} CPUs, load average {load:.1f}")
        print(f"write_reports (md+json+html): {t5 - t4:6.2f} s  -> {paths['html']}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
