"""The model registry: built-in baselines, entry points, and ``package.module:Name`` paths.

Third-party packages register models under the entry-point group ``matscibench.models``::

    [project.entry-points."matscibench.models"]
    my_model = "my_package.models:MyModel"

The entry point may be a class or a factory; suite files then say ``model = "my_model"``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from matscibench.errors import RegistryError

__all__ = ["ModelEntry", "get_model_entry", "list_models", "build_model", "resolve_factory"]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: str  # "package.module:Name"
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    family: str = "property"


BUILTIN: dict[str, ModelEntry] = {
    e.name: e
    for e in [
        ModelEntry("dummy", "matscibench.models.dummy:DummyModel", {}, "training mean (regression) / majority class"),
        ModelEntry(
            "dummy_stratified",
            "matscibench.models.dummy:DummyModel",
            {"classifier": "stratified"},
            "matbench's Dummy: training mean (regression) / random labels drawn with the training class "
            "frequencies, seeded (scikit-learn DummyClassifier strategy='stratified')",
        ),
        ModelEntry(
            "magpie_rf",
            "matscibench.models.featurized:FeaturizedModel",
            {"featurizer": "magpie", "estimator": "random_forest", "estimator_params": {"max_features": 1 / 3}},
            "Magpie composition statistics (132) + random forest, 100 trees, a third of the "
            "features per split (Ward et al. 2016)",
        ),
        ModelEntry(
            "rf_scm_magpie",
            "matscibench.models.featurized:FeaturizedModel",
            {"featurizer": "magpie", "estimator": "random_forest", "estimator_params": {"n_estimators": 500},
             "imputation": "mean", "only_inputs": ["composition"]},
            "matbench's RF-SCM/Magpie reference as run on composition tasks: Magpie (132) + random forest, "
            "500 trees, scikit-learn's other defaults, mean imputation; composition tasks only (its "
            "structure tasks add Sine Coulomb Matrix features, not implemented here)",
        ),
        ModelEntry(
            "sitestats_gbm",
            "matscibench.models.featurized:FeaturizedModel",
            {"featurizer": "magpie+sitestats", "estimator": "hist_gradient_boosting"},
            "Magpie + neighbour-list structure descriptors (38) + histogram gradient boosting, "
            "reports validation MAE every 25 rounds (time to target)",
        ),
    ]
}

_ENTRY_POINT_GROUP = "matscibench.models"

#: modules that define a family's built-in models; each has ``MODEL_ENTRIES: list[ModelEntry]``
FAMILY_MODEL_MODULES: tuple[str, ...] = (
    "matscibench.models.potentials",
    "matscibench.models.xrd",
    "matscibench.models.generators",
    "matscibench.models.molecules",
    "matscibench.models.phonons",
)


def _family_entries() -> dict[str, ModelEntry]:
    import importlib
    import importlib.util

    out: dict[str, ModelEntry] = {}
    for mod in FAMILY_MODEL_MODULES:
        if importlib.util.find_spec(mod) is not None:
            for e in importlib.import_module(mod).MODEL_ENTRIES:
                out[e.name] = e
    return out


def _entry_points() -> dict[str, metadata.EntryPoint]:
    try:
        eps = metadata.entry_points(group=_ENTRY_POINT_GROUP)
    except Exception:  # pragma: no cover
        return {}
    return {ep.name: ep for ep in eps}


def list_models() -> dict[str, ModelEntry]:
    out = {**BUILTIN, **_family_entries()}
    for name, ep in _entry_points().items():
        out.setdefault(name, ModelEntry(name, ep.value, {}, f"entry point from {ep.dist.name if ep.dist else '?'}"))
    return out


def get_model_entry(name: str) -> ModelEntry:
    """A registered name, an entry point, or an import path ``package.module:Name``."""
    models = list_models()
    if name in models:
        return models[name]
    if ":" in name:
        return ModelEntry(name, name, {}, "imported by path")
    raise RegistryError(
        f"unknown model {name!r}; registered: {', '.join(sorted(models))}. "
        "Give an import path 'package.module:Name' or register an entry point in the group "
        f"'{_ENTRY_POINT_GROUP}'."
    )


def resolve_factory(path: str) -> Any:
    mod, _, attr = path.partition(":")
    if not mod or not attr:
        raise RegistryError(f"model factory must look like 'package.module:Name', got {path!r}")
    try:
        obj = importlib.import_module(mod)
    except ImportError as exc:
        raise RegistryError(f"cannot import {mod!r} for model {path!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise RegistryError(f"{mod!r} has no attribute {attr!r} (model {path!r})") from None
    return obj


def build_model(name: str, params: dict[str, Any] | None = None) -> Any:
    """Instantiate a model: registry defaults, overridden by ``params``."""
    entry = get_model_entry(name)
    factory = resolve_factory(entry.factory)
    kwargs = {**entry.params, **(params or {})}
    return factory(**kwargs)
