"""Metrics of crystal generation, as CDVAE defines them, plus uniqueness, novelty and stability.

Definitions follow T. Xie, X. Fu, O.-E. Ganea, R. Barzilay, T. Jaakkola, "Crystal Diffusion
Variational Autoencoder for Periodic Material Generation", ICLR 2022 (arXiv:2110.06197), and the
evaluation code published with it, read at github.com/txie-93/cdvae commit
f857f598d6f6cca5dc1ea0582d228f12dcc2c2ea (``CDVAE_COMMIT``): ``scripts/eval_utils.py``
(``smact_validity``, ``structure_validity``, ``compute_cov``, ``CompScaler``),
``scripts/compute_metrics.py`` (``Crystal``, ``GenEval``, ``RecEval``, ``COV_Cutoffs``) and
``cdvae/common/constants.py`` (``CompScalerMeans``, ``CompScalerStds``).

- **Validity.** Structural (``structure_validity`` there): the shortest distance between two
  different atoms of the cell, each pair at its nearest periodic image (pymatgen's
  ``Structure.distance_matrix``), is at least 0.5 Å, and the cell volume at least 0.1 Å³. An
  atom's distance to its own images is not checked, as in the script (``own_images=True`` checks
  it too). Compositional (``smact_validity``): one element, or all metals (SMACT's list), or some
  choice of one SMACT oxidation state per element is charge neutral on the reduced formula with
  every cation less electronegative (Pauling) than every anion. ``validity``: both, and the
  structure fingerprint can be computed (``Crystal.get_fingerprints`` sets ``valid = False``
  when it cannot).
- **Coverage** (``compute_cov``). Distances are Euclidean between structure fingerprints (CrystalNN
  "ops" site fingerprints averaged over sites, 61 values: ``matscibench.sim.crystalnn``) and
  between composition fingerprints (Magpie, 132 values) standardised with CDVAE's fixed means and
  standard deviations (``cdvae_composition_scaler``; NaN -> 0). COV-R: the fraction of reference
  crystals whose nearest generated crystal by structure is within the structure cut-off **and**
  whose nearest generated crystal by composition is within the composition cut-off — the two
  minima are taken separately and may come from different crystals; COV-P likewise for each
  generated crystal against the reference, over all generated crystals (those whose fingerprint
  failed count in the denominator only). Cut-offs (structure, composition): Perov-5 0.2 / 4,
  Carbon-24 0.2 / 4, MP-20 0.4 / 10. A stricter variant, ``cov_recall_joint`` /
  ``cov_precision_joint``, asks for one crystal within both cut-offs; it has its own names and is
  never set beside the paper's.
- **Property statistics** (``GenEval``). The earth mover's (1-Wasserstein) distance between 1,000
  valid generated crystals drawn at random and the whole test split, of density (g/cm³), number of
  distinct elements and a predicted property (CDVAE: its own GNN property model; ours: a
  registered property model, hence a different number).
- **Reconstruction** (``RecEval``): ``matscibench.families.generation.matching``.

Beyond CDVAE (as used by later work, e.g. MatterGen, Zeni et al., Nature 639, 624 (2025)):
uniqueness and novelty (``matching``), and stability (energy above the convex hull of the
training set after relaxation with a given potential, ``stability``), hence the S.U.N. rate.

This module holds the pure metric functions and their registry entries; what computes their
inputs at scale lives beside it: ``fingerprints`` (structure fingerprints, cached in SQLite, over
processes), ``matching`` (``StructureMatcher`` work over processes) and ``stability``
(relaxations and the convex hull).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from matscibench.metrics import MetricInfo, register_metric
from matscibench.sim.crystalnn import image_vectors, structure_arrays

__all__ = [
    "CDVAE_COMMIT",
    "COV_CUTOFFS",
    "cdvae_composition_scaler",
    "composition_validity",
    "coverage",
    "density",
    "fit_scaler",
    "min_distance",
    "scale_compositions",
    "smact_validity",
    "structure_validity",
    "wasserstein_1d",
]

#: the commit of github.com/txie-93/cdvae whose evaluation code these definitions were checked against
CDVAE_COMMIT = "f857f598d6f6cca5dc1ea0582d228f12dcc2c2ea"

# ------------------------------------------------------------------------------------- registry
_CDVAE = "Xie et al., ICLR 2022 (CDVAE), Table 2"
_EVAL = f"scripts/eval_utils.py @ {CDVAE_COMMIT[:7]}"
_COMP = f"scripts/compute_metrics.py @ {CDVAE_COMMIT[:7]}"
_MATTERGEN = "Zeni et al., Nature 639, 624 (2025) (MatterGen)"
_B01 = (0.0, 1.0)
_B0 = (0.0, float("inf"))
for _info in (
    MetricInfo(
        "cov_recall", "COV-R", True, None, _B01, "generation",
        "fraction of test crystals whose nearest generated crystal by structure fingerprint is within the structure "
        "cut-off and whose nearest generated crystal by scaled composition fingerprint is within the composition "
        "cut-off (two separate minima); CDVAE's fixed composition scaler and cut-offs",
        _CDVAE,
        f"compute_cov in {_EVAL}: struc_pdist.min(axis=0) <= struc_cutoff and comp_pdist.min(axis=0) <= comp_cutoff, "
        "CompScaler from cdvae/common/constants.py, COV_Cutoffs in compute_metrics.py",
        True,
    ),
    MetricInfo(
        "cov_precision", "COV-P", True, None, _B01, "generation",
        "fraction of generated crystals whose nearest test crystal by structure is within the structure cut-off and "
        "whose nearest test crystal by scaled composition is within the composition cut-off (separate minima); "
        "denominator: all generated crystals, those without a fingerprint included",
        _CDVAE,
        f"compute_cov in {_EVAL}: minima over axis=1, sum / num_gen_crystals (counted before filtering failed "
        "fingerprints)",
        True,
    ),
    MetricInfo(
        "cov_recall_joint", "COV-R (one crystal within both cut-offs)", True, None, _B01, "generation",
        "fraction of test crystals with one generated crystal within both the structure and the composition cut-off "
        "(stricter than COV-R: the two distances must belong to the same pair)",
        "", "", False,
    ),
    MetricInfo(
        "cov_precision_joint", "COV-P (one crystal within both cut-offs)", True, None, _B01, "generation",
        "fraction of generated crystals with one test crystal within both cut-offs (denominator: all generated)",
        "", "", False,
    ),
    MetricInfo(
        "validity", "validity", True, None, _B01, "generation",
        "fraction of generated crystals that are structurally and compositionally valid and whose structure "
        "fingerprint can be computed",
        _CDVAE,
        f"Crystal.valid in {_COMP}: comp_valid and struct_valid, set False when the CrystalNN fingerprint raises",
        True,
    ),
    MetricInfo(
        "struct_validity", "structural validity", True, None, _B01, "generation",
        "fraction of generated crystals whose atoms are all >= 0.5 Å apart (pairs of different atoms, nearest "
        "periodic image) with a cell volume >= 0.1 Å³",
        _CDVAE,
        f"structure_validity in {_EVAL} (Structure.distance_matrix, diagonal padded; volume < 0.1 Å³ invalid in "
        "Crystal.get_structure)",
        True,
    ),
    MetricInfo(
        "comp_validity", "compositional validity", True, None, _B01, "generation",
        "fraction of generated crystals whose reduced formula passes SMACT charge neutrality with the Pauling "
        "electronegativity test (unaries and all-metal alloys valid)",
        _CDVAE,
        f"smact_validity in {_EVAL} (neutral_ratios + pauling_test; its TypeError branch for a missing "
        "electronegativity is never reached with SMACT's table: every such element also lacks oxidation states)",
        True,
    ),
    MetricInfo(
        "density_emd", "EMD density", False, "g/cm³", _B0, "generation",
        "1-Wasserstein distance between the densities of n_property_samples (1,000) valid generated crystals drawn "
        "with the job's seed and those of every test crystal",
        _CDVAE,
        f"GenEval.get_density_wdist in {_COMP}: scipy wasserstein_distance of Structure.density, 1,000 valid "
        "samples (np.random.choice, unseeded) against all test crystals",
        True,
    ),
    MetricInfo(
        "n_elements_emd", "EMD # elements", False, None, _B0, "generation",
        "1-Wasserstein distance between the numbers of distinct elements of the same 1,000 valid generated crystals "
        "and of every test crystal",
        _CDVAE,
        f"GenEval.get_num_elem_wdist in {_COMP}: len(set(structure.species))",
        True,
    ),
    MetricInfo(
        "property_emd", "EMD predicted property", False, "target", _B0, "generation",
        "1-Wasserstein distance between a registered property model's predictions (fitted on the training split) "
        "for the same 1,000 valid generated crystals and for every test crystal",
        _CDVAE,
        f"GenEval.get_prop_wdist in {_COMP}: predictions of CDVAE's own trained GNN (cdvae/prop_models); a "
        "different predictor gives a different number",
        False,
    ),
    MetricInfo(
        "uniqueness", "unique", True, None, _B01, "generation",
        "fraction of generated crystals that match no earlier generated crystal (StructureMatcher() defaults), "
        "over every generated crystal; a failed generation is not unique",
        "", "", None,
    ),
    MetricInfo(
        "novelty", "novel", True, None, _B01, "generation",
        "fraction of generated crystals that match no training crystal (StructureMatcher() defaults), over every "
        "generated crystal",
        "", "", None,
    ),
    MetricInfo(
        "un_rate", "unique & novel", True, None, _B01, "generation",
        "fraction of generated crystals that are both unique and novel",
        "", "", None,
    ),
    MetricInfo(
        "stable_fraction", "stable (E above hull ≤ threshold)", True, None, _B01, "generation",
        "fraction of generated crystals that are valid and, relaxed with the task's potential, lie at most "
        "stability_threshold (0.1 eV/atom) above the convex hull of the training split (same potential); not "
        "reported, with the reason in the job's info, when no energy above the hull could be computed",
        _MATTERGEN,
        "DFT relaxation, hull of Materials Project + Alexandria references, E_hull < 0.1 eV/atom",
        False,
    ),
    MetricInfo(
        "sun_rate", "S.U.N. (stable, unique, novel)", True, None, _B01, "generation",
        "fraction of generated crystals that are stable, unique, novel and valid (not reported when stability is not)",
        _MATTERGEN,
        "stable (DFT hull, see stable_fraction), unique and novel (MatterGen's structure matcher) over all samples",
        False,
    ),
    MetricInfo(
        "match_rate", "reconstruction match rate", True, None, _B01, "generation",
        "fraction of test crystals whose reconstruction is valid and matched by StructureMatcher(stol=0.5, "
        "angle_tol=10, ltol=0.3)",
        _CDVAE,
        f"RecEval.get_match_rate_and_rms in {_COMP}: matched / all predictions, invalid ones unmatched",
        True,
    ),
    MetricInfo(
        "recon_rmse", "reconstruction RMSE (normalised)", False, None, _B0, "generation",
        "mean over the matched reconstructions of get_rms_dist's RMS displacement divided by (V/N)^(1/3)",
        _CDVAE,
        f"RecEval.get_match_rate_and_rms in {_COMP}: mean of get_rms_dist(pred, gt)[0] over matches",
        True,
    ),
):
    register_metric(_info)

#: CDVAE's coverage cut-offs (structure fingerprint distance, scaled composition distance):
#: ``COV_Cutoffs`` of scripts/compute_metrics.py (perovskite, carbon, mp20)
COV_CUTOFFS: dict[str, tuple[float, float]] = {
    "perov_5": (0.2, 4.0),
    "carbon_24": (0.2, 4.0),
    "mp_20": (0.4, 10.0),
}


@lru_cache(maxsize=None)
def _mass(species: str) -> float:
    from pymatgen.core import get_el_sp

    return float(get_el_sp(species).atomic_mass)


#: g/cm³ per amu/Å³ (pymatgen's atomic mass unit, 1.66053906892e-27 kg)
_AMU_PER_A3_IN_G_PER_CM3 = 1.66053906892


def density(structure: Any) -> float:
    """Mass density in g/cm³ (``Structure.density``, without its unit arithmetic: 1000x faster)."""
    lat, _, species = structure_arrays(structure)
    vol = abs(float(np.linalg.det(lat)))
    return sum(_mass(sp) for sp in species) / vol * _AMU_PER_A3_IN_G_PER_CM3 if vol > 0 else math.nan


# ------------------------------------------------------------------------------------- validity
def min_distance(lattice: np.ndarray, frac: np.ndarray, cutoff: float = 1.0, own_images: bool = True) -> float:
    """Shortest distance (Å) between two atoms of a periodic structure (every periodic image;
    with ``own_images`` an atom and its own images count as two atoms); ``inf`` when none is
    shorter than ``cutoff``."""
    lattice = np.asarray(lattice, dtype=float)
    if abs(np.linalg.det(lattice)) < 1e-12:
        return 0.0
    F = np.asarray(frac, dtype=float).reshape(-1, 3)
    F = F - np.floor(F)
    T = image_vectors(lattice, cutoff) @ lattice
    cart = F @ lattice
    best = math.inf
    n = len(F)
    origin = np.all(T == 0, axis=1)
    for i in range(n):
        d = cart[None, :, :] - cart[i] + T[:, None, :]  # (nT, n, 3)
        r2 = np.einsum("tjk,tjk->tj", d, d)
        if own_images:
            r2[origin, i] = np.inf  # the atom itself
        else:
            r2[:, i] = np.inf  # the atom and all its images
        m = float(r2.min())
        best = min(best, m)
    return math.sqrt(best) if best < cutoff * cutoff else math.inf


def structure_validity(structure: Any, cutoff: float = 0.5, own_images: bool = False) -> bool:
    """CDVAE's structural validity (``structure_validity`` of scripts/eval_utils.py, and
    ``Crystal.get_structure``'s volume test): no two different atoms closer than ``cutoff`` Å at
    any periodic image, and a cell volume of at least 0.1 Å³. ``own_images=True`` also fails an
    atom closer than ``cutoff`` to its own image (a lattice vector shorter than ``cutoff``), which
    CDVAE's distance matrix does not see."""
    lat, frac, _ = structure_arrays(structure)
    if not np.all(np.isfinite(lat)) or not np.all(np.isfinite(frac)):
        return False
    if abs(np.linalg.det(lat)) < 0.1:
        return False
    return min_distance(lat, frac, cutoff=max(cutoff, 1e-6), own_images=own_images) >= cutoff


@lru_cache(maxsize=None)
def _smact_data() -> tuple[dict[str, tuple[int, ...]], dict[str, float | None], frozenset[str]]:
    try:
        import smact
    except ImportError as exc:  # pragma: no cover - smact is a dependency
        raise ImportError("compositional validity needs SMACT: pip install smact") from exc
    ox: dict[str, tuple[int, ...]] = {}
    en: dict[str, float | None] = {}
    for sym, el in smact.element_dictionary().items():
        ox[sym] = tuple(int(o) for o in (el.oxidation_states or ()))
        en[sym] = el.pauling_eneg
    return ox, en, frozenset(smact.metals)


@lru_cache(maxsize=200_000)
def smact_validity(elements: tuple[str, ...], counts: tuple[int, ...]) -> bool:
    """Charge neutrality with electronegativity balance for ``elements`` in ``counts`` (reduced).

    Valid: one element; or all metals (SMACT's list); or some assignment of one SMACT oxidation
    state per element with ``sum(ox_i * counts_i) == 0`` in which every cation (ox > 0) is less
    electronegative than every anion (ox < 0). A pair with an unknown Pauling electronegativity
    does not fail the test (the reference script treats SMACT's TypeError as a pass). An element
    without SMACT oxidation states makes a multi-element, non-alloy composition invalid.
    """
    if len(set(elements)) == 1:
        return True
    ox_table, en_table, metals = _smact_data()
    if all(e in metals for e in elements):
        return True
    states = [ox_table.get(e, ()) for e in elements]
    if any(len(s) == 0 for s in states):
        return False
    c = np.asarray(counts, dtype=np.int64)
    en = np.array([np.nan if en_table.get(e) is None else float(en_table[e]) for e in elements])
    arrays = [np.asarray(s, dtype=np.int64) for s in states]
    # enumerate assignments in blocks over the first element to bound memory
    rest = arrays[1:]
    if rest:
        grids = np.meshgrid(*rest, indexing="ij")
        rest_states = np.stack([g.ravel() for g in grids], 1)  # (m, k-1)
    else:
        rest_states = np.zeros((1, 0), dtype=np.int64)
    rest_charge = rest_states @ c[1:]
    for o0 in arrays[0]:
        hit = np.nonzero(o0 * c[0] + rest_charge == 0)[0]
        for h in hit:
            ox = np.concatenate([[o0], rest_states[h]])
            cat, an = ox > 0, ox < 0
            ce, ae = en[cat], en[an]
            ce, ae = ce[~np.isnan(ce)], ae[~np.isnan(ae)]
            if len(ce) == 0 or len(ae) == 0 or ce.max() < ae.min():
                return True
    return False


def composition_validity(structure_or_composition: Any) -> bool:
    """``smact_validity`` of the reduced formula of a structure or composition."""
    from matscibench.data.structures import composition_of

    comp = composition_of(structure_or_composition)
    amounts: dict[str, float] = {}
    for el, amt in comp.element_composition.items():
        amounts[el.symbol] = amounts.get(el.symbol, 0.0) + float(amt)
    syms = tuple(sorted(amounts))
    cnt = np.array([amounts[s] for s in syms])
    if not np.allclose(cnt, np.round(cnt)):
        return False
    ints = np.round(cnt).astype(np.int64)
    g = int(np.gcd.reduce(ints))
    return smact_validity(syms, tuple(int(x) for x in ints // max(g, 1)))



def fit_scaler(comp_fps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per composition feature (NaN ignored; a constant or unknown
    feature gets mean 0 / std 1)."""
    X = np.asarray(comp_fps, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = np.nanmean(X, axis=0)
        std = np.nanstd(X, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
    return mean, std


def scale_compositions(comp_fps: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Standardise; NaN (unknown element data) becomes 0, as CDVAE's ``StandardScaler`` does."""
    Z = (np.asarray(comp_fps, dtype=float) - mean) / std
    return np.where(np.isnan(Z), 0.0, Z)


@lru_cache(maxsize=1)
def cdvae_composition_scaler() -> tuple[np.ndarray, np.ndarray]:
    """CDVAE's fixed composition scaler: (means, standard deviations), 132 values each, in the order
    of the Magpie features (matminer's order, ``composition_fingerprints``' columns).

    ``CompScalerMeans`` / ``CompScalerStds`` of ``cdvae/common/constants.py`` (github.com/txie-93/cdvae,
    commit f857f598d6f6cca5dc1ea0582d228f12dcc2c2ea, MIT license), which ``scripts/eval_utils.py``
    (``CompScaler``) applies before the coverage distances; shipped as
    ``matscibench/data/tables/cdvae_composition_scaler.csv`` (written by ``tools/make_cdvae_scaler.py``).
    """
    from importlib import resources

    import pandas as pd

    from matscibench.featurizers.magpie import magpie_feature_labels

    import io

    text = (resources.files("matscibench") / "data" / "tables" / "cdvae_composition_scaler.csv").read_text("utf-8")
    df = pd.read_csv(io.StringIO(text), comment="#")
    if list(df["feature"]) != magpie_feature_labels():
        raise ValueError("cdvae_composition_scaler.csv: feature labels differ from the Magpie featurizer's order; "
                         "regenerate it with tools/make_cdvae_scaler.py")
    return df["mean"].to_numpy(float), df["std"].to_numpy(float)


# ------------------------------------------------------------------------------- distributions
def wasserstein_1d(u: Sequence[float], v: Sequence[float]) -> float:
    """Earth mover's distance between two 1-D empirical distributions (equal weights): the area
    between their cumulative distribution functions, in the unit of the values
    (``scipy.stats.wasserstein_distance``)."""
    u = np.sort(np.asarray(u, dtype=float))
    v = np.sort(np.asarray(v, dtype=float))
    if len(u) == 0 or len(v) == 0:
        return float("nan")
    allv = np.sort(np.concatenate([u, v]))
    deltas = np.diff(allv)
    cu = np.searchsorted(u, allv[:-1], side="right") / len(u)
    cv = np.searchsorted(v, allv[:-1], side="right") / len(v)
    return float(np.sum(np.abs(cu - cv) * deltas))


def _min_dists(A: np.ndarray, B: np.ndarray, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(min over B for each row of A, min over A for each row of B) of Euclidean distances."""
    ra = np.full(len(A), np.inf)
    rb = np.full(len(B), np.inf)
    bb = np.einsum("ij,ij->i", B, B)
    for s in range(0, len(A), block):
        a = A[s : s + block]
        d2 = np.einsum("ij,ij->i", a, a)[:, None] + bb[None, :] - 2 * a @ B.T
        np.maximum(d2, 0, out=d2)
        ra[s : s + block] = d2.min(axis=1)
        rb = np.minimum(rb, d2.min(axis=0))
    return np.sqrt(ra), np.sqrt(rb)


def coverage(
    gen_struct: np.ndarray,
    gen_comp: np.ndarray,
    ref_struct: np.ndarray,
    ref_comp: np.ndarray,
    struct_cutoff: float,
    comp_cutoff: float,
    n_generated: int | None = None,
) -> dict[str, float]:
    """CDVAE's COV-R and COV-P (fractions), the joint-rule variants and the mean nearest distances.

    ``cov_recall`` / ``cov_precision``: CDVAE's rule (``compute_cov`` of scripts/eval_utils.py):
    a reference crystal is covered when its nearest generated crystal by structure fingerprint is
    within ``struct_cutoff`` and its nearest generated crystal by composition is within
    ``comp_cutoff``; the two nearest crystals may differ. ``cov_recall_joint`` /
    ``cov_precision_joint``: one crystal must be within both cut-offs (our stricter variant).
    ``amsd_*`` / ``amcd_*``: mean nearest structure / composition distance (CDVAE's AMSD, AMCD).

    ``gen_*`` rows with a NaN structure fingerprint or no composition (all NaN) are left out of the
    distances but counted in COV-P's denominator (``n_generated``, default: all rows), as CDVAE's
    ``num_gen_crystals``; a reference row without a fingerprint counts as not covered (CDVAE's
    script has no such row). Composition fingerprints must already be scaled
    (``scale_compositions``; NaN values are 0 there).
    """
    gs, gc = np.asarray(gen_struct, float), np.asarray(gen_comp, float)
    rs, rc = np.asarray(ref_struct, float), np.asarray(ref_comp, float)
    n_gen = len(gs) if n_generated is None else int(n_generated)
    n_ref = len(rs)
    ok = np.all(np.isfinite(gs), axis=1) & np.all(np.isfinite(gc), axis=1)
    rok = np.all(np.isfinite(rs), axis=1) & np.all(np.isfinite(rc), axis=1)
    gs, gc, rs, rc = gs[ok], gc[ok], rs[rok], rc[rok]
    if len(gs) == 0 or len(rs) == 0:
        nan = math.nan
        return {"cov_recall": 0.0, "cov_precision": 0.0, "cov_recall_joint": 0.0, "cov_precision_joint": 0.0,
                "amsd_recall": nan, "amsd_precision": nan, "amcd_recall": nan, "amcd_precision": nan}
    s_prec, s_rec = _min_dists(gs, rs)
    c_prec, c_rec = _min_dists(gc, rc)
    rec = (s_rec <= struct_cutoff) & (c_rec <= comp_cutoff)
    prec = (s_prec <= struct_cutoff) & (c_prec <= comp_cutoff)
    # the joint rule needs both distances of one pair: work per pair in blocks
    rec_j = np.zeros(len(rs), dtype=bool)
    prec_j = np.zeros(len(gs), dtype=bool)
    bs, bc = np.einsum("ij,ij->i", rs, rs), np.einsum("ij,ij->i", rc, rc)
    for s in range(0, len(gs), 1024):
        a, b = gs[s : s + 1024], gc[s : s + 1024]
        ds = np.einsum("ij,ij->i", a, a)[:, None] + bs[None, :] - 2 * a @ rs.T
        dc = np.einsum("ij,ij->i", b, b)[:, None] + bc[None, :] - 2 * b @ rc.T
        close = (np.sqrt(np.maximum(ds, 0)) <= struct_cutoff) & (np.sqrt(np.maximum(dc, 0)) <= comp_cutoff)
        prec_j[s : s + 1024] = close.any(axis=1)
        rec_j |= close.any(axis=0)
    return {
        "cov_recall": float(rec.sum() / max(n_ref, 1)),
        "cov_precision": float(prec.sum() / max(n_gen, 1)),
        "cov_recall_joint": float(rec_j.sum() / max(n_ref, 1)),
        "cov_precision_joint": float(prec_j.sum() / max(n_gen, 1)),
        "amsd_recall": float(s_rec.mean()),
        "amsd_precision": float(s_prec.mean()),
        "amcd_recall": float(c_rec.mean()),
        "amcd_precision": float(c_prec.mean()),
    }
