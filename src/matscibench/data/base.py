"""Datasets: what a task reads, and the registry entries that know how to make them.

A ``Dataset`` is a plain in-memory object (inputs, targets, ids, checksum). A ``DatasetSpec`` knows
where a dataset comes from (generated here, a local file, a download) and keeps a columnar Parquet
copy in the cache, so that loading it inside each job costs a fraction of a second.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from matscibench.data.cache import atomic_path, file_lock
from matscibench.data.structures import (
    molecules_from_arrow,
    molecules_to_arrow,
    n_atoms_of,
    structures_from_arrow,
    structures_to_arrow,
)
from matscibench.paths import cache_dir

__all__ = ["Dataset", "DatasetSpec", "CachedTableSpec", "ProgressFn"]

#: ``progress(description, completed, total)``; total may be None when unknown.
ProgressFn = Callable[[str, float, "float | None"], None]

INPUT_TYPES = ("structure", "composition", "molecule")


@dataclass
class Dataset:
    """Inputs and targets of one dataset, in a fixed order (fold indices refer to positions).

    ``inputs`` are pymatgen ``Structure`` (crystals), ``Composition`` (composition-only tasks) or
    ``Molecule`` objects; ``targets`` has one column per target with ``units`` naming their units.
    """

    name: str
    inputs: list
    targets: pd.DataFrame
    ids: np.ndarray
    input_type: str
    checksum: str
    source: str
    units: dict[str, str | None] = field(default_factory=dict)
    extra: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.targets) or len(self.ids) != len(self.inputs):
            raise ValueError(
                f"dataset {self.name}: {len(self.inputs)} inputs, {len(self.targets)} target rows, "
                f"{len(self.ids)} ids"
            )
        if self.input_type not in INPUT_TYPES:
            raise ValueError(f"input_type must be one of {INPUT_TYPES}, got {self.input_type!r}")

    def __len__(self) -> int:
        return len(self.inputs)

    def n_atoms(self) -> np.ndarray:
        return np.array([n_atoms_of(x) for x in self.inputs], dtype=float)


class DatasetSpec(ABC):
    """A registry entry: a named dataset with its provenance, units and a way to load it."""

    name: str
    description: str
    input_type: str
    #: target column -> unit (None for unitless or class labels)
    targets: dict[str, str | None]
    citation: str = ""
    license: str = ""

    @abstractmethod
    def status(self) -> str:
        """One word for ``matscibench datasets``: cached, local, download, generate, missing."""

    @abstractmethod
    def prepare(self, progress: ProgressFn | None = None) -> None:
        """Make ``load`` cheap: download, verify, parse or generate, then cache. Idempotent."""

    @abstractmethod
    def load(self) -> Dataset:
        """Return the dataset (calls ``prepare`` first when the cache is cold)."""

    def checksum(self) -> str:
        """Checksum of the data ``load`` returns (prepares the cache when cold)."""
        return self.load().checksum

    def available_offline(self) -> bool:
        return self.status() in ("cached", "local", "generate")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_type": self.input_type,
            "targets": self.targets,
            "status": self.status(),
            "citation": self.citation,
            "license": self.license,
        }


class CachedTableSpec(DatasetSpec):
    """A dataset whose parsed form lives in ``<cache>/datasets/<name>/<key>.parquet``.

    Subclasses implement ``_build`` (returning the table columns and provenance) and
    ``cache_key`` (which changes whenever the content would change: source checksum, generator
    version and parameters).
    """

    def cache_key(self) -> str:
        return "v1"

    def cache_path(self) -> Path:
        return cache_dir() / "datasets" / self.name / f"{self.cache_key()}.parquet"

    @abstractmethod
    def _build(self, progress: ProgressFn | None) -> tuple[list, pd.DataFrame, np.ndarray, str, str, pd.DataFrame | None]:
        """Return (inputs, targets, ids, checksum, source, extra)."""

    def _source_status(self) -> str:
        return "generate"

    def status(self) -> str:
        if self.cache_path().is_file():
            return "cached"
        return self._source_status()

    def prepare(self, progress: ProgressFn | None = None) -> None:
        path = self.cache_path()
        if path.is_file():
            return
        with file_lock(path):
            if path.is_file():
                return
            inputs, targets, ids, checksum, source, extra = self._build(progress)
            self._write(path, inputs, targets, ids, checksum, source, extra)

    def _write(self, path, inputs, targets, ids, checksum, source, extra) -> None:
        cols: dict[str, Any] = {"id": pa.array([str(i) for i in ids], type=pa.string())}
        if self.input_type == "composition":
            cols["composition"] = pa.array([c.formula if hasattr(c, "formula") else str(c) for c in inputs])
        elif self.input_type == "molecule":
            cols.update(molecules_to_arrow(inputs))
        else:
            cols.update(structures_to_arrow(inputs))
        for name in targets.columns:
            cols[f"target:{name}"] = pa.array(targets[name].to_numpy())
        if extra is not None:
            for name in extra.columns:
                cols[f"extra:{name}"] = pa.array(extra[name].to_numpy())
        meta = {
            "matscibench": json.dumps(
                {
                    "name": self.name,
                    "checksum": checksum,
                    "source": source,
                    "input_type": self.input_type,
                    "units": self.targets,
                }
            )
        }
        table = pa.table(cols).replace_schema_metadata(meta)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)

    def checksum(self) -> str:
        path = self.cache_path()
        if not path.is_file():
            self.prepare()
        return json.loads(pq.read_schema(path).metadata[b"matscibench"])["checksum"]

    def load(self) -> Dataset:
        path = self.cache_path()
        if not path.is_file():
            self.prepare()
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[b"matscibench"])
        if self.input_type == "composition":
            from pymatgen.core import Composition

            inputs = [Composition(f) for f in table.column("composition").to_pylist()]
        elif self.input_type == "molecule":
            inputs = molecules_from_arrow(table)
        else:
            inputs = structures_from_arrow(table)
        tcols = [c for c in table.column_names if c.startswith("target:")]
        ecols = [c for c in table.column_names if c.startswith("extra:")]
        targets = pd.DataFrame({c.split(":", 1)[1]: table.column(c).to_numpy() for c in tcols})
        extra = pd.DataFrame({c.split(":", 1)[1]: table.column(c).to_pylist() for c in ecols}) if ecols else None
        return Dataset(
            name=self.name,
            inputs=inputs,
            targets=targets,
            ids=np.asarray(table.column("id").to_pylist(), dtype=object),
            input_type=self.input_type,
            checksum=meta["checksum"],
            source=meta["source"],
            units=dict(meta.get("units") or self.targets),
            extra=extra,
        )
