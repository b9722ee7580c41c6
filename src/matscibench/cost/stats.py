"""Summaries of repeated measurements, as Hoefler & Belli recommend.

T. Hoefler and R. Belli, "Scientific benchmarking of parallel computing systems: twelve ways to
tell the masses when reporting performance results", SC'15 (2015):

- timings are not normally distributed: report the median with a non-parametric confidence
  interval from order statistics (rule 5/6);
- average costs (time, memory, energy per job) with the arithmetic mean, rates (items/s) with the
  harmonic mean (rule 3);
- accuracy over folds and repeats: the mean with a Student-t interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as _st

__all__ = ["Summary", "mean_ci", "median_ci", "harmonic_mean_ci", "summarize", "SUMMARY_KINDS"]

SUMMARY_KINDS = ("accuracy", "time", "rate", "cost")


@dataclass(frozen=True)
class Summary:
    """A central value with a confidence interval.

    ``center`` is the mean, median or harmonic mean (see ``method``); ``low``/``high`` bound the
    interval at ``confidence`` (NaN when there are too few values); ``n`` counts finite values.
    """

    center: float
    low: float
    high: float
    n: int
    method: str
    confidence: float = 0.95

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def has_ci(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))


def _finite(values: Iterable[float]) -> np.ndarray:
    a = np.asarray(list(values), dtype=float)
    return a[np.isfinite(a)]


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> Summary:
    """Arithmetic mean with a two-sided Student-t confidence interval (NaN bounds for n < 2)."""
    a = _finite(values)
    n = a.size
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, 0, "mean", confidence)
    m = float(a.mean())
    if n < 2:
        return Summary(m, math.nan, math.nan, n, "mean", confidence)
    sem = float(a.std(ddof=1)) / math.sqrt(n)
    if sem <= 1e-12 * max(1.0, abs(m)):  # identical values up to rounding
        return Summary(m, m, m, n, "mean", confidence)
    half = float(_st.t.ppf(0.5 + confidence / 2.0, df=n - 1)) * sem
    return Summary(m, m - half, m + half, n, "mean", confidence)


def median_ci(values: Iterable[float], confidence: float = 0.95) -> Summary:
    """Median with the distribution-free interval from order statistics.

    The interval is ``[x_(l), x_(n+1-l)]`` (1-based order statistics) with the largest ``l`` for
    which ``1 - 2 P(B <= l-1) >= confidence``, ``B ~ Binomial(n, 1/2)`` (Conover, Practical
    Nonparametric Statistics, 3rd ed., §3.2). With fewer than 6 values no such ``l`` exists at 95 %
    and the bounds are NaN: run more repeats rather than trust a min–max range.
    """
    a = np.sort(_finite(values))
    n = a.size
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, 0, "median", confidence)
    med = float(np.median(a))
    alpha = 1.0 - confidence
    # cdf(k) = P(B <= k); we need P(B <= l-1) <= alpha/2, largest l >= 1
    ks = np.arange(0, n // 2 + 1)
    cdf = _st.binom.cdf(ks, n, 0.5)
    ok = np.nonzero(cdf <= alpha / 2.0 + 1e-12)[0]
    if ok.size == 0:
        return Summary(med, math.nan, math.nan, n, "median", confidence)
    l = int(ks[ok[-1]]) + 1  # 1-based rank of the lower bound
    return Summary(med, float(a[l - 1]), float(a[n - l]), n, "median", confidence)


def harmonic_mean_ci(values: Iterable[float], confidence: float = 0.95) -> Summary:
    """Harmonic mean of rates (items/s) with an interval from the t-interval of 1/rate.

    The harmonic mean of rates measured on equal amounts of work is the total work over the total
    time; its interval is the inverse of the mean-time interval.
    """
    a = _finite(values)
    a = a[a > 0]
    n = a.size
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, 0, "harmonic mean", confidence)
    inv = mean_ci(1.0 / a, confidence)
    center = 1.0 / inv.center
    if not inv.has_ci:
        return Summary(center, math.nan, math.nan, n, "harmonic mean", confidence)
    lo = 1.0 / inv.high if inv.high > 0 else math.nan
    hi = 1.0 / inv.low if inv.low > 0 else math.inf
    return Summary(center, lo, hi, n, "harmonic mean", confidence)


def summarize(values: Iterable[float], kind: str, confidence: float = 0.95) -> Summary:
    """``accuracy`` and ``cost``: mean; ``time``: median; ``rate``: harmonic mean."""
    if kind in ("accuracy", "cost"):
        return mean_ci(values, confidence)
    if kind == "time":
        return median_ci(values, confidence)
    if kind == "rate":
        return harmonic_mean_ci(values, confidence)
    raise ValueError(f"kind must be one of {SUMMARY_KINDS}, got {kind!r}")
