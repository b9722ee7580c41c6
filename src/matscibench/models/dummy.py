"""The floor every model must beat: predict the training mean (regression) or majority class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from matscibench.models.base import is_classification_target

__all__ = ["DummyModel"]


class DummyModel:
    """Predicts the training mean for regression and the most frequent class for classification.

    ``predict_proba`` returns the training class frequencies, so its ROC-AUC is 0.5 by design.
    Accepts any inputs (structures, compositions, molecules).
    """

    input_types = ("structure", "composition", "molecule")

    def __init__(self, strategy: str = "mean") -> None:
        self.strategy = strategy

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"strategy": self.strategy}

    def set_params(self, **params: Any) -> DummyModel:
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, X: Sequence[Any], y: Any) -> DummyModel:
        y = np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"{len(X)} inputs but {len(y)} targets")
        self.classification_ = is_classification_target(y)
        if self.classification_:
            self.classes_ = np.array([False, True])
            self.frequency_ = float(np.mean(y))
            self.value_ = bool(self.frequency_ > 0.5)
        else:
            self.value_ = float(np.median(y) if self.strategy == "median" else np.mean(y))
        return self

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        if self.classification_:
            return np.full(len(X), self.value_, dtype=bool)
        return np.full(len(X), self.value_, dtype=float)

    def predict_proba(self, X: Sequence[Any]) -> np.ndarray:
        if not self.classification_:
            raise AttributeError("predict_proba is only defined for classification")
        p = np.full((len(X), 2), [1.0 - self.frequency_, self.frequency_])
        return p
