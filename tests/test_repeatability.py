"""Same spec, same numbers: the quick suite's tasks give identical metrics on every run.

Training budgets are in epochs (no model stops on wall time), data generation and every model are
seeded, and torch runs its deterministic algorithms, so two runs of the same spec must agree to the
last bit whatever the machine's load and however many jobs share it. The two runs below differ in
the number of workers (and so in the threads each job gets: 1 x all cores vs. 2 x half of them).
"""

from __future__ import annotations

import os

import pytest

# cold: generates the quick suite's datasets (≈2-3 min on 2 quiet cores), then runs it twice
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def _quick_fold0():
    from matscibench.suite import load_suite

    suite = load_suite("quick")
    # fold 0 of every task: the point is repeatability, not statistics; keeps the test short
    tasks = [t.model_copy(update={"folds": [0]}) for t in suite.tasks]
    return suite.model_copy(update={"tasks": tasks, "folds": [0]})


def test_quick_suite_metrics_identical_across_runs_and_worker_counts(tmp_path):
    from matscibench.run.driver import run_suite
    from matscibench.store import Store

    suite = _quick_fold0()
    frames = []
    for i, workers in enumerate((max(2, os.cpu_count() or 1), 1)):
        out = run_suite(suite, results=tmp_path, workers=workers, run_id=f"rep-{i}", quiet=True, report=False)
        store = Store(tmp_path / "results.sqlite")
        jobs = store.jobs_frame(out.run_id)
        failed = jobs[jobs["status"] == "failed"]
        assert failed.empty, failed[["task", "model", "error_message"]].to_string()
        m = store.metrics_frame(out.run_id)
        m = m.merge(jobs[["key", "task", "model", "fold", "seed"]], on="key")
        frames.append(m.set_index(["task", "model", "fold", "seed", "name"])["value"].sort_index())
    a, b = frames
    assert len(a) > 100 and a.index.equals(b.index)
    diff = (a - b).abs()
    same = (a == b) | (a.isna() & b.isna())
    assert same.all(), "metrics differ between runs:\n" + diff[~same].to_string()
