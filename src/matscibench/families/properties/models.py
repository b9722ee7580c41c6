"""Any scikit-learn estimator behind a featuriser: the composition and structure baselines.

``FeaturizedModel(featurizer="magpie", estimator="random_forest")`` is the classic Magpie + random
forest baseline of Ward et al., npj Comput. Mater. 2, 16028 (2016) (matbench's "RF-SCM/Magpie"
family). With ``estimator="hist_gradient_boosting"`` the model trains in rounds and reports its
validation score after each round through ``on_epoch``, so the harness measures time to target.

The registry entry ``rf_scm_magpie`` is configured like matbench's "RF-SCM/Magpie" reference
(``benchmarks/matbench_v0.1_rf/run.py`` and ``info.json``, materialsproject/matbench @ 936176db):
``RandomForestRegressor(n_estimators=500)`` / ``RandomForestClassifier(n_estimators=500)`` with
scikit-learn 0.24.1's other defaults (regressor: all features per split; classifier: sqrt; the
same as today's defaults), Magpie features (automatminer's ``debug`` preset is
``ElementProperty.from_preset("magpie")`` only) and automatminer's ``DataCleaner(max_na_frac=0.01,
feature_na_method="mean", na_method_fit="drop", na_method_transform="mean")`` as the run script
sets it (``imputation="automatminer"``, see ``AutomatminerCleaner``). matbench's seeds were not
fixed; here the job's seed is the forest's ``random_state``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from matscibench.cost.meters import phase
from matscibench.featurizers import get_featurizer
from matscibench.models.base import EpochCallback, is_classification_target

__all__ = ["FeaturizedModel", "ESTIMATORS", "AutomatminerCleaner"]


class AutomatminerCleaner:
    """Missing features handled as matbench's RF-SCM/Magpie reference run handled them.

    automatminer's ``DataCleaner(max_na_frac=0.01, feature_na_method="mean", na_method_fit="drop",
    na_method_transform="mean")`` (``automatminer/preprocessing/core.py``, ``handle_na``;
    hackingmaterials/automatminer), re-implemented on arrays:

    * fit (training features): infinities count as missing; a column missing everywhere is
      dropped; a column missing in more than ``max_na_frac`` of the rows is filled with its
      training mean; every training row still missing a value is then dropped
      (``fit`` returns the mask of rows kept);
    * transform: each column's missing values are filled with that column's mean over the
      transformed rows themselves (the test fold's means, as automatminer's transform does); a
      column missing in every transformed row gets its training mean (automatminer would pass the
      NaN on to the forest, which then fails).
    """

    def __init__(self, max_na_frac: float = 0.01) -> None:
        self.max_na_frac = max_na_frac

    def fit(self, F: np.ndarray) -> np.ndarray:
        F = np.where(np.isfinite(F), F, np.nan)
        missing = np.isnan(F)
        self.columns_ = np.flatnonzero(~missing.all(axis=0))
        F = F[:, self.columns_]
        missing = missing[:, self.columns_]
        with np.errstate(invalid="ignore"):
            self.train_mean_ = np.nanmean(F, axis=0)
        # automatminer: problem_cols = df.columns[df.isnull().mean() > max_na_frac]
        self.filled_ = np.flatnonzero(missing.mean(axis=0) > self.max_na_frac)
        F[:, self.filled_] = np.where(missing[:, self.filled_], self.train_mean_[self.filled_], F[:, self.filled_])
        self.rows_kept_ = ~np.isnan(F).any(axis=1)
        self.fitted_ = F[self.rows_kept_]
        return self.rows_kept_

    def transform(self, F: np.ndarray) -> np.ndarray:
        F = np.where(np.isfinite(F), F, np.nan)[:, self.columns_]
        with np.errstate(invalid="ignore"):
            batch_mean = np.nanmean(F, axis=0) if len(F) else self.train_mean_
        fill = np.where(np.isnan(batch_mean), self.train_mean_, batch_mean)
        return np.where(np.isnan(F), fill, F)

#: name -> (regressor, classifier) import paths and default parameters
ESTIMATORS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "random_forest": (
        "sklearn.ensemble:RandomForestRegressor",
        "sklearn.ensemble:RandomForestClassifier",
        {"n_estimators": 100},
    ),
    "extra_trees": (
        "sklearn.ensemble:ExtraTreesRegressor",
        "sklearn.ensemble:ExtraTreesClassifier",
        {"n_estimators": 100},
    ),
    "hist_gradient_boosting": (
        "sklearn.ensemble:HistGradientBoostingRegressor",
        "sklearn.ensemble:HistGradientBoostingClassifier",
        {"max_iter": 300, "learning_rate": 0.1, "early_stopping": False},
    ),
    "ridge": ("sklearn.linear_model:Ridge", "sklearn.linear_model:LogisticRegression", {}),
    "knn": ("sklearn.neighbors:KNeighborsRegressor", "sklearn.neighbors:KNeighborsClassifier", {}),
}

_STAGED = ("hist_gradient_boosting",)


def _import(path: str) -> Any:
    mod, _, attr = path.partition(":")
    return getattr(importlib.import_module(mod), attr)


class FeaturizedModel(BaseEstimator):
    """Featurise inputs, impute missing features, then fit a scikit-learn estimator.

    Parameters
    ----------
    featurizer: ``"magpie"``, ``"sitestats"``, ``"magpie+sitestats"``, an import path or an object.
    estimator: a name in ``ESTIMATORS`` (regressor or classifier chosen from the target's type),
        an import path ``"package.module:Class"`` or an unfitted estimator object.
    estimator_params: keyword arguments for the estimator (override the defaults).
    n_jobs: threads for estimators that take ``n_jobs``.
    epoch_size: boosting rounds per reported epoch (staged estimators only).
    validation_fraction: share of the training data held out to report ``on_epoch`` values.
    random_state: seed of the estimator and of the validation split.
    imputation: how missing feature values are filled: ``"median"`` or ``"mean"`` of the
        training features (scikit-learn ``SimpleImputer``), or ``"automatminer"``: matbench's
        reference pipeline (``AutomatminerCleaner``: sparse columns mean-filled, training rows
        with other gaps dropped, test gaps filled with the test rows' means).
    only_inputs: restrict the input types the model accepts (default: all the featuriser takes);
        ``rf_scm_magpie`` takes compositions only, since its structure variant needs the Sine
        Coulomb Matrix features that are not implemented.
    """

    def __init__(
        self,
        featurizer: Any = "magpie",
        estimator: Any = "random_forest",
        estimator_params: dict[str, Any] | None = None,
        n_jobs: int = 1,
        epoch_size: int = 25,
        validation_fraction: float = 0.1,
        random_state: int | None = None,
        imputation: str = "median",
        only_inputs: tuple[str, ...] | None = None,
    ) -> None:
        self.featurizer = featurizer
        self.estimator = estimator
        self.estimator_params = estimator_params
        self.n_jobs = n_jobs
        self.epoch_size = epoch_size
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.imputation = imputation
        self.only_inputs = only_inputs

    @property
    def input_types(self) -> tuple[str, ...]:
        types = tuple(getattr(get_featurizer(self.featurizer), "input_types", ("structure", "composition", "molecule")))
        if self.only_inputs is not None:
            types = tuple(t for t in types if t in tuple(self.only_inputs))
        return types

    # ------------------------------------------------------------------
    def _make_estimator(self, classification: bool) -> Any:
        from sklearn.base import clone

        params = dict(self.estimator_params or {})
        if isinstance(self.estimator, str) and self.estimator in ESTIMATORS:
            reg, clf, defaults = ESTIMATORS[self.estimator]
            cls = _import(clf if classification else reg)
            params = {**defaults, **params}
        elif isinstance(self.estimator, str):
            cls = _import(self.estimator)
        else:
            est = clone(self.estimator)
            return est.set_params(**params) if params else est
        est = cls()
        valid = est.get_params()
        if "random_state" in valid and self.random_state is not None:
            params.setdefault("random_state", self.random_state)
        if "n_jobs" in valid:
            params.setdefault("n_jobs", self.n_jobs)
        return est.set_params(**params)

    def _features(self, X: Sequence[Any]) -> np.ndarray:
        with phase("featurize"):
            F = np.asarray(self.featurizer_.transform(X), dtype=float)
        return F

    def fit(self, X: Sequence[Any], y: Any, on_epoch: EpochCallback | None = None) -> FeaturizedModel:
        from sklearn.impute import SimpleImputer

        y = np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"{len(X)} inputs but {len(y)} targets")
        self.classification_ = is_classification_target(y)
        self.featurizer_ = get_featurizer(self.featurizer)
        self.featurizer_.fit(X, y)
        F = self._features(X)
        if self.imputation == "automatminer":
            self.imputer_ = AutomatminerCleaner()
            kept = self.imputer_.fit(F)
            F, y = self.imputer_.fitted_, y[kept]
        elif self.imputation in ("median", "mean"):
            # columns that are NaN for every training item carry nothing; others are imputed
            self.imputer_ = SimpleImputer(strategy=self.imputation, keep_empty_features=True)
            F = self.imputer_.fit_transform(F)
        else:
            raise ValueError(f"imputation must be 'median', 'mean' or 'automatminer', got {self.imputation!r}")
        self.estimator_ = self._make_estimator(self.classification_)
        staged = isinstance(self.estimator, str) and self.estimator in _STAGED
        if on_epoch is not None and staged and len(y) >= 20:
            self._fit_staged(F, y, on_epoch)
        else:
            self.estimator_.fit(F, y)
        if self.classification_:
            self.classes_ = self.estimator_.classes_
        return self

    def _fit_staged(self, F: np.ndarray, y: np.ndarray, on_epoch: EpochCallback) -> None:
        """Boost ``epoch_size`` rounds at a time; report the validation score after each round."""
        rng = np.random.default_rng(self.random_state)
        n = len(y)
        n_val = max(1, int(round(self.validation_fraction * n)))
        perm = rng.permutation(n)
        val, tr = perm[:n_val], perm[n_val:]
        est = self.estimator_
        total = int(est.get_params()["max_iter"])
        est.set_params(warm_start=True)
        done, epoch = 0, 0
        while done < total:
            done = min(total, done + int(self.epoch_size))
            est.set_params(max_iter=done)
            est.fit(F[tr], y[tr])
            epoch += 1
            if self.classification_:
                pos = list(est.classes_).index(True) if True in list(est.classes_) else -1
                pred = est.predict_proba(F[val])[:, pos]
            else:
                pred = est.predict(F[val])
            on_epoch(epoch, on_epoch.score(y[val], pred))

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        F = self.imputer_.transform(self._features(X))
        out = self.estimator_.predict(F)
        return np.asarray(out, dtype=bool) if self.classification_ else np.asarray(out, dtype=float)

    def predict_proba(self, X: Sequence[Any]) -> np.ndarray:
        if not self.classification_:
            raise AttributeError("predict_proba is only defined for classification")
        F = self.imputer_.transform(self._features(X))
        return self.estimator_.predict_proba(F)
