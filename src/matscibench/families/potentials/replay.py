"""Predictions files of interatomic potentials: energies, forces and stresses per test frame.

Two formats, keyed by the frame id (the frame's index in the task's dataset, as the task's
predictions name it, ``id``):

* extended XYZ (``.xyz``, ``.extxyz``; read by ASE): one frame per test frame with ``id=<frame
  index>`` (optional ``fold=<k>``) on its comment line, the energy (eV) and stress (eV/Å³, Voigt
  or 3x3, ASE's sign: positive = tensile) in ``info`` or on the single-point calculator ASE
  attaches, forces (eV/Å) in ``arrays`` or on the calculator. The atoms must be the task's frame's
  (same elements in the same order).
* a table (CSV, Parquet, JSON lines) with columns ``id``, ``energy``, ``forces`` (3 x n_atoms
  numbers: a list, or a JSON list in CSV), optional ``stress`` (6 or 9 numbers) and ``fold``.

Units: eV, eV/Å and eV/Å³ unless the file declares others (``energy_unit``, ``forces_unit``,
``stress_unit`` keys on an extended-XYZ comment line; the sidecar's ``units`` with keys
``energy``, ``forces``, ``stress``): those are converted. Undeclared units are checked against
the task's labels (``families.replay.check_scale``; e.g. forces in eV/bohr are refused with the
factor that fixes them).

Only the frame metrics come from a file: MD, EOS, phonons, NVE, dimer curves, scaling and
latency need a live calculator and are left out (NaN, "not run: predictions file" in the job's info).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from ase.calculators.calculator import Calculator, all_changes

from matscibench.errors import PredictionsFileError
from matscibench.families.replay import check_scale, declared_factor, finite_column
from matscibench.models.replay import ReplayModel, TableIds, read_table, row_label

__all__ = ["PotentialReplay", "frame_key"]

QUANTITIES = (("energy", "eV"), ("forces", "eV/Å"), ("stress", "eV/Å³"))


def frame_key(atoms: Any) -> bytes:
    """Identity of a frame by content (elements, positions, cell), to answer the task's calls."""
    return (np.asarray(atoms.numbers, np.int64).tobytes() + np.round(np.asarray(atoms.positions, float), 6).tobytes()
            + np.round(np.asarray(atoms.cell, float), 6).tobytes())


def _vector(x: Any) -> np.ndarray | None:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    if isinstance(x, str):
        x = json.loads(x)
    return np.asarray(x, dtype=float).ravel()


class PotentialReplay(ReplayModel, Calculator):
    """An ASE calculator answering the task's test frames from a predictions file."""

    implemented_properties: ClassVar[list[str]] = ["energy", "forces", "stress"]

    def __init__(self, source, task) -> None:
        ReplayModel.__init__(self, source, task)
        Calculator.__init__(self)
        ds = task.spec.load()
        self.frames = ds.frames
        folds = task.folds(ds)
        df, self._xyz_units = self._read()
        self.table = TableIds(df, self.path, {k: [str(int(i)) for i in te] for k, (_, te) in enumerate(folds)},
                              [str(i) for i in range(len(ds.frames))], what="frame id")
        self.energy_, self.forces_, self.stress_ = self._values(df)
        self.has_stress = any(s is not None for s in self.stress_)
        if not self.has_stress:
            self.implemented_properties = ["energy", "forces"]
        self._by_key: dict[bytes, int] = {}

    # ------------------------------------------------------------------ reading
    def _read(self) -> tuple[pd.DataFrame, dict[str, str]]:
        name = self.path.name.lower()
        if name.endswith((".xyz", ".extxyz")):
            return self._read_xyz()
        df = read_table(self.path)
        for col in ("energy", "forces"):
            if col not in df.columns:
                raise PredictionsFileError(f"{self.path}: no {col!r} column (columns: {list(df.columns)}); a potential's "
                                           "table has id, energy (eV), forces (3 x n_atoms numbers, eV/Å), optional "
                                           "stress (6 numbers, eV/Å³) and fold")
        return df, {}

    def _read_xyz(self) -> tuple[pd.DataFrame, dict[str, str]]:
        from ase.io import read

        try:
            frames = read(str(self.path), index=":", format="extxyz")
        except Exception as exc:  # noqa: BLE001 - whatever a reader raises on a bad file
            raise PredictionsFileError(f"{self.path}: not a readable extended-XYZ file: {exc}") from None
        rows, units = [], {}
        for k, at in enumerate(frames):
            res = dict(getattr(at.calc, "results", {}) or {})
            fid = at.info.get("id", at.info.get("frame_id"))
            if fid is None:
                raise PredictionsFileError(f"{self.path}: frame {k} has no id; write id=<frame index in the task's "
                                           "dataset> on its comment line")
            fr = self.frames[int(fid)] if str(fid).isdigit() and int(fid) < len(self.frames) else None
            if fr is not None and (len(fr) != len(at) or not np.array_equal(fr.numbers, at.numbers)):
                raise PredictionsFileError(
                    f"{self.path}: frame {k} (id {fid}) has atoms {at.get_chemical_formula()} ({len(at)}), but the task's "
                    f"frame {fid} is {fr.get_chemical_formula()} ({len(fr)} atoms); ids must be the task's frame indices")
            for q, _ in QUANTITIES:
                u = at.info.get(f"{q}_unit")
                if u is not None and units.setdefault(q, str(u)) != str(u):
                    raise PredictionsFileError(f"{self.path}: frame {k} declares {q}_unit={u}, an earlier frame "
                                               f"{units[q]}; use one unit per quantity")
            e = at.info.get("energy", res.get("energy"))
            f = at.arrays.get("forces", res.get("forces"))
            s = at.info.get("stress", res.get("stress"))
            row = {"id": str(fid), "energy": np.nan if e is None else float(e),
                   "forces": None if f is None else np.asarray(f, float).ravel().tolist(),
                   "stress": None if s is None else np.asarray(s, float).ravel().tolist()}
            if "fold" in at.info:
                row["fold"] = at.info["fold"]
            rows.append(row)
        df = pd.DataFrame(rows)
        if df.empty:
            raise PredictionsFileError(f"{self.path}: no frames")
        df.attrs["format"] = "xyz"
        return df, units

    # ------------------------------------------------------------------ checks
    def _bad(self, df: pd.DataFrame, i: int, msg: str) -> PredictionsFileError:
        where = f"frame {i}" if df.attrs.get("format") == "xyz" else row_label(df, i)
        return PredictionsFileError(f"{self.path}: {where} (frame id {df['id'].iloc[i]!r}): {msg}")

    def _values(self, df: pd.DataFrame) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray | None]]:
        energy = finite_column(df, "energy", self.path, "every test frame needs a finite energy (eV)")
        forces, stress = [], []
        for i, x in enumerate(df["id"]):
            n = len(self.frames[int(x)])
            try:
                f = _vector(df["forces"].iloc[i])
            except (ValueError, TypeError) as exc:
                raise self._bad(df, i, f"forces are not a list of numbers ({exc})") from None
            if f is None or f.size != 3 * n:
                got = "none" if f is None else f"{f.size} numbers"
                raise self._bad(df, i, f"forces have the wrong shape: {got}, but the frame has {n} atoms; expected "
                                       f"({n}, 3) = {3 * n} numbers (eV/Å, in the frame's atom order)")
            if not np.isfinite(f).all():
                raise self._bad(df, i, "forces hold NaN or inf; every force component must be finite")
            forces.append(f.reshape(n, 3))
            s = _vector(df["stress"].iloc[i]) if "stress" in df.columns else None
            if s is not None:
                if s.size == 9:
                    m = s.reshape(3, 3)
                    s = np.array([m[0, 0], m[1, 1], m[2, 2], m[1, 2], m[0, 2], m[0, 1]])
                if s.size != 6 or not np.isfinite(s).all():
                    raise self._bad(df, i, f"stress has {s.size} values or non-finite ones; expected 6 (Voigt xx yy zz "
                                           "yz xz xy) or 9 (3x3) finite numbers, eV/Å³")
            stress.append(s)
        energy, forces, stress = self._units(df, energy, forces, stress)
        return energy, forces, stress

    def _units(self, df, energy, forces, stress):
        """Declared units converted; undeclared ones checked against the dataset's labels."""
        ref_frames = [self.frames[int(x)] for x in df["id"]]
        values = {"energy": energy, "forces": forces, "stress": stress}
        out = {}
        for q, unit in QUANTITIES:
            declared = self._xyz_units.get(q) or self.meta.units.get(q)
            factor, note = declared_factor(declared, unit, self.path, q)
            v = values[q]
            v = v * factor if q == "energy" else [None if a is None else a * factor for a in v]
            if note is None:
                note = self._check(q, unit, v, ref_frames) if self.check_units else "not checked (check_units = false)"
            self.units_note[q] = note
            out[q] = v
        return out["energy"], out["forces"], out["stress"]

    @staticmethod
    def _check_pairs(q: str, v: Any, ref_frames: list) -> tuple[np.ndarray, np.ndarray]:
        if q == "energy":
            return np.asarray(v, float), np.array([fr.info["energy"] for fr in ref_frames], float)
        key = "forces"
        pairs = [(a, fr.arrays[key] if q == "forces" else fr.info.get("stress")) for a, fr in zip(v, ref_frames)
                 if a is not None and (key in fr.arrays if q == "forces" else "stress" in fr.info)]
        if not pairs:
            return np.zeros(0), np.zeros(0)
        return (np.concatenate([np.ravel(a) for a, _ in pairs]),
                np.concatenate([np.ravel(np.asarray(b, float)) for _, b in pairs]))

    def _check(self, q: str, unit: str, v: Any, ref_frames: list) -> str:
        p, r = self._check_pairs(q, v, ref_frames)
        return check_scale(p, r, unit, self.path, q)

    # ------------------------------------------------------------------ the calculator
    def folds_in_file(self) -> list[int]:
        return self.table.folds_in_file()

    def set_test_items(self, ids, fold, items=None) -> None:
        super().set_test_items(ids, fold, items)
        rows = self.table.rows_for(int(fold), ids)
        frames = items if items is not None else [self.frames[int(x)] for x in ids]
        self._by_key = {frame_key(fr): int(r) for fr, r in zip(frames, rows)}

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        Calculator.calculate(self, atoms, properties, system_changes)
        row = self._by_key.get(frame_key(self.atoms))
        if row is None:
            raise PredictionsFileError(f"{self.path}: asked about a configuration ({self.atoms.get_chemical_formula()}) "
                                       "that is not one of the announced test frames; a predictions file answers for the "
                                       "task's test frames only")
        self.results = {"energy": float(self.energy_[row]), "free_energy": float(self.energy_[row]),
                        "forces": self.forces_[row].copy()}
        if self.stress_[row] is not None:
            self.results["stress"] = self.stress_[row].copy()
