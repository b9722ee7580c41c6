"""Convert between pymatgen objects and compact columnar arrays (for Parquet caches).

A crystal is stored as its 3x3 lattice (Å, rows are vectors), atomic numbers and fractional
coordinates; rebuilding 10,000 small structures takes a fraction of a second, which is what makes
a cached dataset load fast inside every job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = [
    "as_structure",
    "as_structures",
    "structures_to_arrow",
    "structures_from_arrow",
    "molecules_to_arrow",
    "molecules_from_arrow",
    "n_atoms_of",
    "composition_of",
]


def as_structure(obj: Any):
    """Return a pymatgen ``Structure`` (or ``Molecule``) for a pymatgen object or ASE ``Atoms``.

    ASE ``Atoms`` with a periodic cell become a ``Structure``; without one, a ``Molecule``.
    """
    from pymatgen.core import IMolecule, IStructure

    if isinstance(obj, (IStructure, IMolecule)):
        return obj
    try:
        from ase import Atoms
    except ImportError:  # pragma: no cover - ase is a dependency
        Atoms = ()  # type: ignore[assignment]
    if isinstance(obj, Atoms):
        from pymatgen.io.ase import AseAtomsAdaptor

        if obj.pbc.any():
            return AseAtomsAdaptor.get_structure(obj)
        return AseAtomsAdaptor.get_molecule(obj)
    raise TypeError(f"expected a pymatgen Structure/Molecule or an ASE Atoms, got {type(obj).__name__}")


def as_structures(objs: Sequence[Any]) -> list:
    """Convert a sequence once (ASE ``Atoms`` -> pymatgen); pymatgen objects pass through."""
    return [as_structure(o) for o in objs]


def composition_of(obj: Any):
    """The pymatgen ``Composition`` of a structure, molecule, composition or formula string."""
    from pymatgen.core import Composition

    if isinstance(obj, Composition):
        return obj
    if isinstance(obj, str):
        return Composition(obj)
    if hasattr(obj, "composition"):
        return obj.composition
    return as_structure(obj).composition


def n_atoms_of(obj: Any) -> float:
    """Number of atoms of a structure; for a composition, atoms in its formula as written."""
    from pymatgen.core import Composition

    if isinstance(obj, Composition):
        return float(obj.num_atoms)
    if isinstance(obj, str):
        return float(Composition(obj).num_atoms)
    return float(len(obj))


def structures_to_arrow(structures: Sequence[Any]) -> dict[str, pa.Array]:
    """Encode ordered crystals as three Arrow columns: lattice, numbers, frac_coords."""
    lattices, numbers, coords = [], [], []
    for s in structures:
        s = as_structure(s)
        if not s.is_ordered:
            raise ValueError(f"{s.composition.reduced_formula}: disordered structures are not supported")
        lattices.append(np.asarray(s.lattice.matrix, dtype=np.float64).ravel())
        numbers.append(np.asarray(s.atomic_numbers, dtype=np.int16))
        coords.append(np.asarray(s.frac_coords, dtype=np.float64).ravel())
    return {
        "lattice": pa.array([x.tolist() for x in lattices], type=pa.list_(pa.float64(), 9)),
        "numbers": pa.array([x.tolist() for x in numbers], type=pa.list_(pa.int16())),
        "frac_coords": pa.array([x.tolist() for x in coords], type=pa.list_(pa.float64())),
    }


def structures_from_arrow(table: pa.Table) -> list:
    """Rebuild pymatgen ``Structure`` objects from the columns written by ``structures_to_arrow``."""
    from pymatgen.core import Element, Lattice, Structure

    lat = table.column("lattice").combine_chunks()
    num = table.column("numbers").combine_chunks()
    frc = table.column("frac_coords").combine_chunks()
    lat_flat = lat.values.to_numpy().reshape(-1, 3, 3)
    num_flat = num.values.to_numpy()
    num_off = num.offsets.to_numpy()
    frc_flat = frc.values.to_numpy()
    frc_off = frc.offsets.to_numpy()
    elements = {}
    out = []
    for i in range(len(table)):
        zs = num_flat[num_off[i] : num_off[i + 1]]
        species = []
        for z in zs:
            el = elements.get(z)
            if el is None:
                el = elements[z] = Element.from_Z(int(z))
            species.append(el)
        fc = frc_flat[frc_off[i] : frc_off[i + 1]].reshape(-1, 3)
        out.append(Structure(Lattice(lat_flat[i]), species, fc))
    return out


def molecules_to_arrow(molecules: Sequence[Any]) -> dict[str, pa.Array]:
    """Encode molecules (pymatgen ``Molecule`` or non-periodic ASE ``Atoms``) as three Arrow
    columns: numbers, Cartesian positions (Å, flattened) and total charge."""
    numbers, positions, charges = [], [], []
    for m in molecules:
        m = as_structure(m)
        if hasattr(m, "lattice"):
            raise ValueError(f"{m.composition.reduced_formula}: a periodic structure is not a molecule")
        numbers.append([int(z) for z in m.atomic_numbers])
        positions.append(np.asarray(m.cart_coords, dtype=np.float64).ravel().tolist())
        charges.append(int(round(float(m.charge))))
    return {
        "numbers": pa.array(numbers, type=pa.list_(pa.int16())),
        "positions": pa.array(positions, type=pa.list_(pa.float64())),
        "charge": pa.array(charges, type=pa.int16()),
    }


def molecules_from_arrow(table: pa.Table) -> list:
    """Rebuild pymatgen ``Molecule`` objects from the columns written by ``molecules_to_arrow``."""
    from pymatgen.core import Element, Molecule

    num = table.column("numbers").combine_chunks()
    pos = table.column("positions").combine_chunks()
    num_flat = num.values.to_numpy()
    num_off = num.offsets.to_numpy()
    pos_flat = pos.values.to_numpy()
    pos_off = pos.offsets.to_numpy()
    charges = table.column("charge").to_numpy() if "charge" in table.column_names else np.zeros(len(table))
    elements: dict[int, Any] = {}
    out = []
    for i in range(len(table)):
        species = []
        for z in num_flat[num_off[i] : num_off[i + 1]]:
            el = elements.get(z)
            if el is None:
                el = elements[z] = Element.from_Z(int(z))
            species.append(el)
        xyz = pos_flat[pos_off[i] : pos_off[i + 1]].reshape(-1, 3)
        out.append(Molecule(species, xyz, charge=float(charges[i])))
    return out
