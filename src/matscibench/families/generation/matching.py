"""Matching generated crystals with ``StructureMatcher``: reconstruction, uniqueness, novelty.

- **Reconstruction** (CDVAE, Xie et al., ICLR 2022; ``RecEval`` in ``scripts/compute_metrics.py``
  of github.com/txie-93/cdvae, commit f857f598d6f6cca5dc1ea0582d228f12dcc2c2ea): match rate = the
  fraction of test crystals whose reconstruction is valid and matched by
  ``StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)``; RMSE = the mean of ``get_rms_dist``'s
  normalised RMS displacement over the matched ones.
- **Uniqueness**: a generated crystal is unique when it matches no earlier generated crystal
  (the first of a group of duplicates is unique, so the unique fraction is the number of distinct
  crystals over the number generated); **novelty**: it matches no training crystal. Both with
  ``StructureMatcher()`` defaults (ltol 0.2, stol 0.3, angle_tol 5°, primitive cells, volumes
  scaled), over every generated crystal.

Making that affordable for 10,000 crystals (``StructureMatcher.fit`` costs 5-40 ms a pair):

1. Identical crystals (same lattice, species and coordinates, ``structure_key``) are duplicates
   without a comparison.
2. Every other crystal is reduced once (primitive, Niggli: what the matcher does itself) and put
   in a bucket of (reduced formula, number of sites of the reduced cell). With the default
   ``attempt_supercell=False`` and ``allow_subset=False``, ``fit`` returns False for crystals of
   different reduced formulas or different numbers of reduced sites (``StructureMatcher._strict_match``
   requires a square site mask), so buckets lose no match.
3. Inside a bucket a pair is compared only if its reduced lattices are compatible: ``fit`` maps
   each reduced lattice vector of one crystal onto a lattice vector of the other within a length
   ratio of 1 + ltol (``Lattice.find_all_mappings``) after scaling both to the same volume, so the
   sorted Niggli lengths over V^(1/3) of one can exceed the other's by at most 1 + ltol each; we
   skip a pair only when that fails in both directions, with a further 10 % margin.
4. Optionally (``fp_tol``), only pairs whose structure fingerprints lie within ``fp_tol`` are
   compared, nearest first; a crystal stops at its first match. This is the one heuristic step:
   two matching crystals with very different CrystalNN fingerprints would be missed.
   ``max_candidates`` caps the comparisons per crystal (None: no cap).

Buckets are independent, so uniqueness runs bucket by bucket over ``n_jobs`` processes; novelty
runs crystal by crystal.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from matscibench.families.generation.fingerprints import structure_key

__all__ = ["novel_flags", "reconstruction_rms", "reduce_structures", "unique_flags"]

#: extra factor on the lattice-length bound of step 3 (rounding in Niggli reduction, volume scaling)
LATTICE_MARGIN = 1.1


def _matcher(kind: str = "default"):
    from pymatgen.analysis.structure_matcher import StructureMatcher

    if kind == "reconstruction":
        return StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)
    return StructureMatcher()


def _pool_map(func: Callable, items: list, n_jobs: int, chunk: int = 16) -> list:
    """``[func(x) for x in items]``, over ``n_jobs`` forked processes when it is worth it.

    Deliberately forked (not ``parallel.process_pool``): the workers start with pymatgen's
    ``StructureMatcher`` machinery already imported, so short matching runs (a few hundred pairs)
    do not pay an interpreter start and pymatgen import per worker."""
    if n_jobs <= 1 or len(items) < 2 * chunk:
        return [func(x) for x in items]
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        return [func(x) for x in items]
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(func, items, chunksize=chunk))


# ------------------------------------------------------------------------------ reconstruction
def _rms_pair(args) -> float:
    pred, true = args
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = _matcher("reconstruction").get_rms_dist(pred, true)
    except Exception:
        r = None
    return float(r[0]) if r is not None else math.nan


def reconstruction_rms(
    pred: Sequence[Any], true: Sequence[Any], valid: Sequence[bool] | None = None, n_jobs: int = 1
) -> np.ndarray:
    """Per pair: the normalised RMS displacement of ``StructureMatcher(stol=0.5, angle_tol=10,
    ltol=0.3).get_rms_dist(pred, true)`` (dimensionless: displacements over (V/N)^(1/3)); NaN when
    the prediction is missing, invalid or not matched."""
    out = np.full(len(pred), np.nan)
    todo = [i for i in range(len(pred)) if pred[i] is not None and (valid is None or valid[i])]
    vals = _pool_map(_rms_pair, [(pred[i], true[i]) for i in todo], n_jobs)
    out[todo] = vals
    return out


# ------------------------------------------------------------------------------ reduction, buckets
def _reduced(s):
    """Primitive, Niggli-reduced copy as ``StructureMatcher`` prepares it (None if that fails)."""
    if s is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _matcher()._get_reduced_structure(s, True, True)
    except Exception:
        return None


def reduce_structures(structures: Sequence[Any], n_jobs: int = 1) -> list:
    """``StructureMatcher``'s reduced (primitive, Niggli) copy of each structure; None where it fails."""
    return _pool_map(_reduced, list(structures), n_jobs)


def _bucket_key(red) -> tuple[str, int]:
    return red.composition.reduced_formula, len(red)


def _lattice_signature(red) -> np.ndarray:
    """Sorted reduced-cell lengths over V^(1/3) (the matcher scales volumes before comparing)."""
    lat = red.lattice
    return np.sort(np.asarray(lat.abc, dtype=float)) / abs(lat.volume) ** (1 / 3)


def _lattice_ok(sig: np.ndarray, sigs: np.ndarray, ltol: float = 0.2) -> np.ndarray:
    """For each row of ``sigs``: can a crystal with that signature match one with ``sig``?"""
    bound = (1 + ltol) * LATTICE_MARGIN
    if len(sigs) == 0:
        return np.zeros(0, dtype=bool)
    a = np.all(sigs <= bound * sig, axis=1)
    b = np.all(sig <= bound * sigs, axis=1)
    return a | b


def _fit(a, b) -> bool:
    if a is None or b is None:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bool(_matcher().fit(a, b, skip_structure_reduction=True))
    except Exception:
        return False


def _order(sig, fp, cand: np.ndarray, sigs: np.ndarray, fps: np.ndarray | None, fp_tol: float | None,
           max_candidates: int | None) -> np.ndarray:
    """The candidates (positions into ``sigs``/``fps``) worth a ``fit``, nearest fingerprint first."""
    if len(cand) == 0:
        return cand
    cand = cand[_lattice_ok(sig, sigs[cand])]
    if fps is not None and fp is not None and np.all(np.isfinite(fp)) and len(cand):
        b = fps[cand]
        d = np.full(len(cand), np.inf)
        ok = np.all(np.isfinite(b), axis=1)
        d[ok] = np.sqrt(((b[ok] - fp) ** 2).sum(axis=1))
        keep = np.ones(len(cand), dtype=bool) if fp_tol is None else (d <= fp_tol) | ~ok
        cand, d = cand[keep], d[keep]
        cand = cand[np.argsort(d, kind="stable")]
    return cand if max_candidates is None else cand[: int(max_candidates)]


def _unique_in_bucket(args) -> tuple[list[bool], int]:
    """(duplicate flag of each member, in order; number of ``fit`` calls)."""
    reds, sigs, fps, fp_tol, max_candidates = args
    reps: list[int] = []
    dup = [False] * len(reds)
    n_fit = 0
    for k in range(len(reds)):
        fp = fps[k] if fps is not None else None
        for c in _order(sigs[k], fp, np.asarray(reps, dtype=int), sigs, fps, fp_tol, max_candidates):
            n_fit += 1
            if _fit(reds[c], reds[k]):
                dup[k] = True
                break
        if not dup[k]:
            reps.append(k)
    return dup, n_fit


def unique_flags(
    structures: Sequence[Any],
    struct_fp: np.ndarray | None = None,
    fp_tol: float | None = None,
    max_candidates: int | None = None,
    keys: Sequence[str] | None = None,
    n_jobs: int = 1,
    reduced: Sequence[Any] | None = None,
    stats: dict[str, int] | None = None,
) -> np.ndarray:
    """True for each structure that matches no earlier one (``StructureMatcher()`` defaults); the
    first of a group of duplicates is unique. ``None`` items (failed generations) are not unique.

    Steps 1-4 of the module docstring: identical copies, buckets of (formula, reduced sites),
    compatible lattices, and with ``struct_fp`` and ``fp_tol`` the fingerprint screen (nearest
    first, at most ``max_candidates``). A structure is compared with the earlier distinct crystals
    of its bucket (one per group of matches), so a structure matching a later member of a group
    but not its first is unique (``StructureMatcher`` is not transitive). ``reduced``: the reduced
    structures if already computed; ``stats`` receives counts (``n_fit``, ``n_buckets``).
    """
    n = len(structures)
    flags = np.zeros(n, dtype=bool)
    keys = list(keys) if keys is not None else [None if s is None else structure_key(s) for s in structures]
    first: dict[str, int] = {}
    distinct: list[int] = []
    for i, s in enumerate(structures):
        if s is None:
            continue
        if keys[i] in first:
            continue
        first[keys[i]] = i
        distinct.append(i)
    flags[distinct] = True
    red = list(reduced) if reduced is not None else [None] * n
    todo = [i for i in distinct if red[i] is None]
    for i, r in zip(todo, reduce_structures([structures[i] for i in todo], n_jobs)):
        red[i] = r
    buckets: dict[tuple[str, int], list[int]] = {}
    for i in distinct:
        if red[i] is not None:  # a crystal that cannot be reduced cannot be matched: unique
            buckets.setdefault(_bucket_key(red[i]), []).append(i)
    fp = np.asarray(struct_fp, float) if struct_fp is not None else None
    groups = [b for b in buckets.values() if len(b) > 1]
    jobs = [([red[i] for i in b], np.array([_lattice_signature(red[i]) for i in b]),
             fp[b] if fp is not None else None, fp_tol, max_candidates) for b in groups]
    # big buckets first, so that one long bucket does not run alone at the end
    order = sorted(range(len(jobs)), key=lambda j: -len(groups[j]))
    results = _pool_map(_unique_in_bucket, [jobs[j] for j in order], n_jobs, chunk=1)
    n_fit = 0
    for j, (dup, nf) in zip(order, results):
        n_fit += nf
        for i, d in zip(groups[j], dup):
            if d:
                flags[i] = False
    if stats is not None:
        stats.update(n_fit=n_fit, n_buckets=len(buckets), n_distinct=len(distinct))
    return flags


def _novel_chunk(args) -> list[tuple[bool, int]]:
    """Novelty of several generated crystals against the reduced training crystals of their buckets."""
    items, ref_red, ref_sigs, ref_fps, fp_tol, max_candidates = args
    out = []
    for red, sig, fp, cand in items:
        n_fit = 0
        novel = True
        if red is not None:
            for c in _order(sig, fp, cand, ref_sigs, ref_fps, fp_tol, max_candidates):
                n_fit += 1
                if _fit(ref_red[c], red):
                    novel = False
                    break
        out.append((novel, n_fit))
    return out


def novel_flags(
    structures: Sequence[Any],
    reference: Sequence[Any],
    struct_fp: np.ndarray | None = None,
    ref_fp: np.ndarray | None = None,
    fp_tol: float | None = None,
    max_candidates: int | None = None,
    keys: Sequence[str] | None = None,
    ref_keys: Sequence[str] | None = None,
    n_jobs: int = 1,
    reduced: Sequence[Any] | None = None,
    stats: dict[str, int] | None = None,
) -> np.ndarray:
    """True for each structure that matches no structure of ``reference`` (the training set),
    with ``StructureMatcher()`` defaults, the same buckets, lattice test and optional fingerprint
    screen as ``unique_flags`` (``ref_fp``: fingerprints of ``reference``, NaN rows allowed). An
    identical copy of a training structure is never novel; a ``None`` item is not novel. Only
    the training crystals whose formula occurs among the structures are reduced."""
    n = len(structures)
    keys = list(keys) if keys is not None else [None if s is None else structure_key(s) for s in structures]
    ref_set = set(ref_keys if ref_keys is not None else (structure_key(s) for s in reference))
    out = np.zeros(n, dtype=bool)
    todo = [i for i, s in enumerate(structures) if s is not None and keys[i] not in ref_set]
    out[todo] = True
    if stats is not None:
        stats.update(n_fit=0, n_reference_reduced=0)
    if not todo:
        return out
    red = list(reduced) if reduced is not None else [None] * n
    need = [i for i in todo if red[i] is None]
    for i, r in zip(need, reduce_structures([structures[i] for i in need], n_jobs)):
        red[i] = r
    formulas = {structures[i].composition.reduced_formula for i in todo}
    ref_idx = [j for j, r in enumerate(reference) if r.composition.reduced_formula in formulas]
    ref_red_list = reduce_structures([reference[j] for j in ref_idx], n_jobs)
    keep = [k for k, r in enumerate(ref_red_list) if r is not None]
    ref_red = [ref_red_list[k] for k in keep]
    ref_pos = [ref_idx[k] for k in keep]
    ref_sigs = np.array([_lattice_signature(r) for r in ref_red]).reshape(-1, 3)
    rfp = None
    if struct_fp is not None and ref_fp is not None:
        rfp = np.asarray(ref_fp, float)[ref_pos] if ref_pos else np.zeros((0, np.asarray(ref_fp).shape[1]))
    gfp = np.asarray(struct_fp, float) if struct_fp is not None and rfp is not None else None
    by_bucket: dict[tuple[str, int], list[int]] = {}
    for k, r in enumerate(ref_red):
        by_bucket.setdefault(_bucket_key(r), []).append(k)
    items = []
    for i in todo:
        r = red[i]
        cand = np.asarray(by_bucket.get(_bucket_key(r), []) if r is not None else [], dtype=int)
        items.append((r, _lattice_signature(r) if r is not None else None,
                      gfp[i] if gfp is not None else None, cand))
    size = max(1, -(-len(items) // max(1, 4 * n_jobs)))
    chunks = [(items[s : s + size], ref_red, ref_sigs, rfp, fp_tol, max_candidates)
              for s in range(0, len(items), size)]
    results = [x for part in _pool_map(_novel_chunk, chunks, n_jobs, chunk=1) for x in part]
    n_fit = 0
    for i, (novel, nf) in zip(todo, results):
        out[i] = novel
        n_fit += nf
    if stats is not None:
        stats.update(n_fit=n_fit, n_reference_reduced=len(ref_idx))
    return out
