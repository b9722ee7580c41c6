"""Binary classification metrics (matbench's ``is_metal``-style tasks).

Labels are booleans or 0/1; ``roc_auc`` takes scores (a probability of the positive class, or
hard labels when a model gives no probabilities, as matbench scores them). Definitions are the
standard ones (Fawcett, "An introduction to ROC analysis", Pattern Recogn. Lett. 27, 861 (2006)):
ROC-AUC equals the Mann–Whitney probability that a random positive scores above a random negative,
ties counting one half.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata


def _labels(y: ArrayLike) -> np.ndarray:
    a = np.asarray(y).ravel()
    if a.dtype == bool:
        return a
    if a.dtype.kind in "fc" and np.isnan(a).any():
        raise ValueError("labels contain NaN")
    uniq = set(np.unique(a).tolist())
    if not uniq <= {0, 1, True, False}:
        raise ValueError(f"binary labels must be 0/1 or booleans, got values {sorted(uniq)[:5]}")
    return a.astype(bool)


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels(y_true), _labels(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels, y_pred has {p.size}")
    if t.size == 0:
        raise ValueError("no labels to score")
    return t, p


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def balanced_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean of the recall of each class present in ``y_true``."""
    t, p = _pair(y_true, y_pred)
    recalls = [np.mean(p[t == c] == c) for c in (False, True) if np.any(t == c)]
    return float(np.mean(recalls))


def f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """F1 of the positive class (0 when there are no true or predicted positives)."""
    t, p = _pair(y_true, y_pred)
    tp = float(np.sum(t & p))
    fp = float(np.sum(~t & p))
    fn = float(np.sum(t & ~p))
    denom = 2 * tp + fp + fn
    return 0.0 if denom == 0 else 2 * tp / denom


def roc_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve from scores (higher score = more likely positive).

    NaN when the test set holds a single class (the AUC is undefined).
    """
    t = _labels(y_true)
    s = np.asarray(y_score, dtype=float).ravel()
    if t.shape != s.shape:
        raise ValueError(f"y_true has {t.size} labels, y_score has {s.size}")
    n_pos = int(t.sum())
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)  # average ranks for ties
    u = ranks[t].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
