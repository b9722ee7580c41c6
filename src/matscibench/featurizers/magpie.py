"""Vectorised Magpie composition features, value for value equal to matminer's Magpie preset.

For each of 22 elemental properties (Ward, Agrawal, Choudhary & Wolverton, npj Comput. Mater. 2,
16028 (2016)) and each of six statistics over the elements of a composition, weighted by their
amounts, one feature: 132 in all, labelled ``"MagpieData <stat> <property>"`` in matminer's order
(property-major, statistic-minor).

The statistics, for element values ``x_i`` and amounts ``w_i`` (atoms per formula as written):

- ``minimum``, ``maximum``, ``range``: of the ``x_i``, unweighted;
- ``mean``: ``sum(w_i x_i) / sum(w_i)``;
- ``avg_dev``: ``sum(w_i |x_i - mean|) / sum(w_i)``;
- ``mode``: the smallest ``x_i`` among the elements whose amount is ``np.isclose`` (default
  tolerances, ``rtol=1e-5``, ``atol=1e-8`` in atoms) to the largest amount.

Each feature has the unit of its property (``range``, ``mean``, ``avg_dev`` too): Number,
MendeleevNumber, Column, Row and SpaceGroupNumber are dimensionless; AtomicWeight is in g/mol;
MeltingT in K; CovalentRadius in pm; Electronegativity on the Pauling scale; the ``N*Valence``
and ``N*Unfilled`` counts in electrons per atom; GSvolume_pa in Å^3/atom; GSbandgap in eV;
GSmagmom in Bohr magnetons per atom.

Agreement with ``matminer.featurizers.composition.ElementProperty.from_preset("magpie")``
(matminer 0.10.1) is exact, not approximate:

- amounts are those of ``Composition.element_composition`` (oxidation states dropped, species of
  one element merged in order of first appearance, amounts below 1e-8 dropped), unnormalised;
- sums are taken in the same order as numpy's pairwise summation of a 1-D vector, so that, e.g.,
  ``avg_dev`` of a composition whose elements share a value is the same tiny number (or zero);
- unknown values: with ``impute_nan=True`` (matminer 0.10.1's default) every unknown value of a
  property is replaced by that property's mean over the known values of Z = 1..118; with
  ``impute_nan=False`` an unknown value makes ``minimum``, ``maximum``, ``range``, ``mean`` and
  ``avg_dev`` NaN, and ``mode`` NaN only when the element with the unknown value is among the most
  abundant.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from matscibench.data.structures import composition_of

__all__ = [
    "MAGPIE_PROPERTIES",
    "MAGPIE_STATS",
    "MAGPIE_UNITS",
    "MagpieTable",
    "MagpieFeaturizer",
    "load_magpie_table",
    "magpie_feature_labels",
]

#: The 22 elemental properties of the Magpie preset, in matminer's order.
MAGPIE_PROPERTIES: tuple[str, ...] = (
    "Number",
    "MendeleevNumber",
    "AtomicWeight",
    "MeltingT",
    "Column",
    "Row",
    "CovalentRadius",
    "Electronegativity",
    "NsValence",
    "NpValence",
    "NdValence",
    "NfValence",
    "NValence",
    "NsUnfilled",
    "NpUnfilled",
    "NdUnfilled",
    "NfUnfilled",
    "NUnfilled",
    "GSvolume_pa",
    "GSbandgap",
    "GSmagmom",
    "SpaceGroupNumber",
)

#: The six statistics of the preset, in matminer's order.
MAGPIE_STATS: tuple[str, ...] = ("minimum", "maximum", "range", "mean", "avg_dev", "mode")

#: Unit of each property (and of every statistic of it); "" for dimensionless numbers.
MAGPIE_UNITS: dict[str, str] = {
    "Number": "",
    "MendeleevNumber": "",
    "AtomicWeight": "g/mol",
    "MeltingT": "K",
    "Column": "",
    "Row": "",
    "CovalentRadius": "pm",
    "Electronegativity": "Pauling",
    "NsValence": "electrons",
    "NpValence": "electrons",
    "NdValence": "electrons",
    "NfValence": "electrons",
    "NValence": "electrons",
    "NsUnfilled": "electrons",
    "NpUnfilled": "electrons",
    "NdUnfilled": "electrons",
    "NfUnfilled": "electrons",
    "NUnfilled": "electrons",
    "GSvolume_pa": "Å^3/atom",
    "GSbandgap": "eV",
    "GSmagmom": "μB/atom",
    "SpaceGroupNumber": "",
}

_TABLE_PATH = ("data", "tables", "magpie_elements.csv")  # inside the matscibench package
_CHUNK_ROWS = 8192  # distinct compositions per vectorised block (bounds temporary memory)


def magpie_feature_labels() -> list[str]:
    """The 132 labels, ``"MagpieData <stat> <property>"``, in matminer's order."""
    return [f"MagpieData {stat} {prop}" for prop in MAGPIE_PROPERTIES for stat in MAGPIE_STATS]


@dataclass(frozen=True)
class MagpieTable:
    """Magpie elemental values for Z = 1..N (row ``Z - 1``), columns as ``MAGPIE_PROPERTIES``.

    Attributes:
        symbols: element symbols, row order.
        z: atomic numbers, shape (N,).
        raw: values as tabulated, NaN where unknown, shape (N, 22); units in ``MAGPIE_UNITS``.
        imputed: ``raw`` with each NaN replaced by its column's mean over known values.
        index: symbol -> row.
    """

    symbols: tuple[str, ...]
    z: np.ndarray
    raw: np.ndarray
    imputed: np.ndarray
    index: dict[str, int]


def _read_table_text() -> str:
    ref = resources.files("matscibench")
    for part in _TABLE_PATH:
        ref = ref / part
    return ref.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def load_magpie_table() -> MagpieTable:
    """Load (once per process) the element table written by ``tools/make_magpie_table.py``."""
    lines = [ln for ln in io.StringIO(_read_table_text()) if ln.strip() and not ln.startswith("#")]
    reader = csv.reader(lines)
    header = next(reader)
    if tuple(header) != ("Z", "symbol", *MAGPIE_PROPERTIES):
        raise ValueError(f"unexpected columns in magpie_elements.csv: {header}")
    symbols: list[str] = []
    zs: list[int] = []
    rows: list[list[float]] = []
    for rec in reader:
        zs.append(int(rec[0]))
        symbols.append(rec[1])
        rows.append([float(v) for v in rec[2:]])  # float() parses the shortest repr exactly
    z = np.asarray(zs, dtype=np.int64)
    if not np.array_equal(z, np.arange(1, len(z) + 1)):
        raise ValueError("magpie_elements.csv must list Z = 1, 2, ... in order")
    raw = np.asarray(rows, dtype=np.float64)
    imputed = raw.copy()
    for j in range(raw.shape[1]):
        # Mean over all Z rows, NaN skipped, computed on a contiguous vector in Z order (as matminer
        # does) so that the imputed value is the same double.
        col = np.ascontiguousarray(raw[:, j])
        fill = np.nanmean(col) if np.isfinite(col).any() else math.nan
        imputed[np.isnan(col), j] = fill
    raw.setflags(write=False)
    imputed.setflags(write=False)
    z.setflags(write=False)
    return MagpieTable(tuple(symbols), z, raw, imputed, {s: i for i, s in enumerate(symbols)})


def _numpy_order_sum(terms: Sequence[np.ndarray]) -> np.ndarray:
    """Row-wise sums, rounded exactly as ``np.add.reduce`` of a contiguous float64 vector.

    ``terms[j]`` holds element ``j`` of every row's vector (any common shape). numpy sums a
    contiguous vector of length n pairwise: below 8 terms one after the other; up to 128 with eight
    interleaved partial sums combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) and the remainder
    added in turn; longer vectors split in two halves (first half a multiple of 8), recursively.
    The reduction starts from the identity 0.0.
    """
    return 0.0 + _pairwise(list(terms))


def _pairwise(terms: list[np.ndarray]) -> np.ndarray:
    n = len(terms)
    if n < 8:
        res = np.zeros_like(terms[0])
        for t in terms:
            res = res + t
        return res
    if n <= 128:
        r = list(terms[:8])
        i = 8
        stop = n - n % 8
        while i < stop:
            for j in range(8):
                r[j] = r[j] + terms[i + j]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for t in terms[i:]:
            res = res + t
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(terms[:n2]) + _pairwise(terms[n2:])


def _block_stats(values: np.ndarray, amounts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Statistics for a block of compositions.

    Args:
        values: (m, kmax, P) property values of each composition's elements (padding ignored).
        amounts: (m, kmax) amounts of those elements in atoms per formula, 0 in the padding.
        counts: (m,) number of elements of each composition (>= 1).

    Returns:
        (m, P, 6) array: minimum, maximum, range, mean, avg_dev, mode (units of each property).
    """
    m, kmax, n_prop = values.shape
    valid = np.arange(kmax)[None, :] < counts[:, None]
    vvalid = valid[:, :, None]
    out = np.empty((m, n_prop, len(MAGPIE_STATS)), dtype=np.float64)
    # min/max propagate NaN, as matminer returns NaN for these when any value is NaN.
    vmin = np.where(vvalid, values, np.inf).min(axis=1)
    vmax = np.where(vvalid, values, -np.inf).max(axis=1)
    out[:, :, 0] = vmin
    out[:, :, 1] = vmax
    out[:, :, 2] = vmax - vmin
    # Weighted mean and mean absolute deviation, summing in numpy's order for each vector length.
    for k in np.unique(counts):
        k = int(k)
        rows = np.flatnonzero(counts == k)
        v = values[rows, :k, :]
        w = amounts[rows, :k]
        total = _numpy_order_sum([w[:, j] for j in range(k)])[:, None]
        weighted = v * w[:, :, None]
        mean = _numpy_order_sum([weighted[:, j, :] for j in range(k)]) / total
        dev = np.abs(v - mean[:, None, :]) * w[:, :, None]
        out[rows, :, 3] = mean
        out[rows, :, 4] = _numpy_order_sum([dev[:, j, :] for j in range(k)]) / total
    # Mode: smallest value among the elements whose amount is close to the largest amount.
    wmax = np.where(valid, amounts, -np.inf).max(axis=1)
    top = np.isclose(amounts, wmax[:, None]) & valid
    out[:, :, 5] = np.where(top[:, :, None], values, np.inf).min(axis=1)
    return out


def _element_amounts(comp: Any) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Element symbols and amounts as ``comp.element_composition.items()`` would list them."""
    tol = type(comp).amount_tolerance
    merged: dict[str, float] = {}
    for species, amount in comp.items():
        sym = species.symbol
        merged[sym] = merged.get(sym, 0.0) + amount
    kept = [(s, float(a)) for s, a in merged.items() if abs(a) >= tol]
    if not kept:
        return (), ()
    syms, amts = zip(*kept)
    return syms, amts


def _as_item_list(X: Any) -> list[Any]:
    """The items of ``X`` as a list; rejects a single item passed in place of a sequence."""
    from pymatgen.core import Composition

    if isinstance(X, (str, bytes, Composition)) or hasattr(X, "composition"):
        raise TypeError("X must be a sequence of items (formulae, Compositions, ...), not one item")
    if type(X).__name__ == "Atoms" and hasattr(X, "get_chemical_symbols"):
        raise TypeError("X must be a sequence of ASE Atoms, not a single Atoms")
    if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2:  # one-column DataFrame
        if X.shape[1] != 1:
            raise ValueError(f"X has {X.shape[1]} columns; expected one column of items")
        X = X.iloc[:, 0]
    elif isinstance(X, np.ndarray) and X.ndim == 2:
        if X.shape[1] != 1:
            raise ValueError(f"X has {X.shape[1]} columns; expected one column of items")
        X = X[:, 0]
    return list(X)


class MagpieFeaturizer(TransformerMixin, BaseEstimator):
    """Magpie composition features (132 per item), equal to matminer's ``from_preset("magpie")``.

    A stateless scikit-learn transformer. Items may be pymatgen ``Composition``, ``Structure`` or
    ``Molecule`` objects, ASE ``Atoms`` or formula strings. Each distinct item (same string, or same
    object) is converted to a composition once; all statistics are then computed with numpy over
    all distinct compositions at once.

    Args:
        impute_nan: replace unknown elemental values by the property's mean over the table
            (matminer 0.10.1's default, True) or leave them NaN (False), which makes some features
            NaN for compositions containing such elements.
    """

    def __init__(self, impute_nan: bool = True) -> None:
        self.impute_nan = impute_nan

    def fit(self, X: Any, y: Any = None) -> MagpieFeaturizer:
        """Nothing to learn; returns ``self``."""
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __sklearn_tags__(self):  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"requires_fit": False, "stateless": True, "X_types": ["string"]}

    def feature_labels(self) -> list[str]:
        """The 132 feature labels, identical to matminer's ``feature_labels()``."""
        return magpie_feature_labels()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The feature labels as an object array (scikit-learn convention)."""
        return np.asarray(self.feature_labels(), dtype=object)

    @staticmethod
    def citations() -> list[str]:
        """Reference for the elemental data and the feature set."""
        return [
            "L. Ward, A. Agrawal, A. Choudhary, C. Wolverton, A general-purpose machine learning "
            "framework for predicting properties of inorganic materials, npj Comput. Mater. 2, "
            "16028 (2016), doi:10.1038/npjcompumats.2016.28"
        ]

    def transform(self, X: Any) -> np.ndarray:
        """Featurise a sequence of items.

        Returns:
            float64 array of shape (len(X), 132), columns as ``feature_labels()``; units are those
            of the underlying property (see ``MAGPIE_UNITS``).

        Raises:
            ValueError: an item has an element outside the Magpie table, has no elements, or
                cannot be turned into a composition (the message names the item index).
            TypeError: an item is of a type that has no composition, or ``X`` is a single item.
        """
        items = _as_item_list(X)
        table = load_magpie_table()
        data = table.imputed if self.impute_nan else table.raw
        n_features = len(MAGPIE_PROPERTIES) * len(MAGPIE_STATS)

        # 1. Distinct items -> distinct element/amount lists -> table rows.
        row_of_item = np.empty(len(items), dtype=np.intp)
        by_item: dict[tuple[str, Any], int] = {}
        by_content: dict[tuple[tuple[str, ...], tuple[float, ...]], int] = {}
        flat_cols: list[int] = []
        flat_amts: list[float] = []
        counts: list[int] = []
        index = table.index
        for i, obj in enumerate(items):
            key = ("s", obj) if isinstance(obj, str) else ("o", id(obj))
            row = by_item.get(key)
            if row is None:
                try:
                    comp = composition_of(obj)
                except (ValueError, KeyError) as exc:
                    raise ValueError(f"item {i} ({obj!r}): cannot read a composition: {exc}") from exc
                except TypeError as exc:
                    raise TypeError(f"item {i}: {exc}") from exc
                syms, amts = _element_amounts(comp)
                if not syms:
                    raise ValueError(f"item {i} ({obj!r}) has an empty composition")
                content = (syms, amts)
                row = by_content.get(content)
                if row is None:
                    try:
                        cols = [index[s] for s in syms]
                    except KeyError as exc:
                        raise ValueError(
                            f"item {i} ({obj!r}): element {exc.args[0]!r} is not in the Magpie "
                            f"element table (Z = 1..{len(table.symbols)})"
                        ) from None
                    row = by_content[content] = len(counts)
                    flat_cols.extend(cols)
                    flat_amts.extend(amts)
                    counts.append(len(cols))
                by_item[key] = row
            row_of_item[i] = row
        if not counts:
            return np.empty((0, n_features), dtype=np.float64)

        # 2. Padded (distinct composition x element slot) arrays of table rows and amounts.
        k = np.asarray(counts, dtype=np.intp)
        m, kmax = len(k), int(k.max())
        starts = np.concatenate(([0], np.cumsum(k)[:-1]))
        owner = np.repeat(np.arange(m), k)
        slot = np.arange(len(flat_cols)) - np.repeat(starts, k)
        pad = data.shape[0]  # an all-zero row appended to the table
        cols_mat = np.full((m, kmax), pad, dtype=np.intp)
        cols_mat[owner, slot] = flat_cols
        amt_mat = np.zeros((m, kmax), dtype=np.float64)
        amt_mat[owner, slot] = flat_amts
        data_ext = np.vstack([data, np.zeros((1, data.shape[1]))])

        # 3. Statistics, vectorised over blocks of distinct compositions.
        feats = np.empty((m, n_features), dtype=np.float64)
        for lo in range(0, m, _CHUNK_ROWS):
            hi = min(lo + _CHUNK_ROWS, m)
            block = _block_stats(data_ext[cols_mat[lo:hi]], amt_mat[lo:hi], k[lo:hi])
            feats[lo:hi] = block.reshape(hi - lo, n_features)
        return feats[row_of_item]
