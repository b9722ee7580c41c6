"""Phonon metrics on hand-built DOS curves whose answers are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special

from matscibench.metrics import METRICS
from matscibench.families.phonons import metrics as PHM

GRID = np.round(np.arange(0.0, 20.0 + 1e-9, 0.005), 6)  # THz


def gaussian(center: float, sigma: float, grid: np.ndarray = GRID) -> np.ndarray:
    return np.exp(-0.5 * ((grid - center) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def debye_dos(nu_d: float, grid: np.ndarray = GRID) -> np.ndarray:
    return np.where(grid <= nu_d, grid**2, 0.0)


def debye_cv(T: float, theta: float) -> float:
    """Debye model C_V per mole of atoms: 9R (T/θ)³ ∫₀^{θ/T} x⁴eˣ/(eˣ-1)² dx."""
    val, _ = integrate.quad(lambda x: x**4 * math.exp(x) / math.expm1(x) ** 2, 1e-12, theta / T)
    return 9 * PHM.R_J_PER_K_MOL * (T / theta) ** 3 * val


def test_debye_dos_gives_debye_heat_capacity_and_temperature():
    nu_d = 6.0  # THz
    theta = PHM.H_OVER_KB_K_PER_THZ * nu_d  # ≈ 288 K
    g = debye_dos(nu_d)
    th = PHM.thermal_properties(GRID, g, [30.0, 100.0, 300.0, 600.0])
    for T, cv in zip([30.0, 100.0, 300.0, 600.0], th["cv"]):
        assert cv == pytest.approx(debye_cv(T, theta), rel=2e-3), T
    # the second-moment Debye temperature returns the cut-off of a Debye spectrum
    assert PHM.debye_temperature(GRID, g) == pytest.approx(theta, rel=1e-3)
    # ⟨ν⟩ of g ∝ ν² on [0, ν_D] is 3/4 ν_D
    assert PHM.average_frequency(GRID, g) == pytest.approx(0.75 * nu_d, rel=1e-3)


def test_high_temperature_limits_and_einstein_mode():
    nu_e = 5.0
    g = gaussian(nu_e, 0.01)
    th = PHM.thermal_properties(GRID, g, [100.0, 300.0, 5000.0])
    assert th["cv"][-1] == pytest.approx(3 * PHM.R_J_PER_K_MOL, rel=1e-3)  # Dulong-Petit
    for j, T in enumerate([100.0, 300.0]):
        x = PHM.H_OVER_KB_K_PER_THZ * nu_e / T
        cv = 3 * PHM.R_J_PER_K_MOL * x**2 * math.exp(x) / math.expm1(x) ** 2
        s = 3 * PHM.R_J_PER_K_MOL * (x / math.expm1(x) - math.log(-math.expm1(-x)))
        f = 3 * PHM.KB_MEV_PER_K * T * (x / 2 + math.log(-math.expm1(-x)))
        assert th["cv"][j] == pytest.approx(cv, rel=1e-3)
        assert th["entropy"][j] == pytest.approx(s, rel=1e-3)
        assert th["free_energy"][j] == pytest.approx(f, rel=1e-3)
    # zero-point energy: 3/2 h ν per atom, in meV (h = 4.135667696 meV/THz)
    f_cold = PHM.thermal_properties(GRID, g, [1.0])["free_energy"][0]
    assert f_cold == pytest.approx(1.5 * 4.135667696 * nu_e, rel=1e-3)


def test_shifted_gaussians_have_the_known_overlap():
    sigma, delta = 0.5, 0.7
    a, b = gaussian(8.0, sigma), gaussian(8.0 + delta, sigma)
    expected = 1.0 - special.erf(delta / (2 * math.sqrt(2) * sigma))
    assert PHM.spectral_overlap(GRID, a, b) == pytest.approx(expected, abs=2e-5)  # trapezoid on a 0.005 THz grid
    assert PHM.spectral_overlap(GRID, a, a) == pytest.approx(1.0)
    assert PHM.spectral_overlap(GRID, a, gaussian(2.0, 0.1)) == pytest.approx(0.0, abs=1e-9)
    # the errors see the curves after normalisation: scaling a prediction changes nothing
    assert PHM.dos_mse(GRID, a, 7.3 * a) == pytest.approx(0.0, abs=1e-20)
    assert PHM.dos_mse_area(GRID, a, 7.3 * a) == pytest.approx(0.0, abs=1e-20)
    assert PHM.dos_mae_area(GRID, a, b) == pytest.approx(np.mean(np.abs(a - b)), rel=1e-6)
    assert PHM.dos_mse_area(GRID, a, b) == pytest.approx(np.mean((a - b) ** 2), rel=1e-6)
    # average frequencies move with the shift; the 99 % frequency of a box [2, 6] THz is 5.96
    assert PHM.average_frequency(GRID, b) - PHM.average_frequency(GRID, a) == pytest.approx(delta, rel=1e-6)
    box = ((GRID >= 2.0) & (GRID <= 6.0)).astype(float)
    assert PHM.maximum_frequency(GRID, box) == pytest.approx(2.0 + 0.99 * 4.0, abs=0.01)


def test_row_wise_forms_match_single_curves():
    R = np.stack([gaussian(4, 0.4), gaussian(7, 0.6)])
    P = np.stack([gaussian(4.2, 0.4), gaussian(6.5, 0.5)])
    ov = PHM.spectral_overlap(GRID, R, P)
    assert ov.shape == (2,)
    assert ov[1] == pytest.approx(PHM.spectral_overlap(GRID, R[1], P[1]))
    th = PHM.thermal_properties(GRID, R, [300.0])
    assert th["cv"].shape == (2, 1)


def test_smeared_dos_is_unit_area_and_weighted():
    freqs = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    g = PHM.smeared_dos(freqs, [1.0, 3.0], GRID, 0.1)
    assert np.trapezoid(g, GRID) == pytest.approx(1.0, rel=1e-6)
    # three quarters of the weight on the second q-point
    assert np.trapezoid(g[GRID > 3.5], GRID[GRID > 3.5]) == pytest.approx(0.75, rel=1e-3)


def test_imaginary_branches_and_band_error():
    bands = np.array([[0.0, 1.0, 2.0], [-0.5, 1.5, 2.5], [-0.01, 2.0, 3.0]])
    assert PHM.imaginary_branches(bands) == 1  # only the lowest branch dips below -0.05 THz
    assert PHM.imaginary_branches(np.abs(bands)) == 0
    assert PHM.band_mae(np.abs(bands), np.abs(bands) + 0.2) == pytest.approx(0.2)


def test_dos_mse_is_chen_et_als_max_normalised_mse():
    """Chen et al. divide network output and reference by their maxima and take torch.nn.MSELoss
    (mean over the 51 grid points), averaged over structures (zhantaochen/phonondos_e3nn @
    9575e218, phdos_train.ipynb cells 12 and 20: ``output.div(maxima.unsqueeze(1))``, ``MSELoss``).
    Hand-worked: reference (0, 1, 0.5) and prediction (0, 2, 2) -> (0, 1, 1): MSE 0.25/3."""
    f = np.array([0.0, 1.0, 2.0])
    assert PHM.dos_mse(f, [0.0, 1.0, 0.5], [0.0, 2.0, 2.0]) == pytest.approx(0.25 / 3)
    R = np.stack([gaussian(4, 0.4), gaussian(7, 0.6)])
    P = np.stack([3.0 * gaussian(4.3, 0.5), gaussian(6.5, 0.5)])
    torch = pytest.importorskip("torch")
    r, p = torch.tensor(R), torch.tensor(P)
    ref = torch.nn.MSELoss()(p / p.max(dim=1).values[:, None], r / r.max(dim=1).values[:, None]).item()
    assert PHM.dos_mse(GRID, R, P) == pytest.approx(ref, rel=1e-12)
    # the unit-area variant is another number, in 1/THz²
    assert PHM.dos_mse_area(GRID, R, P) != pytest.approx(PHM.dos_mse(GRID, R, P), rel=0.1)
    assert PHM.max_normalize_dos(np.array([[0.0, -1.0, 4.0], [0.0, 0.0, 0.0]])).tolist() == [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]


def test_chen2021_dos_follows_their_processing():
    """Chen et al.'s reference DOS: a fine (~1 cm⁻¹) DOS smoothed with
    ``scipy.signal.savgol_filter(window_length=101, polyorder=3)`` and sampled on 51 points
    0-1000 cm⁻¹, divided by its maximum (phdos_train.ipynb cell 6 of zhantaochen/phonondos_e3nn @
    9575e218). Recomputed here with scipy directly from the same modes, and checked on a case with
    a known answer: one broad band centred at 400 cm⁻¹ peaks at the grid point 400 cm⁻¹ with 1."""
    from scipy.signal import savgol_filter

    cm1 = 1e12 / 2.99792458e10
    # THz: one symmetric band around 400 cm⁻¹ (normal quantiles, σ = 60 cm⁻¹)
    modes = (400.0 + 60.0 * special.ndtri((np.arange(600) + 0.5) / 600)).reshape(200, 3) / cm1
    g = PHM.chen2021_dos(modes, None)
    assert g.shape == (51,) and g.max() == pytest.approx(1.0) and g.min() >= 0.0
    fine = np.arange(0.0, float(modes.max()) * cm1 + 201.0, 1.0)
    dense = PHM.smeared_dos(modes * cm1, None, fine, 2.0)
    ref = np.interp(np.linspace(0, 1000, 51), fine, savgol_filter(dense, 101, 3))
    ref = np.clip(ref, 0, None) / np.clip(ref, 0, None).max()
    np.testing.assert_allclose(g, ref, atol=1e-12)
    assert int(np.argmax(g)) == 20  # 400 cm⁻¹ = grid point 20 of 0, 20, ..., 1000
    # the smoothing keeps a band many times wider than its window; a narrow one is flattened
    narrow = PHM.chen2021_dos(np.full((10, 3), 400.0 / cm1), None)
    assert narrow[19] > 0.5 and narrow[21] > 0.5  # spread over ±20 cm⁻¹ by the 101-point window


def test_metrics_are_registered_with_units():
    assert METRICS["dos_mse"].unit is None and METRICS["dos_mse"].same_as_paper is True
    assert METRICS["dos_mse_area"].same_as_paper is False
    assert "mole of atoms" in METRICS["cv_error_300K"].label and "second moment" in METRICS["debye_temperature_error"].label
    assert METRICS["entropy_error_300K"].unit == "J/(K·mol atoms)"
    units = {"dos_mse_area": "THz⁻²", "dos_mae_area": "THz⁻¹", "avg_freq_error": "THz", "max_freq_error": "THz", "band_mae": "THz",
             "cv_error_300K": "%", "debye_temperature_error": "K", "free_energy_error_300K": "meV/atom"}
    for name, unit in units.items():
        assert METRICS[name].unit == unit
    assert METRICS["dos_overlap"].higher_is_better and not METRICS["dos_mse"].higher_is_better
