"""Predictions files of the XRD tasks: a label, class probabilities or a lattice per pattern id.

A table (CSV, Parquet, JSON lines), one row per test pattern, ``id`` the pattern id of the task's
dataset (its test datasets' when it has them), optional ``fold``, and:

* crystal system / space group: ``p_<class>`` columns (probability of each class, e.g.
  ``p_cubic`` or ``p_225``; top-2 accuracy uses them), or a ``prediction`` column of labels only
  (then probabilities are one-hot and ``top2_accuracy`` is NaN: it cannot be ranked);
* lattice: columns ``a``, ``b``, ``c`` (Å) and ``alpha``, ``beta``, ``gamma`` (degrees). Other
  units are declared in the sidecar (``units: {lengths: nm, angles: rad}``) and converted; an
  undeclared one is checked against the labels (``families.replay.check_scale``: nm, bohr, radians).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from matscibench.errors import PredictionsFileError
from matscibench.families.replay import check_scale, declared_factor, finite_column
from matscibench.models.replay import ReplayModel, TableIds, read_table, row_label
from matscibench.sim.xrd import CRYSTAL_SYSTEMS

__all__ = ["XrdClassReplay", "XrdLatticeReplay", "XrdReplay"]

LATTICE = ("a", "b", "c", "alpha", "beta", "gamma")


class XrdReplay(ReplayModel):
    """Common part: the table and its ids against the task's test patterns of every fold."""

    input_types = ("pattern",)

    @classmethod
    def bind(cls, source, task) -> XrdReplay:
        return (XrdLatticeReplay if task.target_name == "lattice" else XrdClassReplay)(source, task)

    def __init__(self, source, task) -> None:
        super().__init__(source, task)
        train_ds, tests = task.load()
        test_ids: dict[int, list[str]] = {}
        self.reference: dict[str, Any] = {}
        for k, (tr, te) in enumerate(task.folds(train_ds, tests)):
            fd = task._fold_data(train_ds, tests, tr, te)
            test_ids[k] = [str(x) for x in fd.ids]
            self.reference.update(zip(test_ids[k], fd.y_test))
        all_ids = [str(x) for ds in [train_ds, *tests] for x in ds.ids]
        self.df = read_table(self.path)
        self.table = TableIds(self.df, self.path, test_ids, all_ids, what="pattern id")

    def _bad(self, i: int, msg: str) -> PredictionsFileError:
        return PredictionsFileError(f"{self.path}: {row_label(self.df, i)} (pattern id {self.df['id'].iloc[i]!r}): {msg}")

    def folds_in_file(self) -> list[int]:
        return self.table.folds_in_file()

    def _rows(self, n: int, what: str) -> np.ndarray:
        return self.table.rows_for(self.fold_, self._announced(n, what))


class XrdClassReplay(XrdReplay):
    """Crystal system or space group: probabilities (``p_<class>``) or labels (``prediction``)."""

    def __init__(self, source, task) -> None:
        super().__init__(source, task)
        sg = task.target_name == "space_group"
        known = list(range(1, 231)) if sg else list(CRYSTAL_SYSTEMS)
        cols = [c for c in self.df.columns if c.startswith("p_")]
        self.probabilities_from_labels = not cols
        if cols:
            classes = []
            for c in cols:
                lab = c[2:]
                cls = int(lab) if sg and lab.isdigit() else lab
                if cls not in known:
                    raise PredictionsFileError(f"{self.path}: column {c!r} names no {task.target_name.replace('_', ' ')}; "
                                               f"columns are p_<class> with class one of {known[:7]}{' ...' if sg else ''}")
                classes.append(cls)
            P = np.column_stack([finite_column(self.df, c, self.path, "give every class a finite probability") for c in cols])
            neg = np.nonzero((P < 0).any(axis=1))[0]
            if len(neg):
                raise self._bad(int(neg[0]), "a negative probability; probabilities are >= 0")
            self.classes_, self.proba_ = classes, P
            self.units_note = {"classes": "probabilities from p_<class> columns"}
            return
        if "prediction" not in self.df.columns:
            raise PredictionsFileError(f"{self.path}: no p_<class> columns and no 'prediction' column (columns: "
                                       f"{list(self.df.columns)}); give class probabilities or labels")
        labels = []
        for i, x in enumerate(self.df["prediction"]):
            s = str(x).strip()
            lab: Any = int(float(s)) if sg and s.replace(".", "", 1).isdigit() else s.lower()
            if lab not in known:
                raise self._bad(i, f"prediction {x!r} is not a {task.target_name.replace('_', ' ')} (one of "
                                   f"{known[:7]}{' ...' if sg else ''})")
            labels.append(lab)
        self.classes_ = sorted(set(labels) | set(self.reference.values()), key=lambda c: (str(type(c)), c))
        index = {c: j for j, c in enumerate(self.classes_)}
        P = np.zeros((len(labels), len(self.classes_)))
        P[np.arange(len(labels)), [index[c] for c in labels]] = 1.0
        self.proba_ = P
        self.units_note = {"classes": "labels only: one-hot probabilities, top-2 accuracy not scored"}

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.proba_[self._rows(len(X), "predict_proba")]

    def predict(self, X: Any) -> np.ndarray:
        P = self.predict_proba(X)
        return np.asarray(self.classes_, dtype=object)[np.argmax(P, axis=1)]


class XrdLatticeReplay(XrdReplay):
    """Lattice parameters a, b, c (Å), α, β, γ (degrees)."""

    def __init__(self, source, task) -> None:
        super().__init__(source, task)
        missing = [c for c in LATTICE if c not in self.df.columns]
        if missing:
            raise PredictionsFileError(f"{self.path}: no column(s) {missing}; a lattice file has a, b, c (Å) and alpha, "
                                       "beta, gamma (degrees)")
        Y = np.column_stack([finite_column(self.df, c, self.path, "every lattice parameter must be finite") for c in LATTICE])
        ref = np.vstack([np.asarray(self.reference[x], float) for x in self.df["id"]])
        for cols, q, unit in ((slice(0, 3), "lengths", "Å"), (slice(3, 6), "angles", "degrees")):
            f, note = declared_factor(self.meta.units.get(q), unit, self.path, q)
            Y[:, cols] *= f
            if note is None:
                note = check_scale(Y[:, cols], ref[:, cols], unit, self.path, q) if self.check_units else \
                    "not checked (check_units = false)"
            self.units_note[q] = note
        self.values_ = Y

    def predict(self, X: Any) -> np.ndarray:
        return self.values_[self._rows(len(X), "predict")]
