"""The predictions frame of a generation job: what the metrics phase computed, one row per crystal.

``Evaluation`` collects, step by step, what the generation task's metrics phase computes for one
job (per generated crystal: validity, fingerprints, predicted property, uniqueness, novelty,
stability; per reference crystal: fingerprints and predicted property; the composition scaler; per
reconstruction: validity and RMS displacement) and turns it into the stored predictions frame
(``Evaluation.frame``), from which ``GenerationTask.score`` computes every metric (``rescore``
does the same from a stored frame). ``structures_from_predictions`` rebuilds the crystals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from matscibench.families.generation.metrics import density
from matscibench.sim.crystalnn import CRYSTALNN_LABELS

__all__ = ["COMPOSITION_WIDTH", "Evaluation", "stack_column", "structures_from_predictions"]

#: Magpie composition fingerprint length
COMPOSITION_WIDTH = 132


def n_elements(s: Any) -> int:
    return len({sp.symbol for sp in s.species})


def stack_column(col: pd.Series, width: int) -> np.ndarray:
    """A column of per-row vectors as an (n, width) array; NaN rows where a vector is missing."""
    rows = [np.asarray(v, dtype=float) if v is not None and len(v) == width else np.full(width, np.nan) for v in col]
    return np.vstack(rows) if rows else np.zeros((0, width))


def _nan(n: int, width: int | None = None) -> np.ndarray:
    return np.full(n if width is None else (n, width), np.nan)


@dataclass
class Evaluation:
    """What the metrics phase of one generation job computes (filled step by step by the task).

    Per generated crystal (``generated[i]`` a pymatgen Structure, None for a failed generation):
    ``valid_struct``, ``valid_comp``, ``valid`` (bool), ``struct_fp`` (n, 61), ``comp_fp`` (n, 132),
    ``in_property_sample`` (bool), ``prop_pred``, ``unique``, ``novel`` (1/0, NaN: not checked),
    ``e_above_hull`` (eV/atom), ``stable`` (1/0/NaN). Per reference crystal: ``ref_struct_fp``,
    ``ref_comp_fp``, ``ref_prop_pred``. The composition scaler (``scaler_mean``, ``scaler_std``).
    Per reconstruction (when the model reconstructs): ``recon_valid``, ``recon_rms``.
    Bookkeeping for the job's info and costs: ``property_idx``, ``match_idx``, ``match_stats``,
    ``n_fingerprinted``, ``stability_note``.
    """

    generated: list
    reference: list
    ref_ids: np.ndarray
    recon: list | None = None
    valid_struct: np.ndarray = field(init=False)
    valid_comp: np.ndarray = field(init=False)
    valid: np.ndarray = field(init=False)
    struct_fp: np.ndarray = field(init=False)
    comp_fp: np.ndarray = field(init=False)
    in_property_sample: np.ndarray = field(init=False)
    prop_pred: np.ndarray = field(init=False)
    unique: np.ndarray = field(init=False)
    novel: np.ndarray = field(init=False)
    e_above_hull: np.ndarray = field(init=False)
    stable: np.ndarray = field(init=False)
    ref_struct_fp: np.ndarray = field(init=False)
    ref_comp_fp: np.ndarray = field(init=False)
    ref_prop_pred: np.ndarray = field(init=False)
    scaler_mean: np.ndarray | None = None
    scaler_std: np.ndarray | None = None
    recon_valid: list[bool] | None = None
    recon_rms: np.ndarray | None = None
    property_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    match_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    match_stats: dict[str, dict[str, int]] = field(default_factory=lambda: {"unique": {}, "novel": {}})
    n_fingerprinted: int = 0
    stability_note: str | None = None

    def __post_init__(self) -> None:
        n, n_ref, n_s = len(self.generated), len(self.reference), len(CRYSTALNN_LABELS)
        self.valid_struct = np.zeros(n, dtype=bool)
        self.valid_comp = np.zeros(n, dtype=bool)
        self.valid = np.zeros(n, dtype=bool)
        self.struct_fp = _nan(n, n_s)
        self.comp_fp = _nan(n, COMPOSITION_WIDTH)
        self.in_property_sample = np.zeros(n, dtype=bool)
        self.prop_pred = _nan(n)
        self.unique = _nan(n)
        self.novel = _nan(n)
        self.e_above_hull = _nan(n)
        self.stable = _nan(n)
        self.ref_struct_fp = _nan(n_ref, n_s)
        self.ref_comp_fp = _nan(n_ref, COMPOSITION_WIDTH)
        self.ref_prop_pred = _nan(n_ref)

    @property
    def n(self) -> int:
        return len(self.generated)

    @property
    def ok_idx(self) -> list[int]:
        """Positions of the generated crystals that are not failed generations."""
        return [i for i, s in enumerate(self.generated) if s is not None]

    def frame(self) -> pd.DataFrame:
        """The predictions frame: rows of kind ``generated``, ``reference``, ``scaler_mean``,
        ``scaler_std`` and (when the model reconstructs) ``reconstruction``."""
        rows = [self._generated_row(i, s) for i, s in enumerate(self.generated)]
        for j, s in enumerate(self.reference):
            rows.append({
                "kind": "reference", "id": str(self.ref_ids[j]), "formula": s.composition.reduced_formula,
                "n_atoms": len(s), "density": density(s), "n_elements": float(n_elements(s)),
                "prop_pred": float(self.ref_prop_pred[j]), "struct_fp": self.ref_struct_fp[j].tolist(),
                "comp_fp": self.ref_comp_fp[j].tolist(),
                "valid": True, "valid_struct": True, "valid_comp": True, "in_property_sample": False,
            })
        rows.append({"kind": "scaler_mean", "id": "scaler_mean", "comp_fp": np.asarray(self.scaler_mean).tolist()})
        rows.append({"kind": "scaler_std", "id": "scaler_std", "comp_fp": np.asarray(self.scaler_std).tolist()})
        if self.recon is not None:
            for j, s in enumerate(self.recon):
                ok = s is not None
                rows.append({
                    "kind": "reconstruction", "id": str(self.ref_ids[j]),
                    "formula": s.composition.reduced_formula if ok else "",
                    "n_atoms": len(s) if ok else 0,
                    "lattice": np.asarray(s.lattice.matrix).ravel().tolist() if ok else [],
                    "species": [str(sp) for sp in s.species] if ok else [],
                    "frac_coords": np.asarray(s.frac_coords).ravel().tolist() if ok else [],
                    "valid": bool(self.recon_valid[j]), "rms_dist": float(self.recon_rms[j]),
                })
        df = pd.DataFrame(rows)
        for col in ("valid", "valid_struct", "valid_comp", "in_property_sample"):
            df[col] = [bool(v) if isinstance(v, (bool, np.bool_)) else False for v in df[col]]
        for col in ("lattice", "species", "frac_coords", "struct_fp", "comp_fp"):
            df[col] = [v if isinstance(v, list) else [] for v in df[col]]
        for col in ("n_atoms",):
            df[col] = df[col].fillna(0).astype(int)
        df["formula"] = df["formula"].fillna("").astype(str)
        return df

    def _generated_row(self, i: int, s: Any) -> dict[str, Any]:
        ok = s is not None
        nan = float("nan")
        return {
            "kind": "generated",
            "id": f"gen-{i}",
            "formula": s.composition.reduced_formula if ok else "",
            "n_atoms": len(s) if ok else 0,
            "lattice": np.asarray(s.lattice.matrix).ravel().tolist() if ok else [],
            "species": [str(sp) for sp in s.species] if ok else [],
            "frac_coords": np.asarray(s.frac_coords).ravel().tolist() if ok else [],
            "valid_struct": bool(self.valid_struct[i]),
            "valid_comp": bool(self.valid_comp[i]),
            "valid": bool(self.valid[i]),
            "density": density(s) if ok else nan,
            "n_elements": float(n_elements(s)) if ok else nan,
            "in_property_sample": bool(self.in_property_sample[i]),
            "prop_pred": float(self.prop_pred[i]),
            "unique": float(self.unique[i]),
            "novel": float(self.novel[i]),
            "e_above_hull": float(self.e_above_hull[i]),
            "stable": float(self.stable[i]),
            "struct_fp": self.struct_fp[i].tolist(),
            "comp_fp": self.comp_fp[i].tolist(),
            "rms_dist": nan,
        }


def structures_from_predictions(predictions: pd.DataFrame, kind: str = "generated") -> list:
    """Rebuild the generated (or reconstructed) crystals stored in a predictions frame."""
    from pymatgen.core import Lattice, Structure

    out = []
    for _, row in predictions[predictions["kind"] == kind].iterrows():
        if len(row["species"]) == 0:
            out.append(None)
            continue
        out.append(Structure(Lattice(np.asarray(row["lattice"], float).reshape(3, 3)), list(row["species"]),
                             np.asarray(row["frac_coords"], float).reshape(-1, 3)))
    return out
