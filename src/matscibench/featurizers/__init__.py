"""Featurisers: turn structures or compositions into fixed-length vectors (scikit-learn transformers)."""

from __future__ import annotations

from typing import Any

__all__ = ["get_featurizer", "FEATURIZERS", "ConcatFeaturizer"]

#: name -> (import path, accepted input types)
FEATURIZERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "magpie": ("matscibench.featurizers.magpie:MagpieFeaturizer", ("structure", "composition", "molecule")),
    "sitestats": ("matscibench.featurizers.sitestats:SiteStatsFeaturizer", ("structure",)),
}


class ConcatFeaturizer:
    """Concatenate the columns of several featurisers (e.g. ``"magpie+sitestats"``)."""

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts
        types = None
        for p in parts:
            t = set(getattr(p, "input_types", ("structure", "composition", "molecule")))
            types = t if types is None else types & t
        self.input_types = tuple(sorted(types or ()))

    def fit(self, X, y=None) -> ConcatFeaturizer:
        for p in self.parts:
            p.fit(X, y)
        return self

    def transform(self, X):
        import numpy as np

        return np.hstack([p.transform(X) for p in self.parts])

    def feature_labels(self) -> list[str]:
        return [lab for p in self.parts for lab in p.feature_labels()]


def _import(path: str) -> Any:
    import importlib

    mod, _, attr = path.partition(":")
    return getattr(importlib.import_module(mod), attr)


def get_featurizer(spec: Any) -> Any:
    """A featuriser from a name (``"magpie"``, ``"sitestats"``, ``"magpie+sitestats"``),
    an import path (``"package.module:Class"``) or an object (returned as is)."""
    if not isinstance(spec, str):
        return spec
    if "+" in spec:
        return ConcatFeaturizer([get_featurizer(part) for part in spec.split("+")])
    if spec in FEATURIZERS:
        path, types = FEATURIZERS[spec]
        obj = _import(path)()
        if not hasattr(obj, "input_types"):
            obj.input_types = types
        return obj
    if ":" in spec:
        return _import(spec)()
    raise KeyError(f"unknown featurizer {spec!r}; known: {', '.join(FEATURIZERS)} (or 'package.module:Class')")
