"""Phonon metrics and the harmonic formulas behind them: pure numpy.

Every curve here is a phonon density of states g(ν) sampled on a fixed frequency grid ν (THz,
ordinary frequency, not angular). Definitions:

* DOS error as Chen et al., "Direct prediction of phonon density of states with Euclidean
  neural networks", Adv. Sci. 8, 2004214 (2021) score it (``dos_mse``): each curve clipped at zero
  and divided by its maximum (``max_normalize_dos``), then the mean over grid points and curves of
  the squared difference (unitless). Their model ends in ``output.div(maxima)`` and trains and
  reports ``torch.nn.MSELoss`` on those curves (phdos_train.ipynb of zhantaochen/phonondos_e3nn @
  9575e218, cells 12 and 20).
* Unit-area DOS: clipped at zero and scaled to unit area on the grid (trapezoidal rule), so
  ``∫ g dν = 1`` and g is in 1/THz; ``dos_mse_area`` (1/THz²) and ``dos_mae_area`` (1/THz) are
  means over grid points of these curves, a variant of Chen et al.'s error with its own name.
  The curves the datasets store and the direct models train on have unit area.
* Chen et al.'s DOS processing (``chen2021_dos``): a DOS on a fine grid (1 cm⁻¹) smoothed with
  ``scipy.signal.savgol_filter(window_length=101, polyorder=3)``, sampled on 51 points from 0 to
  1,000 cm⁻¹ (steps of 20 cm⁻¹) and divided by its maximum (phdos_train.ipynb, cell 6: "phdos:
  Low resolution phonon DoS interpolated from phdos_gt with scipy.signal.savgol_filter
  (window_length=101 and polyorder=3)", ω ∈ [0, 1000] cm⁻¹, Δω = 20 cm⁻¹). The potential route of
  ``chen2021_phonon_dos`` turns a model's phonopy frequencies into a DOS this way.
* Spectral overlap: ``1 - ½ ∫ |g_pred - g_ref| dν`` on unit-area curves: 1 for identical
  spectra, 0 for disjoint ones (one minus the total-variation distance of the two spectra seen as
  distributions).
* Average frequency ``⟨ν⟩ = ∫ ν g dν / ∫ g dν``; maximum frequency: the frequency below which
  ``MAX_FREQ_QUANTILE`` (99 %) of the modes lie (cumulative DOS, linear interpolation) -- robust
  to the small tails a regression model leaves at high frequency, unlike a threshold. The one
  convention of the package: the potentials task's phonon check uses the same definitions
  (``sim.phonopy.potential_check_phonons``). The DOS conventions (broadening, unit area, maximum
  frequency, imaginary branches) live in ``sim.phonon_dos``, used here and there.
* Harmonic thermodynamics per atom from a DOS with 3 modes per atom (x = hν / k_B T):
  ``C_V = R ∫ g x² eˣ / (eˣ - 1)² dν`` (J/(K·mol), per mole of atoms; 3R at high T),
  ``S = R ∫ g [x / (eˣ - 1) - ln(1 - e⁻ˣ)] dν`` (J/(K·mol)),
  ``F = k_B T ∫ g [x / 2 + ln(1 - e⁻ˣ)] dν`` (meV/atom, zero-point energy included);
  integrals by the trapezoidal rule over grid points with ν > 0, with g rescaled so that the same
  rule gives 3 modes per atom (Maradudin, Montroll, Weiss & Ipatova, Theory of Lattice Dynamics in
  the Harmonic Approximation (1971); the formulas phonopy uses on its q-mesh, Togo & Tanaka, Scr.
  Mater. 108, 1 (2015)).
* Debye temperature from the second moment of the DOS, ``θ_D = (h / k_B) √(5/3 ⟨ν²⟩)`` (Grimvall,
  Thermophysical Properties of Materials, Elsevier 1999, ch. 7: θ_D(n) = (h/k_B)[(n+3)/3 ⟨νⁿ⟩]^{1/n}
  with n = 2); it returns the cut-off of a Debye DOS exactly and weights the whole spectrum.
  Heat capacity and entropy are per mole of atoms (3R at high T), the free energy per atom.
* Band-structure error: mean absolute difference (THz) of the frequencies along the high-symmetry
  path, branch by branch (branches sorted by frequency at each q-point).
* Imaginary modes: phonopy reports an imaginary frequency iν as -ν. A branch is imaginary when its
  lowest frequency over the q-points is below ``-IMAGINARY_TOL_THZ``; the reference structures
  have none, so every imaginary branch of a model is spurious.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from matscibench.metrics import MetricInfo, register_metric
from matscibench.sim.phonon_dos import (
    IMAGINARY_TOL_THZ,
    MAX_FREQ_QUANTILE,
    check_grid,
    imaginary_branches,
    maximum_frequency,
    normalize_dos,
    smeared_dos,
    trapezoid_weights,
)

__all__ = [
    "H_OVER_KB_K_PER_THZ",
    "R_J_PER_K_MOL",
    "KB_MEV_PER_K",
    "MAX_FREQ_QUANTILE",
    "IMAGINARY_TOL_THZ",
    "THERMAL_TEMPERATURES_K",
    "trapezoid_weights",
    "normalize_dos",
    "max_normalize_dos",
    "chen2021_dos",
    "CHEN2021_GRID_CM1",
    "dos_mse_area",
    "dos_mae_area",
    "smeared_dos",
    "dos_mse",
    "spectral_overlap",
    "average_frequency",
    "maximum_frequency",
    "debye_temperature",
    "thermal_properties",
    "relative_error_percent",
    "band_mae",
    "imaginary_branches",
    "PHONON_METRIC_INFO",
]

#: h / k_B in K per THz (CODATA 2018 exact constants: 6.62607015e-34 / 1.380649e-23 * 1e12)
H_OVER_KB_K_PER_THZ = 6.62607015e-34 / 1.380649e-23 * 1e12
#: molar gas constant N_A k_B, J/(K mol)
R_J_PER_K_MOL = 6.02214076e23 * 1.380649e-23
#: k_B in meV/K
KB_MEV_PER_K = 1.380649e-23 / 1.602176634e-19 * 1e3
#: temperatures of the scored thermal properties (K)
THERMAL_TEMPERATURES_K = (100.0, 300.0, 600.0)
#: Chen et al.'s DOS grid: 0 to 1,000 cm⁻¹ in 51 points
CHEN2021_GRID_CM1 = np.linspace(0.0, 1000.0, 51)
#: 1 THz in cm⁻¹
_CM1_PER_THZ = 1e12 / 2.99792458e10


def max_normalize_dos(dos: ArrayLike) -> np.ndarray:
    """Clip at zero and divide each curve (last axis) by its maximum (Chen et al.'s normalisation);
    an all-zero curve stays zero."""
    g = np.clip(np.asarray(dos, dtype=float), 0.0, None)
    top = g.max(axis=-1, keepdims=True)
    return g / np.where(top > 0, top, 1.0)


def chen2021_dos(frequencies: ArrayLike, weights: ArrayLike | None, grid: ArrayLike | None = None,
                 sigma_cm1: float = 2.0) -> np.ndarray:
    """A DOS processed as Chen et al. (2021) processed their reference DOS.

    Mode frequencies (THz; ``frequencies`` (n_q, n_branches), q-point ``weights``) are broadened by
    Gaussians of ``sigma_cm1`` on a 1 cm⁻¹ grid, smoothed with ``savgol_filter(·, 101, 3)``,
    interpolated onto ``grid`` (THz; default their 51 points from 0 to 1,000 cm⁻¹) and divided by
    the maximum. Returns the curve on ``grid``.
    """
    from scipy.signal import savgol_filter

    grid_thz = CHEN2021_GRID_CM1 / _CM1_PER_THZ if grid is None else check_grid(grid)
    f = np.asarray(frequencies, dtype=float)
    top = max(float(np.nanmax(f)) * _CM1_PER_THZ, float(grid_thz[-1]) * _CM1_PER_THZ) + 200.0
    fine = np.arange(0.0, top + 1.0, 1.0)  # cm⁻¹
    g = smeared_dos(f * _CM1_PER_THZ, weights, fine, sigma_cm1)
    g = savgol_filter(g, window_length=101, polyorder=3)
    return max_normalize_dos(np.interp(grid_thz * _CM1_PER_THZ, fine, g))


def _pair(freqs: ArrayLike, ref: ArrayLike, pred: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = check_grid(freqs)
    r = np.atleast_2d(np.asarray(ref, dtype=float))
    p = np.atleast_2d(np.asarray(pred, dtype=float))
    if r.shape != p.shape or r.shape[-1] != f.size:
        raise ValueError(f"DOS shapes {r.shape} and {p.shape} do not match a grid of {f.size} points")
    return f, normalize_dos(f, r), normalize_dos(f, p)


def dos_mse(freqs: ArrayLike, ref: ArrayLike, pred: ArrayLike) -> float:
    """Chen et al.'s DOS error (unitless): mean squared difference of max-normalised curves, over
    grid points and curves."""
    f, _, _ = _pair(freqs, ref, pred)
    r = max_normalize_dos(np.atleast_2d(ref))
    p = max_normalize_dos(np.atleast_2d(pred))
    return float(np.mean((r - p) ** 2))


def dos_mse_area(freqs: ArrayLike, ref: ArrayLike, pred: ArrayLike) -> float:
    """Mean squared error (1/THz²) of the unit-area DOS, over grid points and curves."""
    _, r, p = _pair(freqs, ref, pred)
    return float(np.mean((r - p) ** 2))


def dos_mae_area(freqs: ArrayLike, ref: ArrayLike, pred: ArrayLike) -> float:
    """Mean absolute error (1/THz) of the unit-area DOS, over grid points and curves."""
    _, r, p = _pair(freqs, ref, pred)
    return float(np.mean(np.abs(r - p)))


def spectral_overlap(freqs: ArrayLike, ref: ArrayLike, pred: ArrayLike) -> np.ndarray | float:
    """``1 - ½∫|g_pred - g_ref| dν`` of unit-area curves (per curve for 2-D input)."""
    f, r, p = _pair(freqs, ref, pred)
    ov = 1.0 - 0.5 * (np.abs(r - p) @ trapezoid_weights(f))
    return float(ov[0]) if np.ndim(ref) == 1 else ov


def _moments(freqs: ArrayLike, dos: ArrayLike, power: float) -> np.ndarray:
    f = check_grid(freqs)
    g = normalize_dos(f, np.atleast_2d(dos))
    return g @ (trapezoid_weights(f) * f**power)


def average_frequency(freqs: ArrayLike, dos: ArrayLike) -> np.ndarray | float:
    """⟨ν⟩ (THz) of the DOS (per curve for 2-D input)."""
    out = _moments(freqs, dos, 1.0)
    return float(out[0]) if np.ndim(dos) == 1 else out


def debye_temperature(freqs: ArrayLike, dos: ArrayLike) -> np.ndarray | float:
    """θ_D = (h/k_B) √(5/3 ⟨ν²⟩) in K (Grimvall's second-moment Debye temperature)."""
    m2 = _moments(freqs, dos, 2.0)
    out = H_OVER_KB_K_PER_THZ * np.sqrt(5.0 / 3.0 * np.clip(m2, 0.0, None))
    return float(out[0]) if np.ndim(dos) == 1 else out


def thermal_properties(freqs: ArrayLike, dos: ArrayLike, temperatures: Sequence[float]) -> dict[str, np.ndarray]:
    """Harmonic C_V and S (J/(K·mol), per mole of atoms) and F (meV/atom) at ``temperatures`` (K).

    ``dos`` (one curve or (n, n_grid)) is rescaled to 3 modes per atom; returns arrays of shape
    (n, n_T) (or (n_T,) for one curve) under ``"cv"``, ``"entropy"``, ``"free_energy"``.
    """
    f = check_grid(freqs)
    T = np.asarray(temperatures, dtype=float)
    if np.any(T <= 0):
        raise ValueError("temperatures must be positive (K)")
    g = np.clip(np.atleast_2d(np.asarray(dos, dtype=float)), 0.0, None)
    pos = f > 0
    w = trapezoid_weights(f) * pos
    area = g @ w
    g = 3.0 * g / np.where(area > 0, area, 1.0)[:, None]
    fp = np.where(pos, f, 1.0)
    x = H_OVER_KB_K_PER_THZ * fp[None, :] / T[:, None]  # (n_T, n_grid)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        em = np.exp(-x)  # e^{-x}, stable for large x
        cv_k = np.where(x < 700, x * x * em / (1.0 - em) ** 2, 0.0)
        s_k = np.where(x < 700, x * em / (1.0 - em) - np.log1p(-em), 0.0)
        f_k = x / 2.0 + np.log1p(-em)
    cv_k, s_k, f_k = (np.nan_to_num(a) * w[None, :] for a in (cv_k, s_k, f_k))
    out = {
        "cv": R_J_PER_K_MOL * g @ cv_k.T,
        "entropy": R_J_PER_K_MOL * g @ s_k.T,
        "free_energy": KB_MEV_PER_K * T[None, :] * (g @ f_k.T),
    }
    if np.ndim(dos) == 1:
        out = {k: v[0] for k, v in out.items()}
    return out


def relative_error_percent(ref: ArrayLike, pred: ArrayLike) -> np.ndarray:
    r = np.asarray(ref, dtype=float)
    p = np.asarray(pred, dtype=float)
    return 100.0 * np.abs(p - r) / np.abs(r)


def band_mae(ref: ArrayLike, pred: ArrayLike) -> float:
    """Mean |ν_pred - ν_ref| (THz) over q-points and branches of one band structure (n_q, n_branches)."""
    r = np.asarray(ref, dtype=float)
    p = np.asarray(pred, dtype=float)
    if r.shape != p.shape:
        raise ValueError(f"band structures of shapes {r.shape} and {p.shape} cannot be compared")
    return float(np.mean(np.abs(np.sort(p, axis=-1) - np.sort(r, axis=-1))))


_POS = (0.0, float("inf"))
_CHEN = "Chen et al., Adv. Sci. 8, 2004214 (2021)"
_CHEN_DEF = ("torch.nn.MSELoss between network output and reference, both divided by their maximum "
             "(output.div(maxima)), mean over the 51 points 0-1000 cm⁻¹ and over structures "
             "(zhantaochen/phonondos_e3nn @ 9575e218, phdos_train.ipynb cells 12 and 20)")


def _info(name: str, label: str, hib: bool, unit: str | None, bounds: tuple[float, float], definition: str,
          paper: str = "", paper_definition: str = "", same: bool | None = None) -> MetricInfo:
    return MetricInfo(name, label, hib, unit, bounds, family="phonons", definition=definition, paper=paper,
                      paper_definition=paper_definition, same_as_paper=same)


def _cv_info(t: int) -> MetricInfo:
    return _info(f"cv_error_{t}K", f"C_V({t} K) per mole of atoms, relative error", False, "%", _POS,
                 f"mean over test structures of 100·|C_V,pred - C_V,ref| / C_V,ref at {t} K, harmonic C_V per mole of "
                 "atoms (J/(K·mol atoms), 3R at high T) from each DOS (trapezoid over ν > 0)")


PHONON_METRIC_INFO = (
    _info("dos_mse", "DOS MSE (max-normalised, Chen et al.)", False, None, _POS,
          "each DOS clipped at 0 and divided by its maximum; mean over grid points and test structures of the squared "
          "difference (unitless)", _CHEN, _CHEN_DEF, True),
    _info("dos_mse_area", "DOS MSE (unit area)", False, "THz⁻²", _POS,
          "each DOS clipped at 0 and scaled to unit area on the grid (THz); mean over grid points and test structures "
          "of the squared difference", _CHEN, _CHEN_DEF + "; ours normalises to unit area instead of the maximum", False),
    _info("dos_mae_area", "DOS MAE (unit area)", False, "THz⁻¹", _POS,
          "as dos_mse_area with absolute differences"),
    _info("dos_overlap", "DOS spectral overlap", True, None, (0.0, 1.0),
          "1 - ½∫|g_pred - g_ref| dν of unit-area curves (1 identical, 0 disjoint), mean over test structures"),
    _info("avg_freq_error", "average frequency error", False, "THz", _POS,
          "mean |⟨ν⟩_pred - ⟨ν⟩_ref|, ⟨ν⟩ = ∫ν g dν / ∫g dν"),
    _info("max_freq_error", "maximum frequency (99 % of modes) error", False, "THz", _POS,
          "mean |ν99_pred - ν99_ref|, ν99 the frequency below which 99 % of the modes lie (cumulative DOS)"),
    _info("band_mae", "band structure MAE", False, "THz", _POS,
          "mean |ν_pred - ν_ref| along the high-symmetry path, branches sorted at each q-point"),
    _cv_info(100),
    _cv_info(300),
    _cv_info(600),
    _info("entropy_error_300K", "S(300 K) per mole of atoms, error", False, "J/(K·mol atoms)", _POS,
          "mean |S_pred - S_ref| at 300 K, harmonic vibrational entropy per mole of atoms from each DOS"),
    _info("free_energy_error_300K", "F(300 K) error", False, "meV/atom", _POS,
          "mean |F_pred - F_ref| at 300 K, harmonic free energy per atom (zero-point energy included)"),
    _info("debye_temperature_error", "θ_D (second moment of the DOS) error", False, "K", _POS,
          "mean |θ_D,pred - θ_D,ref|, θ_D = (h/k_B)√(5/3 ⟨ν²⟩) (Grimvall's second-moment Debye temperature)"),
    _info("imaginary_branches", "spurious imaginary branches per structure", False, None, _POS,
          f"branches with a frequency below -{IMAGINARY_TOL_THZ} THz on the q-mesh or the path, mean per test "
          "structure (the references have none)"),
    _info("unstable_fraction", "structures with spurious imaginary modes", False, "%", (0.0, 100.0),
          "share of test structures with at least one imaginary branch"),
)
for _info_ in PHONON_METRIC_INFO:
    register_metric(_info_)
