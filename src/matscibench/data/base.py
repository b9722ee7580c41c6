"""Datasets: what a task reads, and the registry entries that know how to make them.

A ``Dataset`` is a plain in-memory object (inputs, targets, ids, checksum). A ``DatasetSpec`` knows
where a dataset comes from (generated here, a local file, a download) and keeps a columnar Parquet
copy in the cache, so that loading it inside each job costs a fraction of a second.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from matscibench.data.cache import atomic_path, content_hash, file_lock, read_npz_cache, write_npz_cache
from matscibench.errors import DatasetError, clean_text, safe_str
from matscibench.data.structures import (
    molecules_from_arrow,
    molecules_to_arrow,
    n_atoms_of,
    structures_from_arrow,
    structures_to_arrow,
)
from matscibench.paths import cache_dir

__all__ = ["Dataset", "DatasetSpec", "CachedTableSpec", "FirstAvailable", "NpzCachedSpec", "ProgressFn", "table_content_sha256"]

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


def _hash_array(h: Any, arr: pa.Array) -> None:
    """Feed one Arrow array to ``h`` in a canonical form (independent of chunking, slicing and
    integer/float widths): nulls, then values; lists as lengths + flattened values."""
    t = arr.type
    h.update(len(arr).to_bytes(8, "little"))
    if arr.null_count:
        h.update(b"N" + np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=np.uint8).tobytes())
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        import pyarrow.compute as pc

        h.update(b"L" + np.asarray(pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64).tobytes())
        _hash_array(h, pc.list_flatten(arr))
    elif pa.types.is_boolean(t):
        h.update(b"B" + np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.uint8).tobytes())
    elif pa.types.is_integer(t):
        h.update(b"I" + np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64).tobytes())
    elif pa.types.is_floating(t):
        h.update(b"F" + np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64).tobytes())
    else:  # strings, anything else: their Python values
        h.update(b"S" + json.dumps(arr.to_pylist(), default=str, ensure_ascii=False).encode("utf-8", "backslashreplace"))


def table_content_sha256(table: pa.Table) -> str:
    """sha256 of a table's content (column names and values; not its metadata or file layout):
    computed when a cache file is written, and again from the content as read."""
    h = hashlib.sha256()
    for name in sorted(table.column_names):
        h.update(b"\x00C" + name.encode("utf-8", "backslashreplace"))
        _hash_array(h, table.column(name).combine_chunks())
    return h.hexdigest()


_KEEP_LOADED = False
_LOADED: dict[tuple[Any, ...], Dataset] = {}


def keep_loaded(on: bool = True) -> None:
    """From now on this process keeps every dataset it loads from a cache file in memory, and a
    later ``load`` of the same file (same path, inode, size and modification time) returns the
    object already parsed. Meant for a job group's preloaded process (``JobProcessExecutor``):
    its jobs are forked from it and find their dataset parsed, each in its own copy-on-write copy
    of memory, so one job cannot change what another sees. Off by default: in any other process a
    ``load`` parses the file again and returns a new object."""
    global _KEEP_LOADED
    _KEEP_LOADED = bool(on)
    if not on:
        _LOADED.clear()


def file_identity(path: Path) -> tuple[Any, ...] | None:
    """(path, inode, size, mtime_ns) of a file, or None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def _memoized(load: Callable[[Any], Dataset]) -> Callable[[Any], Dataset]:
    @functools.wraps(load)
    def wrapper(self: DatasetSpec) -> Dataset:
        if not _KEEP_LOADED:
            return load(self)
        key = self.memo_key()
        if key is None:
            return load(self)
        key = (type(self).__qualname__, *key)
        ds = _LOADED.get(key)
        if ds is None:
            ds = _LOADED[key] = load(self)
        return ds

    wrapper._memoized = True  # type: ignore[attr-defined]
    return wrapper


class DatasetSpec(ABC):
    """A registry entry: a named dataset with its provenance, units and a way to load it.

    Every subclass's ``load`` is wrapped so that, in a process that called ``keep_loaded()``,
    a dataset whose ``memo_key()`` is not None is parsed once (see ``keep_loaded``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        load = cls.__dict__.get("load")
        if load is not None and not getattr(load, "_memoized", False) and not getattr(load, "__isabstractmethod__", False):
            cls.load = _memoized(load)  # type: ignore[method-assign]

    def memo_key(self) -> tuple[Any, ...] | None:
        """What identifies the loaded content for ``keep_loaded`` (None: never kept)."""
        return None

    name: str
    description: str
    input_type: str
    #: target column -> unit (None for unitless or class labels)
    targets: dict[str, str | None]
    citation: str = ""
    license: str = ""
    #: where the data come from, as named sources ("Materials Project", "QM9", "EMT alloys (generated
    #: here)"); a model card's training data are compared with them (``data.sources.overlap``)
    sources: tuple[str, ...] = ()

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

    def memo_key(self) -> tuple[Any, ...] | None:
        return file_identity(self.cache_path())

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
        table = pa.table(cols)
        meta = {
            "matscibench": json.dumps(
                {
                    "name": self.name,
                    "checksum": checksum,
                    "content_sha256": table_content_sha256(table),
                    "source": source,
                    "input_type": self.input_type,
                    "units": self.targets,
                }
            )
        }
        table = table.replace_schema_metadata(meta)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)

    def _read_checked(self) -> tuple[pa.Table, dict[str, Any], str]:
        """(table, metadata, checksum) of the cache file, its content checked against the hash
        recorded when it was written. The checksum is computed from the content as read (and the
        source's checksum), never taken from the file's own metadata alone. A truncated,
        corrupted or altered file raises ``DatasetError`` naming it."""
        path = self.cache_path()
        if not path.is_file():
            self.prepare()
        fix = (f"Delete it to have it made again from its source (generated or re-parsed): rm '{path}' "
               f"(or: matscibench datasets --prepare {self.name} after deleting it).")
        try:
            table = pq.read_table(path)
            meta = json.loads(table.schema.metadata[b"matscibench"])
            content = table_content_sha256(table.replace_schema_metadata(None))
        except Exception as exc:  # noqa: BLE001 - pyarrow, JSON, a missing key: all mean a bad file
            raise DatasetError(
                f"{path}: the cached dataset {self.name!r} cannot be read ({type(exc).__name__}: "
                f"{clean_text(safe_str(exc), 300)}); it is truncated or corrupted. {fix}"
            ) from None
        recorded = meta.get("content_sha256")
        if recorded is not None and recorded != content:
            raise DatasetError(
                f"{path}: the cached dataset {self.name!r} was modified after it was written (its content "
                f"hashes to {content[:16]}…, recorded {str(recorded)[:16]}…); its numbers cannot be trusted. {fix}"
            )
        checksum = hashlib.sha256(f"{meta.get('checksum')}:{content}".encode()).hexdigest()
        return table, meta, checksum

    def checksum(self) -> str:
        return self._read_checked()[2]

    def load(self) -> Dataset:
        table, meta, checksum = self._read_checked()
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
            checksum=checksum,
            source=meta["source"],
            units=dict(meta.get("units") or self.targets),
            extra=extra,
        )


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
        self.sources = tuple(getattr(first, "sources", ()) or ())

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


class NpzCachedSpec(DatasetSpec):
    """A dataset built once into ``<cache>/datasets/<name>/<cache_key()>.npz`` (arrays + JSON meta).

    Subclasses implement ``_build(progress) -> (arrays, meta)``. ``prepare`` builds under a file
    lock (several jobs or hosts may ask at once; one builds, the others wait and read) and records
    the checksum ``_checksum(arrays, meta)``: by default ``content_hash(arrays, name)``, so the
    checksum is a function of the numbers, not of how they were made. Reading checks the arrays
    against the hash written with them (``read_npz_cache``).
    """

    reference = "unknown"
    #: ``default=`` of ``json.dumps`` for the meta (e.g. ``float`` for numpy scalars)
    meta_default: Callable[[Any], Any] | None = float

    def cache_key(self) -> str:
        return "v1"

    def cache_path(self) -> Path:
        return cache_dir() / "datasets" / self.name / f"{self.cache_key()}.npz"

    def memo_key(self) -> tuple[Any, ...] | None:
        return file_identity(self.cache_path())

    def _build(self, progress: ProgressFn | None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, meta) in the cache layout; meta without ``checksum``."""
        raise NotImplementedError

    def _checksum(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
        return content_hash(arrays, self.name)

    def _source_status(self) -> str:
        return "generate"

    def status(self) -> str:
        return "cached" if self.cache_path().is_file() else self._source_status()

    def prepare(self, progress: ProgressFn | None = None) -> None:
        path = self.cache_path()
        if path.is_file():
            return
        with file_lock(path):
            if path.is_file():
                return
            arrays, meta = self._build(progress)
            meta = {**meta, "checksum": self._checksum(arrays, meta)}
            meta.setdefault("reference", self.reference)
            write_npz_cache(path, arrays, meta, default=self.meta_default)

    def _read(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        path = self.cache_path()
        if not path.is_file():
            self.prepare()
        return read_npz_cache(path)

    def checksum(self) -> str:
        return self._read()[1]["checksum"]
