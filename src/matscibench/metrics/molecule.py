"""Molecular-property metrics: per-target errors in the papers' units and the standardised MAE.

Per target the tasks report MAE and RMSE in the unit the QM9 literature uses (meV for orbital
energies, ZPVE and the thermodynamic energies, D for μ, a0³ for α, a0² for ⟨R²⟩, cal/(mol K)
for Cv, cm⁻¹ for ω1; Schütt et al., SchNet, J. Chem. Phys. 148, 241722 (2018); Chen et al.,
MEGNet, Chem. Mater. 31, 3564 (2019)), the MAD:MAE ratio (Choudhary & DeCost, ALIGNN, npj
Comput. Mater. 7, 185 (2021)), and the standardised MAE:

* ``std_mae`` = MAE / MAD, with MAD the mean absolute deviation of the test targets around their
  mean (the MAE of predicting the mean): 1 for a model no better than the mean, 0 for a perfect
  one; the inverse of ALIGNN's MAD:MAE. Averaged over targets it summarises all targets in one
  number (``std_mae_summary``).
* ``std_mae_sd`` = MAE / σ, σ the standard deviation of the test targets: the normalisation of
  the "std. MAE" of Klicpera, Groß & Günnemann (DimeNet, ICLR 2020), who average it over the 12
  QM9 targets. For a Gaussian target σ ≈ 1.25 MAD, so std_mae_sd ≈ 0.8 std_mae.

Importing this module registers the metrics (with their units) for the reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import ArrayLike

from matscibench.metrics import MetricInfo, register_metric
from matscibench.metrics.regression import mad, mae

__all__ = ["std_mae", "std_mae_sd", "std_mae_summary", "target_metric_name", "register_target_metrics"]


def std_mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """MAE over the MAD of the targets (unitless; 1 = no better than predicting the mean)."""
    dev = mad(y_true)
    err = mae(y_true, y_pred)
    if dev == 0.0:
        return 0.0 if err == 0.0 else float("inf")
    return err / dev


def std_mae_sd(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """MAE over the standard deviation of the targets (DimeNet's normalisation; unitless)."""
    sd = float(np.std(np.asarray(y_true, dtype=float)))
    err = mae(y_true, y_pred)
    if sd == 0.0:
        return 0.0 if err == 0.0 else float("inf")
    return err / sd


def std_mae_summary(per_target: Mapping[str, float] | Iterable[float]) -> float:
    """Mean of per-target standardised MAEs: one number for all targets."""
    vals = np.asarray(list(per_target.values() if isinstance(per_target, Mapping) else per_target), dtype=float)
    if vals.size == 0:
        raise ValueError("no targets to summarise")
    return float(np.mean(vals))


def target_metric_name(target: str) -> str:
    """Name of the per-target MAE reported by a multi-target task (e.g. ``mae_gap``)."""
    return f"mae_{target}"


def register_target_metrics(targets: Mapping[str, tuple[str, str]]) -> None:
    """Register ``mae_<target>`` for each ``target -> (symbol, report unit)``."""
    for name, (symbol, unit) in targets.items():
        register_metric(MetricInfo(target_metric_name(name), f"MAE {symbol}", False, unit))


register_metric(MetricInfo("std_mae", "std. MAE (MAE/MAD)", False, None))
register_metric(MetricInfo("std_mae_sd", "std. MAE (MAE/σ)", False, None))


def _register_known_targets() -> None:
    from matscibench.data.molecule_data import TARGETS

    register_target_metrics({t.name: (t.symbol, t.report_unit) for t in TARGETS.values()})


_register_known_targets()
