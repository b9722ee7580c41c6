"""Characterisation family: simulated powder patterns, their metrics, models and tasks."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from matscibench.errors import ModelOutputError
from matscibench.families.xrd import crystals as XC
from matscibench.families.xrd import data as XD
from matscibench.families.xrd import metrics as MX
from matscibench.sim import xrd as X

#: a small embedded dataset (10 crystals per system), generated once per test session
SMALL_XRD = {"n_structures": 70}
TASK_PARAMS = {"dataset_params": SMALL_XRD}


@pytest.fixture(scope="session")
def small_xrd():
    from matscibench.families.registry import get_dataset

    spec = get_dataset("xrd_pyxtal", **SMALL_XRD)
    spec.prepare()
    return spec


def _rocksalt():
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _structures():
    from pymatgen.core import Lattice, Structure

    mg = Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(3.21, 5.21), ["Mg"], [[1 / 3, 2 / 3, 0.25]])
    tri = Structure(Lattice.from_parameters(4.1, 5.3, 6.2, 81, 95, 103), ["Ti", "O", "O", "Ba"],
                    [[0, 0, 0], [0.21, 0.33, 0.12], [0.6, 0.71, 0.4], [0.4, 0.1, 0.77]])
    disordered = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    return [_rocksalt(), mg, tri, disordered]


# ------------------------------------------------------------------------------- simulator
@pytest.mark.parametrize("radiation", ["xray", "neutron"])
def test_reflections_equal_pymatgen_peak_for_peak(radiation):
    from pymatgen.analysis.diffraction.neutron import NDCalculator
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    calc = XRDCalculator("CuKa") if radiation == "xray" else NDCalculator(1.54184)
    for s in _structures():
        if radiation == "neutron" and not s.is_ordered:
            continue
        ref = calc.get_pattern(s, scaled=False, two_theta_range=(5, 85))
        refl = X.compute_reflections(s, "CuKa" if radiation == "xray" else 1.54184, radiation, (5, 85))
        tt, inten = refl.merged()
        keep = inten / inten.max() * 100 > 1e-3  # pymatgen's SCALED_INTENSITY_TOL
        np.testing.assert_allclose(tt[keep], ref.x, atol=1e-7)
        np.testing.assert_allclose(inten[keep], ref.y, rtol=1e-9)


def test_clean_pattern_puts_peaks_where_bragg_says():
    grid = X.TwoThetaGrid(20, 60, 0.02)
    inst = X.Instrument.of({"U": 0.0, "W": 0.01, "V_fraction": 0.0, "eta": 0.0, "zero_shift": 0.0, "background": 0.0,
                            "amorphous": 0.0, "preferred_orientation": 0.0, "counts": None, "min_fwhm": 0.0})
    y = X.simulate_pattern(_rocksalt(), grid, instrument=inst, seed=0)
    assert y.dtype == np.float32 and y.max() == pytest.approx(1.0)
    x = grid.values()
    # NaCl (200): d = a/2, the strongest line
    expect = 2 * math.degrees(math.asin(1.54184 / (2 * 5.64 / 2)))
    assert x[np.argmax(y)] == pytest.approx(expect, abs=0.02)
    # FWHM of a pure Gaussian = sqrt(W) = 0.1 degrees
    half = y >= 0.5
    i = np.argmax(y)
    lo, hi = i, i
    while half[lo - 1]:
        lo -= 1
    while half[hi + 1]:
        hi += 1
    assert (hi - lo + 1) * grid.step == pytest.approx(0.1, abs=0.03)
    shifted = X.simulate_pattern(_rocksalt(), grid, instrument=replace(inst, zero_shift=0.3), seed=0)
    assert x[np.argmax(shifted)] == pytest.approx(expect + 0.3, abs=0.02)


def test_augmentations_are_seeded_and_change_the_pattern():
    s = _structures()[2]
    a = X.simulate_pattern(s, seed=3)
    b = X.simulate_pattern(s, seed=3)
    c = X.simulate_pattern(s, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == (X.DEFAULT_GRID.n,) and a.min() >= 0 and a.max() == pytest.approx(1.0)
    refl = X.compute_reflections(s, "CuKa", "xray", (3, 87))
    inst = X.CLEAN_INSTRUMENT
    p = inst.draw(np.random.default_rng(0))
    flat = inst.render(refl, X.DEFAULT_GRID, None, dict(p, textured=1.0, march_r=1.0))
    plate = inst.render(refl, X.DEFAULT_GRID, None, dict(p, textured=1.0, march_r=0.6, po_direction=0.0))
    assert np.allclose(flat, inst.render(refl, X.DEFAULT_GRID, None, p), atol=1e-6)  # r = 1: no texture
    assert not np.allclose(flat, plate, atol=1e-3)
    noisy = X.DEFAULT_INSTRUMENT.render(refl, X.DEFAULT_GRID, np.random.default_rng(1))
    assert np.count_nonzero(np.diff(noisy)) > 0.5 * noisy.size  # background + noise everywhere
    k2 = replace(X.CLEAN_INSTRUMENT, kalpha2=True).render(refl, X.DEFAULT_GRID, None, p)
    assert not np.allclose(k2, flat)


def test_labels_from_spglib():
    rs = X.structure_labels(_rocksalt())
    assert rs["space_group"] == 225 and rs["crystal_system"] == "cubic"
    assert rs["a"] == pytest.approx(5.64) and rs["alpha"] == pytest.approx(90.0)
    mg = X.structure_labels(_structures()[1])
    assert mg["space_group"] == 194 and mg["crystal_system"] == "hexagonal" and mg["gamma"] == pytest.approx(120.0)
    assert [X.crystal_system_of(n) for n in (1, 3, 16, 75, 143, 168, 195, 230)] == [
        "triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic", "cubic"]
    with pytest.raises(ValueError):
        X.crystal_system_of(231)


def test_pyxtal_crystals_are_seeded_per_index():
    a = XC.one_crystal((5, 7, "tetragonal", 16))[1]
    b = XC.one_crystal((5, 7, "tetragonal", 16))[1]
    assert a is not None and a == b
    assert a["crystal_system"] == "tetragonal" and 75 <= a["space_group"] <= 142


def test_small_dataset_is_balanced_and_labelled(small_xrd):
    ds = small_xrd.load()
    assert ds.patterns.shape == (70, X.DEFAULT_GRID.n) and ds.patterns.dtype == np.float32
    counts = ds.labels["crystal_system"].value_counts()
    assert set(counts.index) == set(X.CRYSTAL_SYSTEMS) and counts.min() >= 9
    for sg, cs in zip(ds.labels["space_group"], ds.labels["crystal_system"]):
        assert X.crystal_system_of(sg) == cs
    assert (ds.labels[["a", "b", "c"]] > 1.5).all().all()
    assert ds.stats["patterns_per_s_per_core"] > 0
    assert small_xrd.status() == "cached" and small_xrd.checksum() == ds.checksum


# ---------------------------------------------------------------------------------- metrics
def test_classification_metrics_equal_scikit_learn():
    rng = np.random.default_rng(0)
    classes = list(X.CRYSTAL_SYSTEMS)
    yt = rng.choice(classes, 300)
    yp = np.where(rng.random(300) < 0.5, yt, rng.choice(classes[:-1], 300))  # "cubic" never predicted wrongly
    assert MX.accuracy(yt, yp) == pytest.approx(skm.accuracy_score(yt, yp))
    assert MX.balanced_accuracy(yt, yp) == pytest.approx(skm.balanced_accuracy_score(yt, yp))
    assert MX.macro_f1(yt, yp) == pytest.approx(skm.f1_score(yt, yp, average="macro"))
    labels, C = MX.confusion_matrix(yt, yp, classes)
    np.testing.assert_array_equal(C, skm.confusion_matrix(yt, yp, labels=classes))
    pr = MX.precision_recall(yt, yp, classes + ["unseen"])
    prec = skm.precision_score(yt, yp, labels=classes, average=None, zero_division=np.nan)
    rec = skm.recall_score(yt, yp, labels=classes, average=None, zero_division=np.nan)
    for c, p, r in zip(classes, prec, rec):
        assert pr[c] == pytest.approx((p, r), nan_ok=True)
    assert all(math.isnan(v) for v in pr["unseen"])
    proba = rng.dirichlet(np.ones(7), 300)
    order = np.argsort(classes)  # scikit-learn wants sorted labels
    ref = skm.top_k_accuracy_score(yt, proba[:, order], k=2, labels=np.asarray(classes)[order])
    assert MX.top_k_accuracy(yt, proba, classes, 2) == pytest.approx(ref)
    assert MX.top_k_accuracy(yt, proba, classes, 1) == pytest.approx(skm.accuracy_score(yt, np.asarray(classes)[proba.argmax(1)]))


def test_top_k_ties_and_unknown_classes_by_hand():
    classes = [1, 2, 3]
    proba = np.array([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    # item 0: true 2 ties with 3, the later class wins: 2 ranks third -> miss; item 1: true 3 -> hit;
    # item 2: true 2 ties with 3 at 0 -> miss; item 3: true class 7 unknown -> miss
    assert MX.top_k_accuracy([2, 3, 2, 7], proba, classes, 2) == pytest.approx(0.25)
    assert MX.top_k_accuracy([2, 3], proba[:2], classes, 2) == pytest.approx(skm.top_k_accuracy_score([2, 3], proba[:2], k=2, labels=classes))


def test_lattice_metrics_equal_scikit_learn():
    rng = np.random.default_rng(1)
    T = np.column_stack([rng.uniform(3, 12, (50, 3)), rng.uniform(80, 120, (50, 3))])
    P = T + rng.normal(0, [0.3, 0.3, 0.5, 2, 2, 2], (50, 6))
    out = MX.lattice_errors(T, P)
    for j, k in enumerate(X.LATTICE_PARAMETERS):
        assert out[f"lattice_mae_{k}"] == pytest.approx(skm.mean_absolute_error(T[:, j], P[:, j]))
        assert out[f"lattice_mse_{k}"] == pytest.approx(skm.mean_squared_error(T[:, j], P[:, j]))
        assert out[f"lattice_mape_{k}"] == pytest.approx(100 * skm.mean_absolute_percentage_error(T[:, j], P[:, j]))
    assert out["lattice_mape_abc"] == pytest.approx(np.mean([out[f"lattice_mape_{k}"] for k in "abc"]))
    from matscibench.metrics import METRICS

    assert METRICS["lattice_mae_a"].unit == "Å" and METRICS["lattice_mae_gamma"].unit == "degrees"
    assert METRICS["lattice_mape_b"].unit == "%" and METRICS["lattice_mse_c"].unit == "Å²"
    with pytest.raises(ValueError):
        MX.lattice_errors(T[:, :3], P[:, :3])


# ---------------------------------------------------------------------------------- jobs
def _spec(task, model, params=None, task_params=None, fold=0):
    from matscibench.spec import JobSpec, ModelRef, TaskRef
    from matscibench.families.registry import get_task

    tp = task_params if task_params is not None else TASK_PARAMS
    t = get_task(task, **tp)
    t.prepare()
    return JobSpec(run_id="t", task=TaskRef(task, tp), model=ModelRef(model, model, params or {}), fold=fold, seed=0,
                   dataset_checksum=t.dataset_checksum(), options={"latency_budget_s": 0.05})


def _check_rescore(task_name, res, task_params=None):
    from matscibench.families.registry import get_task

    task = get_task(task_name, **(task_params if task_params is not None else TASK_PARAMS))
    again = task.rescore(res.predictions)
    assert set(again) == set(task.metrics)
    for k, v in again.items():
        assert v == pytest.approx(res.metrics[k], nan_ok=True), k


@pytest.mark.parametrize("model, params", [("xrd_rf", {"n_estimators": 50}), ("xrd_cnn", {"epochs": 3})])
def test_crystal_system_job_scores_like_scikit_learn(small_xrd, model, params):
    from matscibench.run.job import run_job

    res = run_job(_spec("xrd_crystal_system", model, params, fold=1))
    assert res.status == "ok", res.traceback
    p = res.predictions
    cols = [c for c in p.columns if c.startswith("p_")]
    assert len(cols) == 7 and np.allclose(p[cols].sum(axis=1), 1.0)
    yt, yp = p["y_true"].to_numpy(), p["y_pred"].to_numpy()
    assert res.metrics["accuracy"] == pytest.approx(skm.accuracy_score(yt, yp))
    assert res.metrics["macro_f1"] == pytest.approx(skm.f1_score(yt, yp, average="macro"))
    classes = [c[2:] for c in cols]
    assert classes == sorted(classes)
    assert res.metrics["top2_accuracy"] == pytest.approx(skm.top_k_accuracy_score(yt, p[cols].to_numpy(), k=2, labels=classes))
    cm = res.info["confusion_matrix"]
    assert cm["labels"] == list(X.CRYSTAL_SYSTEMS)
    np.testing.assert_array_equal(np.array(cm["counts"]), skm.confusion_matrix(yt, yp, labels=list(X.CRYSTAL_SYSTEMS)))
    assert json.loads(json.dumps(res.info))  # stored as JSON
    _check_rescore("xrd_crystal_system", res)
    for k in ("predict.throughput_patterns_per_s", "predict.latency_p50_ms", "train.total_s", "fit.wall_s"):
        assert np.isfinite(res.costs[k]) and res.costs[k] > 0, k
    assert res.info["n_train"] + res.info["n_test"] == 70 and res.info["shared_formulas"] >= 0
    if model == "xrd_cnn":
        assert [e for e, _, _ in res.curve] == [1, 2, 3]
        assert res.info["time_to_target_source"] == "epochs"
        reached = [t for _, t, v in res.curve if v >= 0.35]
        assert res.costs["train.time_to_target_s"] == pytest.approx(reached[0]) if reached else math.isnan(res.costs["train.time_to_target_s"])


def test_space_group_and_lattice_jobs(small_xrd):
    from matscibench.run.job import run_job

    sg = run_job(_spec("xrd_space_group", "xrd_et_peaks", {"n_estimators": 30}))
    assert sg.status == "ok", sg.traceback
    assert sg.predictions["y_true"].dtype.kind == "i" and all(1 <= v <= 230 for v in sg.predictions["y_pred"])
    _check_rescore("xrd_space_group", sg)
    lat = run_job(_spec("xrd_lattice", "xrd_rf", {"n_estimators": 30}))
    assert lat.status == "ok", lat.traceback
    p = lat.predictions
    assert lat.metrics["lattice_mae_a"] == pytest.approx(skm.mean_absolute_error(p["a_true"], p["a_pred"]))
    assert 0 < lat.metrics["lattice_mape_abc"] < 100
    _check_rescore("xrd_lattice", lat)
    dummy = run_job(_spec("xrd_lattice", "xrd_dummy"))
    assert dummy.status == "ok" and dummy.metrics["lattice_mape_abc"] > 0


def test_chemistry_split_shares_no_composition(small_xrd):
    from matscibench.families.registry import get_task

    for name in ("xrd_crystal_system", "xrd_crystal_system_chemistry"):
        task = get_task(name, **TASK_PARAMS)
        ds, _ = task.load()
        folds = task.folds(ds)
        assert len(folds) == 3
        seen = np.concatenate([te for _, te in folds])
        assert sorted(seen.tolist()) == list(range(len(ds)))  # every pattern tested once
        for tr, te in folds:
            assert not set(tr) & set(te)
            if name.endswith("chemistry"):
                assert not set(ds.formula[tr]) & set(ds.formula[te])


def test_models_and_tasks_refuse_each_others_inputs(small_xrd):
    from matscibench.models.dummy import DummyModel
    from matscibench.families.properties.models import FeaturizedModel
    from matscibench.families.registry import build_model
    from matscibench.families.registry import get_task

    xrd = get_task("xrd_crystal_system", **TASK_PARAMS)
    prop = get_task("emt_formation_energy")
    for name in ("xrd_rf", "xrd_et_peaks", "xrd_cnn", "xrd_dummy"):
        m = build_model(name)
        assert xrd.incompatibility(m) is None
        assert "pattern" in prop.incompatibility(m)
    assert "powder patterns" in xrd.incompatibility(DummyModel())
    assert "powder patterns" in xrd.incompatibility(FeaturizedModel())


class _NaNProba:
    input_types = ("pattern",)

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        out = np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))
        out[3, 0] = np.nan
        return out


class _WrongShape(_NaNProba):
    def predict_proba(self, X):
        return np.ones((len(X), 2))


def test_misbehaving_classifiers_fail_with_the_reason(small_xrd):
    from matscibench.cost.meters import JobMeter
    from matscibench.families.base import JobContext
    from matscibench.families.registry import get_task

    task = get_task("xrd_crystal_system", **TASK_PARAMS)
    ctx = JobContext(meter=JobMeter(), seed=0, options={"latency": False})
    with pytest.raises(ModelOutputError, match=r"NaN or inf \(first: test pattern 3\)"):
        task.run(_NaNProba(), 0, ctx)
    with pytest.raises(ModelOutputError, match=r"expected \(\d+, 7\)"):
        task.run(_WrongShape(), 0, JobContext(meter=JobMeter(), seed=0, options={"latency": False}))


def test_suite_of_xrd_tasks_runs_and_reports(small_xrd, tmp_path):
    from matscibench.run.driver import run_suite
    from matscibench.store import Store
    from matscibench.suite import Suite

    suite = Suite.model_validate({
        "name": "xrd-test", "folds": [0], "workers": 1, "options": {"latency_budget_s": 0.05},
        "tasks": [{"name": "xrd_crystal_system", "params": TASK_PARAMS}],
        "models": ["dummy", "xrd_dummy", {"name": "xrd_rf", "params": {"n_estimators": 20}}],
    })
    out = run_suite(suite, results=tmp_path, quiet=True)
    assert out.counts.get("ok") == 2, out.counts
    st = Store(tmp_path / "results.sqlite")
    jobs = st.jobs_frame(out.run_id)
    assert set(jobs[jobs["status"] == "skipped"]["model"]) == {"dummy"}
    md = out.reports["markdown"].read_text()
    assert "top-2 accuracy" in md and "recall: cubic" in md


# ------------------------------------------------------------------------------ real data
def test_real_structures_task_trains_on_simulated_and_tests_on_real(small_xrd, shared_data):
    from matscibench.run.job import run_job

    params = {**TASK_PARAMS, "test_dataset_params": [{"splits": ["test"], "max_structures": 45},
                                                     {"splits": ["test"], "max_structures": 45}]}
    res = run_job(_spec("xrd_real_crystal_system", "xrd_et_peaks", {"n_estimators": 30}, task_params=params))
    assert res.status == "ok", res.traceback
    p = res.predictions
    assert set(p["dataset"]) == {"xrd_perov_5", "xrd_carbon_24"} and res.info["n_test"] == 30
    assert set(res.info["accuracy_by_dataset"]) == {"xrd_perov_5", "xrd_carbon_24"}
    perov = p[p["dataset"] == "xrd_perov_5"]
    assert set(perov["y_true"]) <= {"cubic", "tetragonal", "orthorhombic", "trigonal", "monoclinic"}
    assert (p[p["dataset"] == "xrd_carbon_24"]["formula"] == "C").all()
    _check_rescore("xrd_real_crystal_system", res, params)


def test_real_task_is_dropped_when_its_data_is_absent(small_xrd, tmp_path, monkeypatch):
    from matscibench.run.driver import plan_suite
    from matscibench.suite import Suite

    monkeypatch.setenv("MATSCIBENCH_DATA", str(tmp_path))  # an empty folder
    params = {**TASK_PARAMS, "test_dataset_params": [{"splits": ["val"], "max_structures": 7},
                                                     {"splits": ["val"], "max_structures": 7}]}
    suite = Suite.model_validate({
        "name": "xrd-real", "folds": [0],
        "tasks": [{"name": "xrd_crystal_system", "params": TASK_PARAMS},
                  {"name": "xrd_real_crystal_system", "params": params, "optional": True}],
        "models": ["xrd_dummy"],
    })
    plan = plan_suite(suite, log=lambda *a: None)
    assert [d[0] for d in plan.dropped_tasks] == ["xrd_real_crystal_system"]
    assert "cdvae/perov_5/val.csv" in plan.dropped_tasks[0][1], plan.dropped_tasks
    assert {j.task.name for j in plan.jobs} == {"xrd_crystal_system"}


def test_measured_patterns_from_xy_and_csv_files(small_xrd, tmp_path):
    from matscibench.run.job import run_job

    grid = X.TwoThetaGrid(10, 80, 0.02)  # another grid than the task's: the loader interpolates
    rows = []
    for i, s in enumerate(_structures()[:3]):
        y = X.simulate_pattern(s, grid, seed=i) * 5000 + 100
        lab = X.structure_labels(s)
        name = f"p{i}.xy" if i % 2 == 0 else f"p{i}.csv"
        sep = " " if name.endswith(".xy") else ","
        with open(tmp_path / name, "w") as fh:
            fh.write("# 2theta intensity\n" if sep == " " else "two_theta,intensity\n")
            for a, b in zip(grid.values(), y):
                fh.write(f"{a:.4f}{sep}{b:.2f}\n")
        rows.append({"file": name, "crystal_system": lab["crystal_system"], "space_group": lab["space_group"]})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    spec = XD.ExperimentalPatternsSpec(tmp_path)
    ds = spec.load()
    assert ds.patterns.shape == (3, X.DEFAULT_GRID.n) and ds.patterns.max() == pytest.approx(1.0)
    assert list(ds.labels["crystal_system"]) == ["cubic", "hexagonal", "triclinic"]
    # a measured pattern lands where the simulated one on the task's grid has its strongest peak
    sim = X.simulate_pattern(_rocksalt(), X.DEFAULT_GRID, instrument="clean")
    assert abs(int(np.argmax(ds.patterns[0])) - int(np.argmax(sim))) <= 2
    params = {**TASK_PARAMS, "test_dataset_params": [{"path": str(tmp_path)}]}
    res = run_job(_spec("xrd_experimental_crystal_system", "xrd_rf", {"n_estimators": 20}, task_params=params))
    assert res.status == "ok", res.traceback
    assert res.info["n_test"] == 3 and res.info["n_train"] == 70
    with pytest.raises(Exception, match="labels.csv"):
        XD.ExperimentalPatternsSpec(tmp_path / "nowhere").load()
    bad = tmp_path / "bad.xy"
    bad.write_text("1 2\n3 4\n")
    with pytest.raises(Exception, match="fewer than 10"):
        XD.read_pattern_file(bad)


def test_cif_folder_patterns(tmp_path):
    from matscibench.families.registry import get_dataset

    for i, s in enumerate(_structures()[:3]):
        s.to(filename=str(tmp_path / f"s{i}.cif"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = get_dataset("xrd_cif_folder", path=str(tmp_path), copies=2).load()
    assert len(ds) == 6 and list(ds.structure) == [0, 0, 1, 1, 2, 2]
    assert list(ds.labels["space_group"][::2]) == [225, 194, 1]
    assert get_dataset("xrd_cif_folder").status() == "missing"
