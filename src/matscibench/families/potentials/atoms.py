"""Helpers on ASE atoms and calculators that the potentials task's steps share."""

from __future__ import annotations

from typing import Any

__all__ = ["reference_calculator", "clean_atoms", "supports_stress"]


def reference_calculator(name: str, periodic: bool = True):
    """The calculator that made the labels: ``emt`` or ``gfn2-xtb``."""
    if name == "emt":
        if periodic:
            from matscibench.sim.emt import FastEMT

            return FastEMT()
        from ase.calculators.emt import EMT

        return EMT()
    if name == "gfn2-xtb":
        from tblite.ase import TBLite

        return TBLite(method="GFN2-xTB", verbosity=0)
    raise ValueError(f"no reference calculator named {name!r}")


def clean_atoms(frame):
    """A copy without labels or calculator (what a model is given)."""
    from ase import Atoms

    return Atoms(numbers=frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc)


def supports_stress(model: Any) -> bool:
    """Whether a calculator says it computes stress (one that does not say is asked)."""
    props = getattr(model, "implemented_properties", None)
    return props is None or "stress" in props
