"""Characterisation: powder diffraction pattern -> crystal system, space group, lattice parameters.

After the XRD-classification literature (Park et al., IUCrJ 4, 486 (2017); Oviedo et al., npj
Comput. Mater. 5, 60 (2019); Suzuki et al., Sci. Rep. 10, 21790 (2020); CrystalMELA, Corriero et
al., J. Appl. Cryst. 56, 409 (2023); Chitturi et al., J. Appl. Cryst. 54, 1799 (2021) for lattice
parameters): a model reads a 1-D powder pattern on the task's fixed 2θ grid (Cu Kα unless the
dataset says otherwise; see ``matscibench.families.xrd.data``) and predicts one of the seven crystal
systems, one of the 230 space groups, or the conventional cell's a, b, c (Å), α, β, γ (degrees).

Model contract: ``fit(patterns, labels)``; classifiers ``predict_proba(patterns)`` with columns in
the order of ``classes_`` (the predicted class is the most probable one); lattice regressors
``predict(patterns) -> (n, 6)``. ``fit`` may take ``on_epoch`` (time to target; its ``score``
is the task's primary metric: accuracy, or the mean MAPE of a, b, c) and ``two_theta`` (the grid
in degrees). Models declare ``input_types = ("pattern",)``; models that take structures are
skipped.

Splits: ``random`` (stratified by crystal system, patterns of one structure kept together) and
``chemistry`` (stratified group K-fold by reduced formula: no composition is shared between
training and test). With ``test_datasets`` (real structures, measured patterns) a fold trains on
the training part of the simulated data and tests on one of ``n_folds`` chunks of the real data.

Predictions keep ``y_true``, ``y_pred`` and one ``p_<class>`` column per class the model knows,
so ``rescore`` recomputes every metric and the report draws the confusion matrix; the job's
``info`` also carries the confusion matrix itself.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from matscibench.cost.meters import latency_percentiles
from matscibench.data.splits import kfold_indices, split_hash
from matscibench.errors import DatasetError, ModelOutputError
from matscibench.families.base import JobContext, Task, TaskOutput
from matscibench.models.base import EpochCallback, fit_accepts
from matscibench.models.replay import announce_items, is_replay
from matscibench.sim.xrd import CRYSTAL_SYSTEMS

__all__ = ["XrdTask", "XrdFold", "register_tasks", "TARGETS"]

TARGETS = ("crystal_system", "space_group", "lattice")


def _metrics_module():
    from matscibench.families.xrd import metrics as MX

    return MX


@dataclass
class XrdFold:
    """One fold's patterns: training patterns and labels; test patterns, labels, ids, formulas,
    dataset names, structure indices and pattern indices (into their dataset)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    ids: np.ndarray
    formula: np.ndarray
    source: np.ndarray
    structure: np.ndarray
    test_idx: np.ndarray


class XrdTask(Task):
    """Classify powder patterns (crystal system, space group) or regress the lattice.

    Parameters
    ----------
    name, description: how the task is listed.
    target: ``"crystal_system"``, ``"space_group"`` or ``"lattice"``.
    dataset, dataset_params: the (simulated) pattern dataset the models train on.
    test_datasets, test_dataset_params: optional datasets to test on instead of the held-out
        simulated patterns (names, and one parameter dict per name).
    split: ``"random"`` or ``"chemistry"``.
    n_folds, fold_seed: K-fold set-up.
    max_test: at most this many test patterns per fold (evenly spaced).
    crystal_systems: keep only patterns of these systems (training and test).
    target_value: time-to-target threshold on the primary metric.
    """

    family = "xrd"
    predictions_file_model = "matscibench.families.xrd.replay:XrdReplay"

    def __init__(
        self,
        name: str,
        target: str = "crystal_system",
        *,
        dataset: str = "xrd_pyxtal",
        dataset_params: dict[str, Any] | None = None,
        test_datasets: list[str] | tuple[str, ...] | None = None,
        test_dataset_params: list[dict[str, Any]] | tuple[dict[str, Any], ...] | None = None,
        split: str = "random",
        n_folds: int = 3,
        fold_seed: int = 0,
        max_test: int | None = None,
        crystal_systems: list[str] | tuple[str, ...] | None = None,
        target_value: float | None = None,
        description: str = "",
        citation: str = "",
    ) -> None:
        MX = _metrics_module()
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        if split not in ("random", "chemistry"):
            raise ValueError(f"split must be 'random' or 'chemistry', got {split!r}")
        self.name = name
        self.target_name = target
        self.dataset_name = dataset
        self.dataset_params = dict(dataset_params or {})
        self.test_dataset_names = list(test_datasets or [])
        tparams = list(test_dataset_params or [{} for _ in self.test_dataset_names])
        if len(tparams) != len(self.test_dataset_names):
            raise ValueError(f"{len(self.test_dataset_names)} test datasets but {len(tparams)} parameter dicts")
        self.test_dataset_params = [dict(p or {}) for p in tparams]
        self.split = split
        self._n_folds = int(n_folds)
        self.fold_seed = int(fold_seed)
        self.max_test = None if max_test is None else int(max_test)
        bad = sorted(set(crystal_systems or ()) - set(CRYSTAL_SYSTEMS))
        if bad:
            raise ValueError(f"unknown crystal system(s) {bad}; use {list(CRYSTAL_SYSTEMS)}")
        self.crystal_systems = tuple(crystal_systems) if crystal_systems else None
        self.target = target_value
        self.task_type = "regression" if target == "lattice" else "classification"
        if target == "lattice":
            self.metrics = MX.LATTICE_METRICS
        elif target == "crystal_system":
            systems = self.crystal_systems or CRYSTAL_SYSTEMS
            self.metrics = MX.CLASSIFICATION_METRICS + MX.per_class_metric_names(systems)
        else:
            self.metrics = MX.CLASSIFICATION_METRICS
        self.description = description or f"{target.replace('_', ' ')} from powder patterns of {dataset}"
        self.citation = citation or getattr(self.train_spec, "citation", "")

    # ------------------------------------------------------------------ data
    @property
    def train_spec(self):
        spec = self.__dict__.get("_spec")
        if spec is None:
            from matscibench.families.registry import get_dataset

            spec = self.__dict__["_spec"] = get_dataset(self.dataset_name, **self.dataset_params)
        return spec

    @property
    def spec(self):
        """The dataset to talk about when data are missing: the first of the training and test
        datasets that is not available offline, else the training one (the planner names its
        status and the files to put in place)."""
        for s in [self.train_spec, *self.test_specs]:
            if not s.available_offline():
                return s
        return self.train_spec

    @property
    def test_specs(self) -> list:
        specs = self.__dict__.get("_test_specs")
        if specs is None:
            from matscibench.families.registry import get_dataset

            specs = self.__dict__["_test_specs"] = [
                get_dataset(n, **p) for n, p in zip(self.test_dataset_names, self.test_dataset_params)
            ]
        return specs

    def n_folds(self) -> int:
        return self._n_folds

    def prepare(self, progress=None) -> None:
        self.train_spec.prepare(progress)
        for s in self.test_specs:
            s.prepare(progress)

    def data_available(self) -> bool:
        return self.train_spec.available_offline() and all(s.available_offline() for s in self.test_specs)

    def data_sources(self) -> tuple[str, ...]:
        specs = [self.train_spec, *self.test_specs]
        return tuple(dict.fromkeys(s for spec in specs for s in (getattr(spec, "sources", ()) or ())))

    def dataset_checksum(self) -> str:
        sums = [self.train_spec.checksum()] + [s.checksum() for s in self.test_specs]
        return sums[0] if len(sums) == 1 else hashlib.sha256("|".join(sums).encode()).hexdigest()

    def _select(self, ds) -> np.ndarray:
        """Indices of the patterns this task uses (crystal-system filter, labels present)."""
        keep = np.ones(len(ds), dtype=bool)
        if self.crystal_systems is not None and "crystal_system" in ds.labels:
            keep &= ds.labels["crystal_system"].isin(self.crystal_systems).to_numpy()
        return np.nonzero(keep)[0]

    def warm(self) -> None:
        self.load()

    def load(self):
        """(training dataset, [test datasets]) with every label the target needs."""
        train = self.train_spec.load()
        tests = [s.load() for s in self.test_specs]
        for ds in [train, *tests]:
            need = ["a", "b", "c", "alpha", "beta", "gamma"] if self.target_name == "lattice" else [self.target_name]
            missing = [c for c in need if c not in ds.labels.columns]
            if missing:
                raise DatasetError(f"dataset {ds.name} has no {missing} labels; task {self.name} needs them")
            if ds.grid != train.grid:
                raise DatasetError(
                    f"dataset {ds.name} is on the 2θ grid {ds.grid.as_dict()}, but {train.name} (training) is on "
                    f"{train.grid.as_dict()}; give both the same grid"
                )
        return train, tests

    def labels(self, ds, idx: np.ndarray | None = None) -> np.ndarray:
        idx = np.arange(len(ds)) if idx is None else idx
        if self.target_name == "lattice":
            return ds.labels[["a", "b", "c", "alpha", "beta", "gamma"]].to_numpy(dtype=float)[idx]
        if self.target_name == "space_group":
            return ds.labels["space_group"].to_numpy(dtype=np.int64)[idx]
        return ds.labels["crystal_system"].astype(str).to_numpy(dtype=object)[idx]

    def _structure_folds(self, ds, use: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """K-fold over the structures behind ``use`` (pattern indices), as pattern indices."""
        if self._n_folds == 1:
            return [(use, use[:0])]
        struct = ds.structure[use]
        ustruct, first = np.unique(struct, return_index=True)
        strat = ds.labels["crystal_system"].astype(str).to_numpy()[use][first] if "crystal_system" in ds.labels else None
        if self.split == "random":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sfolds = kfold_indices(len(ustruct), self._n_folds, self.fold_seed, stratify=strat)
        else:
            from sklearn.model_selection import StratifiedGroupKFold

            groups = ds.formula[use][first]
            _, gid = np.unique(groups.astype(str), return_inverse=True)
            if len(np.unique(gid)) < self._n_folds:
                raise DatasetError(f"dataset {ds.name}: {len(np.unique(gid))} compositions cannot make {self._n_folds} folds")
            splitter = StratifiedGroupKFold(n_splits=self._n_folds, shuffle=True, random_state=self.fold_seed)
            y = strat if strat is not None else np.zeros(len(ustruct))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sfolds = list(splitter.split(np.zeros(len(ustruct)), y, gid))
        out = []
        for tr, te in sfolds:
            out.append((use[np.isin(struct, ustruct[tr])], use[np.isin(struct, ustruct[te])]))
        return out

    def folds(self, train_ds, tests: list | None = None) -> list[tuple[np.ndarray, Any]]:
        """Per fold (training pattern indices, test indices): test indices are pattern indices of
        ``train_ds`` or, with test datasets, a list of (dataset number, pattern indices)."""
        use = self._select(train_ds)
        inner = self._structure_folds(train_ds, use)
        if not tests:
            return [(tr, self._cap(te)) for tr, te in inner]
        # real data: fold k tests on the k-th chunk of every test dataset
        chunks: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(self._n_folds)]
        for d, ds in enumerate(tests):
            sel = self._select(ds)
            if len(sel) < self._n_folds:
                raise DatasetError(f"test dataset {ds.name} has {len(sel)} patterns; need at least {self._n_folds}")
            if self._n_folds == 1:
                parts = [sel]
            else:
                parts = [sel[np.sort(te)] for _, te in kfold_indices(len(sel), self._n_folds, self.fold_seed)]
            for k, p in enumerate(parts):
                chunks[k].append((d, p))
        out = []
        for k, (tr, _) in enumerate(inner):
            per = [(d, self._cap(p, len(chunks[k]))) for d, p in chunks[k]]
            out.append((tr, per))
        return out

    def _cap(self, idx: np.ndarray, n_parts: int = 1) -> np.ndarray:
        idx = np.sort(idx)
        cap = None if self.max_test is None else max(1, self.max_test // max(1, n_parts))
        if cap is not None and len(idx) > cap:
            idx = idx[np.linspace(0, len(idx) - 1, cap).round().astype(int)]
        return idx

    # ------------------------------------------------------------------ models
    def incompatibility(self, model: Any) -> str | None:
        name = type(model).__name__
        types = getattr(model, "input_types", None)
        if types is not None and "pattern" not in tuple(types):
            return f"{name} takes {'/'.join(types)} inputs; task {self.name} gives powder patterns"
        if not hasattr(model, "fit"):
            return f"{name} has no fit; task {self.name} needs fit(patterns, labels)"
        if self.task_type == "classification" and not hasattr(model, "predict_proba"):
            return f"{name} has no predict_proba; task {self.name} scores class probabilities (top-2 accuracy)"
        if self.task_type == "regression" and not hasattr(model, "predict"):
            return f"{name} has no predict; task {self.name} regresses lattice parameters"
        return None

    # ------------------------------------------------------------------ scoring
    def _primary_score(self, y_true: Any, y_pred: Any) -> float:
        MX = _metrics_module()
        if self.task_type == "regression":
            return MX.lattice_errors(y_true, y_pred)["lattice_mape_abc"]
        return MX.accuracy(y_true, y_pred)

    def score(self, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None = None, classes: Any = None) -> dict[str, float]:
        MX = _metrics_module()
        if self.task_type == "regression":
            out = MX.lattice_errors(y_true, y_pred)
            return {m: out[m] for m in self.metrics}
        out = {
            "accuracy": MX.accuracy(y_true, y_pred),
            "balanced_accuracy": MX.balanced_accuracy(y_true, y_pred),
            "macro_f1": MX.macro_f1(y_true, y_pred),
            "top2_accuracy": MX.top_k_accuracy(y_true, proba, list(classes), 2) if proba is not None else float("nan"),
        }
        if self.target_name == "crystal_system":
            systems = [m.split("_", 1)[1] for m in self.metrics if m.startswith("precision_")]
            for c, (p, r) in MX.precision_recall(y_true, y_pred, systems).items():
                out[f"precision_{c}"] = p
                out[f"recall_{c}"] = r
        return {m: out[m] for m in self.metrics}

    def _class_of_column(self, col: str) -> Any:
        lab = col[2:]
        return int(lab) if self.target_name == "space_group" else lab

    def rescore(self, predictions: pd.DataFrame) -> dict[str, float]:
        if self.task_type == "regression":
            pars = ["a", "b", "c", "alpha", "beta", "gamma"]
            yt = predictions[[f"{k}_true" for k in pars]].to_numpy(dtype=float)
            yp = predictions[[f"{k}_pred" for k in pars]].to_numpy(dtype=float)
            return self.score(yt, yp)
        cols = [c for c in predictions.columns if c.startswith("p_")]
        classes = [self._class_of_column(c) for c in cols]
        proba = predictions[cols].to_numpy(dtype=float) if cols else None
        yt = predictions["y_true"].to_numpy()
        yp = predictions["y_pred"].to_numpy()
        if self.target_name == "space_group":
            yt, yp = yt.astype(np.int64), yp.astype(np.int64)
        else:
            yt, yp = yt.astype(str).astype(object), yp.astype(str).astype(object)
        return self.score(yt, yp, proba, classes)

    # ------------------------------------------------------------------ the job
    def _fit(self, model: Any, X: np.ndarray, y: np.ndarray, cb: EpochCallback, two_theta: np.ndarray) -> None:
        """``model.fit(X, y)``, with ``on_epoch`` and ``two_theta`` (the grid, degrees) when it takes them."""
        kw: dict[str, Any] = {}
        if fit_accepts(model, "on_epoch"):
            kw["on_epoch"] = cb
        if fit_accepts(model, "two_theta"):
            kw["two_theta"] = two_theta
        model.fit(X, y, **kw)

    def _check_proba(self, model: Any, proba: Any, n: int) -> tuple[np.ndarray, list]:
        classes = getattr(model, "classes_", None)
        if classes is None:
            raise ModelOutputError(f"{type(model).__name__} has no classes_; a classifier must name the columns of predict_proba")
        classes = list(np.asarray(classes).tolist())
        try:
            P = np.asarray(proba, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ModelOutputError(f"predict_proba returned non-numeric values: {exc}") from exc
        if P.ndim != 2 or P.shape != (n, len(classes)):
            raise ModelOutputError(f"predict_proba returned shape {P.shape}; expected ({n}, {len(classes)}) (patterns, classes_)")
        bad = ~np.isfinite(P)
        if bad.any():
            first = int(np.nonzero(bad.any(axis=1))[0][0])
            raise ModelOutputError(f"predict_proba returned {int(bad.any(axis=1).sum())} row(s) with NaN or inf (first: test pattern {first})")
        return P, classes

    def run(self, model: Any, fold: int, ctx: JobContext) -> TaskOutput:
        meter = ctx.meter
        with meter.phase("load"):
            train_ds, tests = self.load()
            tr, te = self.folds(train_ds, tests)[fold]
            fd = self._fold_data(train_ds, tests, tr, te)
        announce_items(model, fd.ids, fold, fd.X_test)  # a predictions file answers by pattern id
        info_metric = self.metric_info(self.primary_metric)
        cb = EpochCallback(self.primary_metric, info_metric.higher_is_better, self.target, self._primary_score, meter.record_epoch)
        grid = train_ds.two_theta
        with meter.phase("fit"):
            self._fit(model, fd.X_train, fd.y_train, cb, grid)
        fit_end = meter.elapsed()

        classification = self.task_type == "classification"
        with meter.phase("predict"):
            out = model.predict_proba(fd.X_test) if classification else model.predict(fd.X_test)
        preds = pd.DataFrame({"id": fd.ids, "structure": fd.structure.astype(np.int64), "formula": fd.formula,
                              "dataset": fd.source})
        if classification:
            metrics, preds, info = self._score_classes(model, out, fd, preds, bool(tests))
        else:
            metrics, preds, info = self._score_lattice(out, fd, preds, train_ds, tests, te)

        costs = self._costs(model, ctx, fd.X_test, train_ds, classification)
        ttt_costs, source_ttt = self.time_to_target(cb, metrics, fit_end)
        costs.update(ttt_costs)
        info.update(self._info(train_ds, tests, tr, te, fd))
        info["time_to_target_source"] = source_ttt
        return TaskOutput(metrics=metrics, predictions=preds, info=info, costs=costs)

    def _fold_data(self, train_ds, tests: list, tr: np.ndarray, te: Any) -> XrdFold:
        """The training patterns and labels of a fold, and its test patterns with their labels,
        ids, formulas, dataset names and structure indices (from the test datasets when given)."""
        X_train, y_train = train_ds.patterns[tr], self.labels(train_ds, tr)
        if tests:
            return XrdFold(
                X_train, y_train,
                X_test=np.concatenate([tests[d].patterns[i] for d, i in te]),
                y_test=np.concatenate([self.labels(tests[d], i) for d, i in te]),
                ids=np.concatenate([tests[d].ids[i].astype(str) for d, i in te]),
                formula=np.concatenate([tests[d].formula[i].astype(str) for d, i in te]),
                source=np.concatenate([np.full(len(i), tests[d].name, dtype=object) for d, i in te]),
                structure=np.concatenate([tests[d].structure[i] for d, i in te]),
                test_idx=np.concatenate([i for _, i in te]),
            )
        return XrdFold(
            X_train, y_train,
            X_test=train_ds.patterns[te],
            y_test=self.labels(train_ds, te),
            ids=train_ds.ids[te].astype(str),
            formula=train_ds.formula[te].astype(str),
            source=np.full(len(te), train_ds.name, dtype=object),
            structure=train_ds.structure[te],
            test_idx=te,
        )

    def _score_classes(self, model: Any, out: Any, fd: XrdFold, preds: pd.DataFrame,
                       has_tests: bool) -> tuple[dict[str, float], pd.DataFrame, dict[str, Any]]:
        """Metrics, predictions (``y_true``, ``y_pred``, one ``p_<class>`` column per class) and
        the confusion matrix of a classifier's probabilities."""
        MX = _metrics_module()
        y_test, source = fd.y_test, fd.source
        proba, classes = self._check_proba(model, out, len(fd.X_test))
        y_pred = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
        if self.target_name == "space_group":
            y_pred = y_pred.astype(np.int64)
        metrics = self.score(y_test, y_pred, proba, classes)
        if getattr(model, "probabilities_from_labels", False):  # one-hot labels cannot be ranked
            metrics["top2_accuracy"] = float("nan")
        preds["y_true"] = y_test
        preds["y_pred"] = y_pred
        preds = pd.concat([preds, pd.DataFrame(proba, columns=[f"p_{c}" for c in classes])], axis=1)
        labels, C = MX.confusion_matrix(y_test, y_pred, self._confusion_labels(y_test, y_pred, classes))
        info: dict[str, Any] = {
            "classes": [c if isinstance(c, str) else int(c) for c in classes],
            "confusion_matrix": {"labels": [c if isinstance(c, str) else int(c) for c in labels], "counts": C.tolist(),
                                 "rows": "true class", "columns": "predicted class"},
        }
        if has_tests:
            info["accuracy_by_dataset"] = {str(s): MX.accuracy(y_test[source == s], y_pred[source == s]) for s in np.unique(source)}
            info["test_classes"] = {str(k): int(v) for k, v in zip(*np.unique(y_test.astype(str), return_counts=True))}
        return metrics, preds, info

    def _score_lattice(self, out: Any, fd: XrdFold, preds: pd.DataFrame, train_ds, tests: list,
                       te: Any) -> tuple[dict[str, float], pd.DataFrame, dict[str, Any]]:
        """Metrics and predictions (true and predicted a, b, c, α, β, γ) of a lattice regressor."""
        n = len(fd.X_test)
        try:
            Y = np.asarray(out, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ModelOutputError(f"predict returned non-numeric values: {exc}") from exc
        if Y.shape != (n, 6):
            raise ModelOutputError(f"predict returned shape {Y.shape}; expected ({n}, 6): a, b, c (Å), α, β, γ (degrees)")
        if not np.isfinite(Y).all():
            first = int(np.nonzero(~np.isfinite(Y).all(axis=1))[0][0])
            raise ModelOutputError(f"predict returned non-finite lattice parameters (first: test pattern {first}, {fd.ids[first]})")
        metrics = self.score(fd.y_test, Y)
        for j, k in enumerate(("a", "b", "c", "alpha", "beta", "gamma")):
            preds[f"{k}_true"] = fd.y_test[:, j]
            preds[f"{k}_pred"] = Y[:, j]
        preds["crystal_system"] = self._systems_of(train_ds, tests, te, fd.test_idx)
        return metrics, preds, {}

    def _costs(self, model: Any, ctx: JobContext, X_test: np.ndarray, train_ds, classification: bool) -> dict[str, float]:
        """Inference throughput, training time, the simulation's throughput and the latency percentiles."""
        meter = ctx.meter
        pred_s = meter.phases["predict"].wall_s
        costs: dict[str, float] = {
            "predict.throughput_patterns_per_s": len(X_test) / pred_s if pred_s > 0 else float("nan"),
            "train.total_s": meter.phases["load"].wall_s + meter.phases["fit"].wall_s,
        }
        sim = (train_ds.stats or {}).get("patterns_per_s_per_core")
        if sim:
            costs["data.simulation_patterns_per_s"] = float(sim)
        if ctx.options.get("latency", True) and not is_replay(model):
            call = model.predict_proba if classification else model.predict
            with meter.phase("latency"):
                lat = latency_percentiles(
                    lambda batch: call(np.stack(batch)),
                    list(X_test),
                    int(ctx.options.get("latency_batch_size", 32)),
                    warmup=int(ctx.options.get("latency_warmup", 2)),
                    max_batches=int(ctx.options.get("latency_max_batches", 30)),
                    budget_s=float(ctx.options.get("latency_budget_s", 2.0)),
                    rng=np.random.default_rng(ctx.seed),
                )
            costs.update({f"predict.{k}": v for k, v in lat.items()})
        return costs

    def _info(self, train_ds, tests: list, tr: np.ndarray, te: Any, fd: XrdFold) -> dict[str, Any]:
        test_formulas = set(fd.formula.tolist())
        train_formulas = set(train_ds.formula[tr].astype(str).tolist())
        if tests:
            split_key = split_hash(tr, np.concatenate([i + 10_000_000 * (d + 1) for d, i in te]))
        else:
            split_key = split_hash(tr, te)
        return {
            "n_train": int(len(tr)),
            "n_test": int(len(fd.X_test)),
            "split": self.split,
            "split_hash": split_key,
            "dataset": train_ds.name,
            "dataset_checksum": self.dataset_checksum_of(train_ds, tests),
            "dataset_source": train_ds.source,
            "test_datasets": [d.name for d in tests],
            "target": self.target_name,
            "unit": None,
            "two_theta_grid_degrees": train_ds.grid.as_dict(),
            "wavelength": (train_ds.config or {}).get("wavelength"),
            "radiation": (train_ds.config or {}).get("radiation"),
            "shared_formulas": int(len(test_formulas & train_formulas)),
        }

    def _systems_of(self, train_ds, tests, te, test_idx) -> np.ndarray:
        if tests:
            return np.concatenate([tests[d].labels["crystal_system"].astype(str).to_numpy()[i] for d, i in te])
        return train_ds.labels["crystal_system"].astype(str).to_numpy()[test_idx]

    @staticmethod
    def dataset_checksum_of(train_ds, tests) -> str:
        sums = [train_ds.checksum] + [t.checksum for t in tests]
        return sums[0] if len(sums) == 1 else hashlib.sha256("|".join(sums).encode()).hexdigest()

    def _confusion_labels(self, y_true: np.ndarray, y_pred: np.ndarray, classes: list) -> list:
        if self.target_name == "crystal_system":
            present = set(y_true.tolist()) | set(y_pred.tolist()) | set(classes)
            return [c for c in CRYSTAL_SYSTEMS if c in present] + sorted(present - set(CRYSTAL_SYSTEMS), key=str)
        return sorted(set(np.asarray(y_true).tolist()) | set(np.asarray(y_pred).tolist()))

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({
            "dataset": self.dataset_name,
            "dataset_params": self.dataset_params,
            "test_datasets": self.test_dataset_names,
            "target_column": self.target_name,
            "task_type": self.task_type,
            "split": self.split,
            "input_type": "pattern",
        })
        return d


# ---------------------------------------------------------------------------- built-in tasks
def _factory(name: str, target: str, **defaults: Any):
    def factory(**params: Any) -> XrdTask:
        return XrdTask(name, target, **{**defaults, **params})

    return factory


def register_tasks(register) -> None:
    """Crystal system, space group and lattice from simulated patterns; real-structure and
    measured-pattern evaluation."""
    grid = "5-85° 2θ (0.1° steps), Cu Kα"
    register("xrd_crystal_system", _factory(
        "xrd_crystal_system", "crystal_system", target_value=0.35,
        description=f"crystal system (7 classes) from simulated powder patterns ({grid}) of 840 PyXtal crystals, "
                    "random split"))
    register("xrd_crystal_system_chemistry", _factory(
        "xrd_crystal_system_chemistry", "crystal_system", split="chemistry", target_value=0.35,
        description=f"crystal system from simulated patterns ({grid}); held-out chemistry: no composition in both "
                    "training and test"))
    register("xrd_space_group", _factory(
        "xrd_space_group", "space_group", target_value=0.15,
        description=f"space group (1-230) from simulated powder patterns ({grid}) of 840 PyXtal crystals"))
    register("xrd_lattice", _factory(
        "xrd_lattice", "lattice", target_value=30.0,
        description=f"conventional-cell a, b, c (Å), α, β, γ (degrees) from simulated powder patterns ({grid})"))
    register("xrd_neutron_crystal_system", _factory(
        "xrd_neutron_crystal_system", "crystal_system", dataset_params={"radiation": "neutron"}, target_value=0.35,
        description="crystal system from simulated neutron powder patterns (λ 1.54184 Å, 5-85° 2θ) of PyXtal crystals"))
    register("xrd_real_crystal_system", _factory(
        "xrd_real_crystal_system", "crystal_system", test_datasets=["xrd_perov_5", "xrd_carbon_24"],
        test_dataset_params=[{}, {}], max_test=400,
        description="crystal system: trained on simulated patterns of PyXtal crystals, tested on patterns of real "
                    "Perov-5 and Carbon-24 structures (spglib labels, symprec 0.1 Å)"))
    register("xrd_experimental_crystal_system", _factory(
        "xrd_experimental_crystal_system", "crystal_system", test_datasets=["xrd_experimental"],
        test_dataset_params=[{"path": None}], n_folds=1,
        description="crystal system of measured patterns (test_dataset_params=[{'path': folder with labels.csv}]), "
                    "trained on simulated patterns"))
