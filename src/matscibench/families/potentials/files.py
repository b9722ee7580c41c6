"""Frames datasets from files: extended XYZ (any user dataset, BOTNet) and MD17/rMD17 ``.npz``.

Real, through checked files: ``botnet_ethanol`` (rMD17 ethanol configurations with PBE labels),
``botnet_acac`` (acetylacetone at 300 and 600 K) and ``botnet_3bpa`` from the BOTNet datasets
(Batatia et al., arXiv:2205.06643), read with the extended-XYZ reader that also serves any user
dataset (``read_extxyz``, ``ExtxyzSpec``; stresses converted to ASE's convention by
``stress_to_ase``); rMD17 (Christensen & von Lilienfeld 2020) and MD17 (Chmiela et al. 2017)
``.npz`` files through ``NpzMd17Spec``. The registry entries are in ``data.register_datasets``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from matscibench.data.base import ProgressFn
from matscibench.data.cache import fetch_file, find_local
from matscibench.errors import DatasetError, DatasetNotAvailable
from matscibench.families.potentials.data import KCAL_PER_MOL_IN_EV, CachedFramesSpec, to_voigt

__all__ = [
    "FramesFile",
    "STRESS_CONVENTIONS",
    "stress_to_ase",
    "read_extxyz",
    "ExtxyzSpec",
    "NpzMd17Spec",
    "BOTNET_ETHANOL",
    "BOTNET_ACAC",
    "BOTNET_3BPA_TRAIN",
    "BOTNET_3BPA_TEST",
    "BOTNET_CITATION",
]


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
    v = to_voigt(np.asarray(stress, dtype=float))
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
        self.sources = ("BOTNet datasets",) if any(f.relpath.startswith("botnet_datasets/") for f in files) else ()

    def cache_key(self) -> str:
        ident = "|".join(f"{f.relpath}:{f.sha256}:{f.group}:{f.forces_optional}" for f in self.files)
        return "x2-" + hashlib.sha256(f"{ident}|{self.keys}|{self.stress_convention}".encode()).hexdigest()[:12]

    def _source_status(self) -> str:
        return "local" if all(find_local(f.relpath) for f in self.files) else "download"

    def _frames(self, progress: ProgressFn | None):
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
        self.sources = ("rMD17",) if file.relpath.startswith("rmd17") else ("MD17",)
        self.name = name
        self.file = file
        self.molecule = molecule
        self.max_frames = max_frames
        self.description = f"{molecule} from {file.relpath}"

    def cache_key(self) -> str:
        return f"n1-{(self.file.sha256 or 'x')[:12]}-{self.max_frames}"

    def _source_status(self) -> str:
        return "local" if find_local(self.file.relpath) else "download"

    def _frames(self, progress: ProgressFn | None):
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
BOTNET_CITATION = "Batatia et al., The Design Space of E(3)-Equivariant Atom-Centered Interatomic Potentials, arXiv:2205.06643"


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
