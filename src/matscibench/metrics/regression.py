"""Regression metrics as matbench reports them.

Definitions follow Dunn et al., "Benchmarking materials property prediction methods: the Matbench
test set and Automatminer reference algorithm", npj Comput. Mater. 6, 138 (2020): MAE, RMSE and
max error on the test fold, with the mean absolute deviation (MAD) of the targets as the scale of a
"predict the mean" baseline. The MAD:MAE ratio is the quality indicator of Choudhary & DeCost,
"Atomistic Line Graph Neural Network for improved materials property predictions" (ALIGNN),
npj Comput. Mater. 7, 185 (2021): above 5 is considered a good model.

matbench's per-fold regression set is ``REG_METRICS = ["mae", "rmse", "mape", "max_error"]``
(``matbench/constants.py``, materialsproject/matbench @ 936176db); ``mape`` here is its
``mean_absolute_percentage_error`` of ``matbench/data_ops.py`` (a fraction, targets with
``|y| <= 1e-5`` left out).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_pred, dtype=float).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values, y_pred has {p.size}")
    if t.size == 0:
        raise ValueError("no values to score")
    return t, p


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error, in the target's unit."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def mse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean squared error, in the target's unit squared."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error, in the target's unit."""
    return float(np.sqrt(mse(y_true, y_pred)))


def max_error(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Largest absolute error, in the target's unit."""
    t, p = _pair(y_true, y_pred)
    return float(np.max(np.abs(t - p)))


def mad(y_true: ArrayLike, y_pred: ArrayLike | None = None) -> float:
    """Mean absolute deviation of the targets around their mean (the MAE of predicting the mean).

    ``y_pred`` is accepted and ignored so that every metric has the same signature.
    """
    t = np.asarray(y_true, dtype=float).ravel()
    if t.size == 0:
        raise ValueError("no values to score")
    return float(np.mean(np.abs(t - t.mean())))


def mad_mae_ratio(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """MAD of the targets over the model's MAE (ALIGNN's indicator; inf for a perfect model)."""
    err = mae(y_true, y_pred)
    dev = mad(y_true)
    if err == 0.0:
        return float("inf")
    return dev / err


def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Coefficient of determination, 1 − SS_res / SS_tot (unitless; 1 is perfect)."""
    t, p = _pair(y_true, y_pred)
    ss_res = float(np.sum((t - p) ** 2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


#: targets with a magnitude at or below this are left out of MAPE (matbench's ``threshold``)
MATBENCH_MAPE_THRESHOLD = 1e-5


def mape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute percentage error as matbench computes it, as a fraction (0.1 = 10 %).

    mean(|(y - ŷ) / y|) over the items with |y| > 1e-5; the others (zero or near-zero targets,
    which would dominate or divide by zero) are ignored, as in matbench's
    ``data_ops.mean_absolute_percentage_error`` (@ 936176db). NaN when no target is above
    the threshold.
    """
    t, p = _pair(y_true, y_pred)
    mask = np.abs(t) > MATBENCH_MAPE_THRESHOLD
    if not mask.any():
        return float("nan")
    return float(np.mean(np.fabs((t[mask] - p[mask]) / t[mask])))
