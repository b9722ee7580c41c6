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

from matscibench.families.supervised import CLASSIFICATION_METRICS, REGRESSION_METRICS, PropertyTask

__all__ = ["PropertyTask", "REGRESSION_METRICS", "CLASSIFICATION_METRICS", "register_tasks"]


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
