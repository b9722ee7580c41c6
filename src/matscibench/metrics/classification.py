"""Binary classification metrics (matbench's ``is_metal``-style tasks).

Labels are booleans or 0/1. Two ROC-AUCs, never to be confused:

* ``roc_auc`` takes scores (the probability of the positive class; hard labels when a model gives
  no probabilities): the threshold-free area under the ROC curve.
* ``roc_auc_labels`` is matbench's leaderboard "rocauc": the AUC of hard labels. matbench's
  ``score_array`` (``matbench/data_ops.py``, materialsproject/matbench @ 936176db) scores
  ``CLF_METRICS = ["accuracy", "balanced_accuracy", "f1", "rocauc"]`` in that order; the first
  one replaces float predictions by ``pred > 0.5`` labels (``homogenize_clf_array``,
  ``CLF_THRESH = 0.5`` in ``matbench/constants.py``), so ``rocauc`` is
  ``sklearn.metrics.roc_auc_score(y_true, labels)`` whether a submission recorded labels (as the
  Dummy and RF-SCM/Magpie entries did) or probabilities. For binary labels it equals balanced
  accuracy. Only ``roc_auc_labels`` is set beside matbench's published ROC-AUC.

Definitions are the
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


#: probabilities above this become positive labels (matbench's ``CLF_THRESH``, constants.py @ 936176db)
MATBENCH_CLF_THRESHOLD = 0.5


def roc_auc_labels(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """ROC-AUC of hard labels, as matbench scores its leaderboard (unitless, 0..1).

    ``y_pred`` are labels (booleans or 0/1) or probabilities of the positive class; floats
    other than 0/1 are turned into labels by ``p > 0.5`` first, as matbench's ``score_array``
    does. The AUC of a single-threshold ROC curve is (TPR + TNR) / 2, i.e. balanced accuracy.
    NaN when the test set holds a single class.
    """
    p = np.asarray(y_pred).ravel()
    if p.dtype != bool and p.dtype.kind in "fc" and not np.isin(p, (0.0, 1.0)).all():
        if np.isnan(p).any():
            raise ValueError("y_pred contains NaN")
        p = p > MATBENCH_CLF_THRESHOLD
    return roc_auc(y_true, _labels(p).astype(float))
