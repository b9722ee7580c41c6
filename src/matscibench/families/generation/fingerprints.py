"""Structure and composition fingerprints of many crystals: cached, computed over processes.

``fingerprints`` gives CDVAE's structure fingerprint (the CrystalNN "ops" site fingerprints
averaged over sites, 61 values: ``matscibench.sim.crystalnn``) of many structures: each distinct
structure (``structure_key``) is looked up in a ``FingerprintCache`` (one SQLite file under the
cache folder, shared by jobs) and the rest computed over ``n_jobs`` processes.
``composition_fingerprints``: the Magpie element statistics (132 values) that CDVAE's
composition fingerprint is.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from matscibench.sim.crystalnn import CRYSTALNN_LABELS, crystalnn_fingerprint, structure_arrays

__all__ = [
    "FINGERPRINT_VERSION",
    "FingerprintCache",
    "composition_fingerprints",
    "fingerprints",
    "structure_key",
]

#: bump when the structure fingerprint's values change (keys of the fingerprint cache)
FINGERPRINT_VERSION = "crystalnn-ops-1"

# ------------------------------------------------------------------------------------- structures
def structure_key(structure: Any) -> str:
    """A hash of a structure's exact lattice, species and fractional coordinates (cache key)."""
    lat, frac, species = structure_arrays(structure)
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(lat).tobytes())
    h.update(" ".join(species).encode())
    h.update(np.ascontiguousarray(frac).tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------ structure fingerprints
def _fingerprint_or_nan(structure: Any) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return crystalnn_fingerprint(structure)
    except Exception:
        return np.full(len(CRYSTALNN_LABELS), np.nan)


def _fingerprint_chunk(items: list[tuple[np.ndarray, np.ndarray, list[str]]]) -> np.ndarray:
    from pymatgen.core import Lattice, Structure

    out = np.empty((len(items), len(CRYSTALNN_LABELS)))
    for k, (lat, frac, species) in enumerate(items):
        try:
            s = Structure(Lattice(lat), species, frac)
        except Exception:
            out[k] = np.nan
            continue
        out[k] = _fingerprint_or_nan(s)
    return out


class FingerprintCache:
    """Structure fingerprints keyed by ``structure_key``, in one SQLite file per fingerprint version.

    Several job processes may read and write at once (SQLite locks; a write that times out is
    skipped, the values are only recomputed next time). A failed fingerprint is stored as NaN.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        if path is None:
            from matscibench.paths import cache_dir

            path = cache_dir() / "generation" / f"fingerprints-{FINGERPRINT_VERSION}.sqlite"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("CREATE TABLE IF NOT EXISTS fp (key TEXT PRIMARY KEY, value BLOB NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        uniq = list(dict.fromkeys(keys))
        with self._connect() as con:
            for start in range(0, len(uniq), 500):
                part = uniq[start : start + 500]
                rows = con.execute(f"SELECT key, value FROM fp WHERE key IN ({','.join('?' * len(part))})", part)
                for k, v in rows:
                    out[k] = np.frombuffer(v, dtype=np.float64).copy()
        return out

    def put(self, values: dict[str, np.ndarray]) -> None:
        if not values:
            return
        try:
            with self._connect() as con:
                con.executemany(
                    "INSERT OR IGNORE INTO fp (key, value) VALUES (?, ?)",
                    [(k, np.asarray(v, dtype=np.float64).tobytes()) for k, v in values.items()],
                )
        except sqlite3.OperationalError:  # pragma: no cover - a busy database: keep going uncached
            pass


def fingerprints(
    structures: Sequence[Any],
    n_jobs: int = 1,
    cache: FingerprintCache | bool | None = True,
    keys: Sequence[str] | None = None,
) -> np.ndarray:
    """Structure fingerprints (n, 61) of many structures; NaN rows where one cannot be computed.

    Each distinct structure is computed once: first looked up in ``cache`` (a ``FingerprintCache``;
    True: the default one under the cache folder; False/None: none), the rest split over ``n_jobs``
    processes and written back.
    """
    n = len(structures)
    out = np.full((n, len(CRYSTALNN_LABELS)), np.nan)
    if n == 0:
        return out
    keys = list(keys) if keys is not None else [structure_key(s) for s in structures]
    store = FingerprintCache() if cache is True else (cache or None)
    known = store.get(keys) if store is not None else {}
    todo: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k in known:
            out[i] = known[k]
        elif k not in todo:
            todo[k] = i
    if todo and store is not None and len(todo) >= 50:
        # two jobs that need the same (e.g. reference) fingerprints: one computes, the other waits
        from matscibench.data.cache import file_lock

        tag = hashlib.sha1("".join(sorted(todo)).encode()).hexdigest()[:16]
        with file_lock(store.path.parent / "locks" / tag):
            again = store.get(list(todo))
            if again:
                for i, kk in enumerate(keys):
                    if kk in again:
                        out[i] = again[kk]
                for kk in again:
                    todo.pop(kk, None)
            _compute_missing(structures, keys, todo, out, store, n_jobs)
    elif todo:
        _compute_missing(structures, keys, todo, out, store, n_jobs)
    return out


def _compute_missing(structures, keys, todo: dict[str, int], out: np.ndarray, store, n_jobs: int) -> None:
    if not todo:
        return
    items = [structure_arrays(structures[i]) for i in todo.values()]
    n_jobs = max(1, min(int(n_jobs), len(items) // 20 or 1))
    if n_jobs == 1:
        vals = _fingerprint_chunk(items)
    else:
        size = -(-len(items) // (n_jobs * 4))
        chunks = [items[s : s + size] for s in range(0, len(items), size)]
        import multiprocessing

        # deliberately forked (not parallel.process_pool): the workers start at once with the
        # parent's pymatgen, scipy and species tables already imported and built, which a
        # 10,000-crystal run would otherwise pay for in every worker (the work itself is numpy
        # and qhull on the arrays passed in)
        ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx) as pool:
            vals = np.concatenate(list(pool.map(_fingerprint_chunk, chunks)))
    new = dict(zip(todo.keys(), vals))
    if store is not None:
        store.put(new)
    for i, k in enumerate(keys):
        if k in new:
            out[i] = new[k]


# -------------------------------------------------------------------------- composition fingerprint
def composition_fingerprints(structures: Sequence[Any]) -> np.ndarray:
    """Magpie element statistics (n, 132) of the structures' compositions, unknown element values
    left NaN (matminer's ``ElementProperty.from_preset("magpie")`` as CDVAE used it)."""
    from matscibench.featurizers.magpie import MagpieFeaturizer

    if len(structures) == 0:
        return np.zeros((0, 132))
    return MagpieFeaturizer(impute_nan=False).transform([getattr(s, "composition", s) for s in structures])

