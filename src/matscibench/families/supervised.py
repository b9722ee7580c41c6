"""The supervised task shared by the crystal-property and molecular-property families: one
dataset, fixed folds, ``fit(X, y)`` / ``predict(X)`` on scalar targets (regression) or booleans
(classification), metrics, throughput, latency and time to target.

``PropertyTask`` is the crystal-property family's task; ``MoleculeTask`` (molecules family)
extends it. It lives here, in the families' shared layer, so that neither family imports the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from matscibench import metrics as M
from matscibench.cost.meters import latency_percentiles
from matscibench.data.base import Dataset
from matscibench.data.splits import MATBENCH_SEED, kfold_indices, split_hash
from matscibench.data.structures import n_atoms_of
from matscibench.families.base import DatasetTask, JobContext, TaskOutput
from matscibench.models.base import EpochCallback, check_predictions, fit_with_callback
from matscibench.models.replay import announce_items, is_replay

__all__ = ["PropertyTask", "REGRESSION_METRICS", "CLASSIFICATION_METRICS"]

REGRESSION_METRICS = ("mae", "rmse", "mape", "mse", "mad", "mad_mae_ratio", "r2", "max_error")
CLASSIFICATION_METRICS = ("roc_auc", "roc_auc_labels", "accuracy", "balanced_accuracy", "f1")


class PropertyTask(DatasetTask):
    """Predict one target column of a dataset from its inputs.

    Parameters
    ----------
    name, description: how the task is listed.
    dataset: registry name of the dataset; ``dataset_params`` go to its factory.
    target: the column to predict.
    task_type: ``"regression"`` or ``"classification"``.
    n_folds, fold_seed: KFold (stratified for classification) with shuffling; matbench's seed by default.
    target_value: time-to-target threshold on the primary metric (MAE for regression, ROC-AUC
        for classification).
    """

    family = "properties"
    predictions_file_model = "matscibench.families.replay:PropertyReplay"

    def __init__(
        self,
        name: str,
        dataset: str,
        target: str,
        task_type: str = "regression",
        *,
        description: str = "",
        dataset_params: dict[str, Any] | None = None,
        n_folds: int = 5,
        fold_seed: int = MATBENCH_SEED,
        target_value: float | None = None,
        citation: str = "",
    ) -> None:
        if task_type not in ("regression", "classification"):
            raise ValueError(f"task_type must be regression or classification, got {task_type!r}")
        self.name = name
        self.dataset_name = dataset
        self.dataset_params = dict(dataset_params or {})
        self.target_column = target
        self.task_type = task_type
        self._n_folds = int(n_folds)
        self.fold_seed = int(fold_seed)
        self.target = target_value
        self.metrics = REGRESSION_METRICS if task_type == "regression" else CLASSIFICATION_METRICS
        spec = self.spec
        self.unit = spec.targets.get(target) if task_type == "regression" else None
        self.input_type = spec.input_type
        self.description = description or f"{target} of {dataset}"
        self.citation = citation or spec.citation

    # ------------------------------------------------------------------ data
    def load(self) -> Dataset:
        ds = self.spec.load()
        if self.target_column not in ds.targets.columns:
            raise KeyError(f"dataset {ds.name} has no target {self.target_column!r}; it has {list(ds.targets.columns)}")
        return ds

    def y(self, ds: Dataset) -> np.ndarray:
        y = ds.targets[self.target_column].to_numpy()
        return y.astype(bool) if self.task_type == "classification" else y.astype(float)

    def folds(self, ds: Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
        y = self.y(ds)
        strat = y if self.task_type == "classification" else None
        return kfold_indices(len(ds), self._n_folds, self.fold_seed, stratify=strat)

    def get_train_and_val_data(self, fold: int, ds: Dataset | None = None) -> tuple[list, np.ndarray]:
        """Matbench-style access: training inputs and targets of ``fold``."""
        ds = ds or self.load()
        train, _ = self.folds(ds)[fold]
        y = self.y(ds)
        return [ds.inputs[i] for i in train], y[train]

    def validation_indices(self, ds: Dataset, fold: int) -> np.ndarray | None:
        """Indices of a validation set the task fixes for ``fold`` (None: the model holds out its own)."""
        return None

    def get_test_data(self, fold: int, ds: Dataset | None = None, include_target: bool = False):
        ds = ds or self.load()
        _, test = self.folds(ds)[fold]
        X = [ds.inputs[i] for i in test]
        return (X, self.y(ds)[test]) if include_target else X

    # ------------------------------------------------------------------ models
    def incompatibility(self, model: Any) -> str | None:
        if not (hasattr(model, "fit") and hasattr(model, "predict")):
            return f"{type(model).__name__} has no fit/predict; task {self.name} needs a property model"
        types = getattr(model, "input_types", None)
        if types is not None and self.input_type not in tuple(types):
            return f"{type(model).__name__} takes {'/'.join(types)} inputs; task {self.name} gives {self.input_type}"
        return None

    # ------------------------------------------------------------------ scoring
    def score(self, y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None = None) -> dict[str, float]:
        if self.task_type == "regression":
            return {m: getattr(M, m)(y_true, y_pred) for m in self.metrics}
        out = {m: getattr(M, m)(y_true, y_pred) for m in self.metrics if m != "roc_auc"}
        out["roc_auc"] = M.roc_auc(y_true, y_score if y_score is not None else y_pred)
        return {m: out[m] for m in self.metrics}

    def _primary_score(self, y_true, y_pred) -> float:
        if self.task_type == "regression":
            return M.mae(y_true, y_pred)
        return M.roc_auc(y_true, y_pred)

    def rescore(self, predictions: pd.DataFrame) -> dict[str, float]:
        score = predictions["y_score"].to_numpy() if "y_score" in predictions else None
        yt = predictions["y_true"].to_numpy()
        yp = predictions["y_pred"].to_numpy()
        if self.task_type == "classification":
            yt, yp = yt.astype(bool), yp.astype(bool)
        return self.score(yt, yp, score)

    # ------------------------------------------------------------------ the job
    def run(self, model: Any, fold: int, ctx: JobContext) -> TaskOutput:
        meter = ctx.meter
        with meter.phase("load"):
            ds = self.load()
            train, test = self.folds(ds)[fold]
            y = self.y(ds)
            X_train = [ds.inputs[i] for i in train]
            X_test = [ds.inputs[i] for i in test]
            y_train, y_test = y[train], y[test]
        announce_items(model, ds.ids[test], fold, X_test)  # a model replaying a file answers by id

        info = self.metric_info(self.primary_metric)
        cb = EpochCallback(self.primary_metric, info.higher_is_better, self.target, self._primary_score, meter.record_epoch)
        val = self.validation_indices(ds, fold)
        validation = None if val is None else ([ds.inputs[i] for i in val], y[val])
        with meter.phase("fit"):
            fit_with_callback(model, X_train, y_train, cb, validation=validation)
        fit_end = meter.elapsed()

        y_pred, y_score = self._predict(model, X_test, lambda i: _describe_item(ds.ids[test[i]], X_test[i]), meter)
        metrics = self.score(y_test, y_pred, y_score)
        n_atoms = np.array([n_atoms_of(x) for x in X_test])
        costs = self._prediction_costs(model, X_test, n_atoms, ctx)
        # time to target: first epoch whose validation metric meets the target; a model without
        # epochs reaches it (at the end of fit) when its test metric does
        ttt_costs, source = self.time_to_target(cb, metrics, fit_end)
        costs.update(ttt_costs)

        preds = pd.DataFrame({"id": ds.ids[test].astype(str), "y_true": y_test, "y_pred": y_pred, "n_atoms": n_atoms})
        if y_score is not None:
            preds["y_score"] = y_score
        classification = self.task_type == "classification"
        out_info = {
            "n_train": int(len(train)),
            "n_test": int(len(test)),
            "split_hash": split_hash(train, test),
            "dataset": ds.name,
            "dataset_checksum": ds.checksum,
            "dataset_source": ds.source,
            "target": self.target_column,
            "unit": self.unit,
            "time_to_target_source": source,
            "roc_auc_from": ("probabilities" if y_score is not None else "labels") if classification else None,
        }
        return TaskOutput(metrics=metrics, predictions=preds, info=out_info, costs=costs)

    def _predict(self, model: Any, X_test: list, describe, meter) -> tuple[np.ndarray, np.ndarray | None]:
        """(checked predictions, checked probability of ``True`` or None); only ``predict`` is
        metered as the predict phase."""
        classification = self.task_type == "classification"
        with meter.phase("predict"):
            y_pred = model.predict(X_test)
        y_pred = check_predictions(y_pred, len(X_test), classification=classification, describe=describe)
        y_score = None
        if classification and hasattr(model, "predict_proba"):
            proba = np.asarray(model.predict_proba(X_test))
            if proba.ndim == 2 and proba.shape[1] == 2:
                classes = list(getattr(model, "classes_", [False, True]))
                col = classes.index(True) if True in classes else 1
                proba = proba[:, col]
            y_score = check_predictions(proba, len(X_test), classification=False, describe=describe, what="predict_proba")
        return y_pred, y_score

    def _prediction_costs(self, model: Any, X_test: list, n_atoms: np.ndarray, ctx: JobContext) -> dict[str, float]:
        """Throughput of the predict phase, training time, and the latency percentiles."""
        meter = ctx.meter
        pred_s = meter.phases["predict"].wall_s
        costs: dict[str, float] = {
            "predict.throughput_structures_per_s": len(X_test) / pred_s if pred_s > 0 else float("nan"),
            "train.total_s": meter.phases["load"].wall_s + meter.phases["fit"].wall_s,
        }
        if self.input_type != "composition":  # a formula's written counts are not atoms
            costs["predict.throughput_atoms_per_s"] = float(n_atoms.sum()) / pred_s if pred_s > 0 else float("nan")
        batch = int(ctx.options.get("latency_batch_size", 32))
        if ctx.options.get("latency", True) and not is_replay(model):  # a file's latency is not the model's
            with meter.phase("latency"):
                lat = latency_percentiles(
                    model.predict,
                    X_test,
                    batch,
                    warmup=int(ctx.options.get("latency_warmup", 2)),
                    max_batches=int(ctx.options.get("latency_max_batches", 30)),
                    budget_s=float(ctx.options.get("latency_budget_s", 2.0)),
                    rng=np.random.default_rng(ctx.seed),
                )
            costs.update({f"predict.{k}": v for k, v in lat.items()})
        return costs

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(
            {
                "dataset": self.dataset_name,
                "dataset_params": self.dataset_params,
                "target_column": self.target_column,
                "task_type": self.task_type,
                "input_type": self.input_type,
            }
        )
        return d


def _describe_item(item_id: Any, x: Any) -> str:
    """``<id> <reduced formula>`` of a test item (for the messages of ``check_predictions``)."""
    formula = x.composition.reduced_formula if hasattr(x, "composition") else getattr(x, "reduced_formula", str(x))
    return f"{item_id} {formula}"


# ---------------------------------------------------------------------------- built-in tasks
