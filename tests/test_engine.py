"""The engine end to end: plan, run in worker processes, record, resume, report, re-score."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, r2_score, roc_auc_score

from conftest import SMALL_EMT
from matscibench.run.driver import plan_suite, run_suite
from matscibench.run.job import run_job
from matscibench.spec import JobSpec, ModelRef, TaskRef
from matscibench.store import Store
from matscibench.suite import Suite
from matscibench.families.registry import get_task

TASK_PARAMS = {"dataset_params": SMALL_EMT}


def _spec(model="dummy", task="emt_formation_energy", fold=0, params=None, label=None):
    t = get_task(task, **TASK_PARAMS)
    return JobSpec(
        run_id="t",
        task=TaskRef(task, TASK_PARAMS),
        model=ModelRef(label or model, model, params or {}),
        fold=fold,
        seed=0,
        dataset_checksum=t.dataset_checksum(),
        options={"latency_budget_s": 0.1},
    )


def test_job_metrics_equal_sklearn_on_the_fold(small_emt):
    res = run_job(_spec("magpie_rf", fold=1))
    assert res.status == "ok", res.traceback
    task = get_task("emt_formation_energy", **TASK_PARAMS)
    ds = task.load()
    _, test = task.folds(ds)[1]
    y_test = ds.targets["formation_energy_per_atom"].to_numpy()[test]
    pred = res.predictions
    assert np.array_equal(pred["y_true"].to_numpy(), y_test)
    assert list(pred["id"]) == list(ds.ids[test])
    assert res.metrics["mae"] == pytest.approx(mean_absolute_error(y_test, pred["y_pred"]))
    assert res.metrics["r2"] == pytest.approx(r2_score(y_test, pred["y_pred"]))
    assert res.info["n_test"] == len(test) and res.info["split_hash"]
    for k in ("load.wall_s", "fit.wall_s", "fit/featurize.wall_s", "predict.wall_s", "job.peak_rss_MiB",
              "predict.throughput_structures_per_s", "predict.latency_p50_ms", "train.total_s"):
        assert np.isfinite(res.costs[k]), k
    assert res.costs["predict.throughput_atoms_per_s"] >= res.costs["predict.throughput_structures_per_s"]


def test_classification_job_uses_probabilities(small_emt):
    res = run_job(_spec("magpie_rf", task="emt_is_stable"))
    assert res.status == "ok", res.traceback
    p = res.predictions
    assert res.info["roc_auc_from"] == "probabilities"
    assert res.metrics["roc_auc"] == pytest.approx(roc_auc_score(p["y_true"], p["y_score"]))
    assert p["y_pred"].dtype == bool


def test_epoch_callback_gives_time_to_target(small_emt):
    res = run_job(_spec("sitestats_gbm", params={"estimator_params": {"max_iter": 100}}))
    assert res.status == "ok", res.traceback
    assert len(res.curve) == 4  # 100 rounds reported every 25
    epochs, times, values = zip(*res.curve)
    assert list(epochs) == [1, 2, 3, 4] and all(np.diff(times) > 0)
    assert res.info["time_to_target_source"] == "epochs"
    reached = [t for t, v in zip(times, values) if v <= 0.02]
    if reached:
        assert res.costs["train.time_to_target_s"] == pytest.approx(reached[0])
    else:
        assert np.isnan(res.costs["train.time_to_target_s"])


@pytest.mark.parametrize(
    "model, pattern",
    [
        ("matscibench.models.faulty:NaNModel", r"non-finite value\(s\).*first at index 0: emt-"),
        ("matscibench.models.faulty:WrongLengthModel", r"predictions for \d+ inputs"),
        ("matscibench.models.faulty:RaisingModel", r"always fails in fit"),
    ],
)
def test_misbehaving_models_fail_their_job_with_the_reason(small_emt, model, pattern):
    res = run_job(_spec(model, label="bad"))
    assert res.status == "failed"
    assert pytest.importorskip("re").search(pattern, res.error_message), res.error_message
    assert "Traceback" in res.traceback


def test_incompatible_model_is_skipped(small_emt):
    t = get_task("emt_formation_energy", **TASK_PARAMS)
    from matscibench.families.properties.models import FeaturizedModel

    assert t.incompatibility(FeaturizedModel(featurizer="sitestats")) is None
    comp_task = get_task("matbench_expt_gap")
    assert "structure" in comp_task.incompatibility(FeaturizedModel(featurizer="sitestats"))


def _suite(**kw) -> Suite:
    base = {
        "name": "engine-test",
        "folds": [0, 1],
        "workers": 2,
        "options": {"latency_budget_s": 0.1},
        "tasks": [
            {"name": "emt_formation_energy", "params": TASK_PARAMS},
            {"name": "emt_is_stable", "params": TASK_PARAMS},
        ],
        "models": [
            "dummy",
            "magpie_rf",
            {"name": "matscibench.models.faulty:NaNModel", "label": "nan-model"},
            {"name": "matscibench.models.faulty:CrashingModel", "label": "crasher"},
        ],
    }
    base.update(kw)
    return Suite.model_validate(base)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, small_emt):
    out = tmp_path_factory.mktemp("engine")
    outcome = run_suite(_suite(), results=out, quiet=True)
    return out, outcome


def test_suite_runs_records_and_reports(finished_run):
    out, outcome = finished_run
    assert outcome.n_planned == 2 * 4 * 2
    assert outcome.counts == {"ok": 8, "failed": 8}
    st = Store(out / "results.sqlite")
    jobs = st.jobs_frame(outcome.run_id)
    crashed = jobs[jobs["model"] == "crasher"]
    assert set(crashed["error_type"]) == {"WorkerCrashed"}
    assert crashed["error_message"].str.contains("SIGABRT").all()
    nan = jobs[jobs["model"] == "nan-model"]
    assert set(nan["error_type"]) == {"ModelOutputError"}
    md = outcome.reports["markdown"].read_text()
    assert "crasher, fold 0, seed 0: **failed**: WorkerCrashed" in md
    rep = json.loads(outcome.reports["json"].read_text())
    names = [m["model"] for t in rep["tasks"] for m in t["models"]]
    assert {"dummy", "magpie_rf", "nan-model", "crasher"} <= set(names)
    assert rep["system"]["cpu_logical_cores"] >= 1


def test_every_number_can_be_rescored_from_predictions(finished_run):
    out, outcome = finished_run
    st = Store(out / "results.sqlite")
    jobs = st.jobs_frame(outcome.run_id)
    mets = st.metrics_frame(outcome.run_id)
    ok = jobs[jobs["status"] == "ok"]
    assert ok["predictions_path"].notna().all()
    for _, job in ok.iterrows():
        task = get_task(job["task"], **TASK_PARAMS)
        pred = pd.read_parquet(out / job["predictions_path"])
        again = task.rescore(pred)
        stored = mets[mets["key"] == job["key"]].set_index("name")["value"]
        for name, value in again.items():
            assert value == pytest.approx(stored[name], nan_ok=True), (job["task"], job["model"], name)


def test_same_suite_again_resumes_and_runs_nothing(finished_run):
    out, outcome = finished_run
    again = run_suite(_suite(), results=out, quiet=True)
    assert again.run_id == outcome.run_id
    assert again.n_ran == 0 and again.counts == outcome.counts


def test_retry_failed_runs_only_the_failures(finished_run):
    out, outcome = finished_run
    again = run_suite(_suite(), results=out, quiet=True, retry_failed=True)
    assert again.n_ran == 8 and again.counts == outcome.counts


def test_plan_changes_with_the_data(small_emt):
    s = _suite()
    a = plan_suite(s)
    b = plan_suite(s)
    assert a.run_id == b.run_id and [j.key for j in a.jobs] == [j.key for j in b.jobs]
    other = _suite(tasks=[{"name": "emt_formation_energy", "params": {"dataset_params": {"n_structures": 60, "seed": 1}}}])
    c = plan_suite(other)
    assert c.run_id != a.run_id
    assert len({j.key for j in a.jobs}) == len(a.jobs)  # keys are unique


def test_tasks_name_their_own_models_and_folds(small_emt):
    tasks = [
        {"name": "emt_formation_energy", "params": TASK_PARAMS, "models": ["dummy"], "folds": [2]},
        {"name": "emt_is_stable", "params": TASK_PARAMS},
    ]
    plan = plan_suite(_suite(tasks=tasks))
    pairs = sorted((j.task.name, j.model.label, j.fold) for j in plan.jobs)
    assert [p for p in pairs if p[0] == "emt_formation_energy"] == [("emt_formation_energy", "dummy", 2)]
    others = {(m, f) for t, m, f in pairs if t == "emt_is_stable"}
    assert others == {(m, f) for m in ("dummy", "magpie_rf", "nan-model", "crasher") for f in (0, 1)}
    from matscibench.errors import SuiteError

    with pytest.raises((ValueError, SuiteError), match="does not list"):
        _suite(tasks=[{"name": "emt_is_stable", "models": ["no-such-model"]}])


def test_optional_model_that_cannot_be_built_is_left_out(small_emt):
    models = ["dummy", {"name": "no_such_package.models:Model", "label": "absent", "optional": True}]
    plan = plan_suite(_suite(models=models, tasks=[{"name": "emt_is_stable", "params": TASK_PARAMS}]))
    assert {j.model.label for j in plan.jobs} == {"dummy"}
    assert [n for n, _ in plan.dropped_tasks] == ["model absent"]
    assert "no_such_package" in plan.dropped_tasks[0][1]
    from matscibench.errors import SuiteError

    with pytest.raises(SuiteError, match="no_such_package"):
        plan_suite(_suite(models=["dummy", {"name": "no_such_package.models:Model", "label": "absent"}]))


def test_jobs_are_started_longest_first_from_past_timings(finished_run):
    from matscibench.run.driver import longest_first

    out, _ = finished_run
    store = Store(out / "results.sqlite")
    past = store.past_wall_times()
    jobs = store.jobs_frame(store.list_runs().run_id.iloc[0])
    ok = jobs[jobs.status == "ok"]
    for (task, model), grp in ok.groupby(["task", "model"]):
        assert past[(task, model)] == pytest.approx(float(np.median(grp.wall_s)))
    assert ("emt_is_stable", "crasher") not in past  # failed jobs carry no timing
    specs = [_spec("dummy"), _spec("magpie_rf"), _spec("dummy", fold=1), _spec("new-model", label="unseen")]
    fake = {("emt_formation_energy", "dummy"): 1.0, ("emt_formation_energy", "magpie_rf"): 5.0}
    order = [(j.model.label, j.fold) for j in longest_first(specs, fake)]
    assert order == [("unseen", 0), ("magpie_rf", 0), ("dummy", 0), ("dummy", 1)]


def test_job_spec_round_trips_through_its_dict():
    spec = _spec("magpie_rf", fold=2)
    d = spec.as_dict()
    assert JobSpec.from_dict(d) == spec and JobSpec.from_dict(d).key == d["key"]
    d["fold"] = 3
    with pytest.raises(ValueError, match="does not match its key"):
        JobSpec.from_dict(d)


def test_jobs_record_how_many_ran_at_once(tmp_path, small_emt):
    slow = {"name": "matscibench.models.faulty:SlowModel", "label": "slow", "params": {"seconds": 0.6}}
    tasks = [{"name": "emt_formation_energy", "params": TASK_PARAMS}]
    shared = run_suite(_suite(models=[slow], tasks=tasks, retries=0), results=tmp_path / "a", quiet=True)
    alone = run_suite(_suite(models=[slow], tasks=tasks, retries=0), results=tmp_path / "b", quiet=True, exclusive=True)

    def conc(out):
        c = Store(out.results_dir / "results.sqlite").costs_frame(out.run_id)
        return c.loc[c["name"] == "job.concurrent_jobs", "value"].tolist()

    assert max(conc(shared)) == 2  # two workers, two slow jobs side by side
    assert conc(alone) == [1.0, 1.0]


@pytest.mark.parametrize("name", ["quick", "full"])
def test_builtin_suites_name_real_tasks_and_models(name):
    from matscibench.families.registry import build_model
    from matscibench.suite import load_suite

    suite = load_suite(name)
    for entry in suite.tasks:
        task = get_task(entry.name, **entry.params)  # unknown names or bad params raise here
        assert task.n_folds() >= 1
        assert suite.models_for(entry), f"{entry.name} runs no model"
    for m in suite.models:
        try:
            build_model(m.name, m.params)
        except ImportError:
            assert m.optional, f"model {m.display} needs a package that is not installed, and is not optional"


def test_report_says_what_the_harness_cost(finished_run):
    from matscibench.report.aggregate import HARNESS_PARTS

    out, outcome = finished_run
    rep = json.loads(outcome.reports["json"].read_text())
    h = rep["harness"]
    assert h["jobs"] == 8  # the jobs that ran to the end (failed ones have no phases to set against)
    parts = [h[k] for k, _ in HARNESS_PARTS]
    assert all(p >= 0 for p in parts)
    assert h["overhead_s"] == pytest.approx(sum(parts))
    assert h["per_job_ms"] == pytest.approx(1e3 * h["overhead_s"] / 8)
    assert 0 < h["fraction"] < 1 and h["work_s"] > 0
    assert "## What the harness cost" in outcome.reports["markdown"].read_text()
    st = Store(out / "results.sqlite")
    costs = st.costs_frame(outcome.run_id)
    per_job = costs[costs["name"] == "harness.start_s"]
    assert len(per_job) == outcome.n_planned and (per_job["value"] >= 0).all()  # failed jobs started too


def test_grouped_worker_processes_give_the_numbers_of_in_process_jobs(tmp_path, small_emt):
    """Jobs forked from their dataset's preloaded process (the default executor) and the same
    jobs run in this process: identical metrics."""
    from matscibench.run.executor import ThreadExecutor

    suite = _suite(models=["dummy", "magpie_rf"], tasks=[{"name": "emt_formation_energy", "params": TASK_PARAMS}])
    forked = run_suite(suite, results=tmp_path / "forked", quiet=True)
    inproc = run_suite(suite, results=tmp_path / "inproc", quiet=True, executor=ThreadExecutor())
    a = Store(tmp_path / "forked" / "results.sqlite").metrics_frame(forked.run_id)
    b = Store(tmp_path / "inproc" / "results.sqlite").metrics_frame(inproc.run_id)
    assert len(a) > 0
    ma = a.set_index(["key", "name"])["value"].sort_index()
    mb = b.set_index(["key", "name"])["value"].sort_index()
    pd.testing.assert_series_equal(ma, mb)


def test_jobs_of_one_dataset_are_run_next_to_each_other():
    from matscibench.run.driver import grouped_by_data

    specs = [_spec("magpie_rf"), _spec("dummy"), _spec("magpie_rf", fold=1)]
    other = JobSpec("r", TaskRef("emt_is_stable", TASK_PARAMS), ModelRef("dummy", "dummy"), 0, 0, "other-data", {})
    order = grouped_by_data([specs[0], other, specs[1], specs[2]])
    assert order == [specs[0], specs[1], specs[2], other]
