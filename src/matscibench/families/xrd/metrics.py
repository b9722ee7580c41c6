"""Metrics of the characterisation family: classifying powder patterns, regressing lattices.

Classification follows the usual multi-class definitions, as the XRD-classification papers report
them (Park et al., "Classification of crystal structure using a convolutional neural network",
IUCrJ 4, 486 (2017): accuracy and top-k over 7 systems / 230 space groups; Oviedo et al., "Fast
and interpretable classification of small X-ray diffraction datasets using data augmentation and
deep neural networks", npj Comput. Mater. 5, 60 (2019): accuracy, F1, confusion matrices;
Chitturi et al., J. Appl. Cryst. 54, 1799 (2021): lattice parameters scored by MAPE):

- accuracy: share of items whose predicted class is the true one;
- top-k accuracy: share of items whose true class is among the k classes of highest probability
  (ties broken as scikit-learn's ``top_k_accuracy_score`` does: a later class wins a tie);
- balanced accuracy: mean recall over the classes present in ``y_true`` (scikit-learn's);
- macro F1: unweighted mean of the per-class F1 over the union of true and predicted classes;
- precision / recall of one class: TP / (TP + FP) and TP / (TP + FN), NaN when undefined;
- confusion matrix: ``C[i, j]`` items of true class ``labels[i]`` predicted as ``labels[j]``.

Lattice parameters (a, b, c in Å; α, β, γ in degrees): MAE, MSE and MAPE (%, mean of
|error| / |true| × 100) per parameter, and the mean MAPE of a, b, c (the family's headline).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from matscibench.sim.xrd import CRYSTAL_SYSTEMS, LATTICE_PARAMETERS, LATTICE_UNITS
from matscibench.metrics import MetricInfo, register_metric

__all__ = [
    "accuracy",
    "top_k_accuracy",
    "balanced_accuracy",
    "macro_f1",
    "precision_recall",
    "confusion_matrix",
    "lattice_errors",
    "mape",
    "CLASSIFICATION_METRICS",
    "LATTICE_METRICS",
    "per_class_metric_names",
]

_SYMBOL = {"a": "a", "b": "b", "c": "c", "alpha": "α", "beta": "β", "gamma": "γ"}


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).ravel()
    p = np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels, y_pred has {p.size}")
    if t.size == 0:
        raise ValueError("no labels to score")
    return t, p


def _labels_of(*arrays: np.ndarray) -> list:
    vals = set()
    for a in arrays:
        vals.update(a.tolist())
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of correct predictions (any labels: strings, integers)."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence | None = None) -> tuple[list, np.ndarray]:
    """(labels, C) with ``C[i, j]`` = items of true class ``labels[i]`` predicted as ``labels[j]``;
    labels default to the sorted union of both arrays; items with other labels are not counted."""
    t, p = _pair(y_true, y_pred)
    labels = list(labels) if labels is not None else _labels_of(t, p)
    index = {lab: i for i, lab in enumerate(labels)}
    n = len(labels)
    ti = np.fromiter((index.get(v, -1) for v in t.tolist()), dtype=np.int64, count=t.size)
    pi = np.fromiter((index.get(v, -1) for v in p.tolist()), dtype=np.int64, count=p.size)
    ok = (ti >= 0) & (pi >= 0)
    C = np.bincount(ti[ok] * n + pi[ok], minlength=n * n).reshape(n, n)
    return labels, C


def balanced_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean recall over the classes present in ``y_true``."""
    t, p = _pair(y_true, y_pred)
    recalls = [float(np.mean(p[t == c] == c)) for c in _labels_of(t)]
    return float(np.mean(recalls))


def precision_recall(y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence | None = None) -> dict:
    """``{label: (precision, recall)}``; NaN where a class was never predicted / never true."""
    t, p = _pair(y_true, y_pred)
    labels = list(labels) if labels is not None else _labels_of(t, p)
    out = {}
    for c in labels:
        tp = float(np.sum((t == c) & (p == c)))
        n_pred = float(np.sum(p == c))
        n_true = float(np.sum(t == c))
        out[c] = (tp / n_pred if n_pred else float("nan"), tp / n_true if n_true else float("nan"))
    return out


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Unweighted mean F1 over the union of true and predicted classes."""
    t, p = _pair(y_true, y_pred)
    f1s = []
    for c in _labels_of(t, p):
        tp = float(np.sum((t == c) & (p == c)))
        fp = float(np.sum((t != c) & (p == c)))
        fn = float(np.sum((t == c) & (p != c)))
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def top_k_accuracy(y_true: ArrayLike, proba: ArrayLike, classes: Sequence, k: int = 2) -> float:
    """Share of items whose true class is among the ``k`` most probable ``classes``.

    ``proba[i, j]`` is the probability of ``classes[j]``. A true class the model does not know
    counts as a miss. Ties: a class later in ``classes`` ranks above an earlier one with the
    same probability (scikit-learn's convention).
    """
    t = np.asarray(y_true).ravel()
    P = np.asarray(proba, dtype=float)
    if P.ndim != 2 or P.shape[0] != t.size or P.shape[1] != len(classes):
        raise ValueError(f"proba has shape {P.shape}; expected ({t.size}, {len(classes)})")
    if t.size == 0:
        raise ValueError("no labels to score")
    index = {c: j for j, c in enumerate(list(classes))}
    j = np.fromiter((index.get(v, -1) for v in t.tolist()), dtype=np.int64, count=t.size)
    known = j >= 0
    hits = np.zeros(t.size, dtype=bool)
    if known.any():
        rows = np.nonzero(known)[0]
        s = P[rows, j[known]][:, None]
        cols = np.arange(P.shape[1])[None, :]
        rank = np.sum(P[rows] > s, axis=1) + np.sum((P[rows] == s) & (cols > j[known][:, None]), axis=1)
        hits[rows] = rank < k
    return float(np.mean(hits))


def mape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute percentage error, |pred − true| / |true| × 100 (%)."""
    t = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_pred, dtype=float).ravel()
    if t.shape != p.shape or t.size == 0:
        raise ValueError(f"y_true has {t.size} values, y_pred has {p.size}")
    return float(np.mean(np.abs(p - t) / np.abs(t)) * 100.0)


def lattice_errors(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """MAE, MSE and MAPE of each lattice parameter, columns in ``LATTICE_PARAMETERS`` order
    (a, b, c in Å; α, β, γ in degrees), plus the mean over a, b, c of MAE and MAPE."""
    T = np.asarray(y_true, dtype=float)
    P = np.asarray(y_pred, dtype=float)
    n_par = len(LATTICE_PARAMETERS)
    if T.ndim != 2 or T.shape[1] != n_par or T.shape != P.shape:
        raise ValueError(f"lattice arrays must both be (n, {n_par}); got {T.shape} and {P.shape}")
    out: dict[str, float] = {}
    for j, name in enumerate(LATTICE_PARAMETERS):
        err = P[:, j] - T[:, j]
        out[f"lattice_mae_{name}"] = float(np.mean(np.abs(err)))
        out[f"lattice_mse_{name}"] = float(np.mean(err**2))
        out[f"lattice_mape_{name}"] = mape(T[:, j], P[:, j])
    out["lattice_mae_abc"] = float(np.mean([out[f"lattice_mae_{k}"] for k in "abc"]))
    out["lattice_mape_abc"] = float(np.mean([out[f"lattice_mape_{k}"] for k in "abc"]))
    return out


# ------------------------------------------------------------------------------ registry
def per_class_metric_names(classes: Sequence[str]) -> tuple[str, ...]:
    return tuple(f"{kind}_{c}" for c in classes for kind in ("precision", "recall"))


CLASSIFICATION_METRICS = ("accuracy", "top2_accuracy", "balanced_accuracy", "macro_f1")
LATTICE_METRICS = (
    "lattice_mape_abc",
    "lattice_mae_abc",
    *(f"lattice_mae_{k}" for k in LATTICE_PARAMETERS),
    *(f"lattice_mape_{k}" for k in LATTICE_PARAMETERS),
    *(f"lattice_mse_{k}" for k in LATTICE_PARAMETERS),
)

# accuracy and balanced_accuracy are the shared classification metrics of metrics/__init__.py
_X = "xrd"
_ABS_ERR = "mean over test patterns of |predicted - true|"
register_metric(MetricInfo("top2_accuracy", "top-2 accuracy", True, None, (0.0, 1.0), family=_X,
                           definition="fraction of test patterns whose true class is among the two classes of highest "
                                      "predicted probability"))
register_metric(MetricInfo("macro_f1", "macro F1", True, None, (0.0, 1.0), family=_X,
                           definition="unweighted mean over the classes present in y_true or y_pred of the per-class F1 "
                                      "(scikit-learn's f1_score(average='macro'))"))
for _c in CRYSTAL_SYSTEMS:
    register_metric(MetricInfo(f"precision_{_c}", f"precision: {_c}", True, None, (0.0, 1.0), family=_X,
                               definition=f"of the patterns predicted {_c}, the fraction that are {_c}"))
    register_metric(MetricInfo(f"recall_{_c}", f"recall: {_c}", True, None, (0.0, 1.0), family=_X,
                               definition=f"of the {_c} patterns, the fraction predicted {_c}"))
for _k in LATTICE_PARAMETERS:
    _u = LATTICE_UNITS[_k]
    register_metric(MetricInfo(f"lattice_mae_{_k}", f"MAE {_SYMBOL[_k]}", False, _u, family=_X,
                               definition=f"{_ABS_ERR} of {_SYMBOL[_k]} of the conventional standard cell (spglib)"))
    register_metric(MetricInfo(f"lattice_mse_{_k}", f"MSE {_SYMBOL[_k]}", False, "Å²" if _u == "Å" else "degrees²",
                               family=_X, definition=f"mean over test patterns of (predicted - true)² of {_SYMBOL[_k]}"))
    register_metric(MetricInfo(f"lattice_mape_{_k}", f"MAPE {_SYMBOL[_k]}", False, "%", family=_X,
                               definition=f"100 × mean over test patterns of |predicted - true| / |true| of {_SYMBOL[_k]}"))
register_metric(MetricInfo("lattice_mae_abc", "MAE of a, b, c", False, "Å", family=_X,
                           definition="mean of lattice_mae_a, lattice_mae_b, lattice_mae_c"))
register_metric(MetricInfo("lattice_mape_abc", "MAPE of a, b, c", False, "%", family=_X,
                           definition="mean of lattice_mape_a, lattice_mape_b, lattice_mape_c (the headline of xrd_lattice)"))
