"""Simulated powder diffraction: structures -> patterns on a fixed 2θ grid, with their labels.

Three layers, each usable alone:

1. ``compute_reflections(structure, wavelength, radiation)``: every reflection (hkl, 2θ in
   degrees, integrated intensity) of a crystal, computed as pymatgen's ``XRDCalculator`` (X-rays:
   its Cromer-Mann-type form factors, Lorentz-polarisation factor, Friedel pairs) or
   ``NDCalculator`` (neutrons: its scattering lengths, Lorentz factor only) computes them, with
   pymatgen's own tables and wavelengths. It is vectorised over reflections and atoms and skips
   what a profile does not need (hkl family labels, the per-peak Python loop), so it is faster
   than calling pymatgen (``benchmarks/bench_xrd_simulation.py``); ``tests/test_xrd_data.py``
   checks it against pymatgen peak for peak.
2. ``Instrument.render(reflections, grid, rng)``: the instrument and the sample, as seeded
   augmentations: pseudo-Voigt peaks whose FWHM follows Caglioti's law
   (FWHM² = U tan²θ + V tanθ + W, degrees²), a zero shift of the 2θ scale, a smooth background
   (Chebyshev polynomial, low-angle air scatter, an amorphous hump), March-Dollase preferred
   orientation about a random low-index direction, and Poisson counting noise; the pattern is
   scaled to a maximum of 1.
3. Datasets: ``xrd_pyxtal_structures`` (random symmetric crystals over all 230 space groups,
   generated offline with PyXtal, balanced over the seven crystal systems), the real Perov-5 and
   Carbon-24 structures of CDVAE, any folder of CIFs, all turned into patterns by
   ``XrdPatternSpec`` (cached as ``.npz``); measured patterns in ``.xy``/CSV files with a labels
   table through ``ExperimentalPatternsSpec``. Labels come from spglib: the space-group number,
   the crystal system and the lattice parameters of the conventional standard cell (Å, degrees).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matscibench.data.base import CachedTableSpec, DatasetSpec, ProgressFn
from matscibench.data.cache import file_lock, sha256_bytes, read_npz_cache, write_npz_cache
from matscibench.errors import DatasetError, DatasetNotAvailable
from matscibench.paths import cache_dir

__all__ = [
    "GENERATOR_VERSION",
    "PATTERN_VERSION",
    "CRYSTAL_SYSTEMS",
    "LATTICE_PARAMETERS",
    "LATTICE_UNITS",
    "crystal_system_of",
    "TwoThetaGrid",
    "DEFAULT_GRID",
    "Reflections",
    "compute_reflections",
    "Instrument",
    "CLEAN_INSTRUMENT",
    "DEFAULT_INSTRUMENT",
    "simulate_pattern",
    "structure_labels",
    "generate_pyxtal_structures",
    "PyxtalStructuresSpec",
    "CifFolderSpec",
    "XrdDataset",
    "XrdPatternSpec",
    "ExperimentalPatternsSpec",
    "read_pattern_file",
    "to_grid",
    "register_datasets",
]

#: version of the PyXtal structure generator (changes the structures' cache key)
GENERATOR_VERSION = 1
#: version of the reflection + instrument code (changes every pattern cache key)
PATTERN_VERSION = 1

CRYSTAL_SYSTEMS: tuple[str, ...] = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic")
#: first and last space-group number of each crystal system
_SG_RANGES = ((1, 2), (3, 15), (16, 74), (75, 142), (143, 167), (168, 194), (195, 230))
LATTICE_PARAMETERS: tuple[str, ...] = ("a", "b", "c", "alpha", "beta", "gamma")
LATTICE_UNITS: dict[str, str] = {"a": "Å", "b": "Å", "c": "Å", "alpha": "degrees", "beta": "degrees", "gamma": "degrees"}


def crystal_system_of(space_group: int) -> str:
    """The crystal system of an international space-group number (1-230)."""
    sg = int(space_group)
    for name, (lo, hi) in zip(CRYSTAL_SYSTEMS, _SG_RANGES):
        if lo <= sg <= hi:
            return name
    raise ValueError(f"space-group number must be 1-230, got {space_group}")


# ----------------------------------------------------------------------------------- the grid
@dataclass(frozen=True)
class TwoThetaGrid:
    """Equally spaced 2θ values (degrees), ``start`` and ``stop`` included."""

    start: float = 5.0
    stop: float = 85.0
    step: float = 0.1

    def __post_init__(self) -> None:
        if not (0.0 < self.start < self.stop < 180.0) or self.step <= 0:
            raise ValueError(f"2θ grid needs 0 < start < stop < 180 and step > 0, got {self}")

    @property
    def n(self) -> int:
        return int(round((self.stop - self.start) / self.step)) + 1

    def values(self) -> np.ndarray:
        return self.start + self.step * np.arange(self.n)

    def as_dict(self) -> dict[str, float]:
        return {"start": float(self.start), "stop": float(self.stop), "step": float(self.step)}

    @classmethod
    def of(cls, value: Any) -> TwoThetaGrid:
        if value is None:
            return DEFAULT_GRID
        if isinstance(value, TwoThetaGrid):
            return value
        if isinstance(value, dict):
            return cls(**value)
        return cls(*value)


#: the grid the XRD tasks define: 5-85° 2θ in 0.1° steps (801 points; Cu Kα: d from 17.7 to 1.13 Å)
DEFAULT_GRID = TwoThetaGrid(5.0, 85.0, 0.1)


# ------------------------------------------------------------------------------- reflections
def _wavelength(wavelength: float | str) -> float:
    if isinstance(wavelength, str):
        from pymatgen.analysis.diffraction.xrd import WAVELENGTHS

        try:
            return float(WAVELENGTHS[wavelength])
        except KeyError:
            raise ValueError(f"unknown radiation {wavelength!r}; known: {', '.join(WAVELENGTHS)} or a float (Å)") from None
    w = float(wavelength)
    if not w > 0:
        raise ValueError(f"wavelength must be positive (Å), got {wavelength}")
    return w


_TABLES: dict[str, dict[str, Any]] = {}


def _table(radiation: str) -> dict[str, Any]:
    if radiation not in _TABLES:
        if radiation == "xray":
            from pymatgen.analysis.diffraction.xrd import ATOMIC_SCATTERING_PARAMS as table
        elif radiation == "neutron":
            from pymatgen.analysis.diffraction.neutron import ATOMIC_SCATTERING_LEN as table
        else:
            raise ValueError(f"radiation must be 'xray' or 'neutron', got {radiation!r}")
        _TABLES[radiation] = table
    return _TABLES[radiation]


@dataclass
class Reflections:
    """All reflections of one half of reciprocal space (Friedel mates folded in).

    ``two_theta`` in degrees, ``intensity`` integrated (arbitrary units: |F|² × Lorentz(-polarisation)
    × 2 for the Friedel mate), ``hkl`` Miller indices, ``g`` Cartesian reciprocal vectors (1/Å,
    no 2π), ``wavelength`` in Å.
    """

    two_theta: np.ndarray
    intensity: np.ndarray
    hkl: np.ndarray
    g: np.ndarray
    wavelength: float
    radiation: str = "xray"
    #: reciprocal basis (rows, 1/Å): ``g = hkl @ recip``
    recip: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __len__(self) -> int:
        return int(self.two_theta.size)

    def merged(self, tol: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
        """(2θ, intensity) with reflections closer than ``tol`` degrees summed, as pymatgen merges them."""
        if not len(self):
            return np.zeros(0), np.zeros(0)
        keys = np.round(self.two_theta / tol).astype(np.int64)
        uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        inten = np.bincount(inv.ravel(), weights=self.intensity, minlength=uniq.size)
        return self.two_theta[first], inten


def _site_arrays(structure: Any) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray]:
    """(lattice matrix, frac coords per species entry, symbols, Z, occupancies) of a structure."""
    lat = np.asarray(structure.lattice.matrix, dtype=float)
    fc = np.asarray(structure.frac_coords, dtype=float)
    if structure.is_ordered:
        species = [site.specie for site in structure]
        return lat, fc, [sp.symbol for sp in species], np.array([sp.Z for sp in species], dtype=float), np.ones(len(fc))
    coords, symbols, zs, occ = [], [], [], []
    for site, x in zip(structure, fc):
        for sp, o in site.species.items():
            coords.append(x)
            symbols.append(sp.symbol)
            zs.append(sp.Z)
            occ.append(o)
    return lat, np.asarray(coords, dtype=float), symbols, np.asarray(zs, dtype=float), np.asarray(occ, dtype=float)


def compute_reflections(
    structure: Any,
    wavelength: float | str = "CuKa",
    radiation: str = "xray",
    two_theta_range: tuple[float, float] = (0.0, 90.0),
) -> Reflections:
    """Every reflection of ``structure`` with 2θ in ``two_theta_range`` (degrees).

    Follows pymatgen's ``XRDCalculator.get_pattern`` (``radiation="xray"``; ``wavelength`` a float
    in Å or a name such as ``"CuKa"``, 1.54184 Å) or ``NDCalculator.get_pattern``
    (``"neutron"``): the same reciprocal points, form factors or scattering lengths,
    Lorentz(-polarisation) factor and Friedel folding, without Debye-Waller factors. Summing the
    reflections that share a 2θ gives pymatgen's unscaled stick intensities.
    """
    from matscibench.data.structures import as_structure

    structure = as_structure(structure)
    lam = _wavelength(wavelength)
    table = _table(radiation)
    lat, fc, symbols, zs, occ = _site_arrays(structure)
    lo, hi = two_theta_range
    min_r = 2.0 * math.sin(math.radians(lo / 2.0)) / lam
    max_r = 2.0 * math.sin(math.radians(min(hi, 180.0) / 2.0)) / lam
    recip = np.linalg.inv(lat).T  # rows: reciprocal vectors (1/Å, no 2π)
    # |h| <= max_r * |a| bounds the box that holds the limiting sphere
    hmax = np.floor(max_r * np.linalg.norm(lat, axis=1) + 1e-9).astype(int)
    ranges = [np.arange(-m, m + 1) for m in hmax]
    h, k, l = np.meshgrid(*ranges, indexing="ij")
    hkl = np.stack([h.ravel(), k.ravel(), l.ravel()], axis=1)
    # one Friedel half: (h, k, l) lexicographically positive (drops 000 too)
    half = (hkl[:, 0] > 0) | ((hkl[:, 0] == 0) & (hkl[:, 1] > 0)) | ((hkl[:, 0] == 0) & (hkl[:, 1] == 0) & (hkl[:, 2] > 0))
    hkl = hkl[half]
    g = hkl @ recip
    gn = np.sqrt(np.einsum("ij,ij->i", g, g))
    keep = (gn <= max_r + 1e-12) & (gn >= min_r - 1e-12) & (gn > 0)
    hkl, g, gn = hkl[keep], g[keep], gn[keep]
    if gn.size == 0:
        return Reflections(np.zeros(0), np.zeros(0), np.zeros((0, 3), int), np.zeros((0, 3)), lam, radiation, recip)
    theta = np.arcsin(np.clip(lam * gn / 2.0, -1.0, 1.0))
    s2 = (gn / 2.0) ** 2
    # scattering power of each species entry: (M, n_species) then per atom
    uniq = sorted(set(symbols))
    try:
        if radiation == "xray":
            f_el = []
            for sym in uniq:
                coeff = np.asarray(table[sym], dtype=float)
                z = zs[symbols.index(sym)]
                f_el.append(z - 41.78214 * s2 * (np.exp(-np.outer(s2, coeff[:, 1])) @ coeff[:, 0]))
            f_el = np.stack(f_el, axis=1)
        else:
            f_el = np.tile(np.asarray([float(table[sym]) for sym in uniq]), (gn.size, 1))
    except KeyError as exc:
        raise ValueError(
            f"cannot simulate a {radiation} pattern of {structure.composition.reduced_formula}: pymatgen has no "
            f"scattering data for {exc.args[0]}"
        ) from None
    idx = np.array([uniq.index(s) for s in symbols])
    phase_arg = (2.0 * np.pi) * (hkl.astype(float) @ fc.T)  # (M, N)
    # F = sum over elements of f_e * (sum of occupancy-weighted phases of the element's sites)
    re = np.zeros((gn.size, len(uniq)))
    im = np.zeros((gn.size, len(uniq)))
    cos_p, sin_p = np.cos(phase_arg), np.sin(phase_arg)
    for e in range(len(uniq)):
        sel = idx == e
        re[:, e] = cos_p[:, sel] @ occ[sel]
        im[:, e] = sin_p[:, sel] @ occ[sel]
    fr = np.einsum("me,me->m", f_el, re)
    fi = np.einsum("me,me->m", f_el, im)
    i_hkl = fr * fr + fi * fi
    sint, cost = np.sin(theta), np.cos(theta)
    if radiation == "xray":
        lp = (1.0 + np.cos(2.0 * theta) ** 2) / (sint**2 * cost)
    else:
        lp = 1.0 / (sint**2 * cost)
    order = np.argsort(gn, kind="stable")
    return Reflections(
        two_theta=np.degrees(2.0 * theta)[order],
        intensity=(2.0 * i_hkl * lp)[order],
        hkl=hkl[order],
        g=g[order],
        wavelength=lam,
        radiation=radiation,
        recip=recip,
    )


# -------------------------------------------------------------------------------- instrument
def _span(v: Any) -> tuple[float, float]:
    if isinstance(v, (int, float)):
        return float(v), float(v)
    lo, hi = v
    return float(lo), float(hi)


#: low-index directions a preferred orientation is drawn from (reciprocal-lattice vectors)
_PO_DIRECTIONS = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=float)


@dataclass(frozen=True)
class Instrument:
    """A diffractometer and a powder sample, as ranges that each pattern draws from (seeded).

    A scalar fixes a parameter; a pair ``(lo, hi)`` draws it uniformly (``counts`` log-uniformly).

    - ``U``, ``W`` (degrees²) and ``V_fraction``: Caglioti widths, FWHM² = U tan²θ + V tanθ + W with
      V = −V_fraction·2√(UW), so that FWHM² stays positive at every angle; ``min_fwhm`` (degrees)
      floors the width.
    - ``eta``: Lorentzian fraction of the pseudo-Voigt profile (0 Gaussian, 1 Lorentzian).
    - ``zero_shift``: added to every peak position (degrees 2θ).
    - ``background``: height of the smooth background relative to the strongest peak (a
      Chebyshev polynomial of degree 3 plus air scatter decaying from low angles), and
      ``amorphous``: height of a broad hump (20-35° 2θ, FWHM 6-12°).
    - ``preferred_orientation``: probability that a pattern has texture, and ``march_r`` the
      March-Dollase parameter (r < 1 platelets, r > 1 needles) about a random low-index direction.
    - ``counts``: counts at the strongest point; Poisson noise follows (None: no noise).
    - ``kalpha2``: add the Kα2 line (X-rays named ``*Ka``: λ(Kα2), half the intensity).
    - ``window_fwhm``: each peak is drawn over ± this many FWHM.
    """

    U: Any = (0.0, 0.03)
    W: Any = (0.01, 0.05)
    V_fraction: Any = (0.0, 0.8)
    min_fwhm: float = 0.08
    eta: Any = (0.2, 0.8)
    zero_shift: Any = (-0.1, 0.1)
    background: Any = (0.0, 0.08)
    amorphous: Any = (0.0, 0.04)
    preferred_orientation: float = 0.5
    march_r: Any = (0.7, 1.3)
    counts: Any = (2e3, 1e5)
    kalpha2: bool = False
    window_fwhm: float = 12.0

    def as_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def of(cls, value: Any) -> Instrument:
        if value is None:
            return DEFAULT_INSTRUMENT
        if isinstance(value, Instrument):
            return value
        if isinstance(value, str):
            try:
                return {"default": DEFAULT_INSTRUMENT, "clean": CLEAN_INSTRUMENT}[value]
            except KeyError:
                raise ValueError(f"instrument must be 'default', 'clean' or a dict of parameters, got {value!r}") from None
        return replace(DEFAULT_INSTRUMENT, **{k: tuple(v) if isinstance(v, list) else v for k, v in dict(value).items()})

    def draw(self, rng: np.random.Generator) -> dict[str, float]:
        """One pattern's parameters (always the same number of draws, whatever is fixed)."""
        u = rng.random(12)

        def pick(v: Any, x: float) -> float:
            lo, hi = _span(v)
            return lo + (hi - lo) * x

        lo, hi = _span(self.counts) if self.counts is not None else (0.0, 0.0)
        counts = float(math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u[8])) if self.counts is not None else 0.0
        U, W = pick(self.U, u[0]), pick(self.W, u[1])
        return {
            "U": U,
            "W": W,
            "V": -pick(self.V_fraction, u[2]) * 2.0 * math.sqrt(max(U * W, 0.0)),
            "eta": pick(self.eta, u[3]),
            "zero_shift": pick(self.zero_shift, u[4]),
            "background": pick(self.background, u[5]),
            "amorphous": pick(self.amorphous, u[6]),
            "textured": float(u[7] < self.preferred_orientation),
            "counts": counts,
            "march_r": pick(self.march_r, u[9]),
            "po_direction": float(int(u[10] * len(_PO_DIRECTIONS)) % len(_PO_DIRECTIONS)),
            "seed": float(int(u[11] * 2**31)),
        }

    def render(self, refl: Reflections, grid: TwoThetaGrid, rng: np.random.Generator, params: dict[str, float] | None = None) -> np.ndarray:
        """The pattern of ``refl`` on ``grid`` (float32, maximum 1) with this instrument's effects."""
        p = params or self.draw(rng)
        x = grid.values()
        n = x.size
        tt, inten = refl.two_theta, refl.intensity
        if p["textured"] and len(refl):
            n_po = _PO_DIRECTIONS[int(p["po_direction"])]
            # the texture axis is a reciprocal-lattice vector
            axis = n_po @ refl.recip
            axis = axis / np.linalg.norm(axis)
            cosa = np.abs(refl.g @ axis) / np.linalg.norm(refl.g, axis=1)
            r = p["march_r"]
            inten = inten * (r * r * cosa**2 + (1.0 - cosa**2) / r) ** -1.5
        lines = [(tt, inten)]
        if self.kalpha2 and refl.radiation == "xray" and len(refl):
            lam1 = refl.wavelength
            lam2 = lam1 * (1.54439 / 1.54184)
            s = np.clip(np.sin(np.radians(tt / 2.0)) * lam2 / lam1, -1.0, 1.0)
            tt2 = np.degrees(2.0 * np.arcsin(s))
            lines = [(tt, inten * (2.0 / 3.0)), (tt2, inten / 3.0)]
        y = np.zeros(n)
        for pos, height in lines:
            y += self._profiles(pos + p["zero_shift"], height, p, grid)
        peak = float(y.max()) if n else 0.0
        if peak <= 0:
            peak = 1.0
        y /= peak
        # background: smooth polynomial + air scatter + amorphous hump, relative to the strongest peak
        brng = np.random.default_rng(int(p["seed"]))
        t = (x - x[0]) / (x[-1] - x[0]) * 2.0 - 1.0
        coef = brng.uniform(-0.3, 0.3, 4)
        coef[0] = 1.0
        cheb = np.polynomial.chebyshev.chebval(t, coef)
        cheb = cheb - cheb.min() + 0.2
        air = np.exp(-(x - x[0]) / brng.uniform(5.0, 20.0))
        bg = cheb / cheb.max() + brng.uniform(0.0, 1.5) * air
        y += p["background"] * bg / bg.max()
        if p["amorphous"] > 0:
            c, w = brng.uniform(20.0, 35.0), brng.uniform(6.0, 12.0)
            y += p["amorphous"] * np.exp(-4.0 * math.log(2.0) * ((x - c) / w) ** 2)
        if self.counts is not None and p["counts"] > 0:
            lam = np.maximum(y, 0.0) * (p["counts"] / max(y.max(), 1e-12))
            y = brng.poisson(lam).astype(float)
        top = y.max()
        return (y / top if top > 0 else y).astype(np.float32)

    def _profiles(self, pos: np.ndarray, height: np.ndarray, p: dict[str, float], grid: TwoThetaGrid) -> np.ndarray:
        n = grid.n
        out = np.zeros(n)
        if pos.size == 0:
            return out
        tan = np.tan(np.radians(pos / 2.0))
        fwhm = np.sqrt(np.maximum(p["U"] * tan**2 + p["V"] * tan + p["W"], 0.0))
        fwhm = np.maximum(fwhm, self.min_fwhm)
        half = int(math.ceil(self.window_fwhm * float(fwhm.max()) / grid.step))
        # only peaks whose window reaches the grid
        reach = half * grid.step
        sel = (pos > grid.start - reach) & (pos < grid.stop + reach) & (height > 0)
        pos, height, fwhm = pos[sel], height[sel], fwhm[sel]
        if pos.size == 0:
            return out
        centre = np.rint((pos - grid.start) / grid.step).astype(np.int64)
        idx = centre[:, None] + np.arange(-half, half + 1)[None, :]
        dx = grid.start + idx * grid.step - pos[:, None]
        z = (dx / fwhm[:, None]) ** 2
        eta = p["eta"]
        gauss = (2.0 * math.sqrt(math.log(2.0) / math.pi)) * np.exp(-4.0 * math.log(2.0) * z)
        lor = (2.0 / math.pi) / (1.0 + 4.0 * z)
        val = (eta * lor + (1.0 - eta) * gauss) * (height / fwhm)[:, None] * grid.step
        ok = (idx >= 0) & (idx < n)
        return np.bincount(idx[ok], weights=val[ok], minlength=n)


#: the default augmentations (seeded per pattern)
DEFAULT_INSTRUMENT = Instrument()
#: an ideal instrument: fixed widths (FWHM 0.1-0.2°), no shift, background, texture or noise
CLEAN_INSTRUMENT = Instrument(
    U=0.01, W=0.01, V_fraction=0.0, eta=0.5, zero_shift=0.0, background=0.0, amorphous=0.0,
    preferred_orientation=0.0, march_r=1.0, counts=None,
)


def simulate_pattern(
    structure: Any,
    grid: TwoThetaGrid | None = None,
    wavelength: float | str = "CuKa",
    radiation: str = "xray",
    instrument: Instrument | str | dict | None = None,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """A powder pattern of ``structure`` on ``grid`` (float32, maximum 1), seeded augmentations."""
    grid = TwoThetaGrid.of(grid)
    inst = Instrument.of(instrument)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    refl = compute_reflections(structure, wavelength, radiation, _reflection_range(grid, inst))
    return inst.render(refl, grid, rng)


def _reflection_range(grid: TwoThetaGrid, inst: Instrument) -> tuple[float, float]:
    """Reflections just outside the grid still reach it through their tails and the zero shift."""
    zs = max(abs(v) for v in _span(inst.zero_shift))
    margin = 2.0 + zs
    return max(0.0, grid.start - margin), min(179.0, grid.stop + margin)


# ------------------------------------------------------------------------------------ labels
def structure_labels(structure: Any, symprec: float = 0.01, angle_tolerance: float = 5.0) -> dict[str, Any]:
    """spglib's space group, the crystal system and the conventional standard cell's a, b, c (Å),
    α, β, γ (degrees) of ``structure``."""
    import spglib

    lat, fc, nums = (
        np.asarray(structure.lattice.matrix, dtype=float),
        np.asarray(structure.frac_coords, dtype=float),
        np.asarray([site.specie.Z if site.is_ordered else max(site.species.items(), key=lambda kv: kv[1])[0].Z for site in structure]),
    )
    with warnings.catch_warnings():  # spglib >= 2.5 warns about its old error handling on every call
        warnings.simplefilter("ignore", DeprecationWarning)
        ds = spglib.get_symmetry_dataset((lat, fc, nums), symprec=symprec, angle_tolerance=angle_tolerance)
    if ds is None:
        sg = 1
        std = lat
    else:
        sg = int(ds.number)
        std = np.asarray(ds.std_lattice, dtype=float)
    a, b, c = np.linalg.norm(std, axis=1)

    def ang(u, v):
        return float(np.degrees(np.arccos(np.clip(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)), -1.0, 1.0))))

    return {
        "space_group": sg,
        "crystal_system": crystal_system_of(sg),
        "a": float(a),
        "b": float(b),
        "c": float(c),
        "alpha": ang(std[1], std[2]),
        "beta": ang(std[0], std[2]),
        "gamma": ang(std[0], std[1]),
    }


# ----------------------------------------------------------------------- PyXtal crystals
#: space groups frequent among inorganic crystals, per crystal system (half the structures of a
#: system draw from these, half uniformly from all of the system's groups)
COMMON_SPACE_GROUPS: dict[str, tuple[int, ...]] = {
    "triclinic": (2, 1),
    "monoclinic": (14, 15, 12, 11, 4, 9, 5, 13, 7, 8),
    "orthorhombic": (62, 63, 61, 60, 33, 19, 71, 58, 74, 70, 65, 64, 57, 29, 59, 55, 36, 69, 20, 56),
    "tetragonal": (139, 136, 129, 141, 140, 123, 127, 121, 122, 88, 87, 113, 92, 114, 130, 131, 137, 115, 82, 85),
    "trigonal": (166, 148, 167, 164, 161, 160, 165, 147, 146, 150, 152, 162, 163, 155, 156, 154),
    "hexagonal": (194, 191, 186, 187, 176, 189, 190, 173, 193, 182, 185, 188, 180, 174),
    "cubic": (225, 227, 221, 216, 229, 223, 205, 217, 215, 230, 220, 198, 204, 224, 213, 212, 218, 200, 206),
}
_CATIONS = (
    "Li", "Na", "K", "Rb", "Cs", "Be", "Mg", "Ca", "Sr", "Ba", "Sc", "Y", "La", "Ti", "Zr", "Hf", "V", "Nb",
    "Ta", "Cr", "Mo", "W", "Mn", "Fe", "Co", "Ni", "Cu", "Ag", "Zn", "Cd", "Al", "Ga", "In", "Sn", "Pb", "Bi",
    "Ce", "Nd", "Gd",
)
_METALS = ("Al", "Cu", "Ni", "Fe", "Co", "Ti", "Zr", "Pd", "Pt", "Au", "Ag", "Mg", "Zn", "Ga", "Sn", "Mn", "Cr", "Nb", "Mo", "Si", "Ge")
_ANIONS = ("O", "O", "O", "S", "Se", "F", "Cl", "Br", "N", "P", "Te", "I")
#: formula-unit ratios (cations first, anion last)
_RATIOS: dict[int, tuple[tuple[int, ...], ...]] = {
    1: ((1,),),
    2: ((1, 1), (1, 2), (2, 1), (2, 3), (1, 3), (3, 4), (1, 4)),
    3: ((1, 1, 3), (1, 2, 4), (2, 1, 4), (1, 1, 2), (1, 1, 1), (2, 2, 7), (1, 2, 2)),
    4: ((1, 1, 1, 4), (2, 1, 1, 6), (1, 1, 2, 4)),
}
_MULTIPLIERS = (1, 2, 3, 4, 6, 8, 12, 16)


def _choose_composition(rng: np.random.Generator) -> tuple[list[str], tuple[int, ...]]:
    n_el = int(rng.choice([1, 2, 3, 4], p=[0.08, 0.42, 0.42, 0.08]))
    if n_el == 1:
        return [str(rng.choice(_METALS + ("C",)))], (1,)
    ratio = _RATIOS[n_el][int(rng.integers(len(_RATIOS[n_el])))]
    if rng.random() < 0.2:  # intermetallic
        els = list(rng.choice(_METALS, size=n_el, replace=False))
    else:
        els = list(rng.choice(_CATIONS, size=n_el - 1, replace=False)) + [str(rng.choice(_ANIONS))]
    return [str(e) for e in els], ratio


def _wyckoff_counts(group: Any, n_species: int, rng: np.random.Generator, max_atoms: int) -> list[int] | None:
    """Per-species atom counts built from the group's Wyckoff multiplicities (small ones favoured)."""
    mults = sorted({w.multiplicity for w in group})
    for _ in range(20):
        counts = []
        for _s in range(n_species):
            m = [x for x in mults if x <= max_atoms // n_species] or mults[:1]
            w = 1.0 / np.asarray(m, dtype=float)
            counts.append(int(rng.choice(m, p=w / w.sum())))
        if sum(counts) <= max_atoms and group.check_compatible(counts)[0]:
            return counts
    return None


def _fast_pyxtal() -> None:
    """PyXtal builds a default ``Tol_matrix`` (covalent-radius pair tolerances, ~5 ms) inside every
    image check of every Wyckoff merge; it depends only on its arguments and is only read, so one
    built per (prototype, factor) serves them all. Same structures, 3-4x faster generation."""
    import pyxtal.operations as ops

    orig = ops.Tol_matrix
    if getattr(orig, "_matscibench_cached", False) or not isinstance(orig, type):
        return
    cache: dict[tuple, Any] = {}

    def tol_matrix(*tuples: Any, prototype: str = "atomic", factor: float = 1.0) -> Any:
        if tuples:
            return orig(*tuples, prototype=prototype, factor=factor)
        key = (prototype, factor)
        if key not in cache:
            cache[key] = orig(prototype=prototype, factor=factor)
        return cache[key]

    tol_matrix._matscibench_cached = True  # type: ignore[attr-defined]
    ops.Tol_matrix = tol_matrix
    _TM["atomic"] = orig(prototype="atomic")


_TM: dict[str, Any] = {}


def _one_crystal(args: tuple[int, int, str, int]) -> tuple[int, dict | None]:
    """Generate crystal ``index`` of a dataset (seeded by (seed, index)); None after many failures."""
    index, seed, system, max_atoms = args
    import logging

    logging.getLogger("pyxtal").setLevel(logging.ERROR)
    _fast_pyxtal()
    from pyxtal import pyxtal
    from pyxtal.symmetry import Group

    rng = np.random.default_rng([seed, index])
    lo, hi = _SG_RANGES[CRYSTAL_SYSTEMS.index(system)]
    for _attempt in range(12):
        sg = int(rng.choice(COMMON_SPACE_GROUPS[system])) if rng.random() < 0.5 else int(rng.integers(lo, hi + 1))
        group = Group(sg)
        els, ratio = _choose_composition(rng)
        counts = None
        for z in rng.permutation(_MULTIPLIERS):
            c = [int(r * z) for r in ratio]
            if sum(c) <= max_atoms and group.check_compatible(c)[0]:
                counts = c
                break
        if counts is None:
            counts = _wyckoff_counts(group, len(els), rng, max_atoms)
        if counts is None:
            continue
        xtal = pyxtal()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                xtal.from_random(
                    3, sg, els, counts, factor=float(rng.uniform(1.0, 1.3)), tm=_TM.get("atomic"),
                    random_state=int(rng.integers(2**31)),
                )
            if not xtal.valid:
                continue
            s = xtal.to_pymatgen()
        except Exception:
            continue
        if len(s) == 0 or len(s) > 4 * max_atoms or not _plausible_density(s):
            continue
        lab = structure_labels(s, symprec=0.01)
        if lab["crystal_system"] != system:  # a special placement raised the symmetry: keep the label honest
            continue
        return index, {
            "lattice": np.asarray(s.lattice.matrix).tolist(),
            "numbers": [int(z) for z in s.atomic_numbers],
            "frac": np.asarray(s.frac_coords).tolist(),
            "generated_space_group": sg,
            **lab,
        }
    return index, None


_ATOM_VOLUME: dict[int, float] = {}


def _plausible_density(s: Any, max_ratio: float = 5.0) -> bool:
    """Reject open cells: volume over ``max_ratio`` times the atoms' covalent-sphere volume
    (PyXtal's radii). Real crystals lie between ~1.1 (close-packed metals, perovskites) and ~4.6
    (quartz); PyXtal, which draws volumes up to van der Waals spheres, leaves about 1 % of cells
    (atoms on fixed special positions in a blown-up cell) above 5."""
    from pyxtal.database.element import Element

    total = 0.0
    for z in s.atomic_numbers:
        if z not in _ATOM_VOLUME:
            _ATOM_VOLUME[z] = 4.0 / 3.0 * math.pi * float(Element(int(z)).covalent_radius) ** 3
        total += _ATOM_VOLUME[z]
    return s.volume <= max_ratio * total


def _crystal_chunk(chunk: list[tuple[int, int, str, int]]) -> list[tuple[int, dict | None]]:
    return [_one_crystal(a) for a in chunk]


def generate_pyxtal_structures(
    n_structures: int,
    seed: int = 0,
    max_atoms: int = 24,
    workers: int | None = None,
    progress: Any = None,
) -> tuple[list, pd.DataFrame, np.ndarray]:
    """``n_structures`` random symmetric crystals, the same number per crystal system (±1).

    Each crystal system gets every seventh index; within a system half the crystals draw a
    common space group and half any of the system's groups; compositions are oxide, chalcogenide,
    halide, nitride or pnictide-like (cations + one anion) or intermetallic, 1-4 elements, with a
    formula-unit count compatible with the group's Wyckoff positions and at most ``max_atoms``
    atoms in the conventional cell; PyXtal places the atoms with a volume factor of 1.0-1.3 on
    its atomic-volume estimate. Every crystal is seeded by ``(seed, index)``, so the result does
    not depend on ``workers``. Labels are spglib's (symprec 0.01 Å); a crystal whose symmetry came
    out higher than drawn is redrawn so that the systems stay balanced.
    """
    from concurrent.futures import ProcessPoolExecutor

    from pymatgen.core import Lattice, Structure

    jobs = [(i, int(seed), CRYSTAL_SYSTEMS[i % 7], int(max_atoms)) for i in range(int(n_structures))]
    workers = max(1, int(workers or os.cpu_count() or 1))
    results: dict[int, dict | None] = {}
    if workers == 1 or len(jobs) < 16:
        for a in jobs:
            i, rec = _one_crystal(a)
            results[i] = rec
            if progress:
                progress(len(results), len(jobs))
    else:
        size = max(4, -(-len(jobs) // (workers * 8)))
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for out in pool.map(_crystal_chunk, chunks):
                for i, rec in out:
                    results[i] = rec
                if progress:
                    progress(len(results), len(jobs))
    structures, rows, ids = [], [], []
    for i in range(len(jobs)):
        rec = results[i]
        if rec is None:
            continue
        s = Structure(Lattice(rec["lattice"]), rec["numbers"], rec["frac"])
        structures.append(s)
        rows.append({k: rec[k] for k in ("space_group", "crystal_system", *LATTICE_PARAMETERS, "generated_space_group")})
        ids.append(f"pyxtal-{seed}-{i:05d}")
    if not structures:
        raise DatasetError("PyXtal produced no crystals; is pyxtal installed and working? (pip install pyxtal)")
    df = pd.DataFrame(rows)
    df["formula"] = [s.composition.reduced_formula for s in structures]
    return structures, df, np.asarray(ids, dtype=object)


def _structures_hash(salt: str, structures: Sequence[Any], table: pd.DataFrame) -> str:
    h = hashlib.sha256(salt.encode())
    for s in structures:
        h.update(np.asarray(s.atomic_numbers, dtype=np.int64).tobytes())
        h.update(np.round(np.asarray(s.lattice.matrix), 6).tobytes())
        h.update(np.round(np.asarray(s.frac_coords), 6).tobytes())
    h.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return h.hexdigest()


class PyxtalStructuresSpec(CachedTableSpec):
    """Random symmetric crystals over all 230 space groups, balanced over the seven systems."""

    input_type = "structure"
    citation = (
        "S. Fredericks, K. Parrish, D. Sayre, Q. Zhu, PyXtal: a Python library for crystal structure "
        "generation and symmetry analysis, Comput. Phys. Commun. 261, 107810 (2021); generated by matscibench"
    )
    license = "generated locally (public domain)"
    targets = {"space_group": None, "crystal_system": None, **LATTICE_UNITS}

    def __init__(self, n_structures: int = 840, seed: int = 0, max_atoms: int = 24, workers: int | None = None) -> None:
        self.n_structures = int(n_structures)
        self.seed = int(seed)
        self.max_atoms = int(max_atoms)
        self.workers = workers
        self.name = "xrd_pyxtal_structures"
        self.description = (
            f"{self.n_structures} random symmetric crystals (PyXtal; all 230 space groups, {self.n_structures // 7} "
            f"per crystal system, ≤{self.max_atoms} atoms per conventional cell) with spglib labels, generated offline"
        )

    def cache_key(self) -> str:
        return f"g{GENERATOR_VERSION}-n{self.n_structures}-s{self.seed}-m{self.max_atoms}"

    def _source_status(self) -> str:
        import importlib.util

        return "generate" if importlib.util.find_spec("pyxtal") is not None else "missing"

    def _build(self, progress: ProgressFn | None):
        if self._source_status() == "missing":
            raise DatasetNotAvailable("generating xrd_pyxtal_structures needs PyXtal: pip install pyxtal")

        def cb(done: int, total: int) -> None:
            if progress:
                progress("generate PyXtal crystals", done, total)

        structures, table, ids = generate_pyxtal_structures(
            self.n_structures, self.seed, self.max_atoms, workers=self.workers, progress=cb
        )
        checksum = _structures_hash(f"pyxtal-v{GENERATOR_VERSION}", structures, table)
        targets = table[list(self.targets)].reset_index(drop=True)
        extra = table[["formula", "generated_space_group"]].reset_index(drop=True)
        source = f"generated by matscibench (PyXtal generator v{GENERATOR_VERSION}, n={self.n_structures}, seed={self.seed})"
        return structures, targets, ids, checksum, source, extra


class CifFolderSpec(CachedTableSpec):
    """Every ``*.cif`` file under a folder (one structure each; the file stem is the id)."""

    input_type = "structure"
    targets: dict[str, str | None] = {"n_atoms": None}
    license = "as the files'"

    def __init__(self, path: str | os.PathLike | None = None, name: str = "cif_folder") -> None:
        self.path = Path(path).expanduser() if path else None
        self.name = name
        self.description = f"CIF files in {self.path}" if self.path else "CIF files in a folder (give path=...)"

    def files(self) -> list[Path]:
        if self.path is None or not self.path.is_dir():
            return []
        return sorted(self.path.rglob("*.cif"))

    def cache_key(self) -> str:
        h = hashlib.sha256(str(self.path).encode())
        for f in self.files():
            st = f.stat()
            h.update(f"{f.name}|{st.st_size}|{st.st_mtime_ns}".encode())
        return "v1-" + h.hexdigest()[:16]

    def _source_status(self) -> str:
        return "local" if self.files() else "missing"

    def _build(self, progress: ProgressFn | None):
        from pymatgen.core import Structure

        files = self.files()
        if not files:
            raise DatasetNotAvailable(f"no *.cif files under {self.path}; give path= a folder of CIF files")
        structures, ids = [], []
        h = hashlib.sha256()
        for i, f in enumerate(files):
            data = f.read_bytes()
            h.update(data)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s = Structure.from_str(data.decode(errors="replace"), fmt="cif")
            except Exception as exc:
                raise DatasetError(f"{f}: cannot read the CIF: {type(exc).__name__}: {exc}") from exc
            structures.append(s)
            ids.append(f.stem)
            if progress:
                progress(f"read CIFs in {self.path}", i + 1, len(files))
        targets = pd.DataFrame({"n_atoms": [len(s) for s in structures]})
        return structures, targets, np.asarray(ids, dtype=object), h.hexdigest(), str(self.path), None


# ------------------------------------------------------------------------- pattern datasets
@dataclass
class XrdDataset:
    """Patterns and labels: ``patterns[i]`` is a float32 pattern on ``grid`` (maximum 1).

    ``labels`` has one row per pattern: ``space_group``, ``crystal_system``, ``a``, ``b``, ``c``
    (Å), ``alpha``, ``beta``, ``gamma`` (degrees); ``structure`` is the index of the structure a
    pattern was made from (patterns of one structure share it, so splits keep them together),
    ``formula`` its reduced formula (the unit of the held-out-chemistry split).
    """

    name: str
    patterns: np.ndarray
    grid: TwoThetaGrid
    labels: pd.DataFrame
    ids: np.ndarray
    structure: np.ndarray
    formula: np.ndarray
    checksum: str
    source: str
    config: dict[str, Any] = field(default_factory=dict)
    #: how the patterns were made: patterns_per_s_per_core (simulation throughput), workers, ...
    stats: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.patterns.shape[0])

    @property
    def two_theta(self) -> np.ndarray:
        return self.grid.values()


def _render_chunk(args: tuple) -> tuple[list[tuple[int, np.ndarray | None, dict | None, str | None]], float]:
    """Patterns (copies) and labels of a chunk of structures, and the CPU seconds it took;
    errors are returned, not raised."""
    items, grid_d, inst_d, wavelength, radiation, symprec, seed, copies, want_labels = args
    from pymatgen.core import Lattice, Structure

    import time

    grid = TwoThetaGrid(**grid_d)
    inst = Instrument.of(inst_d)
    out = []
    t0 = time.process_time()
    rng_range = _reflection_range(grid, inst)
    for i, lat, nums, frac in items:
        try:
            s = Structure(Lattice(lat), nums, frac)
            refl = compute_reflections(s, wavelength, radiation, rng_range)
            pats = np.stack([inst.render(refl, grid, np.random.default_rng([seed, i, c])) for c in range(copies)])
            lab = structure_labels(s, symprec=symprec) if want_labels else None
            out.append((i, pats, lab, None))
        except Exception as exc:  # noqa: BLE001 - reported with the structure's id by the caller
            out.append((i, None, None, f"{type(exc).__name__}: {exc}"))
    return out, time.process_time() - t0


class XrdPatternSpec(DatasetSpec):
    """Patterns simulated from the structures of another dataset, cached as ``.npz``.

    Parameters
    ----------
    source, source_params: the structure dataset (a registry name) and its parameters.
    grid: the 2θ grid (``TwoThetaGrid`` or ``{"start", "stop", "step"}``, degrees).
    wavelength: Å or a name (``"CuKa"``: 1.54184 Å); ``radiation``: ``"xray"`` or ``"neutron"``.
    instrument: ``"default"``, ``"clean"`` or a dict overriding ``Instrument`` fields.
    copies: patterns per structure (each a new draw of the instrument and sample).
    max_structures: at most this many structures (a seeded sample, kept in the source's order).
    symprec: spglib tolerance (Å) for the labels; labels stored with the source win when present.
    seed: seeds the augmentations and the sample.
    """

    input_type = "pattern"
    targets = {"crystal_system": None, "space_group": None, **LATTICE_UNITS}

    def __init__(
        self,
        source: str = "xrd_pyxtal_structures",
        source_params: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        grid: Any = None,
        wavelength: float | str = "CuKa",
        radiation: str = "xray",
        instrument: Any = "default",
        copies: int = 1,
        max_structures: int | None = None,
        symprec: float = 0.1,
        seed: int = 0,
        workers: int | None = None,
        description: str = "",
    ) -> None:
        from matscibench.families.registry import get_dataset

        self.source_name = source
        self.source_params = dict(source_params or {})
        self.source = get_dataset(source, **self.source_params)
        self.name = name or f"xrd_{source}"
        self.grid = TwoThetaGrid.of(grid)
        self.wavelength = wavelength
        _wavelength(wavelength)
        if radiation not in ("xray", "neutron"):
            raise ValueError(f"radiation must be 'xray' or 'neutron', got {radiation!r}")
        self.radiation = radiation
        self.instrument = Instrument.of(instrument)
        self.copies = int(copies)
        if self.copies < 1:
            raise ValueError(f"copies must be >= 1, got {copies}")
        self.max_structures = None if max_structures is None else int(max_structures)
        self.symprec = float(symprec)
        self.seed = int(seed)
        self.workers = workers
        self.citation = getattr(self.source, "citation", "")
        self.license = getattr(self.source, "license", "")
        rad = "neutron" if radiation == "neutron" else f"X-ray ({wavelength if isinstance(wavelength, str) else f'{wavelength} Å'})"
        self.description = description or (
            f"{rad} powder patterns, {self.grid.start:g}-{self.grid.stop:g}° 2θ step {self.grid.step:g}°, of "
            f"{self.source.name}{f' (≤{self.max_structures})' if self.max_structures else ''}, {self.copies} per structure"
        )

    def config(self) -> dict[str, Any]:
        return {
            "version": PATTERN_VERSION,
            "source": self.source.name,
            "source_key": self.source.cache_key() if hasattr(self.source, "cache_key") else repr(self.source_params),
            "grid": self.grid.as_dict(),
            "wavelength": self.wavelength,
            "radiation": self.radiation,
            "instrument": self.instrument.as_dict(),
            "copies": self.copies,
            "max_structures": self.max_structures,
            "symprec": self.symprec,
            "seed": self.seed,
        }

    def cache_key(self) -> str:
        return "p" + sha256_bytes(json.dumps(self.config(), sort_keys=True, default=str).encode())[:20]

    def cache_path(self) -> Path:
        return cache_dir() / "datasets" / self.name / f"{self.cache_key()}.npz"

    def status(self) -> str:
        if self.cache_path().is_file():
            return "cached"
        st = self.source.status()
        return "generate" if st in ("cached", "local", "generate") else st

    def prepare(self, progress: ProgressFn | None = None) -> None:
        path = self.cache_path()
        if path.is_file():
            return
        with file_lock(path):
            if path.is_file():
                return
            arr, meta = self._build(progress)
            write_npz_cache(path, arr, meta, default=str)

    def _build(self, progress: ProgressFn | None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self.source.prepare(progress)
        ds = self.source.load()
        n = len(ds)
        idx = np.arange(n)
        if self.max_structures is not None and n > self.max_structures:
            idx = np.sort(np.random.default_rng(self.seed).choice(n, self.max_structures, replace=False))
        stored = set(ds.targets.columns)
        have_labels = {"space_group", *LATTICE_PARAMETERS} <= stored
        items = []
        for i in idx:
            s = ds.inputs[i]
            items.append((int(i), np.asarray(s.lattice.matrix).tolist(), [int(z) for z in s.atomic_numbers], np.asarray(s.frac_coords).tolist()))
        workers = max(1, int(self.workers or os.cpu_count() or 1))
        base = (self.grid.as_dict(), self.instrument.as_dict(), self.wavelength, self.radiation, self.symprec, self.seed, self.copies, not have_labels)
        size = max(8, -(-len(items) // (workers * 6)))
        chunks = [(items[i : i + size], *base) for i in range(0, len(items), size)]
        done: dict[int, tuple] = {}
        desc = f"simulate patterns of {self.source.name}"
        cpu = 0.0
        if workers == 1 or len(items) < 64:
            workers = 1
            results = map(_render_chunk, chunks)
            pool = None
        else:
            from concurrent.futures import ProcessPoolExecutor

            pool = ProcessPoolExecutor(max_workers=workers)
            results = pool.map(_render_chunk, chunks)
        try:
            for res, sec in results:
                cpu += sec
                for r in res:
                    done[r[0]] = r
                if progress:
                    progress(desc, len(done), len(items))
        finally:
            if pool is not None:
                pool.shutdown()
        pats, rows, ids, sidx, formulas = [], [], [], [], []
        for i in idx:
            _, p, lab, err = done[int(i)]
            if err is not None:
                raise DatasetError(f"{self.source.name}: cannot simulate the pattern of structure {ds.ids[i]!r}: {err}")
            if have_labels:
                t = ds.targets.iloc[int(i)]
                sg = int(t["space_group"])
                lab = {"space_group": sg, "crystal_system": crystal_system_of(sg), **{k: float(t[k]) for k in LATTICE_PARAMETERS}}
            formula = ds.inputs[i].composition.reduced_formula
            for c in range(self.copies):
                pats.append(p[c])
                rows.append(lab)
                ids.append(f"{ds.ids[i]}" if self.copies == 1 else f"{ds.ids[i]}#{c}")
                sidx.append(int(i))
                formulas.append(formula)
        P = np.stack(pats).astype(np.float32)
        labels = pd.DataFrame(rows)
        arr = {
            "patterns": P,
            "space_group": labels["space_group"].to_numpy(np.int16),
            **{k: labels[k].to_numpy(np.float64) for k in LATTICE_PARAMETERS},
            "ids": np.asarray(ids, dtype=str),
            "structure": np.asarray(sidx, dtype=np.int64),
            "formula": np.asarray(formulas, dtype=str),
        }
        h = hashlib.sha256(f"xrd-patterns-v{PATTERN_VERSION}|{ds.checksum}".encode())
        for k in sorted(arr):
            a = arr[k]
            h.update(k.encode())
            h.update(np.ascontiguousarray(np.round(a, 5) if a.dtype.kind == "f" else a).tobytes())
        stats = {
            "n_patterns": int(len(P)),
            "workers": workers,
            "simulation_cpu_s": round(cpu, 4),
            "patterns_per_s_per_core": round(len(P) / cpu, 2) if cpu > 0 else None,
        }
        meta = {"checksum": h.hexdigest(), "source": f"{ds.source} -> {self.description}", "config": self.config(), "stats": stats}
        return arr, meta

    def _read(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        path = self.cache_path()
        if not path.is_file():
            self.prepare()
        return read_npz_cache(path)

    def checksum(self) -> str:
        path = self.cache_path()
        if not path.is_file():
            self.prepare()
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["meta"]))["checksum"]

    def load(self) -> XrdDataset:
        arr, meta = self._read()
        sg = arr["space_group"].astype(int)
        labels = pd.DataFrame({"crystal_system": [crystal_system_of(s) for s in sg], "space_group": sg})
        for k in LATTICE_PARAMETERS:
            labels[k] = arr[k]
        return XrdDataset(
            name=self.name,
            patterns=arr["patterns"],
            grid=self.grid,
            labels=labels,
            ids=arr["ids"].astype(object),
            structure=arr["structure"],
            formula=arr["formula"].astype(object),
            checksum=meta["checksum"],
            source=meta["source"],
            config=meta["config"],
            stats=meta.get("stats", {}),
        )

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["grid"] = self.grid.as_dict()
        return d


# --------------------------------------------------------------------- measured patterns
def read_pattern_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(2θ in degrees, intensity) from a two-column ``.xy``/``.xye``/``.dat`` (whitespace) or
    ``.csv`` file; lines starting with ``#``, ``!`` or ``'`` and a header row are skipped; a third
    column (e.g. ESDs) is ignored."""
    path = Path(path)
    rows: list[tuple[float, float]] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            s = line.strip()
            if not s or s[0] in "#!'":
                continue
            parts = s.replace(",", " ").replace(";", " ").split()
            if len(parts) < 2:
                continue
            try:
                rows.append((float(parts[0]), float(parts[1])))
            except ValueError:
                if rows:
                    raise DatasetError(f"{path}: cannot read line {line.rstrip()!r} as two numbers (2θ, intensity)") from None
    if len(rows) < 10:
        raise DatasetError(f"{path}: fewer than 10 (2θ, intensity) rows; expected a two-column .xy or CSV file")
    a = np.asarray(rows, dtype=float)
    order = np.argsort(a[:, 0])
    return a[order, 0], a[order, 1]


def to_grid(two_theta: np.ndarray, intensity: np.ndarray, grid: TwoThetaGrid | None = None, subtract_min: bool = True) -> np.ndarray:
    """A measured pattern on the task's grid: linear interpolation (zero outside the measured
    range), minimum subtracted, scaled to a maximum of 1 (float32)."""
    grid = TwoThetaGrid.of(grid)
    x = grid.values()
    tt = np.asarray(two_theta, dtype=float)
    y = np.asarray(intensity, dtype=float)
    out = np.interp(x, tt, y, left=np.nan, right=np.nan)
    inside = np.isfinite(out)
    if not inside.any():
        raise ValueError(f"the pattern covers {tt.min():.2f}-{tt.max():.2f}° 2θ, outside the grid {grid.start:g}-{grid.stop:g}°")
    if subtract_min:
        out[inside] -= np.min(out[inside])
    out[~inside] = 0.0
    top = out.max()
    return (out / top if top > 0 else out).astype(np.float32)


class ExperimentalPatternsSpec(DatasetSpec):
    """Measured patterns: a folder of ``.xy``/``.xye``/``.dat``/``.csv`` files plus ``labels.csv``.

    ``labels.csv`` has a ``file`` column (file name in the folder) and any of ``space_group``,
    ``crystal_system`` (name), ``a``, ``b``, ``c`` (Å), ``alpha``, ``beta``, ``gamma`` (degrees).
    The patterns must be measured at the task's wavelength (Cu Kα unless configured otherwise).
    """

    input_type = "pattern"
    targets = {"crystal_system": None, "space_group": None, **LATTICE_UNITS}
    license = "the user's"

    def __init__(self, path: str | os.PathLike | None = None, grid: Any = None, name: str = "xrd_experimental") -> None:
        self.path = Path(path).expanduser() if path else None
        self.grid = TwoThetaGrid.of(grid)
        self.name = name
        self.description = f"measured patterns in {self.path} (labels.csv)" if self.path else "measured patterns: give path= a folder with labels.csv"

    def _labels_path(self) -> Path | None:
        return self.path / "labels.csv" if self.path else None

    def status(self) -> str:
        lp = self._labels_path()
        return "local" if lp is not None and lp.is_file() else "missing"

    def prepare(self, progress: ProgressFn | None = None) -> None:
        if self.status() != "local":
            raise DatasetNotAvailable(
                f"no labels.csv in {self.path}; put the .xy/CSV patterns and a labels.csv (columns: file, "
                "crystal_system and/or space_group, a, b, c, alpha, beta, gamma) in one folder"
            )

    def load(self) -> XrdDataset:
        self.prepare()
        table = pd.read_csv(self._labels_path())
        if "file" not in table.columns:
            raise DatasetError(f"{self._labels_path()}: needs a 'file' column naming each pattern file")
        pats, h = [], hashlib.sha256()
        for f in table["file"].astype(str):
            p = self.path / f
            if not p.is_file():
                raise DatasetError(f"{self._labels_path()}: pattern file {p} does not exist")
            h.update(p.read_bytes())
            tt, y = read_pattern_file(p)
            pats.append(to_grid(tt, y, self.grid))
        labels = pd.DataFrame(index=range(len(table)))
        if "space_group" in table:
            labels["space_group"] = table["space_group"].astype(int)
            labels["crystal_system"] = [crystal_system_of(s) for s in labels["space_group"]]
        if "crystal_system" in table:
            cs = table["crystal_system"].astype(str).str.strip().str.lower()
            bad = sorted(set(cs) - set(CRYSTAL_SYSTEMS))
            if bad:
                raise DatasetError(f"{self._labels_path()}: unknown crystal system(s) {bad}; use {list(CRYSTAL_SYSTEMS)}")
            labels["crystal_system"] = cs.to_numpy()
        for k in LATTICE_PARAMETERS:
            if k in table:
                labels[k] = table[k].astype(float)
        h.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
        stems = np.asarray([Path(f).stem for f in table["file"].astype(str)], dtype=object)
        formula = table["formula"].astype(str).to_numpy(dtype=object) if "formula" in table else stems
        return XrdDataset(
            name=self.name,
            patterns=np.stack(pats),
            grid=self.grid,
            labels=labels,
            ids=stems,
            structure=np.arange(len(table)),
            formula=formula,
            checksum=h.hexdigest(),
            source=str(self.path),
        )

    def checksum(self) -> str:
        return self.load().checksum


# ------------------------------------------------------------------------------ registry
def register_datasets(register) -> None:
    """``xrd_pyxtal_structures`` and the pattern datasets built on it and on real structures."""

    register("xrd_pyxtal_structures", PyxtalStructuresSpec)

    def pyxtal_patterns(n_structures: int = 840, structure_seed: int = 0, **kw: Any) -> XrdPatternSpec:
        kw.setdefault("symprec", 0.01)
        return XrdPatternSpec(
            "xrd_pyxtal_structures", {"n_structures": n_structures, "seed": structure_seed}, name="xrd_pyxtal", **kw
        )

    register("xrd_pyxtal", pyxtal_patterns)

    def cdvae(ds: str):
        def factory(splits: Sequence[str] = ("val", "test"), max_structures: int | None = 600, **kw: Any) -> XrdPatternSpec:
            spec = XrdPatternSpec(
                f"cdvae_{ds}", {"splits": tuple(splits)}, name=f"xrd_{ds}", max_structures=max_structures, **kw
            )
            # the planner's hint names the files to put in place
            spec.relpath, spec.splits = spec.source.relpath, spec.source.splits
            return spec

        return factory

    register("xrd_perov_5", cdvae("perov_5"))
    register("xrd_carbon_24", cdvae("carbon_24"))

    def cif_folder(path: str | None = None, **kw: Any) -> XrdPatternSpec:
        return XrdPatternSpec("cif_folder", {"path": path}, name="xrd_cif_folder", **kw)

    register("xrd_cif_folder", cif_folder)
    register("cif_folder", lambda path=None: CifFolderSpec(path))
    register("xrd_experimental", ExperimentalPatternsSpec)
