"""The registries of tasks, models and datasets, filled from the family declarations.

* Tasks: ``get_task(name, **params)`` builds a task; ``params`` override the factory's defaults
  (e.g. ``dataset_params={"n_structures": 300}`` or ``n_folds``). Sources, first wins: tasks
  registered by hand with ``register_task``, the families' tasks, the entry-point group
  ``matscibench.tasks``, and an import path ``package.module:factory``.
* Models: ``build_model(name, params)``; a registered name, an entry point of the group
  ``matscibench.models`` (a class or a factory), or an import path ``package.module:Name``::

      [project.entry-points."matscibench.models"]
      my_model = "my_package.models:MyModel"

* Datasets: ``get_dataset(name, **params)`` gives a ``DatasetSpec`` (e.g. ``n_structures``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib import metadata
from typing import Any

from matscibench.data.base import DatasetSpec
from matscibench.errors import RegistryError
from matscibench.families import all_families
from matscibench.families.base import Task
from matscibench.models.base import (
    TRAINED_ON_TASK,
    ModelCard,
    ModelEntry,
    count_parameters,
)
from matscibench.models.replay import is_replay

__all__ = [
    "get_task", "list_tasks", "register_task", "task_summaries",
    "ModelEntry", "get_model_entry", "list_models", "build_model", "resolve_factory", "model_card", "SHARED_MODELS",
    "get_dataset", "list_datasets", "register_dataset",
]

TASK_ENTRY_POINTS = "matscibench.tasks"
MODEL_ENTRY_POINTS = "matscibench.models"
#: dataset modules that no one family owns (CDVAE's structures serve properties, generation, XRD)
SHARED_DATASET_MODULES: tuple[str, ...] = ("matscibench.data.cdvae",)

_TASKS: dict[str, Callable[..., Task]] = {}
_TASKS_LOADED = False
_DATASETS: dict[str, Callable[..., DatasetSpec]] = {}
_DATASETS_LOADED = False


_ENTRY_POINTS: dict[str, list[metadata.EntryPoint]] = {}


def _entry_points(group: str) -> list[metadata.EntryPoint]:
    """The installed plugins of ``group``, read once per process: reading them parses the
    metadata of every installed distribution (measured: 9 ms with this project's environment,
    twice per job before this cache)."""
    eps = _ENTRY_POINTS.get(group)
    if eps is None:
        try:
            eps = list(metadata.entry_points(group=group))
        except Exception:  # pragma: no cover
            eps = []
        _ENTRY_POINTS[group] = eps
    return eps


# ---------------------------------------------------------------- tasks

def register_task(name: str, factory: Callable[..., Task]) -> None:
    _TASKS[name] = factory


def _load_tasks() -> None:
    global _TASKS_LOADED
    if _TASKS_LOADED:
        return
    _TASKS_LOADED = True
    user = dict(_TASKS)  # tasks registered by hand before first use win
    for fam in all_families().values():
        importlib.import_module(fam.tasks).register_tasks(register_task)
    for ep in _entry_points(TASK_ENTRY_POINTS):
        _TASKS.setdefault(ep.name, lambda ep=ep, **p: ep.load()(**p))
    _TASKS.update(user)


def get_task(name: str, **params: Any) -> Task:
    """Build a task by registered name or import path ``package.module:factory``."""
    _load_tasks()
    if name in _TASKS:
        return _TASKS[name](**params)
    if ":" in name:
        return resolve_factory(name)(**params)
    raise RegistryError(f"unknown task {name!r}; known: {', '.join(sorted(_TASKS))}")


def list_tasks() -> list[str]:
    _load_tasks()
    return sorted(_TASKS)


def task_summaries() -> list[dict[str, Any]]:
    out = []
    for name in list_tasks():
        try:
            out.append(get_task(name).describe())
        except Exception as exc:  # a broken third-party task must not break `list`
            out.append({"name": name, "description": f"(cannot build: {exc})"})
    return out


# ---------------------------------------------------------------- models

#: models no one family owns: ``predictions_file`` scores a file of predictions on any task whose
#: family reads such files (``models.replay``)
SHARED_MODELS: tuple[ModelEntry, ...] = (
    ModelEntry("predictions_file", "matscibench.models.replay:predictions_file", {},
               "predictions made elsewhere, read from a file (params: path, meta = sidecar with card, costs, units) "
               "and scored by the task's own metrics; costs not measured here", family="any"),
)


def list_models() -> dict[str, ModelEntry]:
    out: dict[str, ModelEntry] = {e.name: e for e in SHARED_MODELS}
    for fam in all_families().values():
        for e in fam.models:
            out[e.name] = e
    for ep in _entry_points(MODEL_ENTRY_POINTS):
        out.setdefault(ep.name, ModelEntry(ep.name, ep.value, {}, f"entry point from {ep.dist.name if ep.dist else '?'}"))
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
        f"'{MODEL_ENTRY_POINTS}'."
    )


def resolve_factory(path: str) -> Any:
    """The object an import path ``package.module:Name`` (``Name`` may be dotted) names."""
    mod, _, attr = path.partition(":")
    if not mod or not attr:
        raise RegistryError(f"an import path must look like 'package.module:Name', got {path!r}")
    try:
        obj = importlib.import_module(mod)
    except ImportError as exc:
        raise RegistryError(f"cannot import {mod!r} for {path!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise RegistryError(f"{mod!r} has no attribute {attr!r} ({path!r})") from None
    return obj


def build_model(name: str, params: dict[str, Any] | None = None) -> Any:
    """Instantiate a model: registry defaults, overridden by ``params``."""
    entry = get_model_entry(name)
    factory = resolve_factory(entry.factory)
    return factory(**{**entry.params, **(params or {})})


# ---------------------------------------------------------------- datasets

def register_dataset(name: str, factory: Callable[..., DatasetSpec]) -> None:
    _DATASETS[name] = factory


def _load_datasets() -> None:
    global _DATASETS_LOADED
    if _DATASETS_LOADED:
        return
    _DATASETS_LOADED = True
    user = dict(_DATASETS)
    modules = [*SHARED_DATASET_MODULES, *(f.datasets for f in all_families().values() if f.datasets)]
    for mod in modules:
        importlib.import_module(mod).register_datasets(register_dataset)
    _DATASETS.update(user)


def get_dataset(name: str, **params: Any) -> DatasetSpec:
    """The registry entry for ``name``; ``params`` go to its factory (e.g. ``n_structures``)."""
    _load_datasets()
    try:
        factory = _DATASETS[name]
    except KeyError:
        raise RegistryError(f"unknown dataset {name!r}; known: {', '.join(sorted(_DATASETS))}") from None
    return factory(**params)


def list_datasets() -> list[str]:
    _load_datasets()
    return sorted(_DATASETS)


# ---------------------------------------------------------------- model cards

def _json_safe(params: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(params, default=str))


def model_card(name: str, model: Any, label: str = "") -> ModelCard:
    """The card a job records for its model: a predictions file's sidecar card; else the model's own
    ``model_card`` (a ``ModelCard``, a mapping, or a method returning one); else its registry
    entry's ``card``; empty fields filled with what the harness knows (the name; for a package
    model its version, license and module; for a model fitted in the job: trained on the task's
    training split, its hyperparameters (``get_params``) and counted torch parameters)."""
    from matscibench._version import __version__

    try:
        entry: ModelEntry | None = get_model_entry(name)
    except RegistryError:
        entry = None
    if is_replay(model):
        card = getattr(model, "card", None) or ModelCard()
        return card.merged(name=label or name, notes="predictions read from a file; the model ran elsewhere")
    own = getattr(model, "model_card", None)
    own = own() if callable(own) else own
    card = (ModelCard.from_dict(own, f"{name}.model_card") if isinstance(own, dict) else own) if own is not None else None
    if not isinstance(card, ModelCard):
        card = entry.card if entry is not None and entry.card is not None else ModelCard()
    builtin = entry is not None and entry.factory.startswith("matscibench.")
    fitted_here = hasattr(model, "fit") and not card.training_data
    hyper: dict[str, Any] = {}
    if hasattr(model, "get_params"):
        try:
            hyper = _json_safe(model.get_params(deep=False))
        except Exception:  # noqa: BLE001 - a model whose get_params fails still gets a card
            hyper = {}
    return card.merged(
        name=(entry.name if entry is not None else "") or label or name,
        version=__version__ if builtin else "",
        authors=("matscibench developers",) if builtin else (),
        license="MIT" if builtin else "",
        code_url=f"matscibench: {entry.factory}" if builtin else (entry.factory if entry is not None else ""),
        training_data=(TRAINED_ON_TASK,) if fitted_here else (),
        hyperparameters=hyper,
        n_parameters=count_parameters(model),
        hardware="the machine of this job" if fitted_here else "",
        notes=entry.description if entry is not None else "",
    )
