"""Pretrained potentials on DFT-relaxed cells (CDVAE's Perov-5 and Carbon-24): metrics by hand
and against scipy, the task end to end with a calculator that returns DFT's own energies."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from matscibench.errors import DatasetNotAvailable
from matscibench.families.potentials import metrics as PM
from matscibench.run.job import run_job
from matscibench.spec import JobSpec, ModelRef, TaskRef
from matscibench.families.registry import get_task


# ----------------------------------------------------------------------------- metrics
def test_residual_forces_by_hand():
    f = [np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]]), np.array([[0.0, 0.0, -1.0]])]
    rms, fmax = PM.residual_forces(f)
    assert rms == pytest.approx(np.sqrt((9 + 16 + 1) / 9) * 1e3)
    assert fmax == pytest.approx(5000.0)
    assert PM.residual_forces([np.zeros((4, 3))]) == (0.0, 0.0)


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = rng.integers(0, 6, 40).astype(float)  # many ties
        b = a + rng.normal(0, 2, 40)
        b[:5] = b[0]  # ties on the other side too
        assert PM.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    assert PM.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert PM.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(PM.spearman([1, 1, 1, 1], [1, 2, 3, 4]))
    assert PM.spearman([1, 2, np.nan, 3, 4], [1, 2, 5, 3, 4]) == pytest.approx(1.0)  # NaN pair dropped


def test_referenced_energies_remove_element_offsets():
    rng = np.random.default_rng(0)
    n_cells, n_el = 80, 6
    counts = rng.integers(0, 4, (n_cells, n_el)).astype(float)
    counts[:, 0] += 1  # no empty cell
    n = counts.sum(axis=1)
    y = rng.normal(0.5, 0.3, n_cells)  # "DFT" formation energies, eV/atom
    mu = rng.normal(-5.0, 2.0, n_el)  # the model's elemental energies
    e = n * y + counts @ mu
    ref = PM.referenced_energies(e, counts, y, n_folds=5, seed=1)
    assert np.isfinite(ref).all()
    np.testing.assert_allclose(ref, y, atol=1e-9)
    # the raw per-atom energies rank poorly: the offsets dominate
    assert PM.spearman(y, e / n) < 0.9
    # an element that only one held-out cell contains cannot be referenced: NaN, not a guess
    c2 = np.hstack([counts, np.zeros((n_cells, 1))])
    c2[7, -1] = 2
    out = PM.referenced_energies(e + 2 * 9.0 * (np.arange(n_cells) == 7), c2, y, n_folds=5, seed=1)
    assert np.isnan(out[7]) and np.isfinite(np.delete(out, 7)).all()


def test_referenced_energies_single_element_keep_the_ranking():
    rng = np.random.default_rng(1)
    n = rng.integers(6, 25, 50).astype(float)
    e = rng.normal(-9.0, 0.1, 50) * n
    y = rng.normal(-154.0, 0.1, 50)
    ref = PM.referenced_energies(e, n[:, None], y, n_folds=5, seed=0)
    # one constant per atom: the mean offset, so the mean error vanishes and the ranking is the raw one
    assert np.array_equal(np.argsort(ref), np.argsort(e / n))
    np.testing.assert_allclose(ref - e / n, np.mean(y - e / n))


# ----------------------------------------------------------------------------- the task
def _job(task, model, params=None, n_cells=12, model_params=None):
    params = {"n_cells": n_cells, **(params or {})}
    t = get_task(task, **params)
    spec = JobSpec("t", TaskRef(task, params), ModelRef(model, model, model_params or {}), 0, 0, t.dataset_checksum(), {})
    return t, run_job(spec)


@pytest.fixture(scope="module")
def cdvae(shared_data):
    if not (shared_data / "cdvae" / "perov_5" / "test.csv").is_file():
        pytest.skip(f"{shared_data}/cdvae/perov_5/test.csv is absent")
    return shared_data / "cdvae"


@pytest.mark.parametrize("task", ["dft_relaxed_perov5", "dft_relaxed_carbon24"])
def test_a_calculator_returning_dft_scores_perfectly(cdvae, task):
    # Perov-5 needs enough cells for every element to appear in the other reference folds
    n = 150 if task.endswith("perov5") else 12
    t, res = _job(task, "potential_stubs:DFTLookup", n_cells=n, model_params={"task": task, "n_cells": n})
    assert res.status == "ok", res.traceback
    m = res.metrics
    assert m["residual_force_rms"] == 0.0 and m["residual_force_max"] == 0.0
    assert m["residual_pressure"] == pytest.approx(0.0, abs=1e-9)
    assert m["energy_spearman"] == pytest.approx(1.0)
    assert m["relaxed_energy_mae"] == pytest.approx(0.0, abs=1e-6)
    p = res.predictions
    assert len(p) == n and res.info["n_test"] == n
    assert 0.8 * n <= res.info["n_referenced"] <= n
    y = p["energy_true_per_atom"].to_numpy(float)
    raw = p["energy_pred"].to_numpy(float) / p["n_atoms"].to_numpy(float)
    assert m["energy_spearman_raw"] == pytest.approx(stats.spearmanr(y, raw).statistic)
    if task.endswith("carbon24"):  # labels are enthalpies at 10 GPa: E alone ranks them differently
        assert t.enthalpy and t.pressure_GPa == 10.0
        assert np.ptp(p["n_atoms"]) > 0 and np.isnan(m["composition_baseline_spearman"])
    else:
        assert m["energy_spearman_raw"] == pytest.approx(1.0)
    again = t.rescore(p)
    for k, v in m.items():
        assert again[k] == pytest.approx(v, nan_ok=True), k


def test_per_element_offsets_are_referenced_away(cdvae):
    # O, N, F, S and a few metals shifted by several eV/atom: raw ranking breaks, referenced does not
    offsets = {"O": -4.9, "N": -8.3, "F": -1.9, "S": -4.1, "Ti": -7.8, "Ba": -1.9, "Sr": -1.6}
    t, res = _job("dft_relaxed_perov5", "potential_stubs:DFTLookup", n_cells=400,
                  model_params={"task": "dft_relaxed_perov5", "n_cells": 400, "offsets": offsets})
    assert res.status == "ok", res.traceback
    m = res.metrics
    assert m["energy_spearman_raw"] < 0.9
    assert m["energy_spearman"] == pytest.approx(1.0)
    assert m["relaxed_energy_mae"] == pytest.approx(0.0, abs=1e-6)
    # the composition-only baseline is a real, weaker ranking
    assert 0.0 < m["composition_baseline_spearman"] < 0.95


def test_not_applicable_models(cdvae):
    from matscibench.families.potentials.models.adapters import EMTReference
    from matscibench.families.potentials.models.linear_ace import LinearACEPotential

    t = get_task("dft_relaxed_perov5", n_cells=12)
    assert "not fitted" in t.incompatibility(LinearACEPotential())
    assert "no parameters for" in t.incompatibility(EMTReference())
    assert t.incompatibility(object()) is not None


def test_missing_data_names_the_folder_and_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("MATSCIBENCH_DATA", str(tmp_path / "nothing"))
    monkeypatch.setenv("MATSCIBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MATSCIBENCH_OFFLINE", "1")
    t = get_task("dft_relaxed_carbon24")
    assert not t.data_available()
    with pytest.raises(DatasetNotAvailable, match=r"cdvae/carbon_24.*MATSCIBENCH_DATA"):
        t.prepare()
