"""The dataset registry: names -> ``DatasetSpec`` factories (parameters allowed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from matscibench.data.base import DatasetSpec
from matscibench.errors import RegistryError

__all__ = ["get_dataset", "list_datasets", "register_dataset"]

_FACTORIES: dict[str, Callable[..., DatasetSpec]] = {}
_LOADED = False

#: modules that define datasets of a family; each has ``register_datasets(register)``
FAMILY_DATASET_MODULES: tuple[str, ...] = (
    "matscibench.data.potential_data",
    "matscibench.data.xrd_data",
    "matscibench.data.molecule_data",
    "matscibench.data.phonon_data",
    "matscibench.data.generation_data",
)


def register_dataset(name: str, factory: Callable[..., DatasetSpec]) -> None:
    _FACTORIES[name] = factory


def _builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib
    import importlib.util

    user = dict(_FACTORIES)
    from matscibench.data.cdvae import CDVAE_DATASETS, CdvaeSpec
    from matscibench.data.emt_spec import EmtAlloysSpec
    from matscibench.data.matbench import ARTIFACT_SHA256, MATBENCH_TASKS, MatbenchArtifactsSpec, MatbenchSpec

    register_dataset("emt_alloys", EmtAlloysSpec)
    for ds in CDVAE_DATASETS:
        register_dataset(f"cdvae_{ds}", lambda ds=ds, splits=("val", "test"): CdvaeSpec(ds, tuple(splits), name=f"cdvae_{ds}"))
    for name, info in MATBENCH_TASKS.items():
        def artifacts(info=info) -> DatasetSpec:
            return MatbenchArtifactsSpec(info, ARTIFACT_SHA256.get(info.name))

        if info.input_type == "composition":
            # same rows and labels in both files: the official one when at hand, else the artifacts
            register_dataset(name, lambda info=info, a=artifacts: FirstAvailable([MatbenchSpec(info), a()]))
        else:
            register_dataset(name, lambda info=info: MatbenchSpec(info))
            register_dataset(f"{name}_composition", artifacts)
    for mod in FAMILY_DATASET_MODULES:
        if importlib.util.find_spec(mod) is not None:
            importlib.import_module(mod).register_datasets(register_dataset)
    _FACTORIES.update(user)


class FirstAvailable(DatasetSpec):
    """Several sources of the same dataset: the first that is cached or local, else the first."""

    def __init__(self, options: list[DatasetSpec]) -> None:
        self.options = options
        first = options[0]
        self.name = first.name
        self.description = first.description
        self.input_type = first.input_type
        self.targets = first.targets
        self.citation = first.citation
        self.license = first.license

    def chosen(self) -> DatasetSpec:
        for opt in self.options:
            if opt.status() in ("cached", "local", "generate"):
                return opt
        return self.options[0]

    def status(self) -> str:
        return self.chosen().status()

    def prepare(self, progress=None) -> None:
        self.chosen().prepare(progress)

    def checksum(self) -> str:
        return self.chosen().checksum()

    def load(self):
        ds = self.chosen().load()
        ds.name = self.name
        return ds


def get_dataset(name: str, **params: Any) -> DatasetSpec:
    """The registry entry for ``name``; ``params`` go to its factory (e.g. ``n_structures``)."""
    _builtin()
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise RegistryError(
            f"unknown dataset {name!r}; known: {', '.join(sorted(_FACTORIES))}"
        ) from None
    return factory(**params)


def list_datasets() -> list[str]:
    _builtin()
    return sorted(_FACTORIES)
