"""Crystal generation: CDVAE's metrics on hand-made cases, the fingerprint against matminer, the
baselines' contract, and jobs end to end (embedded EMT alloys; Perov-5 when its files are here)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Composition, Lattice, Structure

from conftest import SMALL_EMT
from matscibench.families.generation import fingerprints as FP
from matscibench.families.generation import matching as CM
from matscibench.families.generation import metrics as GM
from matscibench.families.generation import stability as ST
from matscibench.sim import crystalnn as CNN
from matscibench.run.job import run_job
from matscibench.spec import JobSpec, ModelRef, TaskRef
from matscibench.families.registry import get_task

EMT_PARAMS = {"dataset_params": SMALL_EMT, "n_samples": 40, "property_model": None}


def nacl(a: float = 5.64) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def diamond(a: float = 3.567) -> Structure:
    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(a), ["C"], [[0, 0, 0]])


# ----------------------------------------------------------------------------------- validity
def test_two_atoms_closer_than_half_an_angstrom_are_invalid():
    s = Structure(Lattice.cubic(5.0), ["Cu", "Cu"], [[0, 0, 0], [0.06, 0, 0]])  # 0.3 Å apart
    assert GM.min_distance(s.lattice.matrix, s.frac_coords) == pytest.approx(0.3)
    assert not GM.structure_validity(s)
    assert GM.structure_validity(Structure(Lattice.cubic(5.0), ["Cu", "Cu"], [[0, 0, 0], [0.11, 0, 0]]))  # 0.55 Å
    assert GM.structure_validity(nacl())


def test_periodic_images_and_tiny_cells_count():
    # one atom whose own image is 0.4 Å away along a: CDVAE's distance matrix (pairs of different
    # sites) does not see it, so the crystal is valid by its rule; own_images=True fails it
    tiny = Structure(Lattice.orthorhombic(0.4, 5, 5), ["Cu"], [[0, 0, 0]])
    assert GM.structure_validity(tiny)
    assert not GM.structure_validity(tiny, own_images=True)
    two = Structure(Lattice.orthorhombic(0.4, 5, 5), ["Cu", "Cu"], [[0, 0, 0], [0, 0.5, 0]])
    dm = two.distance_matrix + np.eye(2) * 10.5  # CDVAE's structure_validity, written out
    assert GM.structure_validity(two) == (dm.min() >= 0.5) == True  # noqa: E712
    # two atoms close only through the periodic boundary (0.2 Å across the cell face)
    s = Structure(Lattice.cubic(4.0), ["Cu", "Cu"], [[0.02, 0, 0], [0.97, 0, 0]])
    assert GM.min_distance(s.lattice.matrix, s.frac_coords) == pytest.approx(0.2)
    assert not GM.structure_validity(s)
    # a cell of 0.05 Å³
    assert not GM.structure_validity(Structure(Lattice.cubic(0.368), ["H"], [[0, 0, 0]]))


def test_min_distance_agrees_with_pymatgen_neighbour_lists():
    """Our shortest distance (periodic images included) against pymatgen's neighbour search, on
    random cells with random atoms, some of them closer than 0.5 Å."""
    rng = np.random.default_rng(7)
    n_invalid = 0
    for _ in range(40):
        lat = Lattice.from_parameters(*rng.uniform(2.5, 6.0, 3), *rng.uniform(70, 110, 3))
        n = int(rng.integers(2, 8))
        s = Structure(lat, ["Cu"] * n, rng.random((n, 3)))
        dists = [nb.nn_distance for nbs in s.get_all_neighbors(1.5) for nb in nbs]
        want = min(dists) if dists else np.inf
        got = GM.min_distance(s.lattice.matrix, s.frac_coords, cutoff=1.5)
        assert got == pytest.approx(want, abs=1e-9)
        assert GM.structure_validity(s) == (not any(d < 0.5 for d in dists))
        n_invalid += not GM.structure_validity(s)
    assert 0 < n_invalid < 40  # both outcomes were exercised


def test_charge_neutrality_with_electronegativity_balance():
    assert GM.composition_validity(Composition("NaCl"))
    assert not GM.composition_validity(Composition("NaCl2"))
    assert GM.composition_validity(nacl())  # a structure: its reduced formula
    assert GM.composition_validity(Composition("Fe2O3"))
    assert GM.composition_validity(Composition("Fe"))  # one element
    assert GM.composition_validity(Composition("CuAu3"))  # all metals: an alloy
    assert not GM.composition_validity(Composition("OF3"))  # O would need +3
    assert not GM.composition_validity(Composition("He2O"))  # no oxidation state for He


def _cdvae_smact_validity(elems, counts):
    """The reference procedure (CDVAE's eval_utils.smact_validity), written against smact."""
    smact = pytest.importorskip("smact")
    from smact.screening import pauling_test

    space = smact.element_dictionary(elems)
    els = [space[e] for e in elems]
    if len(set(elems)) == 1:
        return True
    if all(e in smact.metals for e in elems):
        return True
    for ox in itertools.product(*[e.oxidation_states for e in els]):
        if smact.neutral_ratios(ox, stoichs=[(c,) for c in counts], threshold=max(counts)):
            if pauling_test(ox, [e.pauling_eneg for e in els]):
                return True
    return False


def test_composition_validity_agrees_with_the_smact_procedure():
    rng = np.random.default_rng(0)
    pool = ["Li", "Na", "K", "Mg", "Ca", "Ba", "Al", "Ga", "Ti", "Fe", "Co", "Ni", "Cu", "Zn", "Sn", "Pb",
            "B", "C", "N", "O", "F", "S", "Cl", "Br", "I", "P", "Se", "Si"]
    cases = 0
    for _ in range(150):
        k = int(rng.integers(2, 5))
        elems = tuple(sorted(rng.choice(pool, k, replace=False).tolist()))
        counts = rng.integers(1, 5, size=k)
        counts = tuple(int(c) for c in counts // np.gcd.reduce(counts))
        assert GM.smact_validity(elems, counts) == _cdvae_smact_validity(elems, counts), (elems, counts)
        cases += 1
    assert cases == 150


def test_density_equals_pymatgen():
    for s in (nacl(), diamond()):
        assert GM.density(s) == pytest.approx(float(s.density), rel=1e-12)


# ----------------------------------------------------------------------------------- coverage
def test_test_set_scored_against_itself_has_full_coverage():
    rng = np.random.default_rng(1)
    sfp, cfp = rng.random((50, 61)), rng.normal(size=(50, 132)) * 10
    cov = GM.coverage(sfp, cfp, sfp, cfp, 0.2, 4.0)
    assert cov["cov_recall"] == 1.0 and cov["cov_precision"] == 1.0
    assert cov["amsd_recall"] == pytest.approx(0.0, abs=1e-6)


def _hand_case(shift: float = 0.1):
    """Three reference and three generated crystals, by hand (first coordinate only; the others 0).

    reference r0: structure 0, composition 0; r1: structure 1, composition 10; r2: structure 5,
    composition 50 (far from everything).
    generated g0: structure 0 (r0's), composition 10 (r1's): a structure of r0 with r1's
    composition; g1: structure 1 + shift, composition 10 + 3.9 (near r1 in both); g2: no
    structure fingerprint (a failed crystal).
    """
    def rows(xs, width):
        out = np.zeros((len(xs), width))
        out[:, 0] = xs
        return out

    ref_s, ref_c = rows([0.0, 1.0, 5.0], 61), rows([0.0, 10.0, 50.0], 132)
    gen_s, gen_c = rows([0.0, 1.0 + shift, np.nan], 61), rows([10.0, 13.9, 0.0], 132)
    gen_s[2] = np.nan
    return gen_s, gen_c, ref_s, ref_c


def test_coverage_takes_the_two_minima_separately_as_cdvae_does():
    """Worked by hand with cut-offs 0.2 (structure) and 4.0 (composition).

    CDVAE's rule (separate minima): r0's nearest structure is g0 (0.0 <= 0.2) and its nearest
    composition is g0 (10 > 4) -> not covered; r1: nearest structure g1 (0.1), nearest composition
    g0 (0.0) -> covered; r2: not covered. COV-R = 1/3. Precision: g0's nearest structure r0 (0.0)
    and nearest composition r1 (0.0) -> counts although no single reference is near it in both;
    g1: r1 (0.1) and r1 (3.9) -> counts; g2 failed: denominator only. COV-P = 2/3.
    Joint rule (one pair within both): r1 only (through g1) -> 1/3; g1 only -> 1/3.
    """
    cov = GM.coverage(*_hand_case(), 0.2, 4.0)
    assert cov["cov_recall"] == pytest.approx(1 / 3)
    assert cov["cov_precision"] == pytest.approx(2 / 3)
    assert cov["cov_recall_joint"] == pytest.approx(1 / 3)
    assert cov["cov_precision_joint"] == pytest.approx(1 / 3)
    assert cov["amsd_recall"] == pytest.approx((0.0 + 0.1 + 3.9) / 3)
    # with g1 moved 0.3 away in structure, r1 keeps its near composition (g0) but loses the
    # structure: both rules lose r1 and g1
    far = GM.coverage(*_hand_case(shift=0.3), 0.2, 4.0)
    assert far["cov_recall"] == 0.0 and far["cov_recall_joint"] == 0.0
    assert far["cov_precision"] == pytest.approx(1 / 3) and far["cov_precision_joint"] == 0.0


def _cdvae_compute_cov(gen_s, gen_c, ref_s, ref_c, struc_cutoff, comp_cutoff, n_gen):
    """CDVAE's compute_cov (scripts/eval_utils.py at f857f59), written out with scipy's cdist:
    failed generated rows dropped, separate minima, COV-P over all generated crystals."""
    from scipy.spatial.distance import cdist

    keep = np.all(np.isfinite(gen_s), axis=1)
    s, c = cdist(gen_s[keep], ref_s), cdist(gen_c[keep], ref_c)
    rec = np.mean((s.min(axis=0) <= struc_cutoff) & (c.min(axis=0) <= comp_cutoff))
    prec = np.sum((s.min(axis=1) <= struc_cutoff) & (c.min(axis=1) <= comp_cutoff)) / n_gen
    return rec, prec


def test_coverage_equals_cdvae_compute_cov_on_random_fingerprints():
    rng = np.random.default_rng(5)
    ref_s, gen_s = rng.random((80, 61)) * 0.08, rng.random((120, 61)) * 0.08
    ref_c, gen_c = rng.normal(size=(80, 132)) * 0.5, rng.normal(size=(120, 132)) * 0.5
    gen_s[::7] = np.nan
    cov = GM.coverage(gen_s, gen_c, ref_s, ref_c, 0.2, 8.0)
    rec, prec = _cdvae_compute_cov(gen_s, gen_c, ref_s, ref_c, 0.2, 8.0, 120)
    assert 0 < rec < 1 and 0 < prec < 1  # both outcomes occur
    assert cov["cov_recall"] == pytest.approx(rec) and cov["cov_precision"] == pytest.approx(prec)
    assert cov["cov_recall_joint"] <= cov["cov_recall"] and cov["cov_precision_joint"] <= cov["cov_precision"]


def test_cdvae_composition_scaler_is_the_papers_constants():
    """Spot values of CompScalerMeans / CompScalerStds (cdvae/common/constants.py at f857f59)."""
    mean, std = GM.cdvae_composition_scaler()
    assert mean.shape == std.shape == (132,)
    assert mean[0] == 21.194441759304013 and std[0] == 16.35781741152948  # minimum Number
    assert std[18] == pytest.approx(563.8004405882157)  # minimum MeltingT: the 564 K
    assert np.all(std > 0)


def test_scaler_sets_unknown_composition_values_to_zero():
    X = np.array([[1.0, np.nan], [3.0, np.nan]])
    mean, std = GM.fit_scaler(X)
    Z = GM.scale_compositions(np.array([[2.0, np.nan]]), mean, std)
    assert Z.tolist() == [[0.0, 0.0]]
    assert std[1] == 1.0 and mean[1] == 0.0


# ----------------------------------------------------------------------------------- EMD
def test_emd_of_identical_samples_is_zero_and_of_shifted_samples_the_shift():
    rng = np.random.default_rng(2)
    x = rng.normal(size=500)
    assert GM.wasserstein_1d(x, x) == 0.0
    assert GM.wasserstein_1d(x, x + 0.7) == pytest.approx(0.7)
    assert GM.wasserstein_1d([1, 2, 3], [1, 2, 3, 3]) == pytest.approx(0.25)
    stats = pytest.importorskip("scipy.stats")
    y = rng.exponential(size=333)
    assert GM.wasserstein_1d(x, y) == pytest.approx(stats.wasserstein_distance(x, y), rel=1e-12)


# ----------------------------------------------------------------------------------- fingerprints
def _matminer_fp(s):
    fp_mod = pytest.importorskip("matminer.featurizers.site.fingerprint")
    ref = fp_mod.CrystalNNFingerprint.from_preset("ops")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array([ref.featurize(s, i) for i in range(len(s))]), ref.feature_labels()


def test_crystalnn_fingerprint_equals_matminer_on_hand_made_crystals():
    oxi = nacl()
    oxi.add_oxidation_state_by_element({"Na": 1, "Cl": -1})
    bcc = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    rutile = Structure.from_spacegroup("P4_2/mnm", Lattice.tetragonal(4.594, 2.959), ["Ti", "O"],
                                       [[0, 0, 0], [0.3053, 0.3053, 0]])
    layered = Structure(Lattice.tetragonal(4.1, 13.8), ["Cs", "I", "I", "I", "Pb"],  # a thin slab: open cells at 7 Å
                        [[0.5, 0.5, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5], [0.5, 0.5, 0.5]])
    for s in (nacl(), oxi, diamond(), bcc, rutile, layered):
        want, labels = _matminer_fp(s)
        assert labels == CNN.CRYSTALNN_LABELS
        got = CNN.crystalnn_site_fingerprints(s)
        np.testing.assert_allclose(got, want, atol=1e-9, err_msg=s.composition.reduced_formula)


@pytest.mark.realdata
def test_crystalnn_fingerprint_equals_matminer_on_real_crystals(shared_data):
    bcc_col = CNN.CRYSTALNN_LABELS.index("body-centered cubic CN_8")
    for ds, rows in (("perov_5", range(0, 12)), ("carbon_24", range(0, 6))):
        df = pd.read_csv(shared_data / "cdvae" / ds / "test.csv", nrows=max(rows) + 1)
        for r in rows:
            s = Structure.from_str(df.cif[r], fmt="cif")
            want, _ = _matminer_fp(s)
            got = CNN.crystalnn_site_fingerprints(s)
            diff = np.abs(got - want)
            diff[:, bcc_col] = 0  # order-dependent in matminer (see the module docstring)
            assert diff.max() < 1e-9, (ds, r)
            np.testing.assert_allclose(CNN.crystalnn_fingerprint(s), want.mean(axis=0), atol=0.01)


def test_fingerprints_are_cached_by_structure(tmp_path, monkeypatch):
    cache = FP.FingerprintCache(tmp_path / "fp.sqlite")
    s1, s2 = nacl(), diamond()
    a = FP.fingerprints([s1, s2, s1], cache=cache)
    assert np.array_equal(a[0], a[2]) and not np.array_equal(a[0], a[1])
    monkeypatch.setattr(FP, "_fingerprint_chunk", lambda items: (_ for _ in ()).throw(AssertionError("recomputed")))
    b = FP.fingerprints([s2, s1], cache=cache)
    assert np.array_equal(b, a[[1, 0]])
    assert FP.structure_key(nacl()) == FP.structure_key(s1) != FP.structure_key(nacl(5.65))


def test_failed_fingerprint_is_nan():
    s = Structure(Lattice.cubic(4.0), ["Cu", "Cu"], [[0, 0, 0], [0, 0, 0]])  # two atoms on one point
    assert np.isnan(FP.fingerprints([s], cache=False)).all()


def test_composition_fingerprint_is_matminers_magpie():
    mp = pytest.importorskip("matminer.featurizers.composition")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = mp.ElementProperty.from_preset("magpie", impute_nan=False)
        want = np.array(ref.featurize(Composition("Na4Cl4")), dtype=float)
    got = FP.composition_fingerprints([nacl()])[0]
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


# ----------------------------------------------------------------------------------- matching
def test_uniqueness_and_novelty_flags():
    a, b = nacl(), diamond()
    a_shift = nacl(5.7)  # same structure, other volume: StructureMatcher scales volumes
    c = Structure(Lattice.cubic(3.0), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # CsCl type
    gen = [a, b, a.copy(), a_shift, c]
    assert CM.unique_flags(gen).tolist() == [True, True, False, False, True]
    fp = FP.fingerprints(gen, cache=False)
    assert CM.unique_flags(gen, fp).tolist() == [True, True, False, False, True]
    train = [b, nacl(6.0)]
    assert CM.novel_flags(gen, train).tolist() == [False, False, False, False, True]
    assert CM.novel_flags(gen, train, fp, FP.fingerprints(train, cache=False)).tolist() == [False, False, False, False, True]


def test_reconstruction_rms():
    s = diamond()
    moved = s.copy()
    moved.translate_sites([0], [0.02, 0, 0])
    other = nacl()
    rms = CM.reconstruction_rms([s.copy(), moved, other, s.copy()], [s, s, s, s], valid=[True, True, True, False])
    assert rms[0] == pytest.approx(0.0, abs=1e-8)
    assert 0 < rms[1] < 0.1
    assert np.isnan(rms[2]) and np.isnan(rms[3])  # no match; invalid
    from pymatgen.analysis.structure_matcher import StructureMatcher

    want = StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3).get_rms_dist(moved, s)[0]
    assert rms[1] == pytest.approx(want, rel=1e-9)
    # the default matcher's tolerances are tighter: a 25 % longer cell still matches (volumes are
    # scaled), a 2-atom cell of another element does not
    assert np.isfinite(CM.reconstruction_rms([diamond(4.46)], [s])[0])
    assert np.isnan(CM.reconstruction_rms([Structure(Lattice.cubic(3.0), ["Cs", "Cl"], [[0, 0, 0], [0.5] * 3])], [s])[0])


def test_energy_above_hull_of_hand_made_entries():
    ref = ["Cu", "Au", "CuAu", "Cu3Au"]
    e_ref = [0.0, 0.0, -0.10, -0.05]
    eh = ST.energies_above_hull(["CuAu", "CuAu", "Cu", "CuPt"], [-0.05, -0.12, 0.02, -1.0], ref, e_ref)
    assert eh[0] == pytest.approx(0.05)
    assert eh[1] == pytest.approx(-0.02)  # below the hull: a new ground state
    assert eh[2] == pytest.approx(0.02)
    assert np.isnan(eh[3])  # Pt has no reference


# ----------------------------------------------------------------------------------- baselines
@pytest.fixture(scope="module")
def training_structures():
    return [nacl(), diamond(), Structure(Lattice.cubic(4.05), ["Al"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]),
            Structure(Lattice.cubic(3.0), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])]


@pytest.mark.parametrize("name", ["gen_replay", "gen_perturb", "gen_substitute", "gen_pyxtal"])
def test_baselines_follow_the_contract(name, training_structures):
    from matscibench.families.registry import build_model

    if name == "gen_pyxtal":
        pytest.importorskip("pyxtal")
    m = build_model(name)
    assert m.input_types == ("generation",)
    m.fit(training_structures)
    a, b = m.sample(6, seed=3), m.sample(6, seed=3)
    assert len(a) == 6
    for x, y in zip(a, b):
        assert x is not None and x == y  # seeded
        assert isinstance(x, Structure)
    formulas = {s.composition.reduced_formula for s in training_structures}
    if name == "gen_replay":
        assert {s.composition.reduced_formula for s in a} <= formulas
        assert len({FP.structure_key(s) for s in a[:4]}) == 4  # all training structures before repeats
    if name == "gen_perturb":
        assert not any(FP.structure_key(s) in {FP.structure_key(t) for t in training_structures} for s in a)
        assert len(m.reconstruct(training_structures)) == len(training_structures)
    if name == "gen_substitute":
        changed = [s for s in a if s.composition.reduced_formula not in formulas]
        assert changed  # one element swapped
    if name == "gen_pyxtal":
        for s in a:
            assert s.composition.reduced_formula in formulas


# ----------------------------------------------------------------------------------- jobs
def _spec(task: str, model: str, params: dict, seed: int = 0) -> JobSpec:
    t = get_task(task, **params)
    return JobSpec(run_id="t", task=TaskRef(task, params), model=ModelRef(model, model, {}), fold=0, seed=seed,
                   dataset_checksum=t.dataset_checksum(), options={})


@pytest.fixture(scope="module")
def emt_jobs(small_emt):
    params = dict(EMT_PARAMS)
    return {m: run_job(_spec("gen_emt_alloys", m, params)) for m in ("gen_replay", "gen_perturb")}


def test_emt_generation_job_end_to_end(emt_jobs):
    task = get_task("gen_emt_alloys", **EMT_PARAMS)
    replay, perturb = emt_jobs["gen_replay"], emt_jobs["gen_perturb"]
    assert replay.status == "ok", replay.traceback
    assert perturb.status == "ok", perturb.traceback
    r = replay.metrics
    assert r["novelty"] == 0.0 and r["un_rate"] == 0.0 and r["sun_rate"] == 0.0
    assert r["validity"] == 1.0 and r["struct_validity"] == 1.0  # relaxed EMT alloys
    assert "match_rate" not in r  # no reconstruct()
    p = perturb.metrics
    assert 0 <= p["match_rate"] <= 1 and "recon_rmse" in p
    for res in (replay, perturb):
        assert task.rescore(res.predictions) == res.metrics
        kinds = res.predictions["kind"].value_counts().to_dict()
        assert kinds["generated"] == 40 and kinds["reference"] == res.info["n_test"]
        for k in ("fit.wall_s", "predict.wall_s", "metrics.wall_s", "metrics/fingerprint.wall_s",
                  "predict.throughput_structures_per_s", "metrics.throughput_structures_per_s", "job.peak_rss_MiB"):
            assert np.isfinite(res.costs[k]), k
        assert res.info["dataset_checksum"] and res.info["split_hash"]
    # what the driver stores (Parquet) re-scores to the same numbers
    import io

    buf = io.BytesIO()
    replay.predictions.to_parquet(buf)
    assert task.rescore(pd.read_parquet(io.BytesIO(buf.getvalue()))) == replay.metrics
    # the generated crystals can be rebuilt from the predictions
    from matscibench.families.generation.predictions import structures_from_predictions

    rebuilt = structures_from_predictions(replay.predictions)
    assert len(rebuilt) == 40 and all(s is not None for s in rebuilt)


def _emt_parts(res):
    """(task, training structures, training targets, reference structures, generated structures,
    generated rows) of an EMT generation job."""
    from matscibench.families.generation.predictions import structures_from_predictions

    task = get_task("gen_emt_alloys", **EMT_PARAMS)
    train, train_t, _, test, _, _, *_ = task.load_split()
    gen_rows = res.predictions[res.predictions["kind"] == "generated"].reset_index(drop=True)
    return task, train, train_t, test, structures_from_predictions(res.predictions), gen_rows


def test_emt_job_validity_and_property_emds_equal_independent_computations(emt_jobs):
    """Validity from pymatgen's neighbour lists; the EMDs from scipy on pymatgen densities and
    element counts of the crystals the job sampled for them, against the whole test half."""
    stats = pytest.importorskip("scipy.stats")
    res = emt_jobs["gen_perturb"]
    _, _, _, test, gen, rows = _emt_parts(res)
    close = [any(nb.nn_distance < 0.5 for nbs in g.get_all_neighbors(0.5) for nb in nbs) for g in gen]
    assert res.metrics["struct_validity"] == pytest.approx(1 - np.mean(close))
    assert res.metrics["comp_validity"] == 1.0  # alloys of EMT metals only
    picked = [g for g, flag in zip(gen, rows["in_property_sample"]) if flag]
    assert len(picked) == min(40, 1000)  # every valid crystal when fewer than n_property_samples
    want_rho = stats.wasserstein_distance([float(g.density) for g in picked], [float(t.density) for t in test])
    want_el = stats.wasserstein_distance([len(g.composition.elements) for g in picked],
                                         [len(t.composition.elements) for t in test])
    assert res.metrics["density_emd"] == pytest.approx(want_rho, rel=1e-9)
    assert res.metrics["n_elements_emd"] == pytest.approx(want_el, rel=1e-9, abs=1e-12)
    assert res.metrics["density_emd"] > 0


def test_emt_job_reconstruction_equals_structure_matcher(emt_jobs):
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from matscibench.families.generation.predictions import structures_from_predictions

    res = emt_jobs["gen_perturb"]
    _, _, _, test, _, _ = _emt_parts(res)
    recon = structures_from_predictions(res.predictions, kind="reconstruction")
    assert len(recon) == len(test)
    sm = StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rms = [sm.get_rms_dist(r, t) for r, t in zip(recon, test)]
    matched = [r[0] for r in rms if r is not None]
    assert res.metrics["match_rate"] == pytest.approx(len(matched) / len(test))
    assert res.metrics["recon_rmse"] == pytest.approx(np.mean(matched), rel=1e-9)
    assert 0 < res.metrics["match_rate"] <= 1 and res.metrics["recon_rmse"] > 0


def test_emt_stability_equals_an_independent_hull(emt_jobs):
    """Replayed training crystals: energy above the hull of the training half's formation
    energies with the pure elements at 0 (pymatgen PhaseDiagram), independent of the job's
    relaxation; the crystals on the hull count as stable."""
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram

    res = emt_jobs["gen_replay"]
    _, train, train_t, _, gen, rows = _emt_parts(res)
    e_form = train_t["formation_energy_per_atom"].to_numpy(float)
    elements = sorted({el.symbol for t in train for el in t.composition.elements})
    pd_ = PhaseDiagram([PDEntry(t.composition, e * len(t)) for t, e in zip(train, e_form)]
                       + [PDEntry(Composition(el), 0.0) for el in elements])
    index = {FP.structure_key(t): j for j, t in enumerate(train)}
    want = []
    for g in gen:
        j = index[FP.structure_key(g)]
        want.append(pd_.get_e_above_hull(PDEntry(g.composition, e_form[j] * len(g)), allow_negative=True))
    np.testing.assert_allclose(rows["e_above_hull"].to_numpy(float), want, atol=1e-4)
    stable = np.asarray(want) <= 0.1 + 1e-4
    assert res.metrics["stable_fraction"] == pytest.approx(stable.mean())
    assert 0 < res.metrics["stable_fraction"] < 1  # some replayed crystals lie on the hull
    assert res.metrics["sun_rate"] == 0.0  # none is novel


def test_sun_rate_counts_crystals_that_are_stable_unique_novel_and_valid(emt_jobs):
    """S.U.N. on hand-set flags: 40 checked crystals, 7 with all four flags, the others each
    missing exactly one (8 not stable, 8 not unique, 8 not novel, 9 not valid)."""
    res = emt_jobs["gen_perturb"]
    task = get_task("gen_emt_alloys", **EMT_PARAMS)
    pred = res.predictions.copy()
    gen = np.nonzero((pred["kind"] == "generated").to_numpy())[0]
    assert len(gen) == 40
    flags = {c: np.ones(40) for c in ("stable", "unique", "novel", "valid")}
    for k, col in enumerate(("stable", "unique", "novel", "valid")):
        flags[col][7 + 8 * k: 15 + 8 * k] = 0
    flags["valid"][39] = 0
    for col, v in flags.items():
        pred.loc[pred.index[gen], col] = v.astype(bool) if col == "valid" else v
    m = task.score(pred)
    assert m["sun_rate"] == pytest.approx(7 / 40)
    assert m["stable_fraction"] == pytest.approx(32 / 40)
    assert m["uniqueness"] == pytest.approx(32 / 40) and m["novelty"] == pytest.approx(32 / 40)
    assert m["un_rate"] == pytest.approx(24 / 40)
    # a row not checked (NaN flags) leaves every rate's denominator
    pred.loc[pred.index[gen[:7]], ["unique", "novel", "stable"]] = np.nan
    assert task.score(pred)["sun_rate"] == 0.0


class _ReferenceReplay:
    """A 'generator' that returns the test half of the EMT task: what the test set scores against itself."""

    input_types = ("generation",)

    def fit(self, structures):
        self.test_ = get_task("gen_emt_alloys", **EMT_PARAMS).load_split()[3]

    def sample(self, n, seed):
        assert n == len(self.test_)
        return [s.copy() for s in self.test_]


def test_the_test_set_scored_against_itself_through_a_job(small_emt):
    params = {**EMT_PARAMS, "n_samples": 60, "potential": None}
    res = run_job(_spec("gen_emt_alloys", "test_generation:_ReferenceReplay", params))
    assert res.status == "ok", res.traceback
    m = res.metrics
    assert res.info["n_test"] == 60
    assert m["cov_recall"] == 1.0 and m["cov_precision"] == 1.0
    assert m["density_emd"] == pytest.approx(0.0, abs=1e-12) and m["n_elements_emd"] == 0.0
    assert m["uniqueness"] == 1.0  # the dataset holds no duplicates


def test_replay_of_the_test_set_covers_it_fully(small_emt):
    """The task scored with its own reference as the generated set: COV-R = COV-P = 1."""
    task = get_task("gen_emt_alloys", **EMT_PARAMS)
    train, _, _, test, *_ = task.load_split()
    sfp = FP.fingerprints(test, cache=False)
    cfp = FP.composition_fingerprints(test)
    mean, std = GM.fit_scaler(FP.composition_fingerprints(train))
    z = GM.scale_compositions(cfp, mean, std)
    cov = GM.coverage(sfp, z, sfp, z, task.struct_cutoff, task.comp_cutoff)
    assert cov["cov_recall"] == 1.0 and cov["cov_precision"] == 1.0


def test_a_fixed_composition_scaler_from_a_file(tmp_path, small_emt):
    import json

    path = tmp_path / "scaler.json"
    path.write_text(json.dumps({"mean": [0.0] * 132, "std": [2.0] * 132}))
    task = get_task("gen_emt_alloys", **EMT_PARAMS, composition_scaler=str(path))
    mean, std = task._scaler([])
    assert mean.tolist() == [0.0] * 132 and std.tolist() == [2.0] * 132
    bad = get_task("gen_emt_alloys", **EMT_PARAMS, composition_scaler=str(tmp_path / "missing.npz"))
    with pytest.raises(FileNotFoundError):
        bad._scaler([])


def test_suite_files_switch_the_property_model_and_potential_off_with_none():
    """TOML has no null: the string "none" stands for None (fewer metrics, no model is built)."""
    on = get_task("gen_emt_alloys", **EMT_PARAMS)
    off = get_task("gen_emt_alloys", **{**EMT_PARAMS, "property_model": "none", "potential": "None"})
    assert off.property_model is None and off.potential is None
    assert "stable_fraction" in on.metrics and "sun_rate" in on.metrics
    assert not {"property_emd", "stable_fraction", "sun_rate"} & set(off.metrics)


def test_generators_and_property_models_are_not_applicable_to_each_other(small_emt):
    from matscibench.families.generation.models import TrainingReplay
    from matscibench.families.properties.models import FeaturizedModel

    gen_task = get_task("gen_emt_alloys", **EMT_PARAMS)
    prop_task = get_task("emt_formation_energy", dataset_params=SMALL_EMT)
    assert "generator" in gen_task.incompatibility(FeaturizedModel())
    assert gen_task.incompatibility(TrainingReplay()) is None
    assert prop_task.incompatibility(TrainingReplay()) is not None
    res = run_job(_spec("gen_emt_alloys", "magpie_rf", EMT_PARAMS))
    assert res.status == "skipped"


class _ShortGenerator:
    input_types = ("generation",)

    def fit(self, structures):
        self.s = structures[0]

    def sample(self, n, seed):
        return [self.s] * (n - 1)


def test_a_generator_that_returns_too_few_crystals_fails_with_the_reason(small_emt):
    spec = _spec("gen_emt_alloys", "test_generation:_ShortGenerator", EMT_PARAMS)
    res = run_job(spec)
    assert res.status == "failed"
    assert "returned 39 items; expected 40" in res.error_message


@pytest.mark.realdata
def test_perov5_generation_job(shared_data):
    params = {"n_samples": 60, "max_reference": 150, "property_model": None, "n_match_samples": 30}
    task = get_task("gen_perov5_val", **params)
    res = run_job(_spec("gen_perov5_val", "gen_replay", params))
    assert res.status == "ok", res.traceback
    m = res.metrics
    assert m["novelty"] == 0.0 and 0.9 <= m["validity"] <= 1.0
    assert 0 <= m["cov_recall"] <= 1 and 0 <= m["cov_precision"] <= 1
    assert res.info["train_split"] == "val" and res.info["n_test"] == 150
    assert task.rescore(res.predictions) == m


@pytest.mark.realdata
@pytest.mark.parametrize("dataset", ["perov_5", "carbon_24"])
def test_real_test_set_scored_against_itself_has_full_coverage(shared_data, dataset):
    """300 test crystals of Perov-5 / Carbon-24 as the generated set and as the reference, with
    CDVAE's cut-offs and the validation split's composition scaler: COV-R = COV-P = 1; and the
    same crystals against the other test crystals cover less (the metric can fail)."""
    df = pd.read_csv(shared_data / "cdvae" / dataset / "test.csv", nrows=600)
    val = pd.read_csv(shared_data / "cdvae" / dataset / "val.csv", nrows=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crystals = [Structure.from_str(c, fmt="cif") for c in df.cif]
        train = [Structure.from_str(c, fmt="cif") for c in val.cif]
    a, b = crystals[:300], crystals[300:]
    mean, std = GM.fit_scaler(FP.composition_fingerprints(train))
    sfp_a, sfp_b = FP.fingerprints(a, cache=False), FP.fingerprints(b, cache=False)
    z_a = GM.scale_compositions(FP.composition_fingerprints(a), mean, std)
    z_b = GM.scale_compositions(FP.composition_fingerprints(b), mean, std)
    cut = GM.COV_CUTOFFS[dataset]
    cov = GM.coverage(sfp_a, z_a, sfp_a, z_a, *cut)
    assert cov["cov_recall"] == 1.0 and cov["cov_precision"] == 1.0
    other = GM.coverage(sfp_b, z_b, sfp_a, z_a, *cut)
    assert other["cov_recall"] < 1.0


# ------------------------------------------------------------------ CDVAE's definitions on real splits
class _SplitReplay:
    """A 'generator' that returns its training split once, in order (the CDVAE check below)."""

    input_types = ("generation",)

    def fit(self, structures):
        self.s = list(structures)

    def sample(self, n, seed):
        assert n == len(self.s)
        return [x.copy() for x in self.s]


def _cdvae_struct_valid(s) -> bool:
    """CDVAE's structure_validity (scripts/eval_utils.py at f857f59) + Crystal's volume test."""
    dm = s.distance_matrix + np.eye(len(s)) * (0.5 + 10.0)
    return bool(dm.min() >= 0.5 and s.volume >= 0.1)


def _cdvae_elems_counts(s):
    """Crystal.get_composition of scripts/compute_metrics.py: elements sorted by atomic number,
    counts divided by their gcd."""
    from collections import Counter

    c = Counter(sp.Z for sp in s.species)
    zs = sorted(c)
    counts = np.array([c[z] for z in zs])
    counts = counts // np.gcd.reduce(counts)
    from pymatgen.core import Element

    return tuple(Element.from_Z(z).symbol for z in zs), tuple(int(x) for x in counts)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.timeout(1800)  # a few minutes on a quiet 2-core machine; the limit leaves room for a loaded one
@pytest.mark.parametrize("dataset,task", [("perov_5", "gen_perov5_val"), ("carbon_24", "gen_carbon24_val")])
def test_cdvae_metrics_on_every_row_of_the_real_splits(shared_data, dataset, task):
    """The validation split as the generated set and the test split as the reference, every row
    (Perov-5: 3,785 + 3,785; Carbon-24: 2,030 + 2,030): the job's COV-R, COV-P, validity and EMDs
    equal an independent computation from CDVAE's definitions (scripts/eval_utils.py and
    scripts/compute_metrics.py of github.com/txie-93/cdvae at f857f598d6f6cca5dc1ea0582d228f12dcc2c2ea):
    validity from pymatgen's distance matrix and SMACT's neutral_ratios + pauling_test, EMDs from
    scipy on pymatgen densities and species sets, coverage from scipy's cdist with separate minima
    on matminer's Magpie fingerprints (every distinct composition) standardised with CDVAE's
    CompScaler. The structure fingerprints are the job's (the one part not recomputed: matminer
    needs ~0.5 s a crystal, an hour here); they are checked against matminer on 4 random rows of
    each split, and on more crystals in test_crystalnn_fingerprint_equals_matminer_on_real_crystals.
    Cost: the job's fingerprints of every crystal (a few minutes on 2 cores; the test cache is
    per session)."""
    smact = pytest.importorskip("smact")  # noqa: F841
    stats = pytest.importorskip("scipy.stats")
    from scipy.spatial.distance import cdist

    mp = pytest.importorskip("matminer.featurizers.composition")
    val_df = pd.read_csv(shared_data / "cdvae" / dataset / "val.csv")
    test_df = pd.read_csv(shared_data / "cdvae" / dataset / "test.csv")
    params = {"n_samples": len(val_df), "property_model": None, "n_match_samples": 20}
    res = run_job(_spec(task, "test_generation:_SplitReplay", params))
    assert res.status == "ok", res.traceback
    m, pred = res.metrics, res.predictions
    gen = pred[pred["kind"] == "generated"].reset_index(drop=True)
    ref = pred[pred["kind"] == "reference"].reset_index(drop=True)
    assert len(gen) == len(val_df) and len(ref) == len(test_df)  # every row

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        val = [Structure.from_str(c, fmt="cif") for c in val_df.cif]
        test = [Structure.from_str(c, fmt="cif") for c in test_df.cif]
    assert list(gen["formula"]) == [s.composition.reduced_formula for s in val]

    # validity (Crystal.get_validity + get_fingerprints: invalid when the fingerprint fails)
    sv = np.array([_cdvae_struct_valid(s) for s in val])
    comp_cache: dict = {}
    cv = []
    for s in val:
        key = _cdvae_elems_counts(s)
        if key not in comp_cache:
            comp_cache[key] = _cdvae_smact_validity(*key)
        cv.append(comp_cache[key])
    cv = np.array(cv)
    fp_ok = np.array([np.all(np.isfinite(v)) for v in gen["struct_fp"]])
    assert m["struct_validity"] == pytest.approx(sv.mean(), abs=0)
    assert m["comp_validity"] == pytest.approx(cv.mean(), abs=0)
    assert m["validity"] == pytest.approx((sv & cv & fp_ok).mean(), abs=0)

    # EMDs over the job's 1,000 valid samples against every test crystal (GenEval)
    picked = np.nonzero(gen["in_property_sample"].to_numpy(bool))[0]
    assert len(picked) == 1000 and (sv & cv & fp_ok)[picked].all()
    want_rho = stats.wasserstein_distance([val[i].density for i in picked], [t.density for t in test])
    want_el = stats.wasserstein_distance([len(set(val[i].species)) for i in picked],
                                         [len(set(t.species)) for t in test])
    assert m["density_emd"] == pytest.approx(want_rho, rel=1e-9)
    assert m["n_elements_emd"] == pytest.approx(want_el, rel=1e-9, abs=1e-12)

    # coverage (compute_cov): matminer's Magpie fingerprints, CDVAE's CompScaler, separate minima
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = mp.ElementProperty.from_preset("magpie", impute_nan=False)
        magpie: dict = {}
        for s in val + test:
            f = s.composition.reduced_formula
            if f not in magpie:
                magpie[f] = np.array(ep.featurize(s.composition), dtype=float)
    means, stds = GM.cdvae_composition_scaler()

    def comp_scaler(X):  # cdvae.common.data_utils.StandardScaler.transform, replace_nan_token=0
        Z = (np.asarray(X, float) - means) / stds
        return np.where(np.isnan(Z), 0.0, Z)

    g_s = np.vstack(gen["struct_fp"].to_numpy())
    r_s = np.vstack(ref["struct_fp"].to_numpy())
    keep = np.all(np.isfinite(g_s), axis=1)  # filter_fps
    g_c = comp_scaler([magpie[s.composition.reduced_formula] for s, k in zip(val, keep) if k])
    r_c = comp_scaler([magpie[t.composition.reduced_formula] for t in test])
    s_d, c_d = cdist(g_s[keep], r_s), cdist(g_c, r_c)
    struc_cut, comp_cut = GM.COV_CUTOFFS[dataset]
    want_rec = np.mean((s_d.min(axis=0) <= struc_cut) & (c_d.min(axis=0) <= comp_cut))
    want_prec = np.sum((s_d.min(axis=1) <= struc_cut) & (c_d.min(axis=1) <= comp_cut)) / len(val)
    assert m["cov_recall"] == pytest.approx(want_rec, abs=1e-12)
    assert m["cov_precision"] == pytest.approx(want_prec, abs=1e-12)
    assert m["cov_recall_joint"] <= m["cov_recall"] and m["cov_precision_joint"] <= m["cov_precision"]

    # the job's structure fingerprints against matminer on a few random rows of each split
    rng = np.random.default_rng(0)
    bcc = CNN.CRYSTALNN_LABELS.index("body-centered cubic CN_8")
    for structs, fps in ((val, g_s), (test, r_s)):
        for i in rng.choice(len(structs), 4, replace=False):
            want, _ = _matminer_fp(structs[i])
            diff = np.abs(want.mean(axis=0) - fps[i])
            diff[bcc] = 0
            assert diff.max() < 1e-9, (dataset, i)
    print(f"\n{dataset}: COV-R {m['cov_recall']:.4f} (joint {m['cov_recall_joint']:.4f}), COV-P {m['cov_precision']:.4f} "
          f"(joint {m['cov_precision_joint']:.4f}), validity {m['validity']:.4f}, d_rho {m['density_emd']:.4f}, "
          f"d_elem {m['n_elements_emd']:.4f}")


# ------------------------------------------------------------------ matching: exact steps, all samples
def _perturbed_copies(base, n, sigma, seed):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        s = base[k % len(base)]
        cart = s.cart_coords + rng.normal(scale=sigma, size=(len(s), 3))
        lat = Lattice(s.lattice.matrix @ (np.eye(3) + rng.normal(scale=0.01, size=(3, 3))))
        out.append(Structure(lat, s.species, cart, coords_are_cartesian=True))
    return out


def test_buckets_and_lattice_test_lose_no_match():
    """Uniqueness with identical copies, buckets and the lattice test (no fingerprint screen)
    equals comparing each crystal with every earlier distinct crystal through
    StructureMatcher().fit with no filter at all; the set mixes matching copies, other cells of
    the same formula (a 2x supercell of NaCl's primitive cell, a strained rock salt) and other
    formulas."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    rocksalt = nacl()
    base = [rocksalt, nacl(6.2), diamond(), Structure(Lattice.cubic(3.0), ["Cs", "Cl"], [[0, 0, 0], [0.5] * 3])]
    strained = rocksalt.copy()
    strained.apply_strain([0.35, 0, 0])  # the lattice test must reject it, and so must the matcher
    crystals = _perturbed_copies(base, 16, 0.05, 0) + [strained, rocksalt.get_primitive_structure() * (2, 1, 1),
                                                     rocksalt.copy()]
    stats: dict = {}
    got = CM.unique_flags(crystals, stats=stats)
    sm = StructureMatcher()
    want, reps = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, s in enumerate(crystals):
            dup = any(sm.fit(crystals[j], s) for j in reps)
            want.append(not dup)
            if not dup:
                reps.append(i)
    assert got.tolist() == want
    assert 1 < sum(want) < len(crystals)  # duplicates and distinct crystals both occur
    assert stats["n_fit"] < len(crystals) * (len(crystals) - 1) / 2  # the filters saved comparisons


def test_a_mode_collapsed_generator_is_not_unique_over_all_samples():
    """40 noisy copies (0.01 Å) of one crystal: 1 unique crystal in 40, whatever the cap."""
    crystals = _perturbed_copies([nacl()], 40, 0.01, 3)
    fp = FP.fingerprints(crystals, cache=False)
    for cap in (None, 3):
        flags = CM.unique_flags(crystals, fp, max_candidates=cap)
        assert flags.sum() == 1 and flags[0]
    novel = CM.novel_flags(crystals, [nacl(5.9)], fp, FP.fingerprints([nacl(5.9)], cache=False), max_candidates=3)
    assert not novel.any()


# ------------------------------------------------------------------ stability that cannot be computed
def _cu3au():
    return Structure(Lattice.cubic(3.75), ["Au", "Cu", "Cu", "Cu"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def test_stability_without_elemental_references_is_not_computed_with_the_reason(monkeypatch):
    from ase.calculators.emt import EMT

    task = get_task("gen_emt_alloys", **EMT_PARAMS)
    task.hull_reference = "energy_per_atom"
    check = task.stability_check()
    monkeypatch.setattr(check, "calculator", lambda: EMT())
    monkeypatch.setattr(check, "elemental_energies", lambda: None)
    gen = [_cu3au(), Structure(Lattice.cubic(3.8), ["Cu", "Au"], [[0, 0, 0], [0.5, 0.5, 0.5]])]
    train = [_cu3au()]  # no unary crystal: no hull
    targets = pd.DataFrame({"energy_per_atom": [0.0]})
    valid = np.array([True, True])
    e_hull, stable, note = check.run(gen, valid, np.arange(2), [0, 1], train, targets)
    assert np.isnan(e_hull).all() and np.isnan(stable).all()
    assert note.startswith("not computed") and "Au, Cu" in note
    # a potential that cannot be built
    monkeypatch.setattr(check, "calculator", lambda: (_ for _ in ()).throw(RuntimeError("no weights")))
    _, stable, note = check.run(gen, valid, np.arange(2), [0, 1], train, targets)
    assert np.isnan(stable).all() and "could not be built" in note and "no weights" in note


def test_score_leaves_stability_out_when_no_energy_was_computed(emt_jobs):
    """The stored rows of a job with every energy above the hull NaN: no stable_fraction, no
    sun_rate (not 0 %), the other metrics unchanged."""
    res = emt_jobs["gen_replay"]
    task = get_task("gen_emt_alloys", **EMT_PARAMS)
    pred = res.predictions.copy()
    gen = pred["kind"] == "generated"
    pred.loc[gen, "e_above_hull"] = np.nan
    pred.loc[gen, "stable"] = np.nan
    m = task.score(pred)
    assert "stable_fraction" not in m and "sun_rate" not in m
    assert m["uniqueness"] == res.metrics["uniqueness"]
    assert res.info["stability"] == "computed"


def test_the_cdvae_comparison_in_the_docs_is_generated_from_the_stored_runs():
    """docs/generation.md's comparison tables equal tools/make_cdvae_table.py's rendering of the
    exported runs (docs/data/generation_cdvae_runs.json), and every row of ours says how it was
    obtained; a changed number makes the page stale."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("make_cdvae_table", root / "tools" / "make_cdvae_table.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    records = json.loads(tool.EXPORT.read_text(encoding="utf-8"))
    page = tool.PAGE.read_text(encoding="utf-8")
    assert tool.update(page, tool.render(records)) == page, "run python tools/make_cdvae_table.py"
    block = page.split(tool.BEGIN, 1)[1].split(tool.END, 1)[0]
    ours = [ln for ln in block.splitlines() if "(ours)" in ln]
    assert ours and all("samples ×" in ln and "→" in ln for ln in ours)
    assert "| CDVAE (paper) |" in block
    changed = [dict(r, metrics={**r["metrics"], "cov_recall": r["metrics"].get("cov_recall", 0) + 0.5}) for r in records]
    assert tool.update(page, tool.render(changed)) != page
