"""Molecular-property metrics: per-target errors in the papers' units and the standardised MAEs.

Per target the tasks report MAE and RMSE in the unit the QM9 literature uses (meV for orbital
energies, ZPVE and the thermodynamic energies, D for μ, a0³ for α, a0² for ⟨R²⟩, cal/(mol K)
for Cv, cm⁻¹ for ω1; Schütt et al., SchNet, J. Chem. Phys. 148, 241722 (2018); Chen et al.,
MEGNet, Chem. Mater. 31, 3564 (2019)), the MAD:MAE ratio (Choudhary & DeCost, ALIGNN, npj
Comput. Mater. 7, 185 (2021)), and three unitless summaries. With MAE_t the test MAE of target t,
σ_t the standard deviation and MAD_t the mean absolute deviation of its test values:

* ``std_mae`` = mean_t (MAE_t / σ_t) × 100 %: the "std. MAE" of Klicpera, Groß & Günnemann
  (DimeNet, ICLR 2020, Table 2), over DimeNet's 12 QM9 targets (μ, α, ε_HOMO, ε_LUMO, Δε, ⟨R²⟩,
  ZPVE, U0, U, H, G as atomization energies, Cv; no ω1) on ``qm9_all``.
* ``log_mae`` = mean_t ln(MAE_t / σ_t): the paper's "logMAE" column (same table). DimeNet's
  published MAEs with QM9's σ give 1.05 % and -5.56 with these two definitions, the paper prints
  1.05 % and -5.57 (tests/test_molecule_models.py).
* ``log_mae_raw`` = mean_t ln(MAE_t in DimeNet's data units): what DimeNet's training code logs as
  ``mean_log_mae`` (``np.mean(np.log(self.maes))`` in dimenet/training/metrics.py of
  gasteigerjo/dimenet @ 66a8168d; the MAEs are in the units of its ``qm9_eV.npz``: eV for the
  energies, D, a0³, a0², cal/(mol K); predict.ipynb prints "U0 MAE: 0.00632, logMAE: -5.064" =
  ln 0.00632). Not the paper's column: its own name.
* ``mae_over_mad`` = mean_t MAE_t / MAD_t: 1 for a model no better than the training mean, 0 for a
  perfect one; the inverse of ALIGNN's MAD:MAE per target.

A single-target task reports the same quantities for its one target. σ and MAD are those of the
test targets (the DimeNet paper does not say over which molecules σ is taken; for a random test
set of 10,000 QM9 molecules it equals the dataset's to a few per mille).

Importing this module registers the metrics (with their units) for the reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import ArrayLike

from matscibench.metrics import MetricInfo, register_metric
from matscibench.metrics.regression import mad, mae

__all__ = [
    "mae_over_mad",
    "std_mae",
    "log_mae",
    "log_mae_raw",
    "log_unit",
    "summary",
    "target_metric_name",
    "register_target_metrics",
    "DIMENET_CODE_UNITS",
]

#: the unit of each QM9 target in DimeNet's ``data/qm9_eV.npz`` (energies in eV), in which its code
#: computes the MAE whose log it records; other targets: their report unit with meV read as eV
DIMENET_CODE_UNITS = {
    "mu": "D", "alpha": "a0³", "homo": "eV", "lumo": "eV", "gap": "eV", "r2": "a0²", "zpve": "eV",
    "u0_atom": "eV", "u_atom": "eV", "h_atom": "eV", "g_atom": "eV", "cv": "cal/(mol K)",
}


def _ratio(err: float, scale: float) -> float:
    if scale == 0.0:
        return 0.0 if err == 0.0 else float("inf")
    return err / scale


def mae_over_mad(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """MAE over the MAD of the targets (unitless; 1 = no better than predicting the mean)."""
    return _ratio(mae(y_true, y_pred), mad(y_true))


def std_mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """100 × MAE / σ of the targets, in % (DimeNet's standardised MAE of one target)."""
    sd = float(np.std(np.asarray(y_true, dtype=float)))
    return 100.0 * _ratio(mae(y_true, y_pred), sd)


def log_mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """ln(MAE / σ) of one target (DimeNet's standardised log MAE; -inf for a perfect model)."""
    r = std_mae(y_true, y_pred) / 100.0
    return math.log(r) if r > 0 else -math.inf


def log_unit(target: str, report_unit: str) -> tuple[str, float]:
    """(unit, factor from the report unit) in which DimeNet's code takes the log of a target's MAE."""
    unit = DIMENET_CODE_UNITS.get(target, "eV" if report_unit == "meV" else report_unit)
    if unit == report_unit:
        return unit, 1.0
    from matscibench.sim.units import convert

    return unit, float(convert(1.0, report_unit, unit))


def log_mae_raw(y_true: ArrayLike, y_pred: ArrayLike, factor: float = 1.0) -> float:
    """ln(MAE × ``factor``): the log of the MAE in DimeNet's data units (``factor`` from
    :func:`log_unit`, e.g. 1e-3 for a MAE in meV logged in eV)."""
    err = mae(y_true, y_pred) * float(factor)
    return math.log(err) if err > 0 else -math.inf


def summary(per_target: Mapping[str, float] | Iterable[float]) -> float:
    """Mean of per-target values (``std_mae``, ``log_mae``, ...): one number for all targets."""
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
        register_metric(MetricInfo(
            target_metric_name(name), f"MAE {symbol}", False, unit, (0.0, float("inf")), family="molecules",
            definition=f"mean |y_pred - y_true| of {symbol} over the test molecules, in {unit}",
            paper="SchNet (Schütt et al. 2018), DimeNet (Klicpera et al. 2020) QM9 tables" if name in DIMENET_CODE_UNITS
            else "",
            paper_definition=("test MAE of the target, energies in meV, U0/U/H/G as atomization energies"
                              if name in DIMENET_CODE_UNITS else ""),
            same_as_paper=True if name in DIMENET_CODE_UNITS else None,
        ))


_DIMENET = "Klicpera, Groß & Günnemann, DimeNet, ICLR 2020 (Table 2)"
register_metric(MetricInfo(
    "std_mae", "std. MAE (mean MAE/σ)", False, "%", (0.0, float("inf")), family="molecules",
    definition="mean over the task's targets of 100 × MAE_t / σ_t, σ_t the standard deviation of target t on the test "
               "molecules; qm9_all: DimeNet's 12 targets (U0, U, H, G as atomization energies, no ω1)",
    paper=_DIMENET,
    paper_definition="std. MAE = (1/M) Σ_m MAE_m / σ_m over the 12 targets, in %; DimeNet's published MAEs with QM9's σ "
                     "give 1.05 % as printed (test); its code (gasteigerjo/dimenet @ 66a8168d) does not compute it",
    same_as_paper=True,
))
register_metric(MetricInfo(
    "log_mae", "logMAE (mean ln MAE/σ)", False, None, family="molecules",
    definition="mean over the task's targets of ln(MAE_t / σ_t) (natural log; σ_t of the test molecules); qm9_all: "
               "DimeNet's 12 targets",
    paper=_DIMENET,
    paper_definition="the table's logMAE column: mean over the 12 targets of ln(MAE_m / σ_m); DimeNet's published "
                     "MAEs with QM9's σ give -5.56, the paper prints -5.57 (test). Not what its code logs: see log_mae_raw",
    same_as_paper=True,
))
register_metric(MetricInfo(
    "log_mae_raw", "mean ln MAE (DimeNet code, data units)", False, None, family="molecules",
    definition="mean over the task's targets of ln(MAE_t) with MAE_t in DimeNet's data units (eV for energies, D, a0³, "
               "a0², cal/(mol K); other targets their report unit, meV as eV)",
    paper="DimeNet code (gasteigerjo/dimenet @ 66a8168d, dimenet/training/metrics.py)",
    paper_definition="Metrics.mean_log_mae = np.mean(np.log(maes)), maes per target in the units of data/qm9_eV.npz "
                     "(predict.ipynb: U0 MAE 0.00632 → logMAE -5.064); a training log, not the paper's table",
    same_as_paper=True,
))
register_metric(MetricInfo(
    "mae_over_mad", "MAE/MAD", False, None, (0.0, float("inf")), family="molecules",
    definition="mean over the task's targets of MAE_t / MAD_t, MAD_t the mean absolute deviation of the test values "
               "around their mean (1 = no better than the mean); the inverse of ALIGNN's MAD:MAE for one target",
    paper="", paper_definition="", same_as_paper=None,
))


def _register_known_targets() -> None:
    from matscibench.families.molecules.data import TARGETS

    register_target_metrics({t.name: (t.symbol, t.report_unit) for t in TARGETS.values()})


_register_known_targets()
