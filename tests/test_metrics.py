"""Metrics against scikit-learn and hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from matscibench import metrics as M


@pytest.fixture()
def reg():
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    return y, y + rng.normal(scale=0.3, size=200)


@pytest.fixture()
def clf():
    rng = np.random.default_rng(2)
    y = rng.random(300) < 0.4
    score = np.clip(y * 0.3 + rng.random(300) * 0.8, 0, 1)
    score[:40] = np.round(score[:40], 1)  # ties
    return y, score, score > 0.5


def test_regression_against_sklearn(reg):
    y, p = reg
    assert M.mae(y, p) == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
    assert M.mse(y, p) == pytest.approx(skm.mean_squared_error(y, p), rel=1e-12)
    assert M.rmse(y, p) == pytest.approx(math.sqrt(skm.mean_squared_error(y, p)), rel=1e-12)
    assert M.r2(y, p) == pytest.approx(skm.r2_score(y, p), rel=1e-12)
    assert M.max_error(y, p) == pytest.approx(skm.max_error(y, p), rel=1e-12)


def test_regression_hand_worked():
    y = [1.0, 2.0, 3.0, 4.0]
    p = [1.5, 2.0, 2.0, 5.0]
    # errors 0.5, 0, 1, 1 -> MAE 0.625, MSE (0.25 + 0 + 1 + 1) / 4 = 0.5625, max 1
    assert M.mae(y, p) == 0.625
    assert M.mse(y, p) == 0.5625
    assert M.rmse(y, p) == 0.75
    assert M.max_error(y, p) == 1.0
    # mean 2.5, deviations 1.5, .5, .5, 1.5 -> MAD 1.0 ; MAD:MAE = 1.6
    assert M.mad(y) == 1.0
    assert M.mad_mae_ratio(y, p) == pytest.approx(1.6)
    # R² = 1 - 2.25 / 5
    assert M.r2(y, p) == pytest.approx(1 - 2.25 / 5.0)


def test_mad_is_mae_of_the_mean(reg):
    y, _ = reg
    assert M.mad(y) == pytest.approx(M.mae(y, np.full_like(y, y.mean())))
    assert M.mad_mae_ratio(y, y) == math.inf


def test_classification_against_sklearn(clf):
    y, score, label = clf
    assert M.roc_auc(y, score) == pytest.approx(skm.roc_auc_score(y, score), rel=1e-12)
    assert M.accuracy(y, label) == pytest.approx(skm.accuracy_score(y, label))
    assert M.balanced_accuracy(y, label) == pytest.approx(skm.balanced_accuracy_score(y, label))
    assert M.f1(y, label) == pytest.approx(skm.f1_score(y, label))


def test_classification_hand_worked():
    y = [True, True, False, False]
    s = [0.9, 0.4, 0.4, 0.1]
    # pairs (pos, neg): (.9,.4)=1 (.9,.1)=1 (.4,.4)=.5 (.4,.1)=1 -> 3.5 / 4
    assert M.roc_auc(y, s) == 0.875
    # F1: tp=1 fp=1 fn=1 -> 2/(2+1+1)
    assert M.f1(y, [True, False, True, False]) == 0.5
    assert math.isnan(M.roc_auc([True, True], [0.1, 0.2]))


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="3 values"):
        M.mae([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="binary"):
        M.accuracy([0, 1, 2], [0, 1, 1])
