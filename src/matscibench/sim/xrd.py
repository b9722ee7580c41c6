"""Powder diffraction: a crystal -> its reflections -> a pattern on a fixed 2θ grid, and its labels.

Two layers, each usable alone, and the labels:

1. ``compute_reflections(structure, wavelength, radiation)``: every reflection (hkl, 2θ in
   degrees, integrated intensity) of a crystal, computed as pymatgen's ``XRDCalculator`` (X-rays:
   its Cromer-Mann-type form factors, Lorentz-polarisation factor, Friedel pairs) or
   ``NDCalculator`` (neutrons: its scattering lengths, Lorentz factor only) computes them, with
   pymatgen's own tables and wavelengths. It is vectorised over reflections and atoms and skips
   what a profile does not need (hkl family labels, the per-peak Python loop), so it is faster
   than calling pymatgen (``benchmarks/bench_xrd_simulation.py``); ``tests/test_xrd.py``
   checks it against pymatgen peak for peak.
2. ``Instrument.render(reflections, grid, rng)``: the instrument and the sample, as seeded
   augmentations: pseudo-Voigt peaks whose FWHM follows Caglioti's law
   (FWHM² = U tan²θ + V tanθ + W, degrees²), a zero shift of the 2θ scale, a smooth background
   (Chebyshev polynomial, low-angle air scatter, an amorphous hump), March-Dollase preferred
   orientation about a random low-index direction, and Poisson counting noise; the pattern is
   scaled to a maximum of 1. ``simulate_pattern`` does both.
3. ``structure_labels``: spglib's space-group number, the crystal system and the lattice
   parameters of the conventional standard cell (Å, degrees).

The datasets built on it (random PyXtal crystals, CDVAE's structures, CIF folders, measured
patterns) are the XRD family's: ``matscibench.families.xrd.data``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

__all__ = [
    "PATTERN_VERSION",
    "CRYSTAL_SYSTEMS",
    "SPACE_GROUP_RANGES",
    "LATTICE_PARAMETERS",
    "LATTICE_UNITS",
    "crystal_system_of",
    "TwoThetaGrid",
    "DEFAULT_GRID",
    "wavelength_angstrom",
    "Reflections",
    "compute_reflections",
    "Instrument",
    "CLEAN_INSTRUMENT",
    "DEFAULT_INSTRUMENT",
    "simulate_pattern",
    "reflection_range",
    "structure_labels",
]

#: version of the reflection + instrument code (changes every pattern cache key)
PATTERN_VERSION = 1

CRYSTAL_SYSTEMS: tuple[str, ...] = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic")
#: first and last space-group number of each crystal system
SPACE_GROUP_RANGES = ((1, 2), (3, 15), (16, 74), (75, 142), (143, 167), (168, 194), (195, 230))
LATTICE_PARAMETERS: tuple[str, ...] = ("a", "b", "c", "alpha", "beta", "gamma")
LATTICE_UNITS: dict[str, str] = {"a": "Å", "b": "Å", "c": "Å", "alpha": "degrees", "beta": "degrees", "gamma": "degrees"}


def crystal_system_of(space_group: int) -> str:
    """The crystal system of an international space-group number (1-230)."""
    sg = int(space_group)
    for name, (lo, hi) in zip(CRYSTAL_SYSTEMS, SPACE_GROUP_RANGES):
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
def wavelength_angstrom(wavelength: float | str) -> float:
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
    lam = wavelength_angstrom(wavelength)
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
    refl = compute_reflections(structure, wavelength, radiation, reflection_range(grid, inst))
    return inst.render(refl, grid, rng)


def reflection_range(grid: TwoThetaGrid, inst: Instrument) -> tuple[float, float]:
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
