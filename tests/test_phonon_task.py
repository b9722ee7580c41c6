"""The phonon family end to end: the embedded EMT set, both routes, known errors, faults, the DFPT reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes

from matscibench.data.cache import content_hash
from matscibench.families.phonons.chen2021 import git_blob_sha1, parse_atoms_literal
from matscibench.families.phonons.data import EmtPhononSpec
from matscibench.sim.emt import FastEMT
from matscibench.families.registry import get_dataset
from matscibench.errors import ChecksumError, DatasetError
from matscibench.families.phonons import metrics as PHM
from matscibench.run.job import run_job
from matscibench.spec import JobSpec, ModelRef, TaskRef
from matscibench.families.registry import get_task

SMALL = {"n_alloys": 40}
PARAMS = {"dataset_params": SMALL, "n_folds": 3, "max_test": 8}


@pytest.fixture(scope="session")
def phonon_spec():
    spec = get_dataset("emt_phonons", **SMALL)
    spec.prepare()
    return spec


@pytest.fixture(scope="session")
def phonon_ds(phonon_spec):
    return phonon_spec.load()


def _job(model, params=PARAMS, fold=0, task="emt_phonon_dos", model_params=None):
    t = get_task(task, **params)
    spec = JobSpec("t", TaskRef(task, params), ModelRef(model, model, model_params or {}), fold, 0, t.dataset_checksum(), {})
    return t, run_job(spec)


# ----------------------------------------------------------------------------------- stubs
class NegatedEMT(Calculator):
    """EMT with the forces reversed: every force constant changes sign, every mode is imaginary."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = FastEMT()
        self.results = {"energy": -a.get_potential_energy(), "forces": -a.get_forces()}


class TrainableEMT(Calculator):
    """EMT that records what ``fit`` was given."""

    implemented_properties = ["energy", "forces"]
    seen: list = []

    def fit(self, frames, on_epoch=None):
        TrainableEMT.seen = list(frames)
        if on_epoch is not None:
            f = np.concatenate([fr.arrays["forces"] for fr in frames[:3]])
            on_epoch(1, on_epoch.score(f, f * 1.01))
        return self

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = FastEMT()
        self.results = {"energy": a.get_potential_energy(), "forces": a.get_forces()}


class WrongShapeDos:
    input_types = ("phonon",)

    def fit(self, X, Y):
        self.n_ = Y.shape[1]
        return self

    def predict(self, X):
        return np.ones((len(X), self.n_ - 1))


class OneValuePerStructure:
    input_types = ("structure", "composition")

    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.zeros(len(X))


# ----------------------------------------------------------------------------------- data
def test_dataset_is_stable_consistent_and_keeps_the_supercells(phonon_ds):
    ds = phonon_ds
    gen = ds.info["generation"]
    assert len(ds) == gen["accepted"] and gen["candidates"] == gen["accepted"] + sum(gen["rejected"].values())
    assert {"element", "alloy"} <= set(ds.groups)
    grid = ds.frequencies
    assert np.allclose(np.trapezoid(ds.dos, grid, axis=1), 1.0)
    # the DOS-derived Cv agrees with phonopy's sum over the q-mesh (the Gaussian broadening costs < 0.2 %)
    T = list(ds.temperatures)
    for j, t in enumerate(PHM.THERMAL_TEMPERATURES_K):
        cv = ds.targets["cv"][:, T.index(t)]
        assert np.allclose(cv, ds.info["extra"]["mesh_cv"][:, j], rtol=2e-3)
    # no reference structure has imaginary modes; bands have 3 branches per atom
    for i in range(len(ds)):
        assert PHM.imaginary_branches(ds.band_frequencies[i]) == 0
        assert ds.band_frequencies[i].shape[1] == 3 * len(ds.numbers[i])
    # one undisplaced + one frame per displacement; labels are EMT's
    assert len(ds.frame_arrays["frame_structure"]) == sum(len(d) + 1 for d in ds.displacements)
    frames = ds.frames_of([3])
    assert frames[0].info["group"] == "undisplaced" and {f.info["group"] for f in frames[1:]} == {"displaced"}
    fr = frames[1].copy()
    fr.calc = FastEMT()
    assert fr.get_potential_energy() == pytest.approx(frames[1].info["energy"], abs=1e-9)
    assert np.allclose(fr.get_forces(), frames[1].arrays["forces"], atol=1e-9)
    assert min(np.diag(m).prod() for m in ds.supercell_matrices) >= 1
    assert set(ds.scalar_table().columns) >= {"cv_300K_J_per_K_mol", "debye_temperature_K", "max_frequency_THz"}


def test_generation_does_not_depend_on_workers():
    a = EmtPhononSpec(n_alloys=6, elements=False, workers=1)
    b = EmtPhononSpec(n_alloys=6, elements=False, workers=2)
    (arr_a, meta_a), (arr_b, _) = a._build(None), b._build(None)
    assert meta_a["generation"]["candidates"] == 6
    assert content_hash(arr_a, "x") == content_hash(arr_b, "x")


# ----------------------------------------------------------------------------------- potential route
def test_emt_reference_through_phonopy_scores_zero(phonon_ds):
    t, res = _job("potential_stubs:EMTRef")
    assert res.status == "ok", res.traceback
    for k, v in res.metrics.items():
        assert v == pytest.approx(0.0, abs=1e-9) if k != "dos_overlap" else v == pytest.approx(1.0), k
    c = res.costs
    for k in ("phonons.s_per_structure", "phonons.force_calls_per_structure", "phonons.supercell_atoms",
              "phonons.ms_per_force_call", "predict.throughput_structures_per_s"):
        assert np.isfinite(c[k]) and c[k] > 0, k
    assert res.info["route"] == "potential" and res.info["n_test"] == 8


def test_stiffer_forces_raise_every_frequency_by_sqrt_of_the_factor(phonon_ds):
    t, res = _job("potential_stubs:ScaledEMT")  # forces x 1.1: force constants x 1.1, frequencies x sqrt(1.1)
    assert res.status == "ok", res.traceback
    p = res.predictions
    f = np.sqrt(1.1)
    for _, r in p.iterrows():
        bt, bp = np.asarray(r["band_true"]), np.asarray(r["band_pred"])
        assert np.allclose(bp, f * bt, atol=1e-6)
    mean_abs = np.mean([np.mean(np.abs(np.asarray(b))) for b in p["band_true"]])
    assert res.metrics["band_mae"] == pytest.approx((f - 1) * mean_abs, rel=1e-4)
    grid = np.asarray(p["frequencies"].iloc[0])
    avg = np.mean([PHM.average_frequency(grid, np.asarray(d)) for d in p["dos_true"]])
    assert res.metrics["avg_freq_error"] == pytest.approx((f - 1) * avg, rel=0.02)
    assert res.metrics["cv_error_100K"] > res.metrics["cv_error_300K"] > res.metrics["cv_error_600K"] > 0
    assert res.metrics["imaginary_branches"] == 0
    again = t.rescore(p)
    for k, v in res.metrics.items():
        assert again[k] == pytest.approx(v, nan_ok=True), k


def test_unstable_potential_is_flagged_with_imaginary_modes(phonon_ds):
    _, res = _job("test_phonon_task:NegatedEMT")
    assert res.status == "ok", res.traceback
    assert res.metrics["unstable_fraction"] == 100.0
    assert res.metrics["imaginary_branches"] >= 3


def test_nan_forces_fail_the_job_naming_the_structure(phonon_ds):
    _, res = _job("potential_stubs:NaNForces")
    assert res.status == "failed" and res.error_type == "ModelOutputError"
    assert "structure" in res.error_message and "non-finite" in res.error_message


def test_trainable_potential_gets_only_training_supercells(phonon_ds):
    params = {**PARAMS, "max_train_frames": 50}
    t, res = _job("test_phonon_task:TrainableEMT", params=params, fold=1)
    assert res.status == "ok", res.traceback
    train, test = t.folds(phonon_ds)[1]
    seen = {f.info["system"] for f in TrainableEMT.seen}
    assert len(TrainableEMT.seen) == 50 and seen <= set(phonon_ds.ids[train]) and not seen & set(phonon_ds.ids[test])
    assert len(res.curve) == 1 and res.info["n_train_frames"] == 50
    assert res.metrics["dos_mse"] == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------------------------- direct route
def test_direct_models_score_on_the_same_structures(phonon_ds):
    _, mean = _job("dos_mean")
    t, trees = _job("dos_extratrees")
    for res in (mean, trees):
        assert res.status == "ok", res.traceback
        assert res.info["route"] == "direct" and np.isnan(res.metrics["band_mae"])
        assert res.costs["predict.throughput_structures_per_s"] > 0
        assert res.metrics["imaginary_branches"] == 0
    assert trees.metrics["dos_overlap"] > mean.metrics["dos_overlap"]
    assert trees.metrics["dos_mse"] < mean.metrics["dos_mse"]
    _, emt = _job("potential_stubs:EMTRef")
    assert list(trees.predictions["id"]) == list(emt.predictions["id"])  # same test structures
    again = t.rescore(trees.predictions)
    for k, v in trees.metrics.items():
        assert again[k] == pytest.approx(v, nan_ok=True), k


def test_wrong_shaped_dos_fails_with_the_expected_shape(phonon_ds):
    _, res = _job("test_phonon_task:WrongShapeDos")
    assert res.status == "failed" and res.error_type == "ModelOutputError"
    assert "expected (8, 151)" in res.error_message


def test_e3nn_network_trains_reports_epochs_and_is_rotation_invariant(phonon_ds):
    pytest.importorskip("e3nn")
    from matscibench.families.phonons.models import E3nnDos

    X = phonon_ds.structures(range(20))
    m = E3nnDos(epochs=2, mul=8, random_state=0).fit(X, phonon_ds.dos[:20], frequencies=phonon_ds.frequencies)
    s = X[5].copy()
    rot = s.copy()
    from pymatgen.core.operations import SymmOp

    rot.apply_operation(SymmOp.from_axis_angle_and_translation([0.3, 1.0, -0.4], 37.0))
    a, b = m.predict([s, rot])
    assert np.allclose(a, b, atol=1e-5)
    _, res = _job("e3nn_dos", model_params={"epochs": 3, "mul": 8})
    assert res.status == "ok", res.traceback
    assert [e for e, _, _ in res.curve] == [1, 2, 3]
    assert np.isfinite(res.metrics["dos_overlap"])


def test_e3nn_scores_its_epochs_on_the_given_validation_set(phonon_ds):
    """With ``validation_data`` the per-epoch values are the task's metric on those structures and
    the best epoch is kept: the final model's error on them is the lowest value recorded."""
    pytest.importorskip("e3nn")
    from matscibench.models.base import EpochCallback
    from matscibench.families.phonons.models import E3nnDos

    f = phonon_ds.frequencies
    Xv, Yv = phonon_ds.structures(range(20, 26)), phonon_ds.dos[20:26]
    cb = EpochCallback("dos_mse", False, None, lambda a, b: PHM.dos_mse(f, np.atleast_2d(a), np.atleast_2d(b)))
    m = E3nnDos(epochs=3, mul=8, random_state=0).fit(phonon_ds.structures(range(20)), phonon_ds.dos[:20], on_epoch=cb,
                                                     frequencies=f, validation_data=(Xv, Yv))
    assert len(cb.history) == 3
    assert min(v for _, _, v in cb.history) == pytest.approx(PHM.dos_mse(f, Yv, m.predict(Xv)), rel=1e-4)


def test_models_land_only_on_tasks_that_can_run_them():
    from matscibench.families.phonons.models import DosRegressor
    from potential_stubs import EMTRef

    prop = get_task("emt_formation_energy", dataset_params={"n_structures": 120, "seed": 0})
    assert "phonon" in prop.incompatibility(DosRegressor())
    ph = get_task("emt_phonon_dos", **PARAMS)
    assert "neither a structure→DOS model" in ph.incompatibility(OneValuePerStructure())
    assert ph.incompatibility(DosRegressor()) is None and ph.incompatibility(EMTRef()) is None
    only_direct = get_task("emt_phonon_dos", **PARAMS, routes=["direct"])
    assert "potential-route" in only_direct.incompatibility(EMTRef())


# ----------------------------------------------------------------------------------- Chen et al. CSV
def _chen_csv(path, n=12):
    """A small file in Chen et al.'s format: Atoms.todict() literals, cm⁻¹ grid, max-normalised DOS."""
    import pandas as pd
    from ase.build import bulk

    rng = np.random.default_rng(0)
    freq = np.linspace(0.0, 1000.0, 51)
    rows = []
    for k in range(n):
        el, a = [("Cu", 3.61), ("Ni", 3.52), ("Al", 4.05)][k % 3]
        at = bulk(el, "fcc", a=a * (1 + 0.01 * (k // 3)))
        center = 150 + 40 * (k % 3) + rng.normal(0, 5)
        dos = np.exp(-0.5 * ((freq - center) / 40) ** 2)
        rows.append({"mp_id": f"mp-{k}", "structure": repr(at.todict()), "phfreq": str(freq.tolist()),
                     "phdos": str((dos / dos.max()).tolist()), "pdos": repr({el: (dos / dos.max()).tolist()}),
                     "formula": el, "species": repr([el])})
    pd.DataFrame(rows).to_csv(path, index=False)


def test_atoms_literals_are_parsed_without_eval():
    d = parse_atoms_literal("{'numbers': array([29, 29]), 'cell': array([[1., 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float64), "
                            "'pbc': array([ True,  True, False])}")
    assert d["numbers"].tolist() == [29, 29] and d["cell"].shape == (3, 3) and d["pbc"].tolist() == [True, True, False]
    for evil in ("__import__('os').system('true')", "{'a': open('x')}", "{'a': (lambda: 1)()}"):
        with pytest.raises(ValueError):
            parse_atoms_literal(evil)


def test_chen_csv_is_checked_read_and_scored(tmp_path):
    from matscibench.paths import cache_dir

    rel = f"test_chen/{tmp_path.name}/data.csv"
    path = cache_dir() / "downloads" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    _chen_csv(path)
    sha1 = git_blob_sha1(path)
    bad = get_dataset("chen2021_phonon_dos", relpath=rel, git_sha1="0" * 40, url=None)
    with pytest.raises(ChecksumError, match="git blob id"):
        bad.prepare()
    spec = get_dataset("chen2021_phonon_dos", relpath=rel, git_sha1=sha1, url=None)
    ds = spec.load()
    assert len(ds) == 12 and ds.frequencies[-1] == pytest.approx(1000.0 / 33.35641, rel=1e-6)
    assert np.allclose(np.trapezoid(ds.dos, ds.frequencies, axis=1), 1.0) and not ds.has_frames
    assert json.loads(json.dumps(ds.info["sha256"])) == spec.load().info["sha256"]
    # 12 rows are not the published file: the published split refuses it and names the file
    with pytest.raises(DatasetError, match="chen2021_phonon_split.csv"):
        get_task("chen2021_phonon_dos", dataset_params={"relpath": rel, "git_sha1": sha1, "url": None}).folds(ds)
    params = {"dataset_params": {"relpath": rel, "git_sha1": sha1, "url": None}, "n_folds": 3, "split": "kfold"}
    t, direct = _job("dos_knn", params=params, task="chen2021_phonon_dos", model_params={"estimator_params": {"n_neighbors": 2}})
    assert direct.status == "ok", direct.traceback
    assert "band_mae" not in direct.metrics and direct.info["n_test"] == 4
    _, pot = _job("potential_stubs:EMTRef", params=params, task="chen2021_phonon_dos")
    assert pot.status == "ok", pot.traceback
    assert pot.costs["phonons.supercell_atoms"] >= 27 and 0.0 <= pot.metrics["dos_overlap"] <= 1.0
    # the potential route processes the model's DOS as Chen et al. processed the reference
    assert pot.info["dos_processing"] == "chen2021"
    row = pot.predictions.iloc[0]
    g = np.asarray(row["dos_pred"])
    assert np.trapezoid(g, ds.frequencies) == pytest.approx(1.0)  # stored unit-area, scored max-normalised


def test_chen2021_published_split():
    """The split published with the CSV (data/idx_*.txt of ninarina12/phononDoS_tutorial @
    e1911bb5, converted by tools/make_chen2021_split.py): 1,192 / 141 / 189 of 1,522 rows,
    disjoint; the first rows of each published file are where the file puts them."""
    from matscibench.families.phonons.chen2021 import chen2021_split

    tr, va, te = chen2021_split(1522)
    assert (len(tr), len(va), len(te)) == (1192, 141, 189)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(1522))
    assert {1486, 1447, 1481, 1520, 1483} <= set(tr.tolist())  # head of idx_train.txt
    assert {1385, 1263, 755, 648, 1381} <= set(va.tolist())  # head of idx_valid.txt
    assert {1092, 30, 1023, 292, 861} <= set(te.tolist())  # head of idx_test.txt
    task = get_task("chen2021_phonon_dos")
    assert task.split == "chen2021" and task.n_folds() == 1 and task.dos_processing == "chen2021"


# ----------------------------------------------------------------------------------- a trained potential
def _gamma_frequencies(calc, numbers, cell, frac, P, delta=0.01):
    """Γ-point frequencies (THz) without phonopy: central differences of ``calc``'s forces on the
    supercell ``P``, force constants summed over the periodic images, mass-weighted, diagonalised."""
    import scipy.constants as C
    from ase import Atoms
    from ase.build import make_supercell

    unit = Atoms(numbers=numbers, cell=cell, scaled_positions=frac, pbc=True)
    sc = make_supercell(unit, np.asarray(P, dtype=int))
    n = len(unit)
    # which unit-cell atom each supercell atom is an image of, and one home image per atom
    diff = (sc.positions[:, None, :] - unit.positions[None, :, :]).transpose(2, 0, 1).reshape(3, -1)
    d = np.linalg.solve(np.asarray(cell, float).T, diff).reshape(3, len(sc), n)  # in unit-cell fractions
    is_image = np.all(np.abs(d - np.round(d)) < 1e-6, axis=0)
    owner = np.argmax(is_image, axis=1)
    assert is_image.sum(axis=1).tolist() == [1] * len(sc)
    home = [int(np.nonzero(is_image[:, k] & np.all(np.abs(d[:, :, k]) < 1e-6, axis=0))[0][0]) for k in range(n)]
    phi = np.zeros((3 * n, 3 * n))
    for k in range(n):
        for a in range(3):
            f = []
            for s in (delta, -delta):
                at = sc.copy()
                at.positions[home[k], a] += s
                at.calc = calc
                f.append(at.get_forces())
            dfdu = (f[0] - f[1]) / (2 * delta)  # eV/Å²
            for kp in range(n):
                phi[3 * k + a, 3 * kp : 3 * kp + 3] = -dfdu[owner == kp].sum(axis=0)
    phi = 0.5 * (phi + phi.T)
    m = np.repeat(unit.get_masses(), 3)
    w2 = np.linalg.eigvalsh(phi / np.sqrt(np.outer(m, m)))  # eV/(Å² amu)
    to_thz = np.sqrt(C.e / C.angstrom**2 / C.atomic_mass) / (2 * np.pi) / 1e12
    return np.sign(w2) * np.sqrt(np.abs(w2)) * to_thz


def test_linear_acelike_trained_on_the_training_supercells_goes_through_phonopy(phonon_ds):
    """The potentials family's trainable ``linear_acelike`` on the potential route: fitted by the
    task on the training structures' supercells only (a deterministic ridge fit, so refitting it
    here on the same frames gives the same potential), then its Γ frequencies from the job's
    phonopy run agree with central differences of the refitted potential done by hand."""
    from matscibench.families.potentials.models.linear_ace import LinearACEPotential

    model_params = {"n_radial_3": 4, "l_max": 2}
    params = {**PARAMS, "max_train_frames": 30}
    t, res = _job("linear_acelike", params=params, model_params=model_params)
    assert res.status == "ok", res.traceback
    assert res.info["route"] == "potential" and res.info["n_train_frames"] == 30
    assert [e for e, _, _ in res.curve] == [1] and res.curve[0][2] < 5.0  # training force MAE, meV/Å
    m = res.metrics
    assert 0.5 < m["dos_overlap"] < 1.0 and m["dos_mse"] > 0 and m["band_mae"] > 0  # learned, not the reference
    for k in ("phonons.s_per_structure", "phonons.ms_per_force_call", "train.total_s"):
        assert np.isfinite(res.costs[k]) and res.costs[k] > 0, k
    # the same frames (evenly spaced over the training structures' supercells), the same fit
    train, test = t.folds(phonon_ds)[0]
    frames = phonon_ds.frames_of(train)
    frames = [frames[i] for i in np.linspace(0, len(frames) - 1, 30).round().astype(int)]
    pot = LinearACEPotential(**model_params).fit(frames)
    pred = res.predictions.set_index("id")
    checked = 0
    for i in test[:3]:
        q = phonon_ds.band_qpoints[i]
        g = np.nonzero(np.all(np.abs(q) < 1e-9, axis=1))[0]
        if not len(g):
            continue
        nb = 3 * len(phonon_ds.numbers[i])
        job_gamma = np.sort(np.asarray(pred.loc[phonon_ds.ids[i], "band_pred"]).reshape(-1, nb)[g[0]])
        ours = np.sort(_gamma_frequencies(pot, phonon_ds.numbers[i], phonon_ds.cells[i], phonon_ds.frac[i],
                                          phonon_ds.supercell_matrices[i]))
        np.testing.assert_allclose(job_gamma, ours, atol=0.01)  # other training frames: >= 0.05 THz off
        assert np.abs(ours[:3]).max() < 0.03  # acoustic modes: the fitted potential conserves momentum
        ref_gamma = np.sort(phonon_ds.band_frequencies[i][g[0]])
        assert np.abs(job_gamma - ref_gamma).max() > 1e-3  # and it is not EMT
        checked += 1
    assert checked >= 2
