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
_ENTRY_POINT_GROUP = "matscibench.tasks"


def register_task(name: str, factory: Callable[..., Task]) -> None:
    _FACTORIES[name] = factory


def _property(name: str, dataset: str, target: str, task_type: str = "regression", **defaults: Any) -> Callable[..., Task]:
    def factory(**params: Any) -> Task:
        from matscibench.tasks.property import PropertyTask

        kw = {**defaults, **params}
        return PropertyTask(name, dataset, target, task_type, **kw)

    return factory


def _builtin() -> None:
    if _FACTORIES:
        return
    from matscibench.data.matbench import MATBENCH_TASKS
    from matscibench.data.splits import MATBENCH_SEED

    emt = {"fold_seed": 0}
    register_task(
        "emt_formation_energy",
        _property("emt_formation_energy", "emt_alloys", "formation_energy_per_atom",
                  description="formation energy (eV/atom) of relaxed EMT alloys", target_value=0.02, **emt),
    )
    register_task(
        "emt_bulk_modulus",
        _property("emt_bulk_modulus", "emt_alloys", "bulk_modulus",
                  description="bulk modulus (GPa, Birch-Murnaghan fit) of relaxed EMT alloys", target_value=5.0, **emt),
    )
    register_task(
        "emt_is_stable",
        _property("emt_is_stable", "emt_alloys", "is_stable", "classification",
                  description="formation energy below zero (stable against the elements) for EMT alloys",
                  target_value=0.95, **emt),
    )
    register_task(
        "perov5_formation_energy",
        _property("perov5_formation_energy", "cdvae_perov_5", "heat_ref",
                  description="DFT heat of formation (eV/atom) of Perov-5 perovskites (CDVAE val + test splits, 7,572 real DFT labels)",
                  target_value=0.15, fold_seed=MATBENCH_SEED),
    )
    register_task(
        "perov5_band_gap",
        _property("perov5_band_gap", "cdvae_perov_5", "dir_gap",
                  description="GLLB-SC direct band gap (eV) of Perov-5 perovskites (CDVAE val + test splits)",
                  fold_seed=MATBENCH_SEED),
    )
    for name, info in MATBENCH_TASKS.items():
        register_task(
            name,
            _property(name, name, info.target, info.task_type, description=f"matbench v0.1: {info.description}"),
        )
        if info.input_type == "structure":
            register_task(
                f"{name}_composition",
                _property(f"{name}_composition", f"{name}_composition", info.target, info.task_type,
                          description=f"matbench v0.1 labels, composition only: {info.description}"),
            )
    for ep in _entry_points():
        _FACTORIES.setdefault(ep.name, lambda ep=ep, **p: _load_ep(ep)(**p))


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
