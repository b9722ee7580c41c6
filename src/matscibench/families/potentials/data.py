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

Real, through checked files: ``botnet_ethanol`` (rMD17 ethanol configurations with PBE labels)
and ``botnet_acac`` (acetylacetone at 300 and 600 K) from the BOTNet datasets (Batatia et al.,
arXiv:2205.06643), read with the extended-XYZ reader that also serves any user dataset
(``ExtxyzSpec``); rMD17 (Christensen & von Lilienfeld 2020) and MD17 (Chmiela et al. 2017)
``.npz`` files through ``NpzMd17Spec``.

The cache holds frames as arrays in one ``.npz`` (numbers, positions, cells, pbc, energies,
forces, stresses, group and system labels): a few ms to load a thousand frames.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matscibench.data.base import DatasetSpec, ProgressFn
from matscibench.data.cache import fetch_file, file_lock, find_local, read_npz_cache, write_npz_cache
from matscibench.errors import DatasetError, DatasetNotAvailable
from matscibench.paths import cache_dir

__all__ = [
    "AtomsDataset",
    "frames_to_arrays",
    "arrays_to_frames",
    "CachedFramesSpec",
    "EmtMetalsSpec",
    "XtbMd17Spec",
    "ExtxyzSpec",
    "NpzMd17Spec",
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
            stresses[k] = _voigt(st)
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


def _voigt(st: np.ndarray) -> np.ndarray:
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


def _content_hash(arr: dict[str, np.ndarray], salt: str) -> str:
    h = hashlib.sha256(salt.encode())
    for key in sorted(arr):
        v = arr[key]
        h.update(key.encode())
        if v.dtype.kind == "f":
            h.update(np.round(np.nan_to_num(v, nan=1e300), 8).tobytes())
        elif v.dtype.kind in "US":
            h.update("|".join(map(str, v.tolist())).encode())
        else:
            h.update(np.ascontiguousarray(v).tobytes())
    return h.hexdigest()


class CachedFramesSpec(DatasetSpec):
    """A frames dataset cached as ``<cache>/datasets/<name>/<key>.npz``."""

    input_type = "atoms"
    reference = "unknown"
    targets = {"energy": "eV", "forces": "eV/Å", "stress": "eV/Å³"}

    def cache_key(self) -> str:
        return "v1"

    def cache_path(self) -> Path:
        return cache_dir() / "datasets" / self.name / f"{self.cache_key()}.npz"

    def _build(self, progress: ProgressFn | None) -> tuple[list, str]:
        """Return (frames, source); the checksum is computed from the content."""
        raise NotImplementedError

    def _source_status(self) -> str:
        return "generate"

    def status(self) -> str:
        return "cached" if self.cache_path().is_file() else self._source_status()

    def prepare(self, progress: ProgressFn | None = None) -> None:
        path = self.cache_path()
        if path.is_file():
            return
        with file_lock(path):
            if path.is_file():
                return
            frames, source = self._build(progress)
            if not frames:
                raise DatasetError(f"dataset {self.name}: no frames were produced from {source}")
            arr = frames_to_arrays(frames)
            meta = {"checksum": _content_hash(arr, self.name), "source": source, "reference": self.reference}
            write_npz_cache(path, arr, meta)

    def _read(self) -> tuple[dict[str, np.ndarray], dict]:
        path = self.cache_path()
        if not path.is_file():
            self.prepare()
        return read_npz_cache(path)

    def checksum(self) -> str:
        return self._read()[1]["checksum"]

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

    from matscibench.data.emt import _FastEMT

    elements, fracs = EMT_SYSTEMS[name]
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    from ase.data import atomic_numbers, reference_states

    def a_fcc(el: str) -> float:
        return float(reference_states[atomic_numbers[el]]["a"])

    a0 = float(np.dot(fracs, [a_fcc(e) for e in elements]))
    cell = bulk(elements[0], "fcc", a=a0, cubic=True).repeat((2, 2, 2))  # 32 atoms
    symbols = rng.choice(elements, size=len(cell), p=fracs) if len(elements) > 1 else [elements[0]] * len(cell)
    cell.set_chemical_symbols(list(symbols))
    cell.calc = _FastEMT()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        BFGS(UnitCellFilter(cell), logfile=None).run(fmax=0.01, steps=200)
    eq = cell.copy()

    def label(atoms, group: str, stress: bool = True):
        atoms.calc = _FastEMT()
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
        atoms.calc = _FastEMT()
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

    def _build(self, progress: ProgressFn | None):
        from concurrent.futures import ProcessPoolExecutor

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
            with ProcessPoolExecutor(max_workers=workers) as pool:
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

    def _build(self, progress: ProgressFn | None):
        if progress:
            progress(f"xTB MD of {self.molecule}", 0, None)
        frames = xtb_md_frames(self.molecule, self.n_frames, (500.0,), self.sample_every, seed=self.seed)
        if self.hot_frames:
            frames += xtb_md_frames(self.molecule, self.hot_frames, (800.0,), self.sample_every, seed=self.seed + 1)
        if progress:
            progress(f"xTB MD of {self.molecule}", 1, 1)
        return frames, f"generated by matscibench (GFN2-xTB MD17 v{XTB_GENERATOR_VERSION}, seed {self.seed})"


# ------------------------------------------------------------------------------ real files
@dataclass(frozen=True)
class FramesFile:
    """One file of a frames dataset: where it lives locally, its sha256, its URL, its group."""

    relpath: str
    sha256: str | None
    url: str | None
    group: str
    #: energy-only frames allowed (test sets without force labels: dihedral scans, reaction paths)
    forces_optional: bool = False
    #: where to get the file when it is absent (added to the error)
    hint: str = ""


#: stress conventions a frames file may declare (``stress_convention``): ASE's (eV/Å³, positive =
#: tensile, Voigt xx yy zz yz xz xy) or VASP's (kBar, positive = compressive, i.e. σ_VASP = −σ_ASE)
STRESS_CONVENTIONS = ("ase", "vasp_kbar")


def stress_to_ase(stress: Any, convention: str) -> np.ndarray:
    """A stress label in ASE's convention: Voigt (xx yy zz yz xz xy), eV/Å³, positive = tensile.

    ``convention``: ``"ase"`` (already so; 3×3 or Voigt) or ``"vasp_kbar"`` (kBar with VASP's sign,
    3×3 or Voigt in the same order): σ_ASE = −0.1 GPa/kBar × σ_VASP, as ASE's own VASP reader converts
    (ase.io.vasp_parsers.vasp_outcar_parsers.convert_vasp_outcar_stress: ``-stress * 1e-1 * GPa``).
    """
    from ase.units import GPa

    if convention not in STRESS_CONVENTIONS:
        raise ValueError(f"unknown stress convention {convention!r}; known: {', '.join(STRESS_CONVENTIONS)}")
    v = _voigt(np.asarray(stress, dtype=float))
    return v if convention == "ase" else -0.1 * GPa * v


def read_extxyz(path: str | os.PathLike, *, energy_key: str = "energy", forces_key: str = "forces",
                stress_key: str = "stress", group: str = "", system: str = "",
                stress_convention: str | None = None, forces_optional: bool = False) -> list:
    """Read labelled frames from an extended-XYZ file (any user dataset).

    Labels may be in ``info``/``arrays`` under the given keys or on the single-point calculator
    ASE attaches when reading; a frame without an energy (or without forces, unless
    ``forces_optional``: energy-only test sets such as dihedral scans) is an error naming the file
    and frame. A periodic frame's stress must come with its convention, ``stress_convention``
    (``"ase"`` or ``"vasp_kbar"``, see ``stress_to_ase``) or a ``stress_convention=...`` key on the
    frame's comment line; it is converted to ASE's (eV/Å³, positive = tensile) on load, and a file
    that does not say is refused.
    """
    from ase.io import read

    try:
        raw = read(str(path), index=":", format="extxyz")
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable extended-XYZ file: {exc}") from exc
    frames = []
    for k, at in enumerate(raw):
        res = dict(getattr(at.calc, "results", {}) or {})
        e = at.info.get(energy_key, res.get("energy" if energy_key == "energy" else energy_key))
        f = at.arrays.get(forces_key, res.get("forces" if forces_key == "forces" else forces_key))
        s = at.info.get(stress_key, res.get("stress"))
        if e is None or (f is None and not forces_optional):
            missing = "energy" if e is None else "forces"
            raise DatasetError(f"{path}: frame {k} has no {missing} (looked for info/arrays key {energy_key!r}/{forces_key!r})")
        out = at.copy()
        out.calc = None
        out.info = {"energy": float(e), "group": str(at.info.get("config_type", group)) if not group else group,
                    "system": system or at.get_chemical_formula()}
        if f is not None:
            out.arrays["forces"] = np.asarray(f, dtype=float)
        elif "forces" in out.arrays:
            del out.arrays["forces"]
        if s is not None and at.pbc.any():
            conv = at.info.get("stress_convention", stress_convention)
            if conv is None:
                raise DatasetError(
                    f"{path}: frame {k} has a stress but the file does not say its convention. Declare it: "
                    "stress_convention='ase' (eV/Å³, positive = tensile) or 'vasp_kbar' (kBar, positive = "
                    "compressive), as the read_extxyz/ExtxyzSpec argument or as stress_convention=... on each "
                    "frame's comment line")
            if str(conv) not in STRESS_CONVENTIONS:
                raise DatasetError(f"{path}: frame {k} declares stress_convention={conv!r}; known: "
                                   f"{', '.join(STRESS_CONVENTIONS)}")
            out.info["stress"] = stress_to_ase(np.asarray(s), str(conv))
        frames.append(out)
    return frames


class ExtxyzSpec(CachedFramesSpec):
    """A frames dataset from one or more extended-XYZ files (local, checked, or downloaded)."""

    def __init__(self, name: str, files: Sequence[FramesFile], *, reference: str = "dft", description: str = "",
                 citation: str = "", license: str = "", system: str = "", energy_key: str = "energy",
                 forces_key: str = "forces", stress_key: str = "stress", stress_convention: str | None = None) -> None:
        if stress_convention is not None and stress_convention not in STRESS_CONVENTIONS:
            raise ValueError(f"stress_convention must be one of {STRESS_CONVENTIONS}, got {stress_convention!r}")
        self.stress_convention = stress_convention
        self.name = name
        self.files = tuple(files)
        self.reference = reference
        self.description = description or f"extended-XYZ frames: {', '.join(f.relpath for f in files)}"
        self.citation = citation
        self.license = license
        self.system = system
        self.keys = (energy_key, forces_key, stress_key)

    def cache_key(self) -> str:
        ident = "|".join(f"{f.relpath}:{f.sha256}:{f.group}:{f.forces_optional}" for f in self.files)
        return "x2-" + hashlib.sha256(f"{ident}|{self.keys}|{self.stress_convention}".encode()).hexdigest()[:12]

    def _source_status(self) -> str:
        return "local" if all(find_local(f.relpath) for f in self.files) else "download"

    def _build(self, progress: ProgressFn | None):
        frames, sources = [], []
        for f in self.files:
            try:
                path = fetch_file(f.relpath, f.sha256, f.url)
            except DatasetNotAvailable as exc:
                raise DatasetNotAvailable(f"{exc} {f.hint}".strip()) from exc
            sources.append(str(path))
            frames += read_extxyz(path, energy_key=self.keys[0], forces_key=self.keys[1], stress_key=self.keys[2],
                                  group=f.group, system=self.system, stress_convention=self.stress_convention,
                                  forces_optional=f.forces_optional)
        return frames, " + ".join(sources)


class NpzMd17Spec(CachedFramesSpec):
    """MD17 / rMD17 ``.npz`` files (energies in kcal/mol, forces in kcal/mol/Å, converted to eV).

    rMD17 keys: ``nuclear_charges``, ``coords``, ``energies``, ``forces`` (Christensen & von
    Lilienfeld, Mach. Learn.: Sci. Technol. 1, 045018 (2020)); MD17 keys: ``z``, ``R``, ``E``,
    ``F`` (Chmiela et al. 2017). ``max_frames`` takes evenly spaced frames.
    """

    reference = "dft"

    def __init__(self, name: str, file: FramesFile, molecule: str, max_frames: int | None = None) -> None:
        self.name = name
        self.file = file
        self.molecule = molecule
        self.max_frames = max_frames
        self.description = f"{molecule} from {file.relpath}"

    def cache_key(self) -> str:
        return f"n1-{(self.file.sha256 or 'x')[:12]}-{self.max_frames}"

    def _source_status(self) -> str:
        return "local" if find_local(self.file.relpath) else "download"

    def _build(self, progress: ProgressFn | None):
        from ase import Atoms

        path = fetch_file(self.file.relpath, self.file.sha256, self.file.url)
        try:
            with np.load(path) as z:
                if "nuclear_charges" in z:
                    zs, R, E, F = z["nuclear_charges"], z["coords"], z["energies"], z["forces"]
                else:
                    zs, R, E, F = z["z"], z["R"], z["E"], z["F"]
        except Exception as exc:
            raise DatasetError(f"{path}: not an MD17/rMD17 npz file ({exc})") from exc
        idx = np.arange(len(R))
        if self.max_frames and len(idx) > self.max_frames:
            idx = np.linspace(0, len(R) - 1, self.max_frames).round().astype(int)
        frames = []
        for k in idx:
            at = Atoms(numbers=zs, positions=R[k])
            at.info = {"energy": float(np.ravel(E[k])[0]) * KCAL_PER_MOL_IN_EV, "group": self.file.group, "system": self.molecule}
            at.arrays["forces"] = np.asarray(F[k], dtype=float) * KCAL_PER_MOL_IN_EV
            frames.append(at)
        return frames, str(path)


_BOTNET = "https://raw.githubusercontent.com/davkovacs/BOTNet-datasets/29e6d467317e4b5967b7ea5cbee54de953fa0d45/{path}"
_BOTNET_CITE = "Batatia et al., The Design Space of E(3)-Equivariant Atom-Centered Interatomic Potentials, arXiv:2205.06643"


def _botnet(path: str, sha: str | None, group: str, forces_optional: bool = False, hint: str = "") -> FramesFile:
    return FramesFile(f"botnet_datasets/{path}", sha, _BOTNET.format(path=path) if sha else None, group,
                      forces_optional, hint)


#: where the 3BPA test sets come from (they are not in the BOTNet-datasets repository)
BPA_TEST_HINT = (
    "The 3BPA test sets (test_300K.xyz, test_600K.xyz, test_1200K.xyz, test_dih_beta.xyz; see "
    "botnet_datasets/dataset_3BPA/README.md) are not in the BOTNet-datasets repository: they were published "
    "with Kovács et al., J. Chem. Theory Comput. 17, 7696 (2021), doi:10.1021/acs.jctc.1c00647 (supporting "
    "information; also distributed with the MACE tutorials). Put them in botnet_datasets/dataset_3BPA/ under "
    "$MATSCIBENCH_DATA.")

#: BOTNet/MACE protocols: group -> file (sha256 of davkovacs/BOTNet-datasets@29e6d46)
BOTNET_ETHANOL = [
    _botnet("dataset_ethanol/train.xyz", "a26a16d8910581fa321fedc3bd3dfe31f2460e8cbfdc7a8f65243f4fd7250dd0", "train"),
    _botnet("dataset_ethanol/test_MD.xyz", "b8726933d5b9083989d8e3cc7013c18e0950cf0cbc6f6cd570fdb9759001031c", "test_md"),
    _botnet("dataset_ethanol/test_H_removal.xyz", "8d9f13272eb1c7570edaf6afc31e6f8670df38c41b82611504878576708b1a1c",
            "test_h_removal", forces_optional=True),
]
BOTNET_ACAC = [
    _botnet("dataset_acac/train_300K.xyz", "8f5706d6902360555a5be59395612d2afc3489a75688388a58e7275fdad68af3", "train_300K"),
    _botnet("dataset_acac/train_600K.xyz", "180c2538508f7810a623c279426f44953ee7cfb2af77e48ea3986ff97645a71c", "train_600K"),
    _botnet("dataset_acac/test_MD_300K.xyz", "2291f3186a3cc6a5e05e92952c84a9237ca53f862d78fd3316a769360719ec43", "test_md_300K"),
    _botnet("dataset_acac/test_MD_600K.xyz", "d5a5bba154ec43f915eb7529f86ec3af60e6f911743859daba030181a0378ff7", "test_md_600K"),
    _botnet("dataset_acac/test_dihedral.xyz", "0c2246a593579de5a4450698d5f4ba5802b095824b7f211aa5889339967c6809",
            "test_dihedral", forces_optional=True),
    _botnet("dataset_acac/test_H_transfer.xyz", "ea4d76c79cf4cfccd2f93eaf755172b0b648886c4907eb0f82dff07a77530743",
            "test_h_transfer", forces_optional=True),
]
BOTNET_3BPA_TRAIN = [
    _botnet("dataset_3BPA/train_300K.xyz", "d109971fab90e2231ad931a83eb704c8d940f5c7d7a8de27fe3b84ea18634c0a", "train_300K"),
    _botnet("dataset_3BPA/train_mixedT.xyz", "bc108532964b2ed259eaaabf82e5dfaffa5bda9ac384fc2afabcce192a49250b", "train_mixedT"),
]
BOTNET_3BPA_TEST = [
    _botnet(f"dataset_3BPA/{name}.xyz", None, group, forces_optional=opt, hint=BPA_TEST_HINT)
    for name, group, opt in (("test_300K", "test_300K", False), ("test_600K", "test_600K", False),
                             ("test_1200K", "test_1200K", False), ("test_dih_beta", "test_dihedral", True))
]


def register_datasets(register: Callable[[str, Callable[..., DatasetSpec]], None]) -> None:
    register("emt_metals", EmtMetalsSpec)
    for mol in MD17_MOLECULES:
        register(f"xtb_md17_{mol}", lambda mol=mol, **p: XtbMd17Spec(mol, **p))
    register(
        "botnet_ethanol",
        lambda: ExtxyzSpec(
            "botnet_ethanol", BOTNET_ETHANOL, reference="dft-pbe", system="ethanol",
            description="ethanol: 1,000 rMD17 training configurations, 1,000 MD test configurations and the O-H "
                        "bond-breaking path (H removal, energies only), PBE/def2-SVP labels (BOTNet)",
            citation=_BOTNET_CITE, license="MIT",
        ),
    )
    register(
        "botnet_acac",
        lambda: ExtxyzSpec(
            "botnet_acac", BOTNET_ACAC, reference="dft-pbe-d3", system="acetylacetone",
            description="acetylacetone: train at 300 K (or 600 K), test on MD at 300 K and 600 K, a dihedral scan "
                        "and the H-transfer path (energies only) (BOTNet)",
            citation=_BOTNET_CITE, license="MIT",
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
            citation=_BOTNET_CITE + "; Kovács et al., J. Chem. Theory Comput. 17, 7696 (2021)", license="MIT",
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
