"""Stability of generated crystals: relaxation with a potential, energy above the convex hull.

``relax_energies`` relaxes positions and cell with an ASE calculator; ``energies_above_hull``
places the relaxed energies on the convex hull of the training crystals (same potential);
``StabilityCheck`` is what the generation task runs: relax the valid generated crystals, build the
hull of the training set, count those within ``threshold`` eV/atom of it (MatterGen's stability,
with a given potential instead of DFT).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["StabilityCheck", "energies_above_hull", "relax_energies"]


def relax_energies(
    structures: Sequence[Any],
    calculator: Any | Callable[[], Any],
    fmax: float = 0.05,
    steps: int = 200,
) -> tuple[np.ndarray, list[Any]]:
    """Relax positions and cell with ``calculator`` (an ASE calculator, or a factory of one);
    return (energies per atom in eV/atom, NaN where the relaxation failed; relaxed structures).

    ASE's ``UnitCellFilter`` + ``BFGS``; ``fmax`` in eV/Å, at most ``steps`` steps (an unconverged
    relaxation keeps its last energy).
    """
    from ase.filters import UnitCellFilter
    from ase.optimize import BFGS
    from pymatgen.io.ase import AseAtomsAdaptor

    calc = calculator() if callable(calculator) and not hasattr(calculator, "get_potential_energy") else calculator
    energies = np.full(len(structures), np.nan)
    relaxed: list[Any] = []
    for i, s in enumerate(structures):
        try:
            atoms = AseAtomsAdaptor.get_atoms(s)
            atoms.calc = calc
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                BFGS(UnitCellFilter(atoms), logfile=None).run(fmax=fmax, steps=steps)
                e = float(atoms.get_potential_energy()) / len(atoms)
            if math.isfinite(e):
                energies[i] = e
            relaxed.append(AseAtomsAdaptor.get_structure(atoms))
        except Exception:
            relaxed.append(None)
    return energies, relaxed


def energies_above_hull(
    compositions: Sequence[Any],
    energies_per_atom: Sequence[float],
    ref_compositions: Sequence[Any],
    ref_energies_per_atom: Sequence[float],
    elemental_energies: dict[str, float] | None = None,
) -> np.ndarray:
    """Energy above the convex hull (eV/atom) of the reference (training) entries, for each
    (composition, energy per atom); NaN when the energy is NaN or an element has no reference.

    ``elemental_energies`` (element -> eV/atom, computed with the same potential) adds the pure
    elements as terminal entries, for a training set without unary crystals; without them only
    the training set's unary crystals end the hull."""
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    entries = [PDEntry(Composition(el), float(e)) for el, e in (elemental_energies or {}).items()
               if math.isfinite(float(e))]
    for c, e in zip(ref_compositions, ref_energies_per_atom):
        comp = Composition(c)
        if math.isfinite(float(e)):
            entries.append(PDEntry(comp, float(e) * comp.num_atoms))
    out = np.full(len(compositions), np.nan)
    unary = {e.composition.elements[0] for e in entries if len(e.composition.elements) == 1}
    entries = [e for e in entries if set(e.composition.elements) <= unary]
    if not entries:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pd_ = PhaseDiagram(entries)
    for i, (c, e) in enumerate(zip(compositions, energies_per_atom)):
        comp = Composition(c)
        if not math.isfinite(float(e)) or not set(comp.elements) <= unary:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[i] = float(pd_.get_e_above_hull(PDEntry(comp, float(e) * comp.num_atoms), allow_negative=True))
        except Exception:
            continue
    return out


@dataclass
class StabilityCheck:
    """Relax the valid generated crystals with ``potential`` and place them on the convex hull of
    the training crystals: ``run`` gives (energy above the hull per crystal in eV/atom, stable flag
    per crystal, None or the reason why no energy above the hull could be computed).

    ``potential``: ``"emt"`` (ASE's EMT, the fast copy the EMT datasets use), a registered
    potential model or an import path of an ASE calculator. ``hull_reference``: ``"relax"`` (relax
    the training crystals with the potential) or a target column holding their energies per atom
    (eV/atom) computed with that same potential. ``threshold``: eV/atom above the hull counted as
    stable; ``fmax`` (eV/Å), ``steps``: the relaxation.
    """

    potential: str
    hull_reference: str = "relax"
    threshold: float = 0.1
    fmax: float = 0.05
    steps: int = 200

    def calculator(self) -> Any:
        name = self.potential
        if name == "emt":
            from matscibench.sim.emt import FastEMT

            return FastEMT()
        from matscibench.families.registry import build_model

        calc = build_model(name)
        if not hasattr(calc, "get_potential_energy"):
            raise TypeError(f"potential {name!r} is not an ASE calculator")
        return calc

    def elemental_energies(self) -> dict[str, float] | None:
        """Pure-element energies per atom (eV/atom) that end the convex hull besides the training
        set's unary crystals: with ``potential="emt"``, the relaxed EMT references that define the
        EMT alloys' formation energies (a training half often has no unary crystal of some
        element, and without a terminal entry no energy above the hull is defined); otherwise
        none."""
        if self.potential != "emt":
            return None
        from matscibench.sim.emt import chemical_potentials

        return dict(chemical_potentials())

    def run(self, generated: Sequence[Any], valid: np.ndarray, match_idx: np.ndarray, match_ok: Sequence[int],
            train: Sequence[Any], train_targets: Any) -> tuple[np.ndarray, np.ndarray, str | None]:
        """Only the valid crystals of ``match_ok`` (positions into ``generated``) are relaxed; a
        crystal whose relaxation or hull energy fails has NaN and counts as not stable (the
        crystals of ``match_idx`` are flagged 0 or 1); when none has an energy, the flags stay
        NaN so that the task reports no stability at all."""
        n = len(generated)
        e_hull = np.full(n, np.nan)
        stable = np.full(n, np.nan)
        todo = [i for i in match_ok if valid[i]]
        if not todo:
            return e_hull, stable, "not computed: no valid generated crystal to relax"
        try:
            calc = self.calculator()
        except Exception as exc:  # a potential that cannot be built
            return e_hull, stable, f"not computed: potential {self.potential!r} could not be built ({exc!r})"
        e_gen, _ = relax_energies([generated[i] for i in todo], calc, self.fmax, self.steps)
        if not np.isfinite(e_gen).any():
            return e_hull, stable, f"not computed: the relaxation with {self.potential!r} failed for every crystal"
        if self.hull_reference == "relax":
            e_ref, _ = relax_energies(train, calc, self.fmax, self.steps)
        else:
            e_ref = train_targets[self.hull_reference].to_numpy(dtype=float)
        elemental = self.elemental_energies()
        eh = energies_above_hull([generated[i].composition for i in todo], e_gen, [s.composition for s in train],
                                 e_ref, elemental_energies=elemental)
        if not np.isfinite(eh).any():
            return e_hull, stable, self._why_no_hull(generated, todo, train, e_ref, elemental)
        e_hull[todo] = eh
        stable[match_idx] = 0.0
        stable[todo] = (np.nan_to_num(eh, nan=np.inf) <= self.threshold).astype(float)
        n_nan = int(np.count_nonzero(~np.isfinite(eh)))
        note = None if n_nan == 0 else (f"computed; {n_nan} of {len(todo)} valid crystals have no energy above the "
                                        "hull (relaxation failed or an element off the hull) and count as not stable")
        return e_hull, stable, note

    @staticmethod
    def _why_no_hull(generated, todo, train, e_ref, elemental) -> str:
        elements = sorted({el.symbol for i in todo for el in generated[i].composition.elements})
        unary = sorted({s.composition.elements[0].symbol for s, e in zip(train, e_ref)
                        if len(s.composition.elements) == 1 and np.isfinite(e)} | set(elemental or {}))
        missing = [el for el in elements if el not in unary]
        why = (f"no elemental reference (a unary training crystal or an elemental energy) for {', '.join(missing)}"
               if missing else "no training energies on the hull")
        return f"not computed: {why}; the convex hull is undefined"
