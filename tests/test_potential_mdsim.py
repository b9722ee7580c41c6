"""MD stability after Fu et al. ("Forces are not enough", MDsim): the criterion, h(r) and a run.

Reference code: kyonofx/MDsim commit 61ca2cfba373fd374343592556789fa30fbe3b56, observable.ipynb
(``load_run``, ``get_hr``, ``mae``) and configs/simulate/*.yml (NoseHoover, ttime 20, 0.5 fs,
500 K, 600,000 steps, a frame every 100 steps). Its loops are re-typed here as the checks.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from matscibench.families.potentials import metrics as PM


def _mdsim_collapse(traj, bonds, mean_bond_lens, threshold=0.5):
    """MDsim's load_run loop (numpy for torch): collapse_pt over the recorded frames."""
    collapse_pt = len(traj)
    for i in range(1, len(traj)):
        lens = np.linalg.norm(traj[(i - 1):i, bonds[0]] - traj[(i - 1):i, bonds[1]], axis=-1)
        if np.abs(lens[0] - mean_bond_lens).max() > threshold:
            collapse_pt = i
            break
    return collapse_pt


def test_collapse_point_matches_mdsim_loop_and_hand_worked():
    # a dimer whose bond (reference mean 1.0 Å) stretches by 0.2 Å a frame: frame 3 is 1.6 Å (> 0.5 off)
    traj = np.array([[[0, 0, 0], [1.0 + 0.2 * k, 0, 0]] for k in range(6)], float)
    pairs = np.array([[0, 1]])
    cp = PM.mdsim_collapse_point(traj, pairs, [1.0])
    assert cp == 4  # first bad frame 3 -> collapse_pt 4 -> stable (4 - 1) x 0.05 ps = 0.15 ps
    assert cp == _mdsim_collapse(traj, (np.array([0]), np.array([1])), np.array([1.0]))
    # never off by more than 0.5 Å: every frame counts
    calm = traj.copy()
    calm[:, 1, 0] = 1.0 + 0.1 * np.sin(np.arange(6))
    assert PM.mdsim_collapse_point(calm, pairs, [1.0]) == 6
    rng = np.random.default_rng(0)
    for _ in range(20):
        t = rng.normal(scale=0.4, size=(12, 4, 3)) + np.arange(4)[None, :, None] * 1.2
        p = np.array([[0, 1], [1, 2], [2, 3]])
        ref = np.full(3, 1.2 * np.sqrt(3))
        assert PM.mdsim_collapse_point(t, p, ref) == _mdsim_collapse(t, (p[:, 0], p[:, 1]), ref)


def test_distance_histogram_and_hr_error_as_mdsim_computes_them():
    """get_hr: np.histogram(torch.cdist(traj, traj).flatten(), bins, density=True) with bins
    linspace(1e-6, 10, 501); hr_error = mean |Δh| × 10."""
    rng = np.random.default_rng(1)
    traj = rng.normal(scale=1.5, size=(7, 5, 3))
    d_all = np.linalg.norm(traj[:, :, None] - traj[:, None, :], axis=-1).ravel()  # cdist incl. self and both orders
    ref_hist, _ = np.histogram(d_all, PM.MDSIM_HR_BINS, density=True)
    np.testing.assert_allclose(PM.distance_histogram(traj), ref_hist, rtol=1e-12)
    h2 = ref_hist * 0.5
    assert PM.hr_error(ref_hist, h2) == pytest.approx(np.mean(np.abs(ref_hist - h2)) * 10.0)
    # two point masses a bin apart: ∫|Δh| dr = 2 (hand-worked), which the mean x range reproduces
    width = PM.MDSIM_HR_BINS[1] - PM.MDSIM_HR_BINS[0]
    a = np.zeros(500)
    a[100] = 1 / width
    b = np.zeros(500)
    b[101] = 1 / width
    assert PM.hr_error(a, b) == pytest.approx(2.0 * 10.0 / (500 * width), rel=1e-6)


def test_t_confidence_interval():
    from scipy import stats

    v = [10.0, 12.0, 15.0, 9.0, 14.0]
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert PM.t_ci95_halfwidth(v) == pytest.approx((hi - lo) / 2)
    assert np.isnan(PM.t_ci95_halfwidth([3.0]))


class _Springs(Calculator):
    """Harmonic springs to fixed bond lengths (stable), or a push apart (``push`` eV/Å, unstable)."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, pairs, lengths, k=20.0, push=0.0, **kw):
        super().__init__(**kw)
        self.pairs, self.lengths, self.k, self.push = pairs, lengths, k, push

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        x = self.atoms.positions
        f = np.zeros_like(x)
        e = 0.0
        for (i, j), r0 in zip(self.pairs, self.lengths):
            d = x[j] - x[i]
            r = np.linalg.norm(d)
            e += 0.5 * self.k * (r - r0) ** 2
            g = self.k * (r - r0) * d / r
            f[i] += g
            f[j] -= g
        f += self.push * (x - x.mean(axis=0)) / np.maximum(np.linalg.norm(x - x.mean(axis=0), axis=1, keepdims=True), 1e-9)
        self.results = {"energy": e, "forces": f}


def test_mdsim_run_stable_and_collapsing():
    from matscibench.families.potentials.task import PotentialTask

    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    pairs = PM.bond_pairs(water)
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (0, 2)]
    lengths = PM.bond_lengths(water.positions, pairs)[0]
    frames = []
    rng = np.random.default_rng(2)
    for _ in range(20):
        f = water.copy()
        f.positions += rng.normal(scale=0.02, size=(3, 3))
        f.info.update({"system": "water", "group": "g", "energy": 0.0})
        frames.append(f)
    md = {"protocol": "mdsim", "temperature_K": 300.0, "timestep_fs": 0.5, "steps": 400, "seeds": 3, "save_every": 20}
    t = PotentialTask("t", "xtb_md17_ethanol", md=md)
    assert "md_stable_time" in t.metrics and "hr_error" in t.metrics and "md_screen_stable_time" not in t.metrics
    # springs on both O-H bonds and across H-H (keeps the angle): a stable model
    all_pairs = np.array([[0, 1], [0, 2], [1, 2]])
    rows, costs = t._run_mdsim(_Springs(all_pairs, PM.bond_lengths(water.positions, all_pairs)[0]), frames, frames, seed=0)
    import pandas as pd

    m = t._md_metrics(pd.DataFrame(rows))
    assert m["md_n_seeds"] == 3 and m["md_stable_fraction"] == 1.0
    assert m["md_stable_time"] == pytest.approx(400 * 0.5 / 1000)  # 0.2 ps, every seed
    assert m["md_stable_time_ci95"] == pytest.approx(0.0)
    assert m["hr_error"] < 0.5 and costs["md.atom_steps_per_s"] > 0
    stable_hr = m["hr_error"]
    rows, _ = t._run_mdsim(_Springs(pairs, lengths, k=0.0, push=3.0), frames, frames, seed=0)  # atoms pushed apart
    m = t._md_metrics(pd.DataFrame(rows))
    assert m["md_stable_fraction"] == 0.0 and m["md_stable_time"] < 0.2 and m["hr_error"] > stable_hr
    # the online stop agrees with MDsim's offline criterion on the recorded frames
    assert all(r["md_stable_ps"] == pytest.approx((r["hr_n_frames"] - 1) * 20 * 0.5 / 1000) for r in rows)
