"""Potential metrics on hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.build import bulk

from matscibench.metrics import potential as PM


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


def test_force_angle_and_magnitude_errors():
    t = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.01]])
    p = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [5.0, 0.0, 0.0]])
    # third atom is below the 0.05 eV/Å threshold and ignored
    assert PM.force_angle_error(t, p) == pytest.approx((45.0 + 0.0) / 2)
    # |F|: sqrt(2) vs 1 -> 41.42 %; 1 vs 2 -> 50 %
    assert PM.force_magnitude_error(t, p) == pytest.approx((100 * (math.sqrt(2) - 1) + 50.0) / 2)
    assert PM.force_angle_error(t, -t) == pytest.approx(180.0)


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
