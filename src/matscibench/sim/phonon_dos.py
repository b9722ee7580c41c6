"""The phonon DOS conventions every phonon number of the package uses: pure numpy.

A DOS g(ν) is sampled on a fixed frequency grid ν (THz, ordinary frequency, not angular):

* ``smeared_dos``: mode frequencies at weighted q-points broadened by unit-area Gaussians of width
  σ (THz) on the grid (the DOS the phonon datasets store and the potentials task's phonon check
  compares);
* ``normalize_dos``: clipped at zero and scaled to unit area on the grid (trapezoidal rule,
  ``trapezoid_weights``), so ``∫ g dν = 1`` and g is in 1/THz;
* ``maximum_frequency``: the frequency below which ``MAX_FREQ_QUANTILE`` (99 %) of the modes lie
  (cumulative DOS, linear interpolation) -- robust to the small tails a regression model leaves
  at high frequency, unlike a threshold;
* ``imaginary_branches``: phonopy reports an imaginary frequency iν as -ν; a branch is imaginary
  when its lowest frequency over the q-points is below ``-IMAGINARY_TOL_THZ``.

The phonons family's metrics (``families/phonons/metrics.py``) and the potentials task's phonon
check (``sim.phonopy.potential_check_phonons``) both use these, so the two agree by construction.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "MAX_FREQ_QUANTILE",
    "IMAGINARY_TOL_THZ",
    "check_grid",
    "trapezoid_weights",
    "normalize_dos",
    "smeared_dos",
    "maximum_frequency",
    "imaginary_branches",
]

#: share of the modes below the "maximum frequency"
MAX_FREQ_QUANTILE = 0.99
#: frequencies below -IMAGINARY_TOL_THZ count as imaginary (THz)
IMAGINARY_TOL_THZ = 0.05


def check_grid(freqs: ArrayLike) -> np.ndarray:
    """The grid (THz) as a float array; ``ValueError`` unless strictly increasing, 1-D, >= 2 points."""
    f = np.asarray(freqs, dtype=float)
    if f.ndim != 1 or f.size < 2 or not np.all(np.diff(f) > 0):
        raise ValueError("the frequency grid must be a strictly increasing 1-D array of at least 2 points (THz)")
    return f


def trapezoid_weights(freqs: ArrayLike) -> np.ndarray:
    """Weights w with ``sum(w * g) == trapezoid(g, freqs)``."""
    f = check_grid(freqs)
    d = np.diff(f)
    w = np.zeros_like(f)
    w[:-1] += d / 2
    w[1:] += d / 2
    return w


def normalize_dos(freqs: ArrayLike, dos: ArrayLike) -> np.ndarray:
    """Clip at zero and scale to unit area on the grid (last axis); an all-zero curve stays zero."""
    w = trapezoid_weights(freqs)
    g = np.clip(np.asarray(dos, dtype=float), 0.0, None)
    area = g @ w
    area = np.where(area > 0, area, 1.0)
    return g / np.asarray(area)[..., None] if g.ndim > 1 else g / float(area)


def smeared_dos(frequencies: ArrayLike, weights: ArrayLike | None, grid: ArrayLike, sigma: float) -> np.ndarray:
    """DOS on ``grid`` from mode frequencies (THz) at q-points with weights, Gaussian width ``sigma``.

    ``frequencies`` has shape (n_q, n_branches); ``weights`` (n_q,) are the q-point weights
    (None: equal). Each mode is a unit-area Gaussian; the result has unit area over the real line
    (not re-normalised on the grid: modes outside it are missing from it).
    """
    f = np.asarray(frequencies, dtype=float)
    if f.ndim == 1:
        f = f[None, :]
    w = np.ones(len(f)) if weights is None else np.asarray(weights, dtype=float)
    x = check_grid(grid)
    sigma = float(sigma)
    if sigma <= 0:
        raise ValueError("sigma must be positive (THz)")
    modes = f.ravel()
    mw = np.repeat(w, f.shape[1])
    keep = np.isfinite(modes)
    modes, mw = modes[keep], mw[keep]
    out = np.zeros_like(x)
    # chunk over modes to bound memory (grid x modes)
    step = max(1, 2_000_000 // max(1, len(x)))
    for a in range(0, len(modes), step):
        d = (x[:, None] - modes[None, a : a + step]) / sigma
        out += np.exp(-0.5 * d * d) @ mw[a : a + step]
    total = mw.sum()
    return out / (total * sigma * np.sqrt(2 * np.pi)) if total > 0 else out


def maximum_frequency(freqs: ArrayLike, dos: ArrayLike, quantile: float = MAX_FREQ_QUANTILE) -> np.ndarray | float:
    """Frequency (THz) below which ``quantile`` of the modes lie (per curve for 2-D input)."""
    f = check_grid(freqs)
    g = normalize_dos(f, np.atleast_2d(dos))
    # cumulative trapezoid
    seg = 0.5 * (g[:, 1:] + g[:, :-1]) * np.diff(f)
    cum = np.concatenate([np.zeros((len(g), 1)), np.cumsum(seg, axis=1)], axis=1)
    out = np.empty(len(g))
    for k in range(len(g)):
        c = cum[k]
        if c[-1] <= 0:
            out[k] = np.nan
            continue
        j = int(np.searchsorted(c, quantile * c[-1]))
        j = min(max(j, 1), len(f) - 1)
        c0, c1 = c[j - 1], c[j]
        t = 0.0 if c1 == c0 else (quantile * c[-1] - c0) / (c1 - c0)
        out[k] = f[j - 1] + t * (f[j] - f[j - 1])
    return float(out[0]) if np.ndim(dos) == 1 else out


def imaginary_branches(frequencies: ArrayLike, tol: float = IMAGINARY_TOL_THZ) -> int:
    """Number of branches whose lowest frequency over the q-points is below ``-tol`` THz."""
    f = np.atleast_2d(np.asarray(frequencies, dtype=float))
    if f.size == 0:
        return 0
    f = np.sort(f, axis=-1)
    return int(np.sum(np.nanmin(f, axis=0) < -float(tol)))
