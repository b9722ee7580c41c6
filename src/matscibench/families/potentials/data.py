"""Datasets of the interatomic-potentials family: labelled ASE ``Atoms`` frames.

A frame carries its labels the ASE way: ``atoms.info["energy"]`` (eV, total), ``atoms.arrays
["forces"]`` (eV/Å) and, for periodic cells, ``atoms.info["stress"]`` (eV/Å³, Voigt order xx yy
zz yz xz xy, ASE's sign convention: positive = tensile). Each frame also has
``atoms.info["group"]`` (how it was made: ``md_300K``, ``strain``, ``vacancy``, ``surface``, ...)
and ``atoms.info["system"]`` (which material or molecule).

Embedded, generated offline and cached:

- ``emt_metals``: Al, Cu, Ag, Au, Ni, Pd, Pt and alloys from Langevin MD with ASE's EMT at 300,
  600, 900 and 1200 K, strained cells, vacancies and (111) surfaces (32-48 atom cells).
- ``xtb_md17_<molecule>``: the eight MD17 molecules relaxed and run with GFN2-xTB (tblite) through
  ASE Langevin MD at 500 K (0.5 fs steps): an MD17 of our own that needs no download.

Real, through checked files (``families/potentials/files.py``): ``botnet_ethanol`` (rMD17 ethanol
configurations with PBE labels) and ``botnet_acac`` (acetylacetone at 300 and 600 K) from the
BOTNet datasets (Batatia et al., arXiv:2205.06643), read with the extended-XYZ reader that also
serves any user dataset (``ExtxyzSpec``); rMD17 (Christensen & von Lilienfeld 2020) and MD17
(Chmiela et al. 2017) ``.npz`` files through ``NpzMd17Spec``.

The cache holds frames as arrays in one ``.npz`` (numbers, positions, cells, pbc, energies,
forces, stresses, group and system labels): a few ms to load a thousand frames.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matscibench.data.base import DatasetSpec, NpzCachedSpec, ProgressFn
from matscibench.errors import DatasetError
from matscibench.parallel import process_pool

__all__ = [
    "AtomsDataset",
    "frames_to_arrays",
    "arrays_to_frames",
    "CachedFramesSpec",
    "to_voigt",
    "thermalize",
    "EmtMetalsSpec",
    "XtbMd17Spec",
    "MD17_MOLECULES",
    "KCAL_PER_MOL_IN_EV",
    "register_datasets",
]

#: 1 kcal/mol in eV (CODATA 2018: 4.184 kJ/mol / (N_A e) = 0.0433641043 eV)
KCAL_PER_MOL_IN_EV = 0.0433641043

#: SMILES of the MD17 molecules (Chmiela et al., Sci. Adv. 3, e1603015 (2017))
MD17_MOLECULES: dict[str, str] = {
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "benzene": "c1ccccc1",
    "ethanol": "CCO",
    "malonaldehyde": "O=CCC=O",
    "naphthalene": "c1ccc2ccccc2c1",
    "salicylic_acid": "OC(=O)c1ccccc1O",
    "toluene": "Cc1ccccc1",
    "uracil": "O=C1NC=CC(=O)N1",
}


@dataclass
class AtomsDataset:
    """Labelled frames. ``frames[i]`` is an ``Atoms`` with info energy/stress/group/system and
    arrays forces; ``reference`` names the method of the labels (emt, gfn2-xtb, dft-pbe, ...)."""

    name: str
    frames: list
    checksum: str
    source: str
    reference: str
    groups: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    systems: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))

    def __post_init__(self) -> None:
        if not len(self.groups):
            self.groups = np.asarray([f.info.get("group", "") for f in self.frames], dtype=object)
        if not len(self.systems):
            self.systems = np.asarray([f.info.get("system", "") for f in self.frames], dtype=object)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def periodic(self) -> bool:
        return bool(self.frames) and bool(np.asarray(self.frames[0].pbc).any())

    def elements(self) -> set[str]:
        out: set[str] = set()
        for f in self.frames:
            out.update(f.get_chemical_symbols())
        return out


# ------------------------------------------------------------------------- array (de)serialisation
def frames_to_arrays(frames: Sequence[Any]) -> dict[str, np.ndarray]:
    """Pack labelled frames into flat arrays (for a compact, fast ``.npz`` cache)."""
    n_atoms = np.array([len(f) for f in frames], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_atoms)])
    total = int(offsets[-1])
    numbers = np.empty(total, dtype=np.int16)
    positions = np.empty((total, 3))
    forces = np.full((total, 3), np.nan)
    cells = np.empty((len(frames), 3, 3))
    pbc = np.empty((len(frames), 3), dtype=bool)
    energies = np.full(len(frames), np.nan)
    stresses = np.full((len(frames), 6), np.nan)
    groups, systems = [], []
    for k, f in enumerate(frames):
        a, b = offsets[k], offsets[k + 1]
        numbers[a:b] = f.numbers
        positions[a:b] = f.positions
        if "forces" in f.arrays:
            forces[a:b] = f.arrays["forces"]
        cells[k] = np.asarray(f.cell)
        pbc[k] = f.pbc
        if "energy" in f.info:
            energies[k] = float(f.info["energy"])
        if "stress" in f.info and f.info["stress"] is not None:
            st = np.asarray(f.info["stress"], dtype=float)
            stresses[k] = to_voigt(st)
        groups.append(str(f.info.get("group", "")))
        systems.append(str(f.info.get("system", "")))
    return {
        "n_atoms": n_atoms,
        "numbers": numbers,
        "positions": positions,
        "forces": forces,
        "cells": cells,
        "pbc": pbc,
        "energies": energies,
        "stresses": stresses,
        "groups": np.asarray(groups, dtype=str),
        "systems": np.asarray(systems, dtype=str),
    }


def to_voigt(st: np.ndarray) -> np.ndarray:
    """A stress (3x3, or already Voigt) as the six Voigt components xx yy zz yz xz xy."""
    st = np.asarray(st, dtype=float)
    if st.shape == (3, 3):
        return np.array([st[0, 0], st[1, 1], st[2, 2], st[1, 2], st[0, 2], st[0, 1]])
    if st.shape == (6,):
        return st
    raise ValueError(f"stress must be 3x3 or Voigt 6, got shape {st.shape}")


def arrays_to_frames(arr: dict[str, np.ndarray]) -> list:
    from ase import Atoms

    offsets = np.concatenate([[0], np.cumsum(arr["n_atoms"])])
    frames = []
    for k in range(len(arr["n_atoms"])):
        a, b = offsets[k], offsets[k + 1]
        at = Atoms(numbers=arr["numbers"][a:b], positions=arr["positions"][a:b], cell=arr["cells"][k], pbc=arr["pbc"][k])
        f = arr["forces"][a:b]
        if not np.isnan(f).all():
            at.arrays["forces"] = f.copy()
        if not np.isnan(arr["energies"][k]):
            at.info["energy"] = float(arr["energies"][k])
        if not np.isnan(arr["stresses"][k]).all():
            at.info["stress"] = arr["stresses"][k].copy()
        at.info["group"] = str(arr["groups"][k])
        at.info["system"] = str(arr["systems"][k])
        frames.append(at)
    return frames


class CachedFramesSpec(NpzCachedSpec):
    """A frames dataset cached as ``<cache>/datasets/<name>/<key>.npz`` (``NpzCachedSpec``: built
    once under a file lock, the frames packed by ``frames_to_arrays``; checksum ``content_hash``
    of the arrays). Subclasses implement ``_frames(progress) -> (frames, source)``."""

    input_type = "atoms"
    reference = "unknown"
    targets = {"energy": "eV", "forces": "eV/Å", "stress": "eV/Å³"}

    def _frames(self, progress: ProgressFn | None) -> tuple[list, str]:
        """Return (frames, source); the checksum is computed from the content."""
        raise NotImplementedError

    def _build(self, progress: ProgressFn | None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        frames, source = self._frames(progress)
        if not frames:
            raise DatasetError(f"dataset {self.name}: no frames were produced from {source}")
        return frames_to_arrays(frames), {"source": source, "reference": self.reference}

    def load(self) -> AtomsDataset:
        arr, meta = self._read()
        return AtomsDataset(
            name=self.name,
            frames=arrays_to_frames(arr),
            checksum=meta["checksum"],
            source=meta["source"],
            reference=meta.get("reference", self.reference),
            groups=arr["groups"].astype(object),
            systems=arr["systems"].astype(object),
        )


def thermalize(atoms, temperature_K: float, rng) -> None:
    """Maxwell-Boltzmann momenta at ``temperature_K`` (ASE's newer name when it has it)."""
    import ase.md.velocitydistribution as vd

    if hasattr(vd, "thermalize_momenta"):
        vd.thermalize_momenta(atoms, temperature_K, rng=rng)
    else:  # pragma: no cover - older ASE
        vd.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)


# ------------------------------------------------------------------------------ EMT metals
#: systems of the embedded metals set: name -> (elements, fractions) on an fcc parent
EMT_SYSTEMS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "Cu": (("Cu",), (1.0,)),
    "Ag": (("Ag",), (1.0,)),
    "Au": (("Au",), (1.0,)),
    "Ni": (("Ni",), (1.0,)),
    "Pd": (("Pd",), (1.0,)),
    "Pt": (("Pt",), (1.0,)),
    "Al": (("Al",), (1.0,)),
    "CuAu": (("Cu", "Au"), (0.5, 0.5)),
    "CuNi": (("Cu", "Ni"), (0.5, 0.5)),
    "AgPd": (("Ag", "Pd"), (0.5, 0.5)),
    "NiAl": (("Ni", "Al"), (0.5, 0.5)),
    "PtAuCu": (("Pt", "Au", "Cu"), (1 / 3, 1 / 3, 1 / 3)),
}
EMT_GENERATOR_VERSION = 1


def _emt_system_frames(args: tuple) -> list:
    """Frames of one system (runs in a worker process): MD at several T, strain, vacancy, surface."""
    name, seed, temperatures, n_frames, sample_every, equil_steps, timestep_fs = args
    import warnings

    from ase import units
    from ase.build import bulk, fcc111
    from ase.filters import UnitCellFilter
    from ase.md.langevin import Langevin
    from ase.optimize import BFGS

    from matscibench.sim.emt import FastEMT

    elements, fracs = EMT_SYSTEMS[name]
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    from ase.data import atomic_numbers, reference_states

    def a_fcc(el: str) -> float:
        return float(reference_states[atomic_numbers[el]]["a"])

    a0 = float(np.dot(fracs, [a_fcc(e) for e in elements]))
    cell = bulk(elements[0], "fcc", a=a0, cubic=True).repeat((2, 2, 2))  # 32 atoms
    symbols = rng.choice(elements, size=len(cell), p=fracs) if len(elements) > 1 else [elements[0]] * len(cell)
    cell.set_chemical_symbols(list(symbols))
    cell.calc = FastEMT()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        BFGS(UnitCellFilter(cell), logfile=None).run(fmax=0.01, steps=200)
    eq = cell.copy()

    def label(atoms, group: str, stress: bool = True):
        atoms.calc = FastEMT()
        e = atoms.get_potential_energy()
        f = atoms.get_forces()
        out = atoms.copy()
        out.calc = None
        out.info = {"energy": float(e), "group": group, "system": name}
        out.arrays["forces"] = f.copy()
        if stress:
            out.info["stress"] = atoms.get_stress(voigt=True).copy()
        return out

    def md(start, T: float, group: str, stress: bool = True):
        atoms = start.copy()
        atoms.calc = FastEMT()
        thermalize(atoms, T, rng)
        dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=T, friction=0.02 / units.fs, rng=rng, fixcm=False)
        dyn.run(equil_steps)
        frames = []
        for _ in range(n_frames):
            dyn.run(sample_every)
            frames.append(label(atoms, group, stress))
        return frames

    frames = []
    for T in temperatures:
        frames += md(eq, float(T), f"md_{int(T)}K")
    for _ in range(n_frames):  # strained and rattled cells
        s = eq.copy()
        eps = rng.uniform(-0.04, 0.04, size=(3, 3))
        eps = 0.5 * (eps + eps.T)
        s.set_cell(np.asarray(eq.cell) @ (np.eye(3) + eps), scale_atoms=True)
        s.positions += rng.normal(scale=0.05, size=s.positions.shape)
        frames.append(label(s, "strain"))
    vac = eq.copy()
    del vac[int(rng.integers(len(vac)))]
    frames += md(vac, 600.0, "vacancy")
    slab = fcc111(elements[0], size=(3, 3, 4), a=np.asarray(eq.cell).diagonal().mean() / 2, vacuum=6.0, periodic=True)
    if len(elements) > 1:
        slab.set_chemical_symbols(list(rng.choice(elements, size=len(slab), p=fracs)))
    frames += md(slab, 600.0, "surface", stress=False)
    return frames


class EmtMetalsSpec(CachedFramesSpec):
    """EMT frames of fcc metals and alloys: MD at several temperatures, strain, vacancy, surface.

    Groups: ``md_<T>K`` (32-atom cells, Langevin, 2 fs), ``strain`` (±4 % random strains, 0.05 Å
    rattle), ``vacancy`` (31 atoms, 600 K), ``surface`` ((111) slab of 36 atoms, 6 Å vacuum,
    600 K, no stress label). Labels: EMT energy (eV), forces (eV/Å), stress (eV/Å³).
    """

    sources = ("EMT metals (generated here)",)

    reference = "emt"
    citation = "EMT: Jacobsen, Stoltze, Nørskov, Surf. Sci. 366, 394 (1996), ASE's implementation"
    license = "generated locally"

    def __init__(
        self,
        systems: Sequence[str] = ("Cu", "Au", "Ni", "Al", "CuAu", "NiAl", "AgPd"),
        temperatures: Sequence[float] = (300, 600, 900, 1200),
        frames_per_group: int = 20,
        sample_every: int = 10,
        equil_steps: int = 100,
        timestep_fs: float = 2.0,
        seed: int = 0,
        workers: int | None = None,
    ) -> None:
        unknown = [s for s in systems if s not in EMT_SYSTEMS]
        if unknown:
            raise ValueError(f"unknown EMT systems {unknown}; known: {', '.join(EMT_SYSTEMS)}")
        self.systems = tuple(systems)
        self.temperatures = tuple(float(t) for t in temperatures)
        self.frames_per_group = int(frames_per_group)
        self.sample_every = int(sample_every)
        self.equil_steps = int(equil_steps)
        self.timestep_fs = float(timestep_fs)
        self.seed = int(seed)
        self.workers = workers
        self.name = "emt_metals"
        n_groups = len(self.temperatures) + 3
        self.description = (
            f"EMT frames of {len(self.systems)} fcc metals/alloys ({', '.join(self.systems)}): "
            f"MD at {', '.join(f'{t:g}' for t in self.temperatures)} K, strain, vacancy, (111) surface; "
            f"{len(self.systems) * n_groups * self.frames_per_group} frames"
        )

    def cache_key(self) -> str:
        ident = json.dumps([EMT_GENERATOR_VERSION, self.systems, self.temperatures, self.frames_per_group,
                            self.sample_every, self.equil_steps, self.timestep_fs, self.seed])
        return "g%d-%s" % (EMT_GENERATOR_VERSION, hashlib.sha256(ident.encode()).hexdigest()[:12])

    def _frames(self, progress: ProgressFn | None):
        args = [(s, self.seed, self.temperatures, self.frames_per_group, self.sample_every, self.equil_steps,
                 self.timestep_fs) for s in self.systems]
        workers = self.workers or min(len(args), os.cpu_count() or 1)
        out: dict[str, list] = {}
        if progress:
            progress("generate EMT metal frames", 0, len(args))
        if workers <= 1:
            for a in args:
                out[a[0]] = _emt_system_frames(a)
                if progress:
                    progress("generate EMT metal frames", len(out), len(args))
        else:
            # fork-safe workers (matscibench.parallel): a system's arguments are all its worker needs
            with process_pool(workers) as pool:
                for a, frames in zip(args, pool.map(_emt_system_frames, args)):
                    out[a[0]] = frames
                    if progress:
                        progress("generate EMT metal frames", len(out), len(args))
        frames = [f for s in self.systems for f in out[s]]
        return frames, f"generated by matscibench (EMT metals v{EMT_GENERATOR_VERSION}, seed {self.seed})"


# ------------------------------------------------------------------------------ xTB MD17
XTB_GENERATOR_VERSION = 1


def xtb_md_frames(
    molecule: str,
    n_frames: int,
    temperatures: Sequence[float] = (500.0,),
    sample_every: int = 10,
    equil_steps: int = 200,
    timestep_fs: float = 0.5,
    seed: int = 0,
) -> list:
    """GFN2-xTB Langevin MD frames of one MD17 molecule, starting from an RDKit conformer
    relaxed with xTB. ``n_frames`` per temperature; labels: energy (eV), forces (eV/Å)."""
    import warnings

    from ase import Atoms, units
    from ase.md.langevin import Langevin
    from ase.optimize import BFGS
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from tblite.ase import TBLite

    smiles = MD17_MOLECULES[molecule]
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    if AllChem.EmbedMolecule(mol, randomSeed=seed) != 0:
        raise DatasetError(f"RDKit could not embed {molecule} ({smiles})")
    AllChem.MMFFOptimizeMolecule(mol)
    atoms = Atoms([a.GetSymbol() for a in mol.GetAtoms()], positions=mol.GetConformer().GetPositions())

    def calc():
        return TBLite(method="GFN2-xTB", verbosity=0)

    atoms.calc = calc()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        BFGS(atoms, logfile=None).run(fmax=0.02, steps=300)
    rng = np.random.default_rng([seed, sum(map(ord, molecule))])
    frames = []
    for T in temperatures:
        a = atoms.copy()
        a.calc = calc()
        thermalize(a, T, rng)
        dyn = Langevin(a, timestep_fs * units.fs, temperature_K=T, friction=0.01 / units.fs, rng=rng, fixcm=False)
        dyn.run(equil_steps)
        for _ in range(n_frames):
            dyn.run(sample_every)
            f = a.copy()
            f.calc = None
            f.info = {"energy": float(a.get_potential_energy()), "group": f"md_{int(T)}K", "system": molecule}
            f.arrays["forces"] = a.get_forces().copy()
            frames.append(f)
    return frames


class XtbMd17Spec(CachedFramesSpec):
    """One MD17 molecule run with GFN2-xTB (tblite): our own MD17, no download.

    Bannwarth, Ehlert, Grimme, J. Chem. Theory Comput. 15, 1652 (2019) (GFN2-xTB); molecules and
    temperature (500 K) after Chmiela et al., Sci. Adv. 3, e1603015 (2017). A second, hotter
    trajectory (``md_800K``) gives an extrapolation test set.
    """

    sources = ("GFN2-xTB MD17 molecules (generated here)",)

    reference = "gfn2-xtb"
    license = "generated locally"
    citation = "GFN2-xTB via tblite; MD17 molecule set of Chmiela et al. (2017)"

    def __init__(self, molecule: str = "ethanol", n_frames: int = 400, hot_frames: int = 100,
                 sample_every: int = 10, seed: int = 0) -> None:
        if molecule not in MD17_MOLECULES:
            raise ValueError(f"unknown MD17 molecule {molecule!r}; known: {', '.join(MD17_MOLECULES)}")
        self.molecule = molecule
        self.n_frames = int(n_frames)
        self.hot_frames = int(hot_frames)
        self.sample_every = int(sample_every)
        self.seed = int(seed)
        self.name = f"xtb_md17_{molecule}"
        self.description = (
            f"{molecule}: {self.n_frames} GFN2-xTB MD frames at 500 K and {self.hot_frames} at 800 K "
            "(tblite, 0.5 fs Langevin), generated offline"
        )

    def cache_key(self) -> str:
        return f"g{XTB_GENERATOR_VERSION}-n{self.n_frames}-h{self.hot_frames}-e{self.sample_every}-s{self.seed}"

    def _frames(self, progress: ProgressFn | None):
        if progress:
            progress(f"xTB MD of {self.molecule}", 0, None)
        frames = xtb_md_frames(self.molecule, self.n_frames, (500.0,), self.sample_every, seed=self.seed)
        if self.hot_frames:
            frames += xtb_md_frames(self.molecule, self.hot_frames, (800.0,), self.sample_every, seed=self.seed + 1)
        if progress:
            progress(f"xTB MD of {self.molecule}", 1, 1)
        return frames, f"generated by matscibench (GFN2-xTB MD17 v{XTB_GENERATOR_VERSION}, seed {self.seed})"


def register_datasets(register: Callable[[str, Callable[..., DatasetSpec]], None]) -> None:
    from matscibench.families.potentials.files import (
        BOTNET_3BPA_TEST,
        BOTNET_3BPA_TRAIN,
        BOTNET_ACAC,
        BOTNET_CITATION,
        BOTNET_ETHANOL,
        ExtxyzSpec,
        FramesFile,
        NpzMd17Spec,
    )

    register("emt_metals", EmtMetalsSpec)
    for mol in MD17_MOLECULES:
        register(f"xtb_md17_{mol}", lambda mol=mol, **p: XtbMd17Spec(mol, **p))
    register(
        "botnet_ethanol",
        lambda: ExtxyzSpec(
            "botnet_ethanol", BOTNET_ETHANOL, reference="dft-pbe", system="ethanol",
            description="ethanol: 1,000 rMD17 training configurations, 1,000 MD test configurations and the O-H "
                        "bond-breaking path (H removal, energies only), PBE/def2-SVP labels (BOTNet)",
            citation=BOTNET_CITATION, license="MIT",
        ),
    )
    register(
        "botnet_acac",
        lambda: ExtxyzSpec(
            "botnet_acac", BOTNET_ACAC, reference="dft-pbe-d3", system="acetylacetone",
            description="acetylacetone: train at 300 K (or 600 K), test on MD at 300 K and 600 K, a dihedral scan "
                        "and the H-transfer path (energies only) (BOTNet)",
            citation=BOTNET_CITATION, license="MIT",
        ),
    )
    register(
        "botnet_3bpa",
        lambda with_tests=True: ExtxyzSpec(
            "botnet_3bpa" if with_tests else "botnet_3bpa_train",
            BOTNET_3BPA_TRAIN + (BOTNET_3BPA_TEST if with_tests else []), reference="dft-wb97x",
            system="3BPA",
            description="3-(benzyloxy)pyridin-2-amine: train at 300 K or mixed T; test at 300, 600, 1200 K and a "
                        "dihedral scan (test files from Kovács et al. 2021, not in the BOTNet repository)",
            citation=BOTNET_CITATION + "; Kovács et al., J. Chem. Theory Comput. 17, 7696 (2021)", license="MIT",
        ),
    )
    for mol in ("aspirin", "benzene", "ethanol", "malonaldehyde", "naphthalene", "salicylic", "toluene", "uracil"):
        register(
            f"rmd17_{mol}",
            lambda mol=mol, max_frames=None: NpzMd17Spec(
                f"rmd17_{mol}",
                FramesFile(f"rmd17/npz_data/rmd17_{mol}.npz", None,
                           None, "rmd17"),
                mol,
                max_frames,
            ),
        )
