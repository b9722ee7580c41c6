"""Structure descriptors from neighbour lists: cell shape, radial distributions, first-shell statistics.

A cheap structure-aware representation in the spirit of the site-statistics features of Ward et
al., "Including crystal structure attributes in machine learning models of formation energies via
Voronoi tessellations", Phys. Rev. B 96, 024104 (2017), with a cutoff-based first shell instead of
Voronoi cells (so it runs on vesin's neighbour lists at a few µs per atom):

- cell: volume per atom (Å³/atom) and density (g/cm³) — only quantities that do not depend on
  which cell (primitive, conventional, supercell) describes the crystal;
- radial: pair counts per atom in 0.5 Å bins from 1.0 to 6.0 Å (a histogram of g(r)), and the same
  bins weighted by the Pauling electronegativity difference of each pair (chemical ordering);
- first shell of each site (neighbours within 1.2 x its nearest-neighbour distance): coordination
  number, mean bond length (Å), fraction of unlike neighbours, mean |Δχ| — each summarised over
  sites by mean, standard deviation, minimum and maximum.

Sites with no neighbour inside the cutoff give NaN first-shell values (tree models handle NaN).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from matscibench.data.structures import as_structure

__all__ = ["SiteStatsFeaturizer"]

_BINS = np.arange(1.0, 6.0001, 0.5)
_CUTOFF = float(_BINS[-1])
_SHELL = 1.2
_STATS = ("mean", "std", "min", "max")
_SITE = ("cn", "bond_length", "unlike_fraction", "abs_dchi")


def _element_tables() -> tuple[np.ndarray, np.ndarray]:
    import warnings

    from pymatgen.core import Element

    chi = np.full(119, np.nan)
    mass = np.full(119, np.nan)
    for z in range(1, 119):
        try:
            el = Element.from_Z(z)
        except ValueError:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # noble gases have no Pauling electronegativity
            x = el.X
        chi[z] = x if x == x and x > 0 else np.nan
        mass[z] = float(el.atomic_mass)
    return chi, mass


_TABLES: tuple[np.ndarray, np.ndarray] | None = None


class SiteStatsFeaturizer:
    """scikit-learn-style transformer: ``transform(structures) -> (n, 38)`` float64 array.

    Every feature is invariant to the choice of cell (tested on supercells).
    """

    input_types = ("structure",)

    def __init__(self) -> None:
        pass

    def fit(self, X: Sequence[Any], y: Any = None) -> SiteStatsFeaturizer:
        return self

    def feature_labels(self) -> list[str]:
        labels = ["volume_per_atom", "density"]
        lo = _BINS[:-1]
        labels += [f"rdf_{a:.1f}" for a in lo]
        labels += [f"dchi_rdf_{a:.1f}" for a in lo]
        labels += [f"{s}_{q}" for q in _SITE for s in _STATS]
        return labels

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.feature_labels(), dtype=object)

    def transform(self, X: Sequence[Any]) -> np.ndarray:
        global _TABLES
        if _TABLES is None:
            _TABLES = _element_tables()
        chi, mass = _TABLES
        import vesin

        nl = vesin.NeighborList(cutoff=_CUTOFF, full_list=True)
        out = np.empty((len(X), len(self.feature_labels())))
        for k, obj in enumerate(X):
            out[k] = self._one(as_structure(obj), nl, chi, mass)
        return out

    @staticmethod
    def _one(s, nl, chi: np.ndarray, mass: np.ndarray) -> np.ndarray:
        if not hasattr(s, "lattice"):
            raise TypeError(f"SiteStatsFeaturizer needs periodic structures, got {type(s).__name__}")
        n = len(s)
        z = np.asarray(s.atomic_numbers)
        mat = np.asarray(s.lattice.matrix)
        vol = abs(float(np.linalg.det(mat)))
        density = float(mass[z].sum()) / vol * 1.66053906660  # amu/Å³ -> g/cm³
        cell = [vol / n, density]

        i, j, d = nl.compute(points=np.asarray(s.cart_coords), box=mat, periodic=True, quantities="ijd")
        i = np.asarray(i, dtype=np.int64)
        j = np.asarray(j, dtype=np.int64)
        d = np.asarray(d, dtype=float)
        nb = len(_BINS) - 1
        dchi = np.abs(chi[z[i]] - chi[z[j]]) if d.size else np.empty(0)
        if d.size:
            which = np.digitize(d, _BINS) - 1
            ok = (which >= 0) & (which < nb)
            rdf = np.bincount(which[ok], minlength=nb)[:nb] / n
            drdf = np.bincount(which[ok], weights=np.nan_to_num(dchi[ok]), minlength=nb)[:nb] / n
        else:
            rdf = np.zeros(nb)
            drdf = np.zeros(nb)

        site = np.full((n, len(_SITE)), np.nan)
        if d.size:
            dmin = np.full(n, np.inf)
            np.minimum.at(dmin, i, d)
            shell = d <= _SHELL * dmin[i]
            cn = np.bincount(i[shell], minlength=n).astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                bond = np.bincount(i[shell], weights=d[shell], minlength=n) / cn
                unlike = np.bincount(i[shell], weights=(z[i[shell]] != z[j[shell]]).astype(float), minlength=n) / cn
                adchi = np.bincount(i[shell], weights=np.nan_to_num(dchi[shell]), minlength=n) / cn
            has = cn > 0
            site[has] = np.column_stack([cn, bond, unlike, adchi])[has]
        stats = []
        for q in range(site.shape[1]):
            col = site[:, q]
            col = col[np.isfinite(col)]
            if col.size:
                stats += [col.mean(), col.std(), col.min(), col.max()]
            else:
                stats += [np.nan] * 4
        # labels are ordered stat-major within each quantity: mean_cn, std_cn, ...
        return np.concatenate([cell, rdf, drdf, stats])
