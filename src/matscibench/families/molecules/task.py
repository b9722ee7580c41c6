"""Molecular property prediction: QM9's targets on QM9, QM7 and an embedded GFN2-xTB set.

The model contract is the property family's (scikit-learn ``fit``/``predict`` on pymatgen
``Molecule`` objects, ``fit(..., on_epoch=...)`` for time to target); a ``MoleculeTask`` is a
``PropertyTask`` whose target is converted from the dataset's unit (eV) into the unit the papers
report (meV for energies, D, a0³, a0², cal/(mol K), cm⁻¹; ``families.molecules.data.TARGETS``), and whose
metrics add the standardised MAE (``families.molecules.metrics``).

Protocols:

- ``kfold`` (embedded sets, QM7): shuffled K-fold cross-validation (5 folds; QM7 as in Rupp et
  al. 2012 and Montavon et al. 2013).
- ``random`` (QM9): one seeded random split into 110,000 training, 10,000 validation and the rest
  (10,831 with the uncharacterized molecules removed) as test molecules, the sizes of SchNet
  (Schütt et al. 2018) and DimeNet (Klicpera et al. 2020). The model is fitted on the 110,000;
  a model whose ``fit`` takes ``validation_data`` gets the 10,000 validation molecules as
  ``(inputs, targets)`` for early stopping and the per-epoch values of time to target (the same
  molecules for every model); the test part is scored.

QM9's U0, U, H and G are learned and scored as atomization energies (``u0_atom`` ...: the total
energy minus the B3LYP energies of the free atoms, as DimeNet, PaiNN and PyG's examples do), so
their standardised MAE is comparable with the papers'.

``MultiTargetMoleculeTask`` fits one copy of the model per target and reports the summaries of
``families.molecules.metrics`` (``std_mae`` and ``log_mae`` as DimeNet defines them, ``log_mae_raw`` as its
code logs it, ``mae_over_mad``) next to each target's MAE. ``qm9_all`` has DimeNet's 12 targets;
ω1 is its own task (``qm9_omega1``).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from matscibench import metrics as M
from matscibench.cost.meters import latency_percentiles
from matscibench.data.base import Dataset
from matscibench.data.splits import kfold_indices, split_hash
from matscibench.data.structures import n_atoms_of
from matscibench.families.base import DatasetTask, JobContext, TaskOutput
from matscibench.families.molecules import metrics as MM
from matscibench.families.molecules.data import (DIMENET_TARGETS, QM9_ATOMIZATION, QM9_FILE_TARGETS, TARGETS,
                                                 XTB_TARGETS, XTB_VIB_TARGETS)
# the one import across families: a molecule task is a property task (fit/predict) with units
from matscibench.families.supervised import PropertyTask
from matscibench.models.base import check_predictions, fit_with_callback
from matscibench.sim.units import convert

__all__ = ["MoleculeTask", "MultiTargetMoleculeTask", "MOLECULE_METRICS", "random_split", "register_tasks"]

MOLECULE_METRICS = ("mae", "rmse", "mad_mae_ratio", "mae_over_mad", "std_mae", "log_mae", "log_mae_raw", "mad", "r2",
                    "max_error")
#: the summaries of a multi-target task, before the per-target MAEs
SUMMARY_METRICS = ("std_mae", "log_mae", "log_mae_raw", "mae_over_mad")

#: "chemical accuracy" per QM9 target in report units (Faber et al., JCTC 13, 5255 (2017), Table 2;
#: used as the time-to-target threshold of the QM9 tasks)
CHEMICAL_ACCURACY = {
    "mu": 0.1, "alpha": 0.1, "homo": 43.0, "lumo": 43.0, "gap": 43.0, "r2": 1.2, "zpve": 1.2,
    "u0": 43.0, "u": 43.0, "h": 43.0, "g": 43.0, "cv": 0.05, "omega1": 10.0,
    "u0_atom": 43.0, "u_atom": 43.0, "h_atom": 43.0, "g_atom": 43.0,
    "atomization_energy": 1.0,
}

#: time-to-target thresholds of the embedded tasks (report units): reachable in a quick run by a
#: learning model, not by the training mean
EMBEDDED_TARGETS = {
    "energy": 300.0, "homo": 250.0, "lumo": 600.0, "gap": 600.0, "mu": 0.5, "zpve": 50.0, "u0": 300.0,
    "u": 300.0, "h": 300.0, "g": 300.0, "cv": 1.0, "omega1": 60.0,
}


def random_split(n: int, sizes: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, validation, test) indices of a seeded random permutation: the first ``sizes[0]``,
    the next ``sizes[1]``, the rest (sizes shrink proportionally for a smaller dataset)."""
    n_train, n_val = int(sizes[0]), int(sizes[1])
    if n_train + n_val >= n:
        total = sum(sizes) + max(1, n // 12)
        n_train = int(n * sizes[0] / total)
        n_val = int(n * sizes[1] / total)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[:n_train]), np.sort(perm[n_train : n_train + n_val]), np.sort(perm[n_train + n_val :])


class _MoleculeData:
    """Shared data side of the molecule tasks: the unit conversion and the folds."""

    split: str
    split_sizes: tuple[int, int]
    fold_seed: int
    _n_folds: int

    def _folds(self, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        if self.split == "random":
            train, _, test = random_split(n, self.split_sizes, self.fold_seed)
            return [(train, test)]
        return kfold_indices(n, self._n_folds, self.fold_seed)

    def _validation(self, n: int) -> np.ndarray | None:
        """The split's validation molecules (``random`` split only; K-fold has none)."""
        if self.split != "random":
            return None
        return random_split(n, self.split_sizes, self.fold_seed)[1]


class MoleculeTask(_MoleculeData, PropertyTask):
    """Predict one molecular target, scored in the unit the papers report.

    Parameters (besides ``PropertyTask``'s)
    ----------
    split: ``"kfold"`` (``n_folds`` shuffled folds) or ``"random"`` (one train/validation/test
        split with ``split_sizes`` = (train, validation); the rest is the test set).
    """

    family = "molecules"

    def __init__(self, name: str, dataset: str, target: str, *, split: str = "kfold",
                 split_sizes: tuple[int, int] = (110_000, 10_000), **kw: Any) -> None:
        if split not in ("kfold", "random"):
            raise ValueError(f"split must be kfold or random, got {split!r}")
        self.split = split
        self.split_sizes = tuple(int(s) for s in split_sizes)
        if split == "random":
            kw["n_folds"] = 1
        kw.setdefault("fold_seed", 0)
        super().__init__(name, dataset, target, "regression", **kw)
        info = TARGETS[target]
        stored = self.spec.targets.get(target, info.unit)
        self.scale = float(convert(1.0, stored, info.report_unit))
        self.unit = info.report_unit
        self.target_info = info
        self.metrics = MOLECULE_METRICS

    def y(self, ds: Dataset) -> np.ndarray:
        return ds.targets[self.target_column].to_numpy(dtype=float) * self.scale

    def folds(self, ds: Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
        return self._folds(len(ds))

    def validation_indices(self, ds: Dataset, fold: int) -> np.ndarray | None:
        return self._validation(len(ds))

    def score(self, y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None = None) -> dict[str, float]:
        out = {}
        for m in self.metrics:
            if m == "log_mae_raw":
                out[m] = MM.log_mae_raw(y_true, y_pred, MM.log_unit(self.target_column, self.unit)[1])
                continue
            fn = getattr(MM, m, None) or getattr(M, m)
            out[m] = fn(y_true, y_pred)
        return out

    def run(self, model: Any, fold: int, ctx: JobContext) -> TaskOutput:
        out = super().run(model, fold, ctx)
        rate = out.costs.get("predict.throughput_structures_per_s")
        if rate is not None:
            out.costs["predict.throughput_molecules_per_s"] = rate
        out.info["split"] = self.split
        out.info["target_symbol"] = self.target_info.symbol
        return out

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"split": self.split, "split_sizes": list(self.split_sizes) if self.split == "random" else None})
        return d


class MultiTargetMoleculeTask(_MoleculeData, DatasetTask):
    """All targets of a dataset at once: one fresh copy of the model per target; reports the
    standardised MAE averaged over targets and each target's MAE (in its report unit)."""

    family = "molecules"
    task_type = "regression"

    def __init__(self, name: str, dataset: str, targets: tuple[str, ...] | list[str] | None = None, *,
                 description: str = "", dataset_params: dict[str, Any] | None = None, n_folds: int = 5,
                 fold_seed: int = 0, split: str = "kfold", split_sizes: tuple[int, int] = (110_000, 10_000),
                 citation: str = "") -> None:
        self.name = name
        self.dataset_name = dataset
        self.dataset_params = dict(dataset_params or {})
        self.split = split
        self.split_sizes = tuple(int(s) for s in split_sizes)
        self._n_folds = 1 if split == "random" else int(n_folds)
        self.fold_seed = int(fold_seed)
        spec = self.spec
        self.target_names = tuple(targets or spec.targets)
        unknown = [t for t in self.target_names if t not in spec.targets]
        if unknown:
            raise KeyError(f"dataset {dataset} has no targets {unknown}; it has {list(spec.targets)}")
        self.scales = {t: float(convert(1.0, spec.targets[t], TARGETS[t].report_unit)) for t in self.target_names}
        self.report_units = {t: TARGETS[t].report_unit for t in self.target_names}
        self.metrics = SUMMARY_METRICS + tuple(MM.target_metric_name(t) for t in self.target_names)
        self.unit = None
        self.target = None
        self.input_type = spec.input_type
        self.description = description or f"all targets of {dataset} ({', '.join(self.target_names)})"
        self.citation = citation or spec.citation

    def folds(self, ds: Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
        return self._folds(len(ds))

    def incompatibility(self, model: Any) -> str | None:
        return PropertyTask.incompatibility(self, model)  # type: ignore[arg-type]

    def _scores(self, per_target: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
        out: dict[str, float] = {}
        parts: dict[str, dict[str, float]] = {m: {} for m in SUMMARY_METRICS}
        for t, (yt, yp) in per_target.items():
            out[MM.target_metric_name(t)] = M.mae(yt, yp)
            parts["std_mae"][t] = MM.std_mae(yt, yp)
            parts["log_mae"][t] = MM.log_mae(yt, yp)
            parts["log_mae_raw"][t] = MM.log_mae_raw(yt, yp, MM.log_unit(t, self.report_units[t])[1])
            parts["mae_over_mad"][t] = MM.mae_over_mad(yt, yp)
        for m, vals in parts.items():
            out[m] = MM.summary(vals)
        return {m: out[m] for m in self.metrics}

    def rescore(self, predictions: pd.DataFrame) -> dict[str, float]:
        groups = {t: (g["y_true"].to_numpy(float), g["y_pred"].to_numpy(float)) for t, g in predictions.groupby("target")}
        return self._scores({t: groups[t] for t in self.target_names})

    def run(self, model: Any, fold: int, ctx: JobContext) -> TaskOutput:
        meter = ctx.meter
        with meter.phase("load"):
            ds = self.spec.load()
            train, test = self.folds(ds)[fold]
            X_train = [ds.inputs[i] for i in train]
            X_test = [ds.inputs[i] for i in test]
            val = self._validation(len(ds))
            X_val = None if val is None else [ds.inputs[i] for i in val]
        template = copy.deepcopy(model)
        fitted, per_target, frames = {}, {}, []
        with meter.phase("fit"):
            for t in self.target_names:
                m = copy.deepcopy(template)
                y = ds.targets[t].to_numpy(dtype=float) * self.scales[t]
                fit_with_callback(m, X_train, y[train], None, validation=None if val is None else (X_val, y[val]))
                fitted[t] = m
        with meter.phase("predict"):
            preds = {t: m.predict(X_test) for t, m in fitted.items()}
        n_atoms = np.array([n_atoms_of(x) for x in X_test])
        for t in self.target_names:
            y = ds.targets[t].to_numpy(dtype=float) * self.scales[t]
            yp = check_predictions(preds[t], len(X_test), classification=False,
                                   describe=lambda i: f"{ds.ids[test[i]]} ({t})")
            per_target[t] = (y[test], yp)
            frames.append(pd.DataFrame({"id": ds.ids[test].astype(str), "target": t, "y_true": y[test],
                                        "y_pred": yp, "n_atoms": n_atoms}))
        metrics = self._scores(per_target)
        pred_s = meter.phases["predict"].wall_s
        rate = len(X_test) * len(self.target_names) / pred_s if pred_s > 0 else float("nan")
        costs = {
            "predict.throughput_structures_per_s": rate,
            "predict.throughput_molecules_per_s": rate,
            "predict.throughput_atoms_per_s": float(n_atoms.sum()) * len(self.target_names) / pred_s if pred_s > 0 else float("nan"),
            "train.total_s": meter.phases["load"].wall_s + meter.phases["fit"].wall_s,
        }
        if ctx.options.get("latency", True):
            last = fitted[self.target_names[-1]]
            with meter.phase("latency"):
                lat = latency_percentiles(
                    last.predict, X_test, int(ctx.options.get("latency_batch_size", 32)),
                    warmup=int(ctx.options.get("latency_warmup", 2)),
                    max_batches=int(ctx.options.get("latency_max_batches", 30)),
                    budget_s=float(ctx.options.get("latency_budget_s", 2.0)),
                    rng=np.random.default_rng(ctx.seed),
                )
            costs.update({f"predict.{k}": v for k, v in lat.items()})
        info = {
            "n_train": int(len(train)),
            "n_test": int(len(test)),
            "n_validation": 0 if val is None else int(len(val)),
            "split_hash": split_hash(train, test),
            "split": self.split,
            "dataset": ds.name,
            "dataset_checksum": ds.checksum,
            "dataset_source": ds.source,
            "targets": list(self.target_names),
            "target_units": {t: self.report_units[t] for t in self.target_names},
        }
        return TaskOutput(metrics=metrics, predictions=pd.concat(frames, ignore_index=True), info=info, costs=costs)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"dataset": self.dataset_name, "dataset_params": self.dataset_params, "targets": list(self.target_names),
                  "input_type": self.input_type, "task_type": "regression", "split": self.split})
        return d




# ---------------------------------------------------------------------------- built-in tasks
def _single(name: str, dataset: str, target: str, **defaults: Any):
    def factory(**params: Any) -> MoleculeTask:
        return MoleculeTask(name, dataset, target, **{**defaults, **params})

    return factory


def _multi(name: str, dataset: str, **defaults: Any):
    def factory(**params: Any) -> MultiTargetMoleculeTask:
        return MultiTargetMoleculeTask(name, dataset, **{**defaults, **params})

    return factory


def register_tasks(register) -> None:
    """The molecular tasks: ``xtb_mol_<target>`` and ``xtb_vib_<target>`` (embedded, 5-fold),
    ``qm9_<target>`` (110k/10k/rest random split), ``qm7_atomization_energy`` (5-fold), and the
    multi-target ``xtb_mol_all``, ``xtb_vib_all``, ``qm9_all``."""
    for t in XTB_TARGETS:
        info = TARGETS[t]
        register(f"xtb_mol_{t}", _single(
            f"xtb_mol_{t}", "xtb_molecules", t, target_value=EMBEDDED_TARGETS.get(t),
            description=f"{info.description} ({info.report_unit}) of embedded GFN2-xTB molecules (5-fold CV)"))
    register("xtb_mol_all", _multi("xtb_mol_all", "xtb_molecules",
                                   description="all 5 GFN2-xTB targets of the embedded molecules: std. MAE"))
    for t in XTB_VIB_TARGETS:
        if t in XTB_TARGETS:
            continue
        info = TARGETS[t]
        register(f"xtb_vib_{t}", _single(
            f"xtb_vib_{t}", "xtb_molecules_vib", t, target_value=EMBEDDED_TARGETS.get(t),
            description=f"{info.description} ({info.report_unit}, GFN2-xTB Hessian, ideal gas at 298.15 K) "
                        "of embedded molecules (5-fold CV)"))
    register("xtb_vib_all", _multi("xtb_vib_all", "xtb_molecules_vib",
                                   description="all 12 GFN2-xTB targets incl. thermochemistry: std. MAE"))
    # U0, U, H, G are scored as atomization energies: qm9_u0 predicts the column u0_atom
    atomization = {total: atom for total, atom in QM9_ATOMIZATION.items()}
    for t in QM9_FILE_TARGETS:
        column = atomization.get(t, t)
        info = TARGETS[column]
        register(f"qm9_{t}", _single(
            f"qm9_{t}", "qm9", column, split="random", target_value=CHEMICAL_ACCURACY.get(column),
            description=f"QM9 {info.symbol}: {info.description} ({info.report_unit}); 110k/10k/rest random split, "
                        "validation set for early stopping"))
    register("qm9_all", _multi("qm9_all", "qm9", targets=DIMENET_TARGETS, split="random",
                               description="DimeNet's 12 QM9 targets (U0, U, H, G as atomization energies; no ω1), "
                                           "110k/10k/rest random split: std. MAE (%), logMAE"))
    register("qm7_atomization_energy", _single(
        "qm7_atomization_energy", "qm7", "atomization_energy", target_value=CHEMICAL_ACCURACY["atomization_energy"],
        description="QM7 PBE0 atomization energy (kcal/mol), 5-fold CV (Rupp et al. 2012)"))
