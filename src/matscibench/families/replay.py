"""Predictions files in the families: the unit checks every family's replay model uses, and the
replay model of the supervised tasks (crystal and molecular properties).

A file's quantities are in the task's units unless the file declares otherwise (a ``unit``
column, a header key, or the sidecar's ``units``): a declared unit is converted
(``sim.units.quantity_factor``); an undeclared one is checked against the reference
(``check_scale``): when multiplying the predictions by the factor of a commonly confused unit
(eV/bohr for eV/Å, Hartree for eV, GPa for eV/Å³, nm for Å, ...) brings them much closer to the
reference labels (mean absolute error at most half of that of the values as written), the file is
refused with the unit it seems to be in and the fix. The check compares errors only; it never
changes a value.

Property tables: one row per test item, columns ``id`` (the dataset's id), ``prediction`` (the
value in the task's unit; a label 0/1/true/false for classification), optional ``probability``
(probability of ``True``, classification: ROC-AUC then uses it), optional ``fold`` (when
predictions differ between folds), optional ``unit``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from matscibench.errors import PredictionsFileError
from matscibench.models.replay import ReplayModel, TableIds, read_table, row_label
from matscibench.sim.units import QUANTITY_UNITS, normalize_unit, quantity_factor

__all__ = ["PropertyReplay", "PropertyReplayProba", "check_scale", "declared_factor", "finite_column", "normalize_unit"]


def _kind_of(unit: str) -> dict[str, float] | None:
    u = normalize_unit(unit)
    u = u.removesuffix("/atom")
    return next((t for t in QUANTITY_UNITS.values() if u in t), None)


def declared_factor(declared: str | None, unit: str | None, path: Any, quantity: str) -> tuple[float, str | None]:
    """(factor to the task's unit, note) of a declared unit; (1, None) when none is declared."""
    if declared is None or unit is None:
        return 1.0, None
    try:
        f = quantity_factor(declared, unit)
    except KeyError as exc:
        raise PredictionsFileError(f"{path}: {quantity} declared in {declared!r}, which cannot be converted to the task's "
                                   f"{unit!r} ({exc.args[0]}); write the values in {unit}") from None
    return f, (f"declared {declared}" + ("" if f == 1.0 else f", converted to {unit} (x{f:.6g})"))


def check_scale(pred: Any, ref: Any, unit: str | None, path: Any, quantity: str, where: str = "") -> str:
    """Refuse values that look like another unit than ``unit`` (see the module docstring); the note
    says what was checked."""
    if unit is None or _kind_of(unit) is None:
        return f"not checked (no commonly confused units known for {unit!r})"
    p = np.asarray(pred, dtype=float).ravel()
    r = np.asarray(ref, dtype=float).ravel()
    ok = np.isfinite(p) & np.isfinite(r)
    p, r = p[ok], r[ok]
    if len(p) == 0:
        return "not checked (no reference values)"
    err = float(np.mean(np.abs(p - r)))
    if err == 0.0 or err <= 0.05 * float(np.mean(np.abs(r))):
        return f"checked against the reference: in {unit}"
    u = normalize_unit(unit)
    per = "/atom" if u.endswith("/atom") else ""
    base = u[: -len(per)] if per else u
    for name in _kind_of(unit):
        if name == base:
            continue
        f = quantity_factor(name + per, u)
        e = float(np.mean(np.abs(p * f - r)))
        if e <= 0.5 * err:
            raise PredictionsFileError(
                f"{path}: {quantity}{where} look like {name}{per}, not the task's {unit}: scaled by {f:.6g} ({name}{per} -> "
                f"{unit}) their mean absolute error against the reference falls from {err:.4g} to {e:.4g}. Write them in "
                f"{unit}, or declare the unit (a 'unit' column, or units: {{{quantity}: \"{name}{per}\"}} in the sidecar) "
                "to have them converted; if they are in the right unit, set check_units = false")
    return f"checked against the reference: no other {base} unit fits better than {unit}"


def finite_column(df: pd.DataFrame, col: str, path: Any, fix: str) -> np.ndarray:
    """A numeric column as floats; the first non-numeric or non-finite row is an error."""
    v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = np.nonzero(~np.isfinite(v))[0]
    if len(bad):
        i = int(bad[0])
        raise PredictionsFileError(f"{path}: {row_label(df, i)} (id {df['id'].iloc[i]!r}): {col} is {df[col].iloc[i]!r} "
                                   f"(NaN, inf or not a number; {len(bad)} such row(s)); {fix}")
    return v


_TRUE = {"true", "1", "1.0", "yes"}
_FALSE = {"false", "0", "0.0", "no"}


class PropertyReplay(ReplayModel):
    """The replay model of property tasks (``PropertyTask``, ``MoleculeTask``): predictions by id."""

    input_types = ("structure", "composition", "molecule")

    @classmethod
    def bind(cls, source, task) -> PropertyReplay:
        has_proba = False
        if getattr(task, "task_type", "") == "classification":
            from pathlib import Path

            has_proba = "probability" in read_table(Path(source.path)).columns
        return (PropertyReplayProba if has_proba else cls)(source, task)

    def __init__(self, source, task) -> None:
        super().__init__(source, task)
        df = read_table(self.path)
        ds = task.load()
        folds = task.folds(ds)
        ids = ds.ids.astype(str)
        self.table = TableIds(df, self.path, {k: ids[te] for k, (_, te) in enumerate(folds)}, ids)
        if "prediction" not in df.columns:
            raise PredictionsFileError(f"{self.path}: no 'prediction' column (columns: {list(df.columns)}); write the "
                                       f"predicted {task.target_column} of each id"
                                       + (f" in {task.unit}" if task.unit else ""))
        self.classification = task.task_type == "classification"
        if self.classification:
            self.values_ = self._labels(df)
            self.proba_ = None
            if "probability" in df.columns:
                p = finite_column(df, "probability", self.path, "give the probability of True, in [0, 1]")
                bad = np.nonzero((p < 0) | (p > 1))[0]
                if len(bad):
                    i = int(bad[0])
                    raise PredictionsFileError(f"{self.path}: {row_label(df, i)} (id {df['id'].iloc[i]!r}): probability "
                                               f"{p[i]} is outside [0, 1]; give the probability of True")
                self.proba_ = p
            return
        v = finite_column(df, "prediction", self.path, "every test item needs a finite prediction")
        f, note = declared_factor(self.declared_unit("prediction", df), task.unit, self.path, "predictions")
        v = v * f
        if note is None:
            y = pd.Series(task.y(ds), index=ids)
            ref = y.loc[df["id"]].to_numpy(dtype=float)
            note = check_scale(v, ref, task.unit, self.path, "predictions") if self.check_units else \
                "not checked (check_units = false)"
        self.units_note = {"prediction": note}
        self.values_ = v

    def _labels(self, df: pd.DataFrame) -> np.ndarray:
        out = np.zeros(len(df), dtype=bool)
        for i, x in enumerate(df["prediction"]):
            s = str(x).strip().lower()
            if s in _TRUE:
                out[i] = True
            elif s not in _FALSE:
                raise PredictionsFileError(f"{self.path}: {row_label(df, i)} (id {df['id'].iloc[i]!r}): prediction {x!r} is "
                                           "not a label; a classification task takes true/false or 1/0 (put "
                                           "probabilities in a 'probability' column)")
        return out

    def folds_in_file(self) -> list[int]:
        return self.table.folds_in_file()

    def predict(self, X: Any) -> np.ndarray:
        ids = self._announced(len(X))
        return self.values_[self.table.rows_for(self.fold_, ids)]


class PropertyReplayProba(PropertyReplay):
    """A classification file with a ``probability`` column: ROC-AUC from the probabilities."""

    def predict_proba(self, X: Any) -> np.ndarray:
        ids = self._announced(len(X), "predict_proba")
        return self.proba_[self.table.rows_for(self.fold_, ids)]
