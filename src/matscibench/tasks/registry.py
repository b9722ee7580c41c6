"""The task registry: built-in tasks, entry points (group ``matscibench.tasks``), import paths.

``get_task(name, **params)`` builds a task; ``params`` override the factory's defaults (for example
``dataset_params={"n_structures": 300}`` for a small embedded dataset, or ``n_folds``).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Any

from matscibench.errors import RegistryError
from matscibench.tasks.base import Task

__all__ = ["get_task", "list_tasks", "register_task", "task_summaries"]

_FACTORIES: dict[str, Callable[..., Task]] = {}
_LOADED = False
_ENTRY_POINT_GROUP = "matscibench.tasks"


def register_task(name: str, factory: Callable[..., Task]) -> None:
    _FACTORIES[name] = factory


#: modules that define a task family; each has ``register_tasks(register)``
FAMILY_MODULES: tuple[str, ...] = (
    "matscibench.tasks.property",
    "matscibench.tasks.potential",
    "matscibench.tasks.xrd",
    "matscibench.tasks.generation",
    "matscibench.tasks.molecule",
    "matscibench.tasks.phonon",
)


def _builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib
    import importlib.util

    user = dict(_FACTORIES)  # tasks registered by hand before first use win
    for mod in FAMILY_MODULES:
        if importlib.util.find_spec(mod) is None:  # a family not written yet
            continue
        importlib.import_module(mod).register_tasks(register_task)
    for ep in _entry_points():
        _FACTORIES.setdefault(ep.name, lambda ep=ep, **p: _load_ep(ep)(**p))
    _FACTORIES.update(user)


def _entry_points() -> list[metadata.EntryPoint]:
    try:
        return list(metadata.entry_points(group=_ENTRY_POINT_GROUP))
    except Exception:  # pragma: no cover
        return []


def _load_ep(ep: metadata.EntryPoint) -> Callable[..., Task]:
    return ep.load()


def get_task(name: str, **params: Any) -> Task:
    """Build a task by registered name or import path ``package.module:factory``."""
    _builtin()
    if name in _FACTORIES:
        return _FACTORIES[name](**params)
    if ":" in name:
        from matscibench.models.registry import resolve_factory

        obj = resolve_factory(name)
        return obj(**params)
    raise RegistryError(f"unknown task {name!r}; known: {', '.join(sorted(_FACTORIES))}")


def list_tasks() -> list[str]:
    _builtin()
    return sorted(_FACTORIES)


def task_summaries() -> list[dict[str, Any]]:
    out = []
    for name in list_tasks():
        try:
            out.append(get_task(name).describe())
        except Exception as exc:  # a broken third-party task must not break `list`
            out.append({"name": name, "description": f"(cannot build: {exc})"})
    return out
