"""Pretrained potentials on cells that DFT relaxed: residual forces, pressure and the energy ranking.

``RelaxedCellsTask`` (``dft_relaxed_perov5``, ``dft_relaxed_carbon24``) needs no training data: a
potential that reproduces DFT puts (near) zero forces on a DFT minimum and ranks the cells as DFT
does once per-element reference energies are removed.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from matscibench.data.splits import split_hash
from matscibench.errors import ModelOutputError
from matscibench.families.base import DatasetTask, JobContext, TaskOutput
from matscibench.families.potentials import metrics as PM
from matscibench.families.potentials.atoms import clean_atoms, supports_stress

__all__ = ["RELAXED_METRICS", "RelaxedCellsTask", "is_untrained"]


RELAXED_METRICS = ("residual_force_rms", "residual_force_max", "energy_spearman", "relaxed_energy_mae",
                   "energy_spearman_raw", "composition_baseline_spearman", "residual_pressure")


def is_untrained(model: Any) -> bool:
    """A trainable model (``fit`` of its own) with no learned state yet (scikit-learn's test:
    no public attribute ending in ``_``). Fixed calculators and pretrained adapters count as trained."""
    from matscibench.families.potentials.models.adapters import Delegating

    if not hasattr(model, "fit") or isinstance(model, Delegating):
        return False
    return not [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]


class RelaxedCellsTask(DatasetTask):
    """A pretrained potential on cells that DFT relaxed: residual forces and the energy ranking.

    Real data only: CDVAE's CSVs (``cdvae/<dataset>/<split>.csv`` under ``$MATSCIBENCH_DATA``, e.g.
    ``../shared/data/cdvae/perov_5/test.csv``, or downloaded from CDVAE's repository when online).
    Every cell is at a DFT energy minimum (at ``pressure_GPa``: Carbon-24's AIRSS search ran at
    10 GPa), so a potential that reproduces DFT puts (near) zero forces on it and a pressure of
    ``pressure_GPa``. Metrics:

    - ``residual_force_rms`` / ``residual_force_max`` (meV/Å): RMS of the force components and the
      largest per-atom force, over the ``n_cells`` cells;
    - ``energy_spearman``: Spearman ρ between the model's energies per atom and DFT's column
      ``energy_column`` (eV/atom; Perov-5: ``heat_ref``, the heat of formation), after removing
      per-element reference energies fitted on the other folds (``metrics.
      referenced_energies``; on Carbon-24 a constant, so the same as the raw ranking);
      ``relaxed_energy_mae`` (meV/atom) on the same scale;
    - ``energy_spearman_raw``: ρ of the model's energy per atom as it comes (no references, no P·V);
    - ``composition_baseline_spearman``: ρ of the element references alone (a model that knows only
      the composition): what ``energy_spearman`` has to beat (NaN for one element);
    - ``residual_pressure`` (GPa): mean | -tr(σ)/3 - ``pressure_GPa`` |.

    With ``enthalpy`` the model's energy per atom is the enthalpy E/N + P·V/N at ``pressure_GPa``
    (on for Carbon-24: its labels rank as enthalpies at 10 GPa; with CHGNet 0.3.0 on 200 test cells
    ρ was 0.939 against the enthalpy and 0.906 against E alone, SevenNet-0 0.958 and 0.926).
    No training: trainable models that are not fitted yet are marked not applicable.
    """

    family = "potentials"
    unit = "meV/Å"

    def __init__(self, name: str, dataset: str, energy_column: str, *, split: str = "test", n_cells: int | None = 200,
                 pressure_GPa: float = 0.0, enthalpy: bool = False, reference_folds: int = 5, fold_seed: int = 0,
                 description: str = "") -> None:
        self.name = name
        self.dataset_name = dataset
        self.dataset_params = {"splits": [split]}
        self.split = split
        self.energy_column = energy_column
        self.n_cells = int(n_cells) if n_cells else None
        self.pressure_GPa = float(pressure_GPa)
        self.enthalpy = bool(enthalpy)
        self.reference_folds = int(reference_folds)
        self.fold_seed = int(fold_seed)
        self._n_folds = 1
        self.metrics = RELAXED_METRICS
        self.target = None
        self.description = (description or "pretrained potentials on {n} DFT-relaxed cells of {dataset}").format(
            n=self.n_cells or "all", split=split, dataset=dataset)
        self.citation = getattr(self.spec, "citation", "")

    def _missing_hint(self) -> str:
        folder = self.dataset_name.replace("cdvae_", "cdvae/")
        return (f"task {self.name} needs the real DFT data: {folder}/{self.split}.csv under a folder named by "
                f"$MATSCIBENCH_DATA (e.g. MATSCIBENCH_DATA=../shared/data, which has {folder}/)")

    def prepare(self, progress=None) -> None:
        from matscibench.errors import DatasetNotAvailable

        try:
            self.spec.prepare(progress)
        except DatasetNotAvailable as exc:
            raise DatasetNotAvailable(f"{self._missing_hint()}. {exc}") from exc

    def cells(self, ds) -> np.ndarray:
        """Indices of the evaluated cells: ``n_cells`` evenly spaced over the split (all if None)."""
        n = len(ds)
        if self.n_cells and n > self.n_cells:
            return np.linspace(0, n - 1, self.n_cells).round().astype(int)
        return np.arange(n)

    def _load(self):
        from matscibench.errors import DatasetNotAvailable

        try:
            return self.spec.load()
        except DatasetNotAvailable as exc:
            raise DatasetNotAvailable(f"{self._missing_hint()}. {exc}") from exc

    def incompatibility(self, model: Any) -> str | None:
        if not (hasattr(model, "get_potential_energy") or hasattr(model, "get_property")):
            return f"{type(model).__name__} is not an ASE calculator; task {self.name} evaluates interatomic potentials"
        if getattr(model, "periodic_ok", True) is False:
            return f"{type(model).__name__} handles molecules only; task {self.name} has periodic cells"
        if is_untrained(model):
            return f"{type(model).__name__} is trainable and not fitted; task {self.name} judges pretrained potentials (no training data)"
        supported = getattr(model, "supported_elements", None)
        if supported is not None:
            try:
                ds = self._load()
                els = {str(el) for i in self.cells(ds) for el in ds.inputs[i].composition.elements}
            except Exception:
                els = set()
            missing = sorted(els - set(supported))
            if missing:
                return f"{type(model).__name__} has no parameters for {', '.join(missing)}"
        return None

    def _referenced(self, p: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
        """(model energies per atom on DFT's scale, composition-only baseline, number of elements)."""
        e = p["energy_pred"].to_numpy(float)
        if self.enthalpy:
            e = e + self.pressure_GPa / PM.EV_PER_A3_IN_GPA * p["volume"].to_numpy(float)
        y = p["energy_true_per_atom"].to_numpy(float)
        elements = sorted({el for syms in p["symbols"] for el in syms})
        col = {el: k for k, el in enumerate(elements)}
        counts = np.zeros((len(p), len(elements)))
        for r, syms in enumerate(p["symbols"]):
            for el in syms:
                counts[r, col[el]] += 1
        ref = PM.referenced_energies(e, counts, y, self.reference_folds, self.fold_seed)
        base = PM.referenced_energies(np.zeros_like(e), counts, y, self.reference_folds, self.fold_seed)
        return ref, base, len(elements)

    def rescore(self, predictions: pd.DataFrame) -> dict[str, float]:
        p = predictions
        n = p["n_atoms"].to_numpy(float)
        f_rms, f_max = PM.residual_forces([np.asarray(x, float) for x in p["forces_pred"]])
        e_raw = p["energy_pred"].to_numpy(float)
        y = p["energy_true_per_atom"].to_numpy(float)
        ref, base, n_elements = self._referenced(p)
        ok = np.isfinite(ref)
        press = p["pressure_pred"].to_numpy(float) if "pressure_pred" in p else np.full(len(p), np.nan)
        return {
            "residual_force_rms": f_rms,
            "residual_force_max": f_max,
            "energy_spearman": PM.spearman(y[ok], ref[ok]),
            "relaxed_energy_mae": float(np.mean(np.abs(ref[ok] - y[ok])) * 1e3) if ok.any() else float("nan"),
            "energy_spearman_raw": PM.spearman(y, e_raw / n),
            "composition_baseline_spearman": PM.spearman(y[ok], base[ok]) if n_elements > 1 else float("nan"),
            "residual_pressure": float(np.nanmean(np.abs(press - self.pressure_GPa))) if np.isfinite(press).any() else float("nan"),
        }

    def run(self, model: Any, fold: int, ctx: JobContext) -> TaskOutput:
        from pymatgen.io.ase import AseAtomsAdaptor

        meter = ctx.meter
        with meter.phase("load"):
            ds = self._load()
            idx = self.cells(ds)
            if self.energy_column not in ds.targets:
                raise KeyError(f"{ds.name} has no column {self.energy_column!r}; columns: {list(ds.targets.columns)}")
            y = ds.targets[self.energy_column].to_numpy(float)
            cells = [AseAtomsAdaptor.get_atoms(ds.inputs[i]) for i in idx]
        stress_ok = supports_stress(model)
        rows, call_times = [], []
        with meter.phase("predict"):
            for i, at0 in zip(idx, cells):
                at = clean_atoms(at0)
                at.calc = model
                t = time.perf_counter()
                e = float(at.get_potential_energy())
                f = np.asarray(at.get_forces(), dtype=float)
                call_times.append(time.perf_counter() - t)
                pressure = float("nan")
                if stress_ok:
                    try:
                        s = np.asarray(at.get_stress(voigt=True), float)
                        pressure = float(-s[:3].mean() * PM.EV_PER_A3_IN_GPA)
                    except Exception:  # noqa: BLE001 - a calculator without stress: no pressure figure
                        stress_ok = False
                if not math.isfinite(e) or f.shape != (len(at), 3) or not np.isfinite(f).all():
                    raise ModelOutputError(f"cell {ds.ids[i]} ({at.get_chemical_formula()}): energy {e}, forces of shape "
                                           f"{f.shape}; expected a finite energy and ({len(at)}, 3) finite forces")
                rows.append({"kind": "relaxed", "id": str(ds.ids[i]), "formula": at.get_chemical_formula(),
                             "n_atoms": len(at), "symbols": at.get_chemical_symbols(), "volume": float(at.get_volume()),
                             "energy_true_per_atom": float(y[i]), "energy_pred": e, "forces_pred": f.ravel().tolist(),
                             "pressure_pred": pressure})
        pred = pd.DataFrame(rows)
        metrics = self.rescore(pred)
        n_ref = int(np.isfinite(self._referenced(pred)[0]).sum())
        pred_s = meter.phases["predict"].wall_s
        costs = {
            "predict.ms_per_call": float(np.median(call_times) * 1e3),
            "predict.throughput_structures_per_s": len(cells) / pred_s if pred_s > 0 else float("nan"),
            "predict.throughput_atoms_per_s": float(pred["n_atoms"].sum()) / pred_s if pred_s > 0 else float("nan"),
        }
        info = {"n_train": 0, "n_test": len(cells), "dataset": ds.name, "dataset_checksum": ds.checksum,
                "dataset_source": ds.source, "split": self.split, "energy_column": self.energy_column,
                "split_hash": split_hash(np.array([], int), idx), "pressure_GPa": self.pressure_GPa,
                "enthalpy": self.enthalpy, "unit": self.unit,
                # cells whose elements all occur in the other reference folds (the others are left out
                # of energy_spearman and relaxed_energy_mae)
                "n_referenced": n_ref}
        return TaskOutput(metrics=metrics, predictions=pred, info=info, costs=costs)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"dataset": self.dataset_name, "split": self.split, "energy_column": self.energy_column,
                  "n_cells": self.n_cells, "input_type": "structure", "task_type": "potential",
                  "needs_real_data": True, "pressure_GPa": self.pressure_GPa})
        return d
