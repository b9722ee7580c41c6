"""The potentials task end to end with calculators whose errors are known."""

from __future__ import annotations

import numpy as np
import pytest

from matscibench.run.job import run_job
from matscibench.spec import JobSpec, ModelRef, TaskRef
from matscibench.families.registry import get_task

SMALL = {"systems": ["Cu", "CuAu"], "temperatures": [300, 900], "frames_per_group": 4, "equil_steps": 20, "sample_every": 5}
PARAMS = {
    "dataset_params": SMALL,
    "md": {"steps": 60, "seeds": 2, "temperature_K": 900.0, "timestep_fs": 2.0, "min_distance": 1.5},
    "scaling": {"max_atoms": 300, "budget_s": 1.0},  # 0.3 s left one size on a loaded machine
    "nve": {"steps": 40, "timestep_fs": 1.0, "temperature_K": 300.0, "every": 10},
    "diatomics": {"rstep": 0.1},
}


def _job(model, task="emt_metals_forces", params=PARAMS, fold=0):
    t = get_task(task, **params)
    spec = JobSpec("t", TaskRef(task, params), ModelRef(model, model), fold, 0, t.dataset_checksum(), {"latency_budget_s": 0.1})
    return t, run_job(spec)


def test_reference_calculator_scores_zero_and_runs_every_check():
    t, res = _job("potential_stubs:EMTRef")
    assert res.status == "ok", res.traceback
    m = res.metrics
    for k in ("force_mae", "energy_mae_per_atom", "energy_mae_per_structure", "stress_mae", "sciml_force_angle_mae",
              "sciml_force_magnitude_mae", "md_screen_rdf_mae", "eos_volume_error", "eos_bulk_modulus_error",
              "phonon_dos_error", "phonon_max_freq_error", "phonon_cv_error"):
        # arccos near 1 turns rounding (1e-16) into ~1e-8 rad: the angle gets a looser bound
        assert m[k] == pytest.approx(0.0, abs=1e-6 if "angle" in k else 1e-9), k
    assert m["md_screen_stable_fraction"] == 1.0 and m["md_screen_stable_time"] == pytest.approx(60 * 2.0 / 1000)
    assert 0 <= m["nve_energy_drift"] < 5.0  # EMT conserves energy (meV/atom/ps over 40 fs)
    assert m["diatomic_force_flips"] >= 1 and m["diatomic_repulsion_spearman"] < -0.9
    c = res.costs
    for k in ("predict.ms_per_call", "md.atom_steps_per_s", "md.ns_per_day", "scaling.exponent", "scaling.max_atoms"):
        assert np.isfinite(c[k]) and c[k] > 0, k
    assert res.info["stress_evaluated"] and set(res.info["per_group"]) <= {"md_300K", "md_900K", "strain", "vacancy", "surface"}


def test_known_errors_are_measured():
    t, res = _job("potential_stubs:ScaledEMT")
    assert res.status == "ok", res.traceback
    p = res.predictions[res.predictions["kind"] == "frame"]
    ft = np.concatenate([np.asarray(x) for x in p["forces_true"]])
    # forces 10 % too large: the MAE is 10 % of the mean |component|, the magnitude error 10 %
    assert res.metrics["force_mae"] == pytest.approx(0.1 * np.mean(np.abs(ft)) * 1e3, rel=1e-9)
    assert res.metrics["force_magnitude_rel_error"] == pytest.approx(10.0, rel=1e-6)
    assert res.metrics["force_angle_deg"] == pytest.approx(0.0, abs=1e-4)
    assert res.metrics["sciml_force_angle_mae"] == pytest.approx(0.0, abs=1e-6)
    # ‖F̂‖ − ‖F‖ = 0.1 ‖F‖: its per-structure mean, then the mean over structures (meV/Å)
    per = [np.mean(np.linalg.norm(np.asarray(x).reshape(-1, 3), axis=1)) for x in p["forces_true"]]
    assert res.metrics["sciml_force_magnitude_mae"] == pytest.approx(0.1 * np.mean(per) * 1e3, rel=1e-6)
    assert res.metrics["energy_mae_per_atom"] == pytest.approx(2.0, rel=1e-9)  # +2 meV/atom
    assert res.metrics["energy_mae_per_structure"] == pytest.approx(2.0 * p["n_atoms"].mean(), rel=1e-9)
    # a constant shift moves nothing; the two relaxations stop within fmax = 0.01 eV/Å of the minimum
    assert res.metrics["eos_volume_error"] == pytest.approx(0.0, abs=1e-4)
    # every number comes back from the stored predictions
    again = t.rescore(res.predictions)
    for k, v in res.metrics.items():
        assert again[k] == pytest.approx(v, nan_ok=True), k


def test_unstable_potential_is_caught_in_md():
    _, res = _job("potential_stubs:Exploding", params={**PARAMS, "scaling": None})
    assert res.status == "ok", res.traceback
    assert res.metrics["md_screen_stable_fraction"] == 0.0
    assert res.metrics["md_screen_stable_time"] < 60 * 2.0 / 1000


def test_nan_forces_fail_the_job_naming_the_frame():
    _, res = _job("potential_stubs:NaNForces")
    assert res.status == "failed" and res.error_type == "ModelOutputError"
    assert "frame" in res.error_message and "non-finite" in res.error_message


def test_group_split_trains_cold_and_tests_hot():
    t = get_task("emt_metals_extrapolation", dataset_params=SMALL, train_groups=["md_300K", "strain"], test_groups=["md_900K", "surface"])
    ds = t.spec.load()
    (train, test), = t.folds(ds)
    assert set(ds.groups[train]) == {"md_300K", "strain"} and set(ds.groups[test]) == {"md_900K", "surface"}
    assert t.n_folds() == 1


def test_incompatible_elements_are_named():
    from potential_stubs import EMTRef

    t = get_task("xtb_md17_ethanol", dataset_params={"n_frames": 5, "hot_frames": 0})
    t.prepare()
    assert "no parameters for" in t.incompatibility(EMTRef()) or t.incompatibility(EMTRef()) is None
    assert "not an ASE calculator" in t.incompatibility(object())


def test_report_puts_errors_stability_and_cost_side_by_side():
    import numpy as np

    import matscibench.families.potentials.task  # noqa: F401 - registers the family's table and cost columns
    from matscibench.cost.stats import summarize
    from matscibench.report.aggregate import ModelRow, TaskReport
    from matscibench.report.render import _task_markdown

    row = ModelRow("lin", 1, 0, 0)
    row.metrics = {m: summarize(np.array([v]), "accuracy") for m, v in
                   {"force_mae": 12.5, "energy_mae_per_atom": 0.75, "md_screen_stable_time": 0.8, "sciml_force_angle_mae": 0.0325}.items()}
    row.costs = {"predict.ms_per_call": summarize(np.array([4.0, 6.0, 5.0]), "time"),
                 "md.ns_per_day": summarize(np.array([2.0, 4.0]), "rate"),
                 "scaling.exponent": summarize(np.array([1.125]), "cost")}
    t = TaskReport("emt_metals_forces", "", "meV/Å", ["force_mae", "energy_mae_per_atom", "sciml_force_angle_mae", "md_screen_stable_time"],
                   50.0, [row], family="potentials")
    md = "\n".join(_task_markdown(t))
    table = md.split("Errors, stability and cost side by side")[1].split("\n\n")[1]
    header, _, line = table.splitlines()[:3]
    cols = [c.strip() for c in header.strip("|").split("|")]
    vals = dict(zip(cols, [c.strip() for c in line.strip("|").split("|")]))
    assert vals["force MAE (meV/Å)"] == "12.5" and vals["energy MAE per atom (meV/atom)"] == "0.75"
    assert vals["MD screen: stable time (ps)"] == "0.8"
    assert vals["energy+forces call (ms)"] == "5"  # the median
    assert vals["MD (ns/day)"] == "2.667"  # the harmonic mean of 2 and 4
    assert vals["time ∝ N^x, x"] == "1.125"
    # a family without such a table gets none
    t2 = TaskReport("x", "", None, ["force_mae"], None, [row], family="properties")
    assert "side by side" not in "\n".join(_task_markdown(t2))
