"""The floor every model must beat: predict the training mean (regression), the majority class or
matbench's stratified random labels (classification)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from matscibench.models.base import is_classification_target

__all__ = ["DummyModel", "CLASSIFIER_STRATEGIES"]

CLASSIFIER_STRATEGIES = ("most_frequent", "stratified")


class DummyModel(BaseEstimator):
    """Predicts the training mean (or median) for regression; for classification either the most
    frequent class or, with ``classifier="stratified"``, random labels drawn with the training
    class frequencies.

    ``classifier="stratified"`` is matbench's "Dummy" leaderboard entry:
    ``DummyClassifier(strategy="stratified")`` and ``DummyRegressor(strategy="mean")`` of
    scikit-learn (``benchmarks/matbench_v0.1_dummy/notebook.ipynb`` and ``info.json``,
    materialsproject/matbench @ 936176db). Here the draws are seeded (``random_state``, which the
    harness sets to the job's seed); matbench's were not, so its published numbers are one draw.
    The classifier is scikit-learn's own, so a seed gives scikit-learn's draws.

    ``predict_proba``: for ``most_frequent`` the training class frequencies (ROC-AUC 0.5 by
    design); for ``stratified`` scikit-learn's one-hot draws, the same as ``predict`` for a fixed
    ``random_state``. Accepts any inputs (structures, compositions, molecules).
    """

    input_types = ("structure", "composition", "molecule")

    def __init__(self, strategy: str = "mean", classifier: str = "most_frequent", random_state: int | None = None) -> None:
        self.strategy = strategy
        self.classifier = classifier
        self.random_state = random_state

    def fit(self, X: Sequence[Any], y: Any) -> DummyModel:
        y = np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"{len(X)} inputs but {len(y)} targets")
        if self.classifier not in CLASSIFIER_STRATEGIES:
            raise ValueError(f"classifier must be one of {CLASSIFIER_STRATEGIES}, got {self.classifier!r}")
        self.classification_ = is_classification_target(y)
        self.clf_ = None
        if self.classification_:
            self.classes_ = np.array([False, True])
            self.frequency_ = float(np.mean(y.astype(bool)))
            self.value_ = bool(self.frequency_ > 0.5)
            if self.classifier == "stratified":
                from sklearn.dummy import DummyClassifier

                self.clf_ = DummyClassifier(strategy="stratified", random_state=self.random_state)
                self.clf_.fit(np.zeros((len(y), 1)), y.astype(bool))
        else:
            self.value_ = float(np.median(y) if self.strategy == "median" else np.mean(y))
        return self

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        if self.clf_ is not None:
            return np.asarray(self.clf_.predict(np.zeros((len(X), 1))), dtype=bool)
        if self.classification_:
            return np.full(len(X), self.value_, dtype=bool)
        return np.full(len(X), self.value_, dtype=float)

    def predict_proba(self, X: Sequence[Any]) -> np.ndarray:
        if not self.classification_:
            raise AttributeError("predict_proba is only defined for classification")
        if self.clf_ is not None:
            drawn = np.asarray(self.clf_.predict_proba(np.zeros((len(X), 1))), dtype=float)
            out = np.zeros((len(X), 2))
            for j, c in enumerate(self.clf_.classes_):  # one class only when training had one
                out[:, int(bool(c))] = drawn[:, j]
            return out
        return np.full((len(X), 2), [1.0 - self.frequency_, self.frequency_])
