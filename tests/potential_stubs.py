"""Small ASE calculators with known errors, for the potentials task tests."""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from matscibench.sim.emt import FastEMT


class ScaledEMT(Calculator):
    """EMT with energies shifted by ``de`` eV/atom and forces scaled by ``scale``."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, scale: float = 1.1, de: float = 0.002, **kw):
        super().__init__(**kw)
        self.scale = scale
        self.de = de
        self._emt = FastEMT()

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


class EMTRef(FastEMT):
    supported_elements = {"Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt"}


class DFTLookup(Calculator):
    """Returns the DFT label of each relaxed cell of a ``RelaxedCellsTask`` (looked up by its
    positions), zero forces and the task's pressure: a potential that reproduces DFT exactly.

    With the task's ``enthalpy`` on, the energy is N·y - P·V so that the enthalpy is DFT's.
    ``offsets`` (symbol -> eV) adds per-element reference energies that the task must remove.
    """

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, task: str = "dft_relaxed_perov5", n_cells: int = 12, offsets: dict | None = None, **kw):
        super().__init__(**kw)
        from pymatgen.io.ase import AseAtomsAdaptor

        from matscibench.families.potentials.metrics import EV_PER_A3_IN_GPA
        from matscibench.families.registry import get_task

        t = get_task(task, n_cells=n_cells)
        ds = t.spec.load()
        y = ds.targets[t.energy_column].to_numpy(float)
        self.pressure = t.pressure_GPa / EV_PER_A3_IN_GPA  # eV/Å³
        self.enthalpy = t.enthalpy
        self.offsets = dict(offsets or {})
        self.table = {}
        for i in t.cells(ds):
            at = AseAtomsAdaptor.get_atoms(ds.inputs[i])
            self.table[self._key(at)] = float(y[i])

    @staticmethod
    def _key(atoms):
        return (tuple(atoms.numbers), tuple(np.round(atoms.positions, 4).ravel()))

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        e = self.table[self._key(a)] * len(a)
        if self.enthalpy:
            e -= self.pressure * a.get_volume()
        e += sum(self.offsets.get(s, 0.0) for s in a.get_chemical_symbols())
        p = self.pressure
        self.results = {"energy": e, "forces": np.zeros((len(a), 3)), "stress": np.array([-p, -p, -p, 0.0, 0.0, 0.0])}
