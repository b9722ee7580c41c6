"""Scoring a predictions file (``predictions_file``): every family end to end, through the task's own
code, against the numbers of running the model directly; and the bad files (missing ids, extra
ids, NaN, wrong shapes, wrong units), each refused with the file, the first bad row and the fix."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_EMT

from matscibench.families.registry import get_task
from matscibench.run.job import run_job
from matscibench.spec import JobSpec, ModelRef, TaskRef

PROPS = {"dataset_params": SMALL_EMT}
MOLS = {"dataset_params": {"n_molecules": 40, "seed": 0}, "n_folds": 3}
POTS = {"dataset_params": {"systems": ["Cu", "CuAu"], "temperatures": [300, 900], "frames_per_group": 4,
                           "equil_steps": 20, "sample_every": 5},
        "md": None, "scaling": None, "nve": None, "diatomics": False, "eos": False, "phonons": False, "max_train": 20}
PHON = {"dataset_params": {"n_alloys": 40}, "n_folds": 3, "max_test": 8}
GEN = {"dataset_params": SMALL_EMT, "n_samples": 16, "max_reference": 30, "property_model": None, "n_reconstruct": 0}
XRD = {"dataset_params": {"n_structures": 70}}


def _job(task: str, params: dict, model: str, model_params: dict | None = None, fold: int = 0, label: str | None = None):
    t = get_task(task, **params)
    spec = JobSpec("t", TaskRef(task, params), ModelRef(label or model, model, model_params or {}), fold, 0,
                   t.dataset_checksum(), {"latency_budget_s": 0.05})
    return run_job(spec)


def _replay(task: str, params: dict, path, fold: int = 0, **kw):
    return _job(task, params, "predictions_file", {"path": str(path), **kw}, fold=fold, label="file")


def _same_metrics(a, b, skip=(), rel=1e-9):
    assert a.status == "ok", a.traceback
    assert b.status == "ok", b.traceback
    for k, v in a.metrics.items():
        if k in skip:
            continue
        w = b.metrics[k]
        assert (math.isnan(v) and math.isnan(w)) or w == pytest.approx(v, rel=rel, abs=1e-12), k


def _fails(res, *words):
    assert res.status == "failed", res.metrics
    assert res.error_type == "PredictionsFileError", res.traceback
    for w in words:
        assert w in res.error_message, res.error_message
    return res.error_message


# ------------------------------------------------------------------------------ properties
@pytest.fixture(scope="module")
def rf_jobs(small_emt):
    """magpie_rf run directly on folds 0 and 1 of the regression and the classification task."""
    return {(t, f): _job(t, PROPS, "magpie_rf", fold=f) for t in ("emt_formation_energy", "emt_is_stable") for f in (0, 1)}


def _property_table(jobs, task):
    parts = []
    for f in (0, 1):
        p = jobs[(task, f)].predictions
        df = pd.DataFrame({"id": p["id"], "fold": f, "prediction": p["y_pred"]})
        if "y_score" in p:
            df["probability"] = p["y_score"]
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("task", ["emt_formation_energy", "emt_is_stable"])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_property_file_scores_as_the_model_itself(rf_jobs, tmp_path, task, fmt):
    df = _property_table(rf_jobs, task)
    path = tmp_path / f"preds.{fmt}"
    df.to_csv(path, index=False) if fmt == "csv" else df.to_parquet(path)
    for f in (0, 1):
        res = _replay(task, PROPS, path, fold=f)
        _same_metrics(rf_jobs[(task, f)], res)
        # nothing of the model was measured here: only loading the data is, and it says so
        assert set(res.costs) <= {"load.wall_s", "load.cpu_s", "load.peak_rss_MiB"}
        assert res.info["costs"]["model_costs"] == "not measured here"
        assert res.info["predictions_file"]["sha256"]


def test_property_file_without_fold_column_and_without_probabilities(rf_jobs, tmp_path):
    df = _property_table(rf_jobs, "emt_is_stable").drop(columns=["fold", "probability"])
    path = tmp_path / "labels.csv"
    df.to_csv(path, index=False)
    res = _replay("emt_is_stable", PROPS, path, fold=1)
    direct = rf_jobs[("emt_is_stable", 1)]
    assert res.metrics["accuracy"] == direct.metrics["accuracy"]
    # ROC-AUC from labels only: the same as the labels' ROC-AUC of the model itself
    assert res.metrics["roc_auc"] == pytest.approx(direct.metrics["roc_auc_labels"])
    assert res.info["roc_auc_from"] == "labels"


def test_property_file_bad_rows_are_named(rf_jobs, tmp_path):
    good = _property_table(rf_jobs, "emt_formation_energy")
    path = tmp_path / "bad.csv"
    t = "emt_formation_energy"
    # a missing id: the fold, the count and the first missing id
    good.drop(index=3).to_csv(path, index=False)
    msg = _fails(_replay(t, PROPS, path), "missing ids", str(good["id"].iloc[3]), "bad.csv")
    assert "fold 0" in msg
    # an extra id (not in the dataset): its CSV line
    bad = pd.concat([good, pd.DataFrame({"id": ["no-such-id"], "fold": [0], "prediction": [0.1]})], ignore_index=True)
    bad.to_csv(path, index=False)
    _fails(_replay(t, PROPS, path), f"line {len(bad) + 1}", "no-such-id", "extra id")
    # NaN: the line and the id
    bad = good.copy()
    bad.loc[5, "prediction"] = np.nan
    bad.to_csv(path, index=False)
    _fails(_replay(t, PROPS, path), "line 7", str(good["id"].iloc[5]), "NaN")
    # a wrong fold
    bad = good.copy()
    bad.loc[0, "fold"] = 1
    bad.to_csv(path, index=False)
    _fails(_replay(t, PROPS, path), "line 2", "given fold 1", "fold 0")
    # meV/atom instead of eV/atom: found by the scale check, with the factor
    bad = good.copy()
    bad["prediction"] *= 1000.0
    bad.to_csv(path, index=False)
    _fails(_replay(t, PROPS, path), "meV/atom", "eV/atom", "check_units")
    # ... accepted when declared (a unit column), and then the same numbers as the model
    bad["unit"] = "meV/atom"
    bad.to_csv(path, index=False)
    res = _replay(t, PROPS, path)
    _same_metrics(rf_jobs[(t, 0)], res)
    assert "declared meV/atom" in res.info["predictions_file"]["units"]["prediction"]


def test_declared_costs_and_card_come_from_the_sidecar(rf_jobs, tmp_path):
    df = _property_table(rf_jobs, "emt_formation_energy")
    df.to_csv(tmp_path / "m.csv", index=False)
    (tmp_path / "m.yaml").write_text(
        "card:\n  name: My GNN\n  version: '2.1'\n  authors: [A. Author]\n  license: MIT\n  doi: 10.1000/xyz\n"
        "  training_data: [Materials Project]\n  n_parameters: 1_200_000\n  hardware: 4x A100\n"
        "costs:\n  train.total_s: 36000\n  predict.throughput_structures_per_s: 250\n")
    res = _replay("emt_formation_energy", PROPS, tmp_path / "m.csv")
    assert res.status == "ok", res.traceback
    assert res.costs["train.total_s"] == 36000 and res.costs["predict.throughput_structures_per_s"] == 250
    assert res.info["costs"]["declared"] == ["predict.throughput_structures_per_s", "train.total_s"]
    assert res.info["costs"]["model_costs"] == "declared"
    card = res.info["model_card"]
    assert card["name"] == "My GNN" and card["n_parameters"] == 1_200_000 and card["training_data"] == ["Materials Project"]
    # a cost name the reports do not know is refused, naming the sidecar
    (tmp_path / "m.yaml").write_text("costs:\n  train.totl_s: 1\n")
    _fails(_replay("emt_formation_energy", PROPS, tmp_path / "m.csv"), "m.yaml", "train.totl_s")


def test_molecule_file_scores_as_the_model_itself(tmp_path):
    direct = _job("xtb_mol_gap", MOLS, "dummy", fold=2)
    p = direct.predictions
    pd.DataFrame({"id": p["id"], "prediction": p["y_pred"]}).to_json(tmp_path / "gap.jsonl", orient="records", lines=True)
    _same_metrics(direct, _replay("xtb_mol_gap", MOLS, tmp_path / "gap.jsonl", fold=2))


# ------------------------------------------------------------------------------ potentials
@pytest.fixture(scope="module")
def pot_job():
    return _job("emt_metals_forces", POTS, "linear_acelike")


def _write_xyz(path, job, task, scale=1.0, extra_info=None, drop=None):
    from ase.io import write

    ds = task.spec.load()
    out = []
    for _, r in job.predictions[job.predictions["kind"] == "frame"].iterrows():
        if drop is not None and r["id"] == drop:
            continue
        at = ds.frames[int(r["id"])].copy()
        at.info = {"id": int(r["id"]), "energy": r["energy_pred"], **(extra_info or {})}
        at.arrays.pop("forces", None)
        at.arrays["forces"] = np.asarray(r["forces_pred"], float).reshape(-1, 3) * scale
        if r["stress_pred"] is not None:
            at.info["stress"] = np.asarray(r["stress_pred"], float)
        out.append(at)
    write(str(path), out, format="extxyz")


def test_potential_xyz_and_table_score_as_the_calculator_itself(pot_job, tmp_path):
    task = get_task("emt_metals_forces", **POTS)
    _write_xyz(tmp_path / "p.xyz", pot_job, task)
    res = _replay("emt_metals_forces", POTS, tmp_path / "p.xyz")
    _same_metrics(pot_job, res, rel=1e-6)  # extended XYZ holds 8 decimals
    assert res.metrics["stress_mae"] > 0 and res.metrics["force_mae"] > 0
    assert "not run" in res.info["checks_in_use"]
    fr = pot_job.predictions[pot_job.predictions["kind"] == "frame"]
    table = pd.DataFrame({"id": fr["id"], "energy": fr["energy_pred"], "forces": fr["forces_pred"].map(json.dumps),
                          "stress": fr["stress_pred"].map(json.dumps)})
    table.to_csv(tmp_path / "p.csv", index=False)
    _same_metrics(pot_job, _replay("emt_metals_forces", POTS, tmp_path / "p.csv"))


def test_potential_bad_files(pot_job, tmp_path):
    from matscibench.sim.units import BOHR_IN_ANGSTROM

    task = get_task("emt_metals_forces", **POTS)
    path = tmp_path / "p.xyz"
    # forces in eV/bohr: refused by the scale check, naming the unit and the factor
    _write_xyz(path, pot_job, task, scale=BOHR_IN_ANGSTROM)
    _fails(_replay("emt_metals_forces", POTS, path), "eV/bohr", "forces", "1.8897")
    # ... converted when the file declares it, giving the calculator's numbers
    _write_xyz(path, pot_job, task, scale=BOHR_IN_ANGSTROM, extra_info={"forces_unit": "eV/bohr"})
    _same_metrics(pot_job, _replay("emt_metals_forces", POTS, path), rel=1e-6)
    # a missing frame
    first = pot_job.predictions["id"].iloc[0]
    _write_xyz(path, pot_job, task, drop=first)
    _fails(_replay("emt_metals_forces", POTS, path), "missing ids", repr(first))
    # wrong shape of forces, NaN energy, extra id: a table, rows named
    fr = pot_job.predictions[pot_job.predictions["kind"] == "frame"]
    table = pd.DataFrame({"id": fr["id"], "energy": fr["energy_pred"], "forces": fr["forces_pred"].map(json.dumps)})
    bad = table.copy()
    bad.loc[bad.index[2], "forces"] = json.dumps(json.loads(bad["forces"].iloc[2])[:-3])
    bad.to_csv(tmp_path / "t.csv", index=False)
    _fails(_replay("emt_metals_forces", POTS, tmp_path / "t.csv"), "line 4", "wrong shape", "expected (")
    bad = table.copy()
    bad.loc[bad.index[1], "energy"] = np.nan
    bad.to_csv(tmp_path / "t.csv", index=False)
    _fails(_replay("emt_metals_forces", POTS, tmp_path / "t.csv"), "line 3", "energy", "NaN")
    bad = pd.concat([table, table.iloc[:1].assign(id="100000")], ignore_index=True)
    bad.to_csv(tmp_path / "t.csv", index=False)
    _fails(_replay("emt_metals_forces", POTS, tmp_path / "t.csv"), "100000", "extra id")


# ------------------------------------------------------------------------------ phonons
def test_phonon_dos_file_scores_as_the_model_itself(tmp_path):
    direct = _job("emt_phonon_dos", PHON, "dos_extratrees", fold=1)
    p = direct.predictions
    path = tmp_path / "dos.parquet"
    pd.DataFrame({"id": p["id"], "fold": 1, "dos": p["dos_pred"]}).to_parquet(path)
    res = _replay("emt_phonon_dos", PHON, path, fold=1)
    _same_metrics(direct, res)
    # wide columns in a CSV: the same
    wide = pd.DataFrame(np.vstack(p["dos_pred"].map(np.asarray)), columns=[f"dos_{j}" for j in range(len(p["dos_pred"].iloc[0]))])
    wide.insert(0, "id", p["id"].to_numpy())
    wide.to_csv(tmp_path / "dos.csv", index=False)
    _same_metrics(direct, _replay("emt_phonon_dos", PHON, tmp_path / "dos.csv", fold=1))
    # a curve on another grid: the wrong shape, with the task's grid in the message
    short = pd.DataFrame({"id": p["id"], "dos": p["dos_pred"].map(lambda v: list(v)[:-1])})
    short.to_parquet(path)
    _fails(_replay("emt_phonon_dos", PHON, path, fold=1), "row 1", "wrong shape", "THz")


# ------------------------------------------------------------------------------ generation
def test_generated_crystals_score_with_every_metric(tmp_path):
    from pymatgen.io.ase import AseAtomsAdaptor

    from matscibench.families.generation.predictions import structures_from_predictions

    direct = _job("gen_emt_alloys", GEN, "gen_perturb")
    assert direct.status == "ok", direct.traceback
    structs = structures_from_predictions(direct.predictions)
    (tmp_path / "g.jsonl").write_text("\n".join(json.dumps(s.as_dict()) for s in structs))
    res = _replay("gen_emt_alloys", GEN, tmp_path / "g.jsonl")
    # every metric of the task but those of reconstruction, which a file does not give
    _same_metrics(direct, res, skip=("match_rate", "recon_rmse"))
    assert res.metrics["validity"] > 0
    assert math.isnan(res.metrics.get("match_rate", float("nan")))
    folder = tmp_path / "cifs"
    folder.mkdir()
    for i, s in enumerate(structs):
        s.to(filename=str(folder / f"{i:04d}.cif"))
    res_cif = _replay("gen_emt_alloys", GEN, folder)
    assert res_cif.metrics["validity"] == direct.metrics["validity"]
    assert res_cif.metrics["cov_recall"] == pytest.approx(direct.metrics["cov_recall"])
    from ase.io import write

    write(str(tmp_path / "g.extxyz"), [AseAtomsAdaptor.get_atoms(s) for s in structs], format="extxyz")
    _same_metrics(direct, _replay("gen_emt_alloys", GEN, tmp_path / "g.extxyz"), skip=("match_rate", "recon_rmse"), rel=1e-6)
    # the wrong number of crystals, and lattices in bohr
    (tmp_path / "few.jsonl").write_text("\n".join(json.dumps(s.as_dict()) for s in structs[:-1]))
    _fails(_replay("gen_emt_alloys", GEN, tmp_path / "few.jsonl"), "15 crystals", "n_samples = 16", "n_samples=15")
    big = [s.copy() for s in structs]
    for s in big:
        s.scale_lattice(s.volume / 0.529177210903**3)
    (tmp_path / "bohr.jsonl").write_text("\n".join(json.dumps(s.as_dict()) for s in big))
    _fails(_replay("gen_emt_alloys", GEN, tmp_path / "bohr.jsonl"), "bohr", "volume per atom")


# ------------------------------------------------------------------------------ XRD
def test_xrd_probabilities_labels_and_lattice(tmp_path):
    direct = _job("xrd_crystal_system", XRD, "xrd_rf", {"n_estimators": 20}, fold=1)
    p = direct.predictions
    cols = [c for c in p.columns if c.startswith("p_")]
    p[["id", *cols]].to_csv(tmp_path / "cs.csv", index=False)
    res = _replay("xrd_crystal_system", XRD, tmp_path / "cs.csv", fold=1)
    _same_metrics(direct, res)
    # labels only: every metric but top-2 accuracy (NaN: one-hot labels cannot be ranked)
    pd.DataFrame({"id": p["id"], "prediction": p["y_pred"]}).to_csv(tmp_path / "lab.csv", index=False)
    res = _replay("xrd_crystal_system", XRD, tmp_path / "lab.csv", fold=1)
    _same_metrics(direct, res, skip=("top2_accuracy",))
    assert math.isnan(res.metrics["top2_accuracy"])
    bad = pd.DataFrame({"id": p["id"], "prediction": p["y_pred"]})
    bad.loc[3, "prediction"] = "cubical"
    bad.to_csv(tmp_path / "lab.csv", index=False)
    _fails(_replay("xrd_crystal_system", XRD, tmp_path / "lab.csv", fold=1), "line 5", "cubical")

    lat = _job("xrd_lattice", XRD, "xrd_rf", {"n_estimators": 20})
    q = lat.predictions
    pars = ["a", "b", "c", "alpha", "beta", "gamma"]
    table = pd.DataFrame({"id": q["id"], **{k: q[f"{k}_pred"] for k in pars}})
    table.to_csv(tmp_path / "lat.csv", index=False)
    _same_metrics(lat, _replay("xrd_lattice", XRD, tmp_path / "lat.csv"))
    rad = table.copy()
    rad[["alpha", "beta", "gamma"]] = np.radians(rad[["alpha", "beta", "gamma"]])
    rad.to_csv(tmp_path / "lat.csv", index=False)
    _fails(_replay("xrd_lattice", XRD, tmp_path / "lat.csv"), "rad", "degrees")


def test_a_task_without_a_replay_model_says_so(tmp_path):
    (tmp_path / "x.csv").write_text("id,prediction\n0,1\n")
    res = _job("xtb_mol_all", MOLS, "predictions_file", {"path": str(tmp_path / "x.csv")})
    _fails(res, "does not score predictions files")


# ------------------------------------------------------------------------------ the command, reports, cards
def test_score_command_records_reports_and_marks_costs(rf_jobs, tmp_path):
    from typer.testing import CliRunner

    from matscibench.cli import app

    df = _property_table(rf_jobs, "emt_formation_energy")
    path = tmp_path / "other_rf.csv"
    df.to_csv(path, index=False)
    (tmp_path / "other_rf.yaml").write_text(
        "card:\n  name: RF elsewhere\n  training_data: [EMT alloys (generated here)]\n"
        "costs:\n  train.total_s: 12.5\n")
    out = tmp_path / "res"
    res = CliRunner().invoke(app, ["score", "emt_formation_energy", str(path), "-r", str(out), "-q",
                                   "-p", json.dumps(SMALL_EMT).join(["dataset_params=", ""])])
    assert res.exit_code == 0, res.output
    rep_dir = next((out / "reports").iterdir())
    rep = json.loads((rep_dir / "report.json").read_text())
    (task,) = rep["tasks"]
    (row,) = task["models"]
    assert row["model"] == "other_rf" and row["jobs"]["ok"] == 2  # the two folds the file covers
    want = np.mean([rf_jobs[("emt_formation_energy", f)].metrics["mae"] for f in (0, 1)])
    assert row["metrics"]["mae"]["center"] == pytest.approx(want, rel=1e-12)
    assert row["predictions_file"] and row["declared_costs"] == ["train.total_s"]
    assert row["costs"]["train.total_s"]["center"] == 12.5
    assert "predict.throughput_structures_per_s" not in row["costs"]  # not measured, not invented
    assert row["card"]["name"] == "RF elsewhere"
    assert row["possible_leakage"] == ["EMT alloys (generated here)"]
    md = (rep_dir / "report.md").read_text()
    assert "12.5 (declared)" in md and "not measured here" in md and "possible leakage" in md
    html = (rep_dir / "report.html").read_text()
    assert 'class="declared"' in html and "not measured here" in html and "possible leakage" in html
    assert "RF elsewhere" in html
    # a bad file: one clear error line naming it, before anything runs
    df.iloc[1:].to_csv(path, index=False)
    res = CliRunner().invoke(app, ["score", "emt_formation_energy", str(path), "-r", str(out), "-q",
                                   "-p", json.dumps(SMALL_EMT).join(["dataset_params=", ""])])
    assert res.exit_code != 0 and "missing ids" in str(res.exception)


def test_cards_of_builtin_models_and_leakage():
    from matscibench.data.sources import overlap
    from matscibench.families.registry import model_card
    from matscibench.models.base import TRAINED_ON_TASK, ModelCard

    # a universal potential trained on MPtrj, scored on a Materials Project task: possible leakage
    card = model_card("chgnet", object())
    assert card.training_data == ("MPtrj",) and card.n_parameters == 412_525 and card.doi
    assert overlap(card.training_data, get_task("matbench_mp_e_form").data_sources()) == ["Materials Project"]
    assert overlap(card.training_data, get_task("emt_formation_energy").data_sources()) == []
    assert overlap(["QM9"], ["Materials Project"]) == []
    # a model fitted in each job: trained on the task's own split, its hyperparameters recorded
    from matscibench.models.dummy import DummyModel

    card = model_card("dummy", DummyModel())
    assert card.training_data == (TRAINED_ON_TASK,) and card.license == "MIT" and "classifier" in card.hyperparameters
    assert overlap(card.training_data, ["EMT alloys (generated here)"], ignore=[TRAINED_ON_TASK]) == []
    # cards round-trip, and a bad field names itself
    assert ModelCard.from_dict(card.as_dict()) == card
    with pytest.raises(ValueError, match="n_params"):
        ModelCard.from_dict({"n_params": 3}, "x.yaml")


def test_every_registered_model_gets_a_card():
    from matscibench.families.registry import list_models

    for name in list_models():
        if name == "predictions_file":
            continue
        from matscibench.families.registry import model_card

        card = model_card(name, object())
        assert card.name and card.license and card.code_url, name
