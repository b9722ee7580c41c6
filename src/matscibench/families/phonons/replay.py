"""Predictions files of the phonon task: a DOS per test structure on the task's frequency grid.

A table (CSV, Parquet, JSON lines) with columns ``id`` (the dataset's structure id), ``dos``
(one number per point of the task's grid: a list, or a JSON list in CSV) or ``dos_0`` ..
``dos_<n-1>`` (one column per grid point), optional ``fold``. The grid is the dataset's
(``frequency_grid_THz`` in a job's info: first, last, number of points, THz); the task normalises
each curve to unit area itself, so any positive scale will do. A sidecar may declare
``units: {frequencies: THz}``; a DOS sampled on another grid or unit is refused, not resampled
(the error gives the grid). Scored through the direct route (the same functions as every DOS
model); band structures are not read from files (``band_mae`` is NaN).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from matscibench.errors import PredictionsFileError
from matscibench.families.replay import normalize_unit
from matscibench.models.replay import ReplayModel, TableIds, read_table, row_label

__all__ = ["PhononReplay"]


class PhononReplay(ReplayModel):
    """A direct-route DOS model answering from a predictions file."""

    input_types = ("phonon",)

    def __init__(self, source, task) -> None:
        super().__init__(source, task)
        ds = task.spec.load()
        self.grid = np.asarray(ds.frequencies, dtype=float)
        declared = self.meta.units.get("frequencies")
        if declared is not None and normalize_unit(declared) != "THz":
            raise PredictionsFileError(f"{self.path}: frequencies declared in {declared!r}; the task's DOS grid is in THz "
                                       f"({self.grid[0]:g}-{self.grid[-1]:g} THz, {len(self.grid)} points): resample "
                                       "the DOS onto it")
        self.units_note = {"frequencies": "THz (the task's grid)"}
        df = read_table(self.path)
        ids = ds.ids.astype(str)
        folds = task.folds(ds)
        self.table = TableIds(df, self.path, {k: ids[te] for k, (_, te) in enumerate(folds)}, ids)
        self.dos_ = self._curves(df)

    def _curves(self, df) -> np.ndarray:
        n = len(self.grid)
        grid_txt = f"the task's grid: {n} points, {self.grid[0]:g}-{self.grid[-1]:g} THz"
        wide = [f"dos_{j}" for j in range(n)]
        if "dos" in df.columns:
            rows = []
            for i, x in enumerate(df["dos"]):
                try:
                    v = np.asarray(json.loads(x) if isinstance(x, str) else x, dtype=float).ravel()
                except (TypeError, ValueError) as exc:
                    raise self._bad(df, i, f"dos is not a list of numbers ({exc})") from None
                if v.size != n:
                    raise self._bad(df, i, f"dos has the wrong shape: {v.size} values; expected {n} ({grid_txt})")
                rows.append(v)
            Y = np.vstack(rows)
        elif all(c in df.columns for c in wide):
            extra = [c for c in df.columns if c.startswith("dos_") and c not in wide]
            if extra:
                raise PredictionsFileError(f"{self.path}: columns {extra[:3]} go past the grid's {n} points ({grid_txt})")
            Y = df[wide].apply(lambda c: np.asarray(c, dtype=float)).to_numpy(dtype=float)
        else:
            have = sorted(c for c in df.columns if c.startswith("dos"))
            raise PredictionsFileError(f"{self.path}: no DOS: give a 'dos' column (lists of {n} numbers) or columns dos_0 .. "
                                       f"dos_{n - 1} ({grid_txt}); found {have or 'none'}")
        bad = np.nonzero(~np.isfinite(Y).all(axis=1))[0]
        if len(bad):
            raise self._bad(df, int(bad[0]), f"the DOS holds NaN or inf ({len(bad)} such row(s)); every value must be finite")
        flat = np.nonzero(~(np.abs(Y).sum(axis=1) > 0))[0]
        if len(flat):
            raise self._bad(df, int(flat[0]), "the DOS is zero everywhere; it cannot be normalised")
        return Y

    def _bad(self, df, i: int, msg: str) -> PredictionsFileError:
        return PredictionsFileError(f"{self.path}: {row_label(df, i)} (id {df['id'].iloc[i]!r}): {msg}")

    def folds_in_file(self) -> list[int]:
        return self.table.folds_in_file()

    def predict(self, X: Any) -> np.ndarray:
        ids = self._announced(len(X))
        return self.dos_[self.table.rows_for(self.fold_, ids)]
