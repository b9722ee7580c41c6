"""Potential metrics on hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.build import bulk

from matscibench.families.potentials import metrics as PM


def test_energy_and_force_errors_hand_worked():
    # two frames of 2 and 4 atoms; energy errors 0.01 and -0.04 eV -> 5 and 10 meV/atom
    mae, rmse = PM.energy_errors_per_atom([1.0, 2.0], [1.01, 1.96], [2, 4])
    assert mae == pytest.approx(7.5)
    assert rmse == pytest.approx(math.sqrt((25 + 100) / 2))
    f_true = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    f_pred = np.array([[1.1, 0.0, 0.0], [0.0, 2.0, -0.3]])
    mae, rmse = PM.force_errors(f_true, f_pred)
    assert mae == pytest.approx((100 + 300) / 6)
    assert rmse == pytest.approx(math.sqrt((100**2 + 300**2) / 6))


def test_energy_per_structure_is_n_times_per_atom():
    """rMD17/MACE report meV per structure (MACE mace/tools/train.py: mae_e over configurations):
    for one molecule of N atoms it is N times the per-atom figure (ethanol N = 9)."""
    e_true, e_pred = [-4209.0, -4209.5], [-4209.010, -4209.470]  # errors -10 and +30 meV
    mae, rmse = PM.energy_errors_per_structure(e_true, e_pred)
    assert mae == pytest.approx(20.0) and rmse == pytest.approx(math.sqrt((100 + 900) / 2))
    mae_atom, _ = PM.energy_errors_per_atom(e_true, e_pred, [9, 9])
    assert mae == pytest.approx(9 * mae_atom)


def test_sciml_force_errors_hand_worked():
    """SciML-Bench (stfc-sciml/sciml-bench commit 3fbaaa0c2ce1adafd3c831e20d39c4a292743a42,
    sciml_bench/benchmarks/science/hydronet/utils/infer.py): per atom arccos(cos)/π and
    ‖F̂‖ − ‖F‖; per structure mean |·| and mean (·)²; then mean over structures."""
    # structure A (2 atoms): 90° (1/2) with lengths 1 -> 1; 0° with lengths 2 -> 1 (-1 eV/Å)
    ta = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    pa = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    # structure B (1 atom): opposite (1) with lengths 1 -> 3 (+2 eV/Å)
    tb = np.array([[0.0, 0.0, 1.0]])
    pb = np.array([[0.0, 0.0, -3.0]])
    r = PM.sciml_force_errors([ta, tb], [pa, pb])
    assert r["sciml_force_angle_mae"] == pytest.approx(((0.5 + 0.0) / 2 + 1.0) / 2)
    assert r["sciml_force_angle_mse"] == pytest.approx(((0.25 + 0.0) / 2 + 1.0) / 2)
    assert r["sciml_force_magnitude_mae"] == pytest.approx(((0 + 1000) / 2 + 2000) / 2)
    assert r["sciml_force_magnitude_mse"] == pytest.approx(((0 + 1000**2) / 2 + 2000**2) / 2)
    # per structure then over structures differs from pooling over atoms (3 atoms: mean 0.5)
    assert r["sciml_force_angle_mae"] != pytest.approx((0.5 + 0.0 + 1.0) / 3)


def test_sciml_force_errors_match_the_reference_torch_code():
    """The same numbers as SciML-Bench's torch functions (infer.py at commit 3fbaaa0), re-typed
    here as the independent check, on random forces."""
    torch = pytest.importorskip("torch")

    def ref_mag(actual, pred):
        return torch.sub(torch.norm(pred, dim=1), torch.norm(actual, dim=1))

    def ref_ang(actual, pred):
        a, p = torch.norm(actual, dim=1), torch.norm(pred, dim=1)
        return torch.div(torch.acos(torch.bmm(torch.div(actual.T, a).T.view(-1, 1, 3),
                                              torch.div(pred.T, p).T.view(-1, 3, 1)).view(-1)), torch.pi)

    rng = np.random.default_rng(0)
    ts = [rng.normal(size=(n, 3)) for n in (3, 5, 9)]
    ps = [t + 0.3 * rng.normal(size=t.shape) for t in ts]
    fme_mae, fme_mse, fae_mae, fae_mse = [], [], [], []
    for t, p in zip(ts, ps):
        fme = ref_mag(torch.tensor(t), torch.tensor(p))
        fae = ref_ang(torch.tensor(t), torch.tensor(p))
        fme_mae.append(float(torch.mean(torch.abs(fme))))
        fme_mse.append(float(torch.mean(torch.square(fme))))
        fae_mae.append(float(torch.mean(torch.abs(fae))))
        fae_mse.append(float(torch.mean(torch.square(fae))))
    r = PM.sciml_force_errors(ts, ps)
    assert r["sciml_force_angle_mae"] == pytest.approx(np.mean(fae_mae), rel=1e-9)
    assert r["sciml_force_angle_mse"] == pytest.approx(np.mean(fae_mse), rel=1e-9)
    assert r["sciml_force_magnitude_mae"] == pytest.approx(np.mean(fme_mae) * 1e3, rel=1e-9)  # meV/Å
    assert r["sciml_force_magnitude_mse"] == pytest.approx(np.mean(fme_mse) * 1e6, rel=1e-9)


def test_force_angle_and_magnitude_variants():
    t = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.01]])
    p = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [5.0, 0.0, 0.0]])
    # third atom is below the 0.05 eV/Å threshold and ignored
    assert PM.force_angle_deg(t, p) == pytest.approx((45.0 + 0.0) / 2)
    # |F|: sqrt(2) vs 1 -> 41.42 %; 1 vs 2 -> 50 %
    assert PM.force_magnitude_rel_error(t, p) == pytest.approx((100 * (math.sqrt(2) - 1) + 50.0) / 2)
    assert PM.force_angle_deg(t, -t) == pytest.approx(180.0)


def test_stress_mae_in_gpa_skips_missing():
    t = np.array([[0.01, 0, 0, 0, 0, 0], [np.nan] * 6])
    p = np.array([[0.0, 0, 0, 0, 0, 0], [1.0] * 6])
    assert PM.stress_mae(t, p) == pytest.approx(0.01 / 6 * 160.21766208)


def test_rdf_of_fcc_has_its_shells():
    cu = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(3)
    r, g = PM.rdf([cu], r_max=4.0, n_bins=80)
    first = r[np.argmax(g)]
    assert first == pytest.approx(3.6 / math.sqrt(2), abs=0.05)
    assert g[r < 2.0].sum() == 0
    assert PM.rdf_mae(g, g) == 0.0


def test_birch_murnaghan_fit_recovers_its_curve():
    v0, e0, b0_gpa, bp = 12.0, -3.0, 140.0, 4.5
    from ase.units import GPa

    b0 = b0_gpa * GPa
    v = np.linspace(11.0, 13.0, 9)
    eta = (v0 / v) ** (2 / 3)
    e = e0 + 9 * v0 * b0 / 16 * ((eta - 1) ** 3 * bp + (eta - 1) ** 2 * (6 - 4 * eta))
    fv, fe, fb = PM.birch_murnaghan_fit(v, e)
    assert fv == pytest.approx(v0, rel=1e-6) and fe == pytest.approx(e0, abs=1e-8) and fb == pytest.approx(b0_gpa, rel=1e-5)


def test_md_stable_time():
    assert PM.md_stable_time([100, 400], timestep_fs=2.0) == pytest.approx(0.5)
