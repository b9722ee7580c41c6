"""Threads per job belong to the spec, not to the machine: the numbers of BLAS and torch depend
on the thread count, so the same suite must run every job with the same count on any machine
and with any number of workers."""

from __future__ import annotations

import pytest

from matscibench.run.driver import plan_suite
from matscibench.spec import JobSpec, ModelRef, TaskRef
from matscibench.suite import Suite


def _spec(**options) -> JobSpec:
    return JobSpec("r", TaskRef("t", {}), ModelRef("m", "m", {}), 0, 0, "abc", options=options)


def test_key_ignores_harness_options_but_not_a_thread_count_other_than_one():
    base = _spec(threads=1, latency_budget_s=0.2)
    assert base.key == _spec().key == _spec(latency_budget_s=5.0).key
    assert _spec(threads=2).key != base.key
    assert _spec(threads=2).key == _spec(threads=2, latency_batch_size=8).key


def test_suite_refuses_a_bad_thread_count():
    with pytest.raises(Exception, match="options.threads"):
        Suite.model_validate({"name": "x", "tasks": ["emt_formation_energy"], "models": ["dummy"],
                              "options": {"threads": "many"}})


def test_run_gives_every_job_the_suites_thread_count_whatever_the_workers(tmp_path, monkeypatch):
    monkeypatch.setenv("MATSCIBENCH_CACHE", str(tmp_path / "cache"))
    from matscibench.run.driver import run_suite

    suite = Suite.model_validate({
        "name": "threads", "tasks": [{"name": "emt_formation_energy",
                                      "params": {"dataset_params": {"n_structures": 40}, "n_folds": 2}}],
        "models": ["dummy"], "folds": [0]})
    seen = []
    for workers in (2, 1):
        out = run_suite(suite, results=tmp_path / f"w{workers}", workers=workers, quiet=True, report=False)
        from matscibench.store import Store

        costs = Store(tmp_path / f"w{workers}" / "results.sqlite").costs_frame(out.run_id)
        seen.append(costs.loc[costs["name"] == "job.threads", "value"].tolist())
    assert seen == [[1.0], [1.0]]
    plan = plan_suite(suite.model_copy(update={"options": {"threads": 3}}), isolate_models=False)
    assert {j.options["threads"] for j in plan.jobs} == {3}
