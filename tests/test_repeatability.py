"""Same spec, same numbers: the quick suite's tasks give identical metrics on every run.

Training budgets are in epochs (no model stops on wall time), data generation and every model are
seeded, and torch runs its deterministic algorithms, so two runs of the same spec must agree to the
last bit whatever the machine's load and however many jobs share it. The two runs below differ in
the number of workers (and so in the threads each job gets: 1 x all cores vs. 2 x half of them).
"""

from __future__ import annotations

import os

import pytest

# cold: generates the quick suite's datasets, then runs it twice. Deselected by default
# (``-m repeatability`` runs it): not yet verified to finish inside CI's budget on 2 cores.
pytestmark = [pytest.mark.slow, pytest.mark.repeatability, pytest.mark.timeout(3000)]


def _quick_fold0():
    from matscibench.suite import load_suite

    suite = load_suite("quick")
    # fold 0 of every task: the point is repeatability, not statistics; keeps the test short
    tasks = [t.model_copy(update={"folds": [0]}) for t in suite.tasks]
    return suite.model_copy(update={"tasks": tasks, "folds": [0]})


def test_quick_suite_metrics_identical_across_runs_and_worker_counts(tmp_path):
    import subprocess
    import sys

    from matscibench.store import Store

    suite = _quick_fold0()
    path = tmp_path / "quick_fold0.json"
    path.write_text(suite.model_dump_json())
    frames = []
    for i, workers in enumerate((max(2, os.cpu_count() or 1), 1)):
        # each run in a fresh process, as a user runs it (a process that has already used OpenMP,
        # as pytest has after the phonon tests, must not fork dataset workers)
        code = ("import sys; from matscibench.suite import Suite; from matscibench.run.driver import run_suite; "
                "s = Suite.model_validate_json(open(sys.argv[1]).read()); "
                "run_suite(s, results=sys.argv[2], workers=int(sys.argv[3]), run_id=sys.argv[4], quiet=True, report=False)")
        subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path), str(workers), f"rep-{i}"],
                       check=True, timeout=2400)
        store = Store(tmp_path / "results.sqlite")
        jobs = store.jobs_frame(f"rep-{i}")
        failed = jobs[jobs["status"] == "failed"]
        assert failed.empty, failed[["task", "model", "error_message"]].to_string()
        m = store.metrics_frame(f"rep-{i}")
        m = m.merge(jobs[["key", "task", "model", "fold", "seed"]], on="key")
        frames.append(m.set_index(["task", "model", "fold", "seed", "name"])["value"].sort_index())
    a, b = frames
    assert len(a) > 100 and a.index.equals(b.index)
    diff = (a - b).abs()
    same = (a == b) | (a.isna() & b.isna())
    assert same.all(), "metrics differ between runs:\n" + diff[~same].to_string()
