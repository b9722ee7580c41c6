"""Statistics against scipy and Conover's order-statistic interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from matscibench.cost.stats import harmonic_mean_ci, mean_ci, median_ci, summarize


def test_mean_ci_matches_scipy_t_interval():
    x = np.array([0.031, 0.029, 0.035, 0.030, 0.033])
    s = mean_ci(x)
    lo, hi = st.t.interval(0.95, df=len(x) - 1, loc=x.mean(), scale=st.sem(x))
    assert s.center == pytest.approx(x.mean())
    assert (s.low, s.high) == pytest.approx((lo, hi), rel=1e-12)
    assert s.n == 5 and s.method == "mean"


def test_mean_ci_small_and_constant():
    assert math.isnan(mean_ci([1.0]).low)
    assert mean_ci([]).n == 0
    s = mean_ci([2.0, 2.0, 2.0])
    assert (s.low, s.center, s.high) == (2.0, 2.0, 2.0)
    assert mean_ci([1.0, float("nan"), 3.0]).n == 2  # non-finite values are dropped


@pytest.mark.parametrize("n", [6, 7, 10, 20, 31, 100])
def test_median_ci_matches_scipy_quantile_test(n):
    rng = np.random.default_rng(n)
    x = rng.lognormal(size=n)
    s = median_ci(x)
    ci = st.quantile_test(x, q=np.median(x), p=0.5).confidence_interval(0.95)
    assert s.center == pytest.approx(np.median(x))
    assert (s.low, s.high) == pytest.approx((ci.low, ci.high))


def test_median_ci_hand_worked_n20():
    # Binomial(20, 1/2): P(B <= 5) = 0.0207 <= 0.025 < P(B <= 6): bounds are x_(6) and x_(15)
    s = median_ci(np.arange(1.0, 21.0))
    assert (s.low, s.high) == (6.0, 15.0)


def test_median_ci_too_few_values():
    s = median_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s.center == 3.0
    assert math.isnan(s.low) and math.isnan(s.high) and not s.has_ci


def test_harmonic_mean_of_rates():
    rates = np.array([100.0, 200.0, 400.0])
    s = harmonic_mean_ci(rates)
    assert s.center == pytest.approx(st.hmean(rates))
    # equal work at each rate: total work / total time
    assert s.center == pytest.approx(3 / (1 / 100 + 1 / 200 + 1 / 400))
    assert s.low < s.center < s.high


def test_summarize_dispatch():
    x = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert summarize(x, "accuracy").method == "mean"
    assert summarize(x, "cost").method == "mean"
    assert summarize(x, "time").method == "median"
    assert summarize(x, "rate").method == "harmonic mean"
    with pytest.raises(ValueError):
        summarize(x, "nonsense")
