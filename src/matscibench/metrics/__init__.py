"""Accuracy metrics: pure numpy functions, one module per family.

Every function takes ``y_true`` first and returns a Python float. ``METRICS`` describes each
metric for reports: direction (higher is better?) and whether it carries the target's unit.
"""

from __future__ import annotations

from dataclasses import dataclass

from matscibench.metrics.classification import accuracy, balanced_accuracy, f1, roc_auc, roc_auc_labels
from matscibench.metrics.regression import mad, mad_mae_ratio, mae, mape, max_error, mse, r2, rmse


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is shown and compared.

    ``unit``: ``"target"`` (the task's unit), ``"target^2"``, a literal unit such as
    ``"meV/Å"`` or ``"degrees"``, or None (unitless).
    """

    name: str
    label: str
    higher_is_better: bool
    unit: str | None
    #: the range the metric can take; confidence intervals are clipped to it
    bounds: tuple[float, float] = (-float("inf"), float("inf"))
    #: the task family that owns the metric (None: shared by several families); the docs page
    #: of that family lists it in its definitions table
    family: str | None = None
    #: how this project computes it, in one sentence (units, normalisation, averaging)
    definition: str = ""
    #: the paper (short citation) whose published numbers this metric is meant to be set beside;
    #: empty when no paper's table is the reference
    paper: str = ""
    #: how that paper's reference code computes it (cite file and commit where read)
    paper_definition: str = ""
    #: True: same definition as the paper's, so the numbers can be set side by side;
    #: False: a deliberate variant (it has its own name and is never compared with the paper);
    #: None: no paper to compare with
    same_as_paper: bool | None = None

    def unit_for(self, target_unit: str | None) -> str | None:
        if self.unit not in ("target", "target^2"):
            return self.unit
        if self.unit == "target":
            return target_unit
        if self.unit == "target^2":
            if not target_unit:
                return None
            simple = all(ch.isalnum() for ch in target_unit)
            return f"{target_unit}²" if simple else f"({target_unit})²"
        return None


METRICS: dict[str, MetricInfo] = {
    "mae": MetricInfo("mae", "MAE", False, "target", (0.0, float("inf")), "properties",
                      "mean |y − ŷ| over the test fold, in the target's unit", "Dunn et al. 2020 (matbench v0.1)",
                      "sklearn mean_absolute_error per fold (METRIC_MAP, matbench/data_ops.py, materialsproject/matbench @ 936176db)", True),
    "rmse": MetricInfo("rmse", "RMSE", False, "target", (0.0, float("inf")), "properties",
                       "sqrt(mean (y − ŷ)²) over the test fold, in the target's unit", "Dunn et al. 2020 (matbench v0.1)",
                       "math.sqrt(sklearn mean_squared_error) per fold (matbench/data_ops.py, materialsproject/matbench @ 936176db)", True),
    "mse": MetricInfo("mse", "MSE", False, "target^2", (0.0, float("inf")), "properties",
                      "mean (y − ŷ)² over the test fold, in the target's unit squared"),
    "mad": MetricInfo("mad", "MAD of test targets", True, "target", (0.0, float("inf")), "properties",
                      "mean |y − mean(y)| of the test targets (the MAE of predicting their mean)"),
    "mad_mae_ratio": MetricInfo("mad_mae_ratio", "MAD:MAE", True, None, (0.0, float("inf")), "properties",
                                "MAD of the test targets over the model's MAE (ALIGNN's indicator, >5 is good)"),
    "r2": MetricInfo("r2", "R²", True, None, (-float("inf"), 1.0), "properties",
                     "1 − SS_res / SS_tot on the test fold"),
    "max_error": MetricInfo("max_error", "max error", False, "target", (0.0, float("inf")), "properties",
                            "largest |y − ŷ| on the test fold, in the target's unit", "Dunn et al. 2020 (matbench v0.1)",
                            "sklearn max_error per fold (matbench/data_ops.py, materialsproject/matbench @ 936176db)", True),
    "mape": MetricInfo("mape", "MAPE", False, None, (0.0, float("inf")), "properties",
                       "mean |(y − ŷ) / y| over test items with |y| > 1e-5, as a fraction", "Dunn et al. 2020 (matbench v0.1)",
                       "mean_absolute_percentage_error of matbench/data_ops.py (materialsproject/matbench @ 936176db): same mask, fraction", True),
    "roc_auc": MetricInfo("roc_auc", "ROC-AUC (scores)", True, None, (0.0, 1.0), "properties",
                          "area under the ROC curve from the model's predict_proba of the positive class "
                          "(from labels only when a model has no predict_proba), ties counted one half",
                          "Dunn et al. 2020 (matbench v0.1)",
                          "matbench's rocauc is scored from hard labels (see roc_auc_labels), so a probability "
                          "AUC is higher than the leaderboard's for the same model", False),
    "roc_auc_labels": MetricInfo("roc_auc_labels", "ROC-AUC (labels, matbench)", True, None, (0.0, 1.0),
                                 "properties",
                                 "area under the ROC curve of the predict() labels (probabilities > 0.5 when only "
                                 "they are given); equals balanced accuracy",
                                 "Dunn et al. 2020 (matbench v0.1)",
                                 "score_array (matbench/data_ops.py, materialsproject/matbench @ 936176db) turns float predictions into "
                                 "p > 0.5 labels before rocauc, then sklearn roc_auc_score(y_true, labels)", True),
    "accuracy": MetricInfo("accuracy", "accuracy", True, None, (0.0, 1.0), "properties",
                           "fraction of test items whose predicted label equals the true label",
                           "Dunn et al. 2020 (matbench v0.1)",
                           "sklearn accuracy_score of labels per fold (matbench/data_ops.py, materialsproject/matbench "
                           "@ 936176db)", True),
    "balanced_accuracy": MetricInfo("balanced_accuracy", "balanced accuracy", True, None, (0.0, 1.0), "properties",
                                    "mean over the classes present in y_true of the recall of that class "
                                    "(scikit-learn's balanced_accuracy_score)", "Dunn et al. 2020 (matbench v0.1)",
                                    "sklearn balanced_accuracy_score of labels per fold (matbench/data_ops.py, "
                                    "materialsproject/matbench @ 936176db)", True),
    "f1": MetricInfo("f1", "F1", True, None, (0.0, 1.0), "properties",
                     "F1 of the positive class (True) from predict() labels", "Dunn et al. 2020 (matbench v0.1)",
                     "sklearn f1_score of labels per fold (matbench/data_ops.py, materialsproject/matbench @ 936176db)", True),
}

def register_metric(info: MetricInfo) -> MetricInfo:
    """Add a family's metric (name, label, direction, unit) so reports can show it."""
    existing = METRICS.get(info.name)
    if existing is not None and existing != info:
        raise ValueError(f"metric {info.name!r} is already registered differently: {existing}")
    METRICS[info.name] = info
    return info


__all__ = [
    "register_metric",
    "METRICS",
    "MetricInfo",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "mad",
    "mad_mae_ratio",
    "mae",
    "max_error",
    "mse",
    "r2",
    "rmse",
    "roc_auc",
    "roc_auc_labels",
    "mape",
]
