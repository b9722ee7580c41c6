"""Fixed, reproducible folds; every split carries a hash so a result names the exact split.

Matbench's protocol (Dunn et al. 2020): 5-fold ``KFold(shuffle=True, random_state=18012019)`` for
regression and ``StratifiedKFold`` with the same seed for classification, over the dataset's
order. The same splitters with a task-chosen seed serve the embedded datasets.
"""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

__all__ = ["MATBENCH_SEED", "kfold_indices", "split_hash"]

MATBENCH_SEED = 18012019


def kfold_indices(
    n: int, n_folds: int = 5, seed: int = MATBENCH_SEED, stratify: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays for each fold, shuffled with ``seed``."""
    if n < n_folds:
        raise ValueError(f"cannot make {n_folds} folds from {n} items")
    x = np.zeros((n, 1))
    if stratify is not None:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return [(tr, te) for tr, te in splitter.split(x, np.asarray(stratify))]
    splitter = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in splitter.split(x)]


def split_hash(train: np.ndarray, test: np.ndarray) -> str:
    """sha256 (first 16 hex digits) of the sorted train and test indices."""
    h = hashlib.sha256()
    h.update(np.sort(np.asarray(train, dtype=np.int64)).tobytes())
    h.update(b"|")
    h.update(np.sort(np.asarray(test, dtype=np.int64)).tobytes())
    return h.hexdigest()[:16]
