"""NVE energy drift and diatomic curves (MLIP Arena's measures) on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest

from matscibench.families.potentials import metrics as PM


def test_nve_drift_hand_worked():
    t = np.array([0.0, 0.1, 0.2, 0.3])  # ps
    e = -100.0 + 0.004 * t / 0.1  # +4 meV per 0.1 ps, 10 atoms -> 4 meV/atom/ps
    assert PM.nve_energy_drift(t, e, 10) == pytest.approx(4.0)
    assert PM.nve_energy_drift(t, e[::-1], 10) == pytest.approx(4.0)  # the size of the slope
    assert PM.nve_energy_drift(t, [1.0, 2.0, np.inf, np.nan], 1) == np.inf


def _morse(r, d=2.0, a=1.5, r0=1.2):
    x = np.exp(-a * (r - r0))
    e = d * (1 - x) ** 2 - d
    f = -2 * d * a * x * (1 - x)  # radial force on atom 2 = -dE/dr
    return e, f


def test_diatomic_measures_of_a_morse_curve_and_a_wiggly_one():
    """mlip_arena/tasks/diatomics/analysis.py (atomind-ai/mlip-arena commit b7d94da): a single
    Morse well has one force sign flip, tortuosity 1, no energy jumps, conservative forces and
    monotonic repulsion (Spearman -1 inside the minimum)."""
    r = np.arange(0.6, 6.0, 0.01)
    e, f = _morse(r)
    m = PM.diatomic_curve_metrics(r, e, f)
    assert m["diatomic_force_flips"] == 1
    assert m["diatomic_tortuosity"] == pytest.approx(1.0, abs=1e-3)
    # one change of direction (at the minimum): only the first steps of ≥ 1 meV on either side count
    assert 0.002 < m["diatomic_energy_jump"] < 0.005
    assert m["diatomic_conservation_deviation"] < 0.05
    assert m["diatomic_repulsion_spearman"] == pytest.approx(-1.0)
    # a bump of 0.3 eV at 3 Å: a second well -> more flips, extra variation (tortuosity > 1), jumps
    bump = 0.3 * np.exp(-((r - 3.0) / 0.15) ** 2)
    m2 = PM.diatomic_curve_metrics(r, e + bump, f + bump * 2 * (r - 3.0) / 0.15**2)
    assert m2["diatomic_force_flips"] == 3
    # the wiggle adds total variation beyond the single well's (well 2 eV + wall 4.26 eV at 0.6 Å):
    # at most 2 x 0.3 eV more, so tortuosity in (1, 1 + 0.6 / 6.26]
    assert 1.02 < m2["diatomic_tortuosity"] <= 1.0 + 0.6 / 6.26 + 1e-9
    assert m2["diatomic_energy_jump"] > m["diatomic_energy_jump"]
    # forces that are not -dE/dr
    m3 = PM.diatomic_curve_metrics(r, e, 1.5 * f)
    assert m3["diatomic_conservation_deviation"] == pytest.approx(np.mean(np.abs(0.5 * f)), rel=0.02)


def test_diatomic_grid_is_mlip_arenas():
    """diatomics/run.py: 0.9 r_cov to 3.1 r_vdW (Alvarez), int((rmax - rmin) / 0.01) points."""
    from ase.data import covalent_radii, vdw_alvarez

    rs = PM.diatomic_distances("Cu")
    assert rs[0] == pytest.approx(0.9 * covalent_radii[29]) and rs[-1] == pytest.approx(3.1 * vdw_alvarez.vdw_radii[29])
    assert len(rs) == int((rs[-1] - rs[0]) / 0.01)


def test_task_runs_nve_and_diatomics_with_emt():
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from matscibench.families.potentials.data import AtomsDataset
    from matscibench.families.potentials.task import PotentialTask

    t = PotentialTask("t", "emt_metals", nve={"steps": 100, "timestep_fs": 1.0, "temperature_K": 300.0},
                      diatomics={"rstep": 0.05})
    assert "nve_energy_drift" in t.metrics and "diatomic_tortuosity" in t.metrics
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    cu.info.update({"system": "Cu", "group": "g", "energy": 0.0})
    import pandas as pd

    nve = t._run_nve(EMT(), cu, seed=0)
    di = t._run_diatomics(EMT(), AtomsDataset("x", [cu], "", "", "emt"))
    m = t.rescore(pd.DataFrame([nve] + di))
    assert m["nve_energy_drift"] < 1.0  # EMT conserves energy to well under 1 meV/atom/ps at 1 fs
    assert m["diatomic_force_flips"] >= 1 and m["diatomic_repulsion_spearman"] < -0.9


def test_diatomic_points_without_finite_values_are_left_out_and_counted():
    import pandas as pd

    from matscibench.families.potentials.task import PotentialTask

    r = np.arange(0.6, 6.0, 0.01)
    e, f = _morse(r)
    e_bad, f_bad = e.copy(), f.copy()
    far = r > 5.0
    e_bad[far], f_bad[far] = np.nan, np.nan  # a model with nothing to say beyond its cutoff
    assert PM.diatomic_curve_metrics(r, e_bad, f_bad)["diatomic_force_flips"] == 1
    t = PotentialTask("t", "emt_metals", diatomics=True)
    row = {"kind": "diatomic", "id": "d", "n_atoms": 2, "dimer_r": r.tolist(), "dimer_e": e_bad.tolist(),
           "dimer_f": f_bad.tolist()}
    m = t.rescore(pd.DataFrame([row]))
    assert m["diatomic_nonfinite_fraction"] == pytest.approx(far.mean())
    assert m["diatomic_repulsion_spearman"] == pytest.approx(-1.0)
