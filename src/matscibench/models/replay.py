"""Models that replay a predictions file: scoring predictions made elsewhere.

A universal potential trained on a cluster, a generator in its own environment or a number from
a paper cannot run inside a job. ``predictions_file`` (registry name; params ``path``, optional
``meta``, ``sha256``, ``units``, ``check_units``) is a model whose answers come from a file, so
that the task's own code computes every metric, and the store and the reports hold the result like
any other::

    [[models]]
    label = "my_model"
    name = "predictions_file"
    params = { path = "my_model_preds.csv" }

How it plugs in:

* ``PredictionsFile`` (what the registry builds) knows only the path. The harness binds it to the
  task of the job (``bind_to_task``): the task names its family's replay class in
  ``Task.predictions_file_model``, which reads and checks the file against the task's data and
  implements the family's model contract (``predict`` for properties, an ASE calculator for
  potentials, ``sample`` for generators, ...).
* Before asking for predictions a task tells the model which items it will ask about, in order
  (``announce_items(model, ids, fold, items)``); other models ignore this. A replay model answers
  from the file's rows for those ids.
* Costs: nothing the model did was measured here. The harness keeps only what it measured of its
  own work (loading data, computing metrics) and adds the costs the submitter declares in the
  sidecar file (``meta``), recorded as declared (``info["costs"]``); the reports show them marked
  "declared" and the other model costs as "not measured here".

The sidecar (YAML or JSON; by default ``<file stem>.yaml``, ``.yml`` or ``.json`` next to the
file) holds a ``card`` (see ``ModelCard``), declared ``costs`` (cost name -> value, e.g.
``train.total_s: 36000``) and declared ``units`` (quantity -> unit, e.g. ``forces: eV/bohr``).
"""

from __future__ import annotations

import hashlib
import importlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matscibench.errors import PredictionsFileError
from matscibench.models.base import ModelCard

__all__ = [
    "PredictionsFile",
    "ReplayMeta",
    "ReplayModel",
    "TableIds",
    "announce_items",
    "bind_to_task",
    "file_sha256",
    "find_meta",
    "is_replay",
    "read_meta",
    "read_table",
    "row_label",
]

#: sidecar names tried next to a predictions file, after ``<stem>``
META_SUFFIXES = (".yaml", ".yml", ".json")


def is_replay(model: Any) -> bool:
    """Whether ``model`` replays a predictions file (its costs were not measured here)."""
    return getattr(model, "replays_predictions", False) is True


def announce_items(model: Any, ids: Sequence[Any], fold: int, items: Sequence[Any] | None = None) -> None:
    """Tell a model that replays a file which items (ids, in order) the task asks about next;
    ``items`` are the inputs themselves (frames, structures) where the model needs to match them."""
    hook = getattr(model, "set_test_items", None)
    if is_replay(model) and callable(hook):
        hook([str(i) for i in ids], int(fold), items)


def bind_to_task(model: Any, task: Any) -> Any:
    """The model a job runs: a ``PredictionsFile`` becomes its family's replay model for ``task``;
    any other model is returned as it is."""
    hook = getattr(model, "for_task", None)
    return hook(task) if isinstance(model, PredictionsFile) and callable(hook) else model


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, or of a folder's files (names and contents, sorted)."""
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for q in files:
        if p.is_dir():
            h.update(str(q.relative_to(p)).encode() + b"\0")
        with open(q, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


@dataclass
class ReplayMeta:
    """What a sidecar file declares: the model card, costs and units; ``path`` where it was read."""

    card: ModelCard | None = None
    costs: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    path: str | None = None


def find_meta(path: str | Path) -> Path | None:
    """The sidecar of a predictions file: ``<stem>.yaml``, ``.yml`` or ``.json`` next to it."""
    p = Path(path)
    base = p.with_suffix("") if p.is_file() else p
    while base.suffix in (".csv", ".parquet", ".jsonl", ".json", ".xyz", ".extxyz", ".gz"):
        base = base.with_suffix("")
    for suf in META_SUFFIXES:
        cand = base.with_name(base.name + suf)
        if cand.is_file() and cand.resolve() != p.resolve():
            return cand
    return None


def read_meta(path: str | Path) -> ReplayMeta:
    """Read a sidecar (YAML or JSON): ``card``, ``costs``, ``units``; errors name the file and key."""
    p = Path(path)
    if not p.is_file():
        raise PredictionsFileError(f"model description {p} does not exist; give the path of a YAML or JSON file "
                                   "with card, costs and units, or leave meta out")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix == ".json":
            import json

            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - whatever a reader raises on a bad file
        raise PredictionsFileError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'YAML'}: {exc}") from None
    data = data or {}
    if not isinstance(data, dict):
        raise PredictionsFileError(f"{p}: expected a mapping with keys card, costs, units; got {type(data).__name__}")
    unknown = sorted(set(data) - {"card", "costs", "units"})
    if unknown:
        raise PredictionsFileError(f"{p}: unknown key(s) {unknown}; a model description has card, costs and units")
    try:
        card = ModelCard.from_dict(data["card"], str(p)) if data.get("card") is not None else None
    except ValueError as exc:
        raise PredictionsFileError(str(exc)) from None
    costs: dict[str, float] = {}
    for k, v in (data.get("costs") or {}).items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = float("nan")
        if "." not in str(k) or not math.isfinite(f):
            raise PredictionsFileError(f"{p}: costs.{k} = {v!r}; a declared cost is '<phase>.<name>' (e.g. "
                                       "train.total_s, predict.throughput_structures_per_s) with a finite number")
        costs[str(k)] = f
    units = {str(k): str(v) for k, v in (data.get("units") or {}).items()}
    return ReplayMeta(card, costs, units, str(p))


def read_table(path: str | Path) -> pd.DataFrame:
    """A predictions table: CSV (``.csv``, ``.csv.gz``), Parquet or JSON lines (``.jsonl``)."""
    p = Path(path)
    name = p.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            df = pd.read_csv(p, dtype={"id": str})
            df.attrs["format"] = "csv"
        elif name.endswith(".parquet"):
            df = pd.read_parquet(p)
            df.attrs["format"] = "parquet"
        elif name.endswith((".jsonl", ".jsonl.gz")):
            df = pd.read_json(p, lines=True, dtype={"id": str})
            df.attrs["format"] = "jsonl"
        else:
            raise PredictionsFileError(f"{p}: unknown table format; write CSV (.csv), Parquet (.parquet) or JSON lines "
                                       "(.jsonl)")
    except PredictionsFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a reader raises on a bad file
        raise PredictionsFileError(f"{p}: cannot read it as a table: {exc}") from None
    if "id" not in df.columns:
        raise PredictionsFileError(f"{p}: no 'id' column (columns: {list(df.columns)}); write one row per item with "
                                   "its id as the task's dataset spells it")
    df["id"] = df["id"].astype(str)
    return df


def row_label(df: pd.DataFrame, i: int) -> str:
    """How a user finds row ``i`` (0-based position) of a table: a CSV line (header = line 1) or a row."""
    if df.attrs.get("format") == "csv":
        return f"line {i + 2}"
    return f"row {i + 1}"


class TableIds:
    """The id checks of a predictions table against the task: every row names an item the task
    tests in some fold (extra ids and training-only ids are errors), at most once per fold, its
    ``fold`` (when the table has that column) one the task tests it in; and, fold by fold, every
    test item has a row (``rows_for``). ``test_ids``: fold -> the ids the task tests in it."""

    def __init__(self, df: pd.DataFrame, path: str | Path, test_ids: dict[int, Sequence[str]],
                 all_ids: Iterable[str] | None = None, what: str = "id") -> None:
        self.df, self.path, self.what = df, str(path), what
        self.test_ids = {int(k): [str(x) for x in v] for k, v in test_ids.items()}
        self.folds_of: dict[str, set[int]] = {}
        for k, ids in self.test_ids.items():
            for x in ids:
                self.folds_of.setdefault(x, set()).add(k)
        self.all_ids = set(map(str, all_ids)) if all_ids is not None else set(self.folds_of)
        self.has_fold = "fold" in df.columns
        self._check_rows()

    def _bad(self, i: int, msg: str) -> PredictionsFileError:
        return PredictionsFileError(f"{self.path}: {row_label(self.df, i)} ({self.what} {self.df['id'].iloc[i]!r}): {msg}")

    def _check_rows(self) -> None:
        df = self.df
        if self.has_fold:
            folds = pd.to_numeric(df["fold"], errors="coerce")
            bad = np.nonzero(~np.isfinite(folds.to_numpy(dtype=float)) | (folds.to_numpy(dtype=float) % 1 != 0))[0]
            if len(bad):
                raise self._bad(int(bad[0]), f"fold {df['fold'].iloc[bad[0]]!r} is not a whole number; folds are "
                                             f"0 .. {max(self.test_ids)}")
            df["fold"] = folds.astype(int)
        keys = list(zip(df["fold"], df["id"])) if self.has_fold else list(df["id"])
        seen: dict[Any, int] = {}
        for i, (key, x) in enumerate(zip(keys, df["id"])):
            if key in seen:
                where = f" in fold {key[0]}" if self.has_fold else ""
                raise self._bad(i, f"a second row for this {self.what}{where} (the first is {row_label(df, seen[key])}); "
                                   "write one row per item" + ("" if self.has_fold else " (add a 'fold' column when "
                                                               "predictions differ between folds)"))
            seen[key] = i
            if x not in self.all_ids:
                raise self._bad(i, f"not an {self.what} of the task's dataset (extra id); remove the row, or check that "
                                   f"ids are spelled as the dataset's (e.g. {next(iter(sorted(self.folds_of)), '?')!r})")
            folds = self.folds_of.get(x)
            if not folds:
                raise self._bad(i, "the task never tests this item (it is a training item in every fold); remove the row")
            if self.has_fold and key[0] not in folds:
                raise self._bad(i, f"given fold {key[0]}, but the task tests it in fold {min(folds)}; "
                                   "fix the fold or drop the 'fold' column")

    def folds_in_file(self) -> list[int]:
        """The folds the table has predictions for."""
        if self.has_fold:
            return sorted({int(f) for f in self.df["fold"]})
        return sorted({k for x in self.df["id"] for k in self.folds_of.get(x, ())})

    def rows_for(self, fold: int, ids: Sequence[str]) -> np.ndarray:
        """Row positions of ``ids`` (the task's test items of ``fold``, in its order); a missing id
        is an error naming the first one and how many there are."""
        df = self.df
        idx = np.nonzero((df["fold"] == fold).to_numpy())[0] if self.has_fold else np.arange(len(df))
        pos = pd.Series(idx, index=df["id"].to_numpy()[idx])
        missing = [x for x in ids if x not in pos.index]
        if missing:
            have = self.folds_in_file()
            raise PredictionsFileError(
                f"{self.path}: fold {fold}: {len(missing)} of the task's {len(ids)} test {self.what}s have no row "
                f"(missing ids; first: {missing[0]!r}). Add a row for each, or score only the folds the file covers "
                f"({have}; `matscibench score --folds`)")
        return pos.loc[list(ids)].to_numpy(dtype=int)


class PredictionsFile:
    """The registry's ``predictions_file``: a path (and sidecar) not yet bound to a task.

    Parameters
    ----------
    path: the predictions (a table, an extended-XYZ file, a folder of CIFs, ... as the task's family reads).
    meta: the sidecar (YAML/JSON: card, costs, units); default: ``<stem>.yaml|.yml|.json`` next to ``path``.
    sha256: when given, the file must have this sha256 (``matscibench score`` records it, so a
        changed file is a new job rather than a stale one).
    units: declared units of the file's quantities (e.g. ``{"forces": "eV/bohr"}``), converted on read;
        the sidecar's ``units`` add to these.
    check_units: compare the predictions' scale with the reference and refuse values that look like
        another unit (e.g. forces in eV/bohr); False skips the check (say why in the card's notes).
    """

    replays_predictions = True

    def __init__(self, path: str, meta: str | None = None, sha256: str | None = None,
                 units: dict[str, str] | None = None, check_units: bool = True) -> None:
        self.path = str(path)
        self.meta = meta
        self.sha256 = sha256
        self.units = dict(units or {})
        self.check_units = bool(check_units)

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        return {"path": self.path, "meta": self.meta, "sha256": self.sha256, "units": self.units,
                "check_units": self.check_units}

    def for_task(self, task: Any) -> ReplayModel:
        """The family's replay model for ``task`` (``task.predictions_file_model``)."""
        target = getattr(task, "predictions_file_model", None)
        if not target:
            raise PredictionsFileError(f"task {getattr(task, 'name', task)!r} does not score predictions files (its "
                                       "task class names no predictions_file_model); run the model itself instead")
        p = Path(self.path)
        if not p.exists():
            raise PredictionsFileError(f"predictions file {p} does not exist (model parameter path)")
        if self.sha256 and file_sha256(p) != self.sha256:
            raise PredictionsFileError(f"{p} changed since it was given to be scored (sha256 differs from {self.sha256[:12]}…); "
                                       "score it again (a new job) or restore the file")
        mod, _, name = str(target).partition(":")
        cls = getattr(importlib.import_module(mod), name)
        return cls.bind(self, task)

    def load_meta(self) -> ReplayMeta:
        meta_path = Path(self.meta) if self.meta else find_meta(self.path)
        meta = read_meta(meta_path) if meta_path is not None else ReplayMeta()
        meta.units = {**self.units, **meta.units}
        return meta


class ReplayModel:
    """Base of the families' replay models: the file, its sidecar, the announced test items.

    Subclasses read and check the file in ``__init__`` (so a bad file fails before any job work)
    and implement their family's model contract. ``fit`` does nothing: the file holds the
    predictions of a model trained elsewhere (its card says on what).
    """

    replays_predictions = True

    def __init__(self, source: PredictionsFile, task: Any) -> None:
        self.source = source
        self.task = task
        self.path = Path(source.path)
        self.meta = source.load_meta()
        self.check_units = source.check_units
        self.fold_: int | None = None
        self.test_ids_: list[str] | None = None
        self.test_items_: Sequence[Any] | None = None
        #: what the file said about units and how it was checked (recorded in the job's info)
        self.units_note: dict[str, str] = {}

    @classmethod
    def bind(cls, source: PredictionsFile, task: Any) -> ReplayModel:
        return cls(source, task)

    # -- what the harness asks
    @property
    def card(self) -> ModelCard | None:
        return self.meta.card

    @property
    def declared_costs(self) -> dict[str, float]:
        return dict(self.meta.costs)

    def replay_info(self) -> dict[str, Any]:
        """What the job records about the file (path, sha256, sidecar, units)."""
        return {"path": str(self.path), "sha256": file_sha256(self.path), "meta": self.meta.path,
                "units": dict(self.units_note)}

    def folds_in_file(self) -> list[int] | None:
        """The folds the file has predictions for (None: it does not say; all of the task's)."""
        return None

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        return self.source.get_params(deep)

    def check_fold(self, fold: int) -> None:
        """Raise when the file lacks a test item of ``fold`` (tables: ``TableIds.rows_for``)."""
        table = getattr(self, "table", None)
        if isinstance(table, TableIds):
            table.rows_for(int(fold), table.test_ids.get(int(fold), []))

    def set_test_items(self, ids: list[str], fold: int, items: Sequence[Any] | None = None) -> None:
        self.fold_, self.test_ids_, self.test_items_ = int(fold), list(ids), items

    def fit(self, *args: Any, **kwargs: Any) -> ReplayModel:
        """Nothing to fit: the predictions were made elsewhere."""
        return self

    def _announced(self, n: int | None = None, what: str = "predict") -> list[str]:
        if self.test_ids_ is None:
            raise PredictionsFileError(f"{self.path}: task {getattr(self.task, 'name', '?')} asked for predictions without "
                                       "saying which items (its run does not call announce_items); this task cannot "
                                       "score predictions files yet")
        if n is not None and n != len(self.test_ids_):
            raise PredictionsFileError(f"{self.path}: {what} was called on {n} items, but the task announced "
                                       f"{len(self.test_ids_)}; a predictions file answers only for the test items")
        return self.test_ids_

    def declared_unit(self, quantity: str, df: pd.DataFrame | None = None, column: str = "unit") -> str | None:
        """The unit the file declares for ``quantity``: a ``unit`` column (one value), else the
        sidecar's or the model parameters' ``units``; None when it does not say."""
        if df is not None and column in df.columns:
            vals = sorted(set(df[column].dropna().astype(str)))
            if len(vals) > 1:
                raise PredictionsFileError(f"{self.path}: column {column!r} holds several units {vals}; use one")
            if vals:
                return vals[0]
        return self.meta.units.get(quantity)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


def predictions_file(path: str, meta: str | None = None, sha256: str | None = None, units: dict[str, str] | None = None,
                     check_units: bool = True) -> PredictionsFile:
    """Registry factory of ``predictions_file``."""
    return PredictionsFile(path, meta=meta, sha256=sha256, units=units, check_units=check_units)
