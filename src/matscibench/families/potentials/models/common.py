"""What the potentials family's models share: Voigt order, neighbour lists, training labels, and
the install hint of an optional package.

Stress is in ASE's convention and Voigt order (xx yy zz yz xz xy, eV/Å³). Training frames carry
their labels the ASE way: ``atoms.info["energy"]`` (eV), ``atoms.arrays["forces"]`` (eV/Å) and, on
periodic frames, ``atoms.info["stress"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ase.calculators.calculator import Calculator
from sklearn.base import BaseEstimator

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols

__all__ = ["VOIGT", "voigt", "torch_pin", "missing_package", "neighbour_pairs", "frame_labels", "element_index"]

#: (row, column) of the six Voigt components, in ASE's order xx yy zz yz xz xy
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def torch_pin() -> str:
    """``torch==<installed version>`` for pip commands that must not replace the installed torch."""
    try:
        from importlib.metadata import version

        v = version("torch")
    except Exception:  # noqa: BLE001 - torch absent: nothing to pin
        return ""
    return f" torch=={v.split('+')[0]}"


def missing_package(package: str, pip_name: str, what: str) -> ImportError:
    pin = torch_pin()
    return ImportError(
        f"{what} needs the Python package '{package}', which is not installed. Install it with: "
        f"pip install {pip_name}{pin}" + (" (the torch pin keeps pip from replacing the installed torch "
                                          "with another build)" if pin else "")
    )


def voigt(m: np.ndarray) -> np.ndarray:
    """The six Voigt components (xx yy zz yz xz xy) of a 3x3 tensor."""
    return np.array([m[a, b] for a, b in VOIGT], dtype=float)


def neighbour_pairs(atoms: Atoms, cutoff: float, nl: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full neighbour list (i, j, S) within ``cutoff`` Å: r_ij = x_j + S·cell - x_i (vesin).

    Molecules (``pbc`` all False) need no cell; mixed boundary conditions are passed through.
    """
    import vesin

    if nl is None:
        nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    pos = np.ascontiguousarray(atoms.positions, dtype=np.float64)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if pbc.any():
        box = np.ascontiguousarray(atoms.cell.array, dtype=np.float64)
        periodic: Any = True if pbc.all() else pbc.tolist()
    else:
        box = np.zeros((3, 3))
        periodic = False
    i, j, S = nl.compute(points=pos, box=box, periodic=periodic, quantities="ijS")
    return np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64), np.asarray(S, dtype=np.int64)


def frame_labels(fr: Atoms) -> tuple[float, np.ndarray, np.ndarray | None]:
    """(energy eV, forces eV/Å, stress Voigt eV/Å³ or None) of a training frame."""
    if "energy" not in fr.info:
        raise ValueError(
            f"training frame {fr.get_chemical_formula()} has no atoms.info['energy'] (eV); potentials are fitted "
            "on frames labelled with info['energy'] and arrays['forces']"
        )
    if "forces" not in fr.arrays:
        raise ValueError(f"training frame {fr.get_chemical_formula()} has no atoms.arrays['forces'] (eV/Å)")
    e = float(fr.info["energy"])
    f = np.asarray(fr.arrays["forces"], dtype=float).reshape(len(fr), 3)
    s = fr.info.get("stress")
    if s is not None and fr.pbc.all():
        s = np.asarray(s, dtype=float)
        s = voigt(s) if s.shape == (3, 3) else s.reshape(6)
        if not np.isfinite(s).all():
            s = None
    else:
        s = None
    return e, f, s


def element_index(numbers: np.ndarray, elements: Sequence[str], model: str) -> np.ndarray:
    lut = np.full(119, -1, dtype=np.int64)
    for k, el in enumerate(elements):
        lut[atomic_numbers[el]] = k
    idx = lut[numbers]
    if (idx < 0).any():
        unknown = sorted({chemical_symbols[z] for z in numbers[idx < 0]})
        raise ValueError(
            f"{model} was fitted on {', '.join(elements)} and has no parameters for {', '.join(unknown)}; "
            "fit it on frames that contain these elements"
        )
    return idx


class TrainablePotential(Calculator, BaseEstimator):
    """Base of the trainable potentials: an ASE calculator with scikit-learn's parameters, holding
    a vesin neighbour list (``self._nl``) that is rebuilt on demand: not pickled, and forgotten
    with the last results when a parameter changes."""

    _nl: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_nl"] = None
        return state

    def set_params(self, **params: Any) -> TrainablePotential:
        """scikit-learn's ``set_params``, then forget the neighbour list and the last results."""
        super().set_params(**params)
        self._nl = None
        self.reset()
        return self
