"""Crystal (and composition) property prediction: regression and binary classification.

The protocol is matbench's (Dunn et al., npj Comput. Mater. 6, 138 (2020)): fixed 5-fold
cross-validation; on each fold the model is fitted on the training part and scored on the test
part. Regression reports matbench's per-fold set (MAE, RMSE, MAPE, max error; ``REG_METRICS`` in
``matbench/constants.py``, materialsproject/matbench @ 936176db) plus MSE, MAD, MAD:MAE and R²;
classification reports matbench's set (accuracy, balanced accuracy, F1 and its label-based
ROC-AUC, here ``roc_auc_labels``) plus ``roc_auc`` from the model's probabilities. Only
``roc_auc_labels`` can be set beside matbench's published ROC-AUC (see ``metrics.classification``).

Composition tasks report no inference throughput in atoms/s: a formula's written counts
(Fe2O3 vs Fe4O6) are not atoms a model processes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from matscibench.data.base import Dataset
from matscibench.families.supervised import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    PropertyTask,
)

__all__ = ["CLASSIFICATION_METRICS", "REGRESSION_METRICS", "PropertyTask", "SplitPropertyTask", "register_tasks"]


class SplitPropertyTask(PropertyTask):
    """One fold fixed by the dataset's own splits: train on the rows of ``train_split``, score on
    the rows of ``test_split`` (the dataset's ``split`` column, as the CDVAE files carry it).

    ``perov5_formation_energy_val_test``: CDVAE's Perov-5 validation split (3,787 crystals) trains,
    its test split (3,785) scores; a data folder without the 11,356-row training split
    (``../shared/data``) can still run a held-out comparison of property models."""

    def __init__(self, name: str, dataset: str, target: str, task_type: str = "regression", *,
                 train_split: str = "val", test_split: str = "test", **kw: Any) -> None:
        kw["n_folds"] = 1
        self.train_split = str(train_split)
        self.test_split = str(test_split)
        super().__init__(name, dataset, target, task_type, **kw)

    def folds(self, ds: Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
        if ds.extra is None or "split" not in ds.extra.columns:
            raise ValueError(f"task {self.name}: dataset {ds.name} has no 'split' column to take "
                             f"{self.train_split!r} / {self.test_split!r} rows from")
        split = ds.extra["split"].to_numpy().astype(str)
        train = np.flatnonzero(split == self.train_split)
        test = np.flatnonzero(split == self.test_split)
        if not len(train) or not len(test):
            raise ValueError(f"task {self.name}: dataset {ds.name} has {len(train)} rows of split "
                             f"{self.train_split!r} and {len(test)} of {self.test_split!r}; both must be non-empty")
        return [(train, test)]

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"train_split": self.train_split, "test_split": self.test_split})
        return d


def _factory(name: str, dataset: str, target: str, task_type: str = "regression", **defaults: Any):
    def factory(**params: Any) -> PropertyTask:
        return PropertyTask(name, dataset, target, task_type, **{**defaults, **params})

    return factory


def register_tasks(register) -> None:
    """The crystal-property tasks: embedded EMT alloys, Perov-5, matbench v0.1."""
    from matscibench.families.properties.matbench import MATBENCH_TASKS

    emt = {"fold_seed": 0}
    register(
        "emt_formation_energy",
        _factory("emt_formation_energy", "emt_alloys", "formation_energy_per_atom",
                 description="formation energy (eV/atom) of relaxed EMT alloys", target_value=0.02, **emt),
    )
    register(
        "emt_bulk_modulus",
        _factory("emt_bulk_modulus", "emt_alloys", "bulk_modulus",
                 description="bulk modulus (GPa, Birch-Murnaghan fit) of relaxed EMT alloys", target_value=5.0, **emt),
    )
    register(
        "emt_is_stable",
        _factory("emt_is_stable", "emt_alloys", "is_stable", "classification",
                 description="formation energy below zero (stable against the elements) for EMT alloys",
                 target_value=0.95, **emt),
    )
    register(
        "perov5_formation_energy",
        _factory("perov5_formation_energy", "cdvae_perov_5", "heat_ref",
                 description="DFT heat of formation (eV/atom) of Perov-5 perovskites (CDVAE val + test "
                 "splits, 7,572 real DFT labels)", target_value=0.15),
    )
    register(
        "perov5_formation_energy_val_test",
        lambda **params: SplitPropertyTask(
            "perov5_formation_energy_val_test", "cdvae_perov_5", "heat_ref",
            **{"description": "DFT heat of formation (eV/atom) of Perov-5: trained on CDVAE's validation split "
               "(3,787), scored on its test split (3,785); one fold", "target_value": 0.15, **params}),
    )
    register(
        "perov5_band_gap",
        _factory("perov5_band_gap", "cdvae_perov_5", "dir_gap",
                 description="GLLB-SC direct band gap (eV) of Perov-5 perovskites (CDVAE val + test splits)"),
    )
    for name, info in MATBENCH_TASKS.items():
        register(name, _factory(name, name, info.target, info.task_type, description=f"matbench v0.1: {info.description}"))
        if info.input_type == "structure":
            register(
                f"{name}_composition",
                _factory(f"{name}_composition", f"{name}_composition", info.target, info.task_type,
                         description=f"matbench v0.1 labels, composition only: {info.description}"),
            )
