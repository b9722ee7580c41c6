"""Small ASE calculators with known errors, for the potentials task tests."""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from matscibench.data.emt import _FastEMT


class ScaledEMT(Calculator):
    """EMT with energies shifted by ``de`` eV/atom and forces scaled by ``scale``."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, scale: float = 1.1, de: float = 0.002, **kw):
        super().__init__(**kw)
        self.scale = scale
        self.de = de
        self._emt = _FastEMT()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = self._emt
        self.results = {
            "energy": a.get_potential_energy() + self.de * len(a),
            "forces": a.get_forces() * self.scale,
            "stress": a.get_stress(voigt=True),
        }


class NaNForces(ScaledEMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        f = self.results["forces"].copy()
        f[0, 0] = np.nan
        self.results["forces"] = f


class Exploding(ScaledEMT):
    """Forces pull every atom towards atom 0: MD collapses within a few hundred fs."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        pos = self.atoms.positions
        self.results["forces"] = (pos[0] - pos) * 5.0


class EMTRef(_FastEMT):
    supported_elements = {"Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt"}
