"""Datasets of the molecular-property family: QM9, QM7 and an embedded GFN2-xTB set.

Every dataset here is a table of pymatgen ``Molecule`` objects (Cartesian coordinates in Å)
with one column per target. Targets are stored in the units below (energies in eV) and every
unit conversion goes through :func:`convert`, whose factors live in ``UNIT_FACTORS`` (the single
place where Hartree, Bohr, kcal/mol, Debye and calories are turned into one another). The tasks
report errors in the units the papers use (meV for energies, see ``TARGETS``).

Real data, through checked files:

- ``qm9``: Ramakrishnan, Dral, Rupp & von Lilienfeld, "Quantum chemistry structures and
  properties of 134 kilo molecules", Sci. Data 1, 140022 (2014): 133,885 molecules (C, H, O, N,
  F; up to 9 heavy atoms) with B3LYP/6-31G(2df,p) geometries and 15 properties, in the published
  ``dsgdb9nsd.xyz.tar.bz2`` archive on figshare (one XYZ-like file per molecule, described in
  :func:`parse_qm9_xyz`). By default the 3,054 molecules that failed the authors' geometry
  consistency check (``uncharacterized.txt``, same figshare collection) are left out, giving the
  130,831 molecules of SchNet and DimeNet. Besides the published total energies U0, U, H, G the
  dataset holds their atomization energies (``u0_atom`` ...: minus the B3LYP energies of the free
  atoms that QM9 publishes, ``QM9_ATOM_REFERENCES_HA``), which is what DimeNet, PaiNN and PyG's
  examples learn and score. The archive has no published sha256 (figshare lists
  an md5 only): the loader records the sha256 it computes on first download in
  ``<cache>/pins.json`` and checks every later copy against it (trust on first use); pass
  ``sha256=`` to pin a known value.
- ``qm7``: Rupp, Tkatchenko, Müller & von Lilienfeld, PRL 108, 058301 (2012), as shipped with
  the qml package (7,101 molecules, up to 7 heavy atoms C, N, O, S): XYZ files plus PBE0
  atomization energies in kcal/mol (``hof_qm7.txt``; its third column, DFTB atomization
  energies, is kept as a second target for delta learning).

Embedded, generated offline and cached:

- ``xtb_molecules``: small organic molecules (C, H, N, O, F; 1-9 heavy atoms) drawn at random
  as molecular graphs with GDB-like rules and checked by RDKit, embedded in 3-D with RDKit
  (ETKDG + MMFF94), relaxed with GFN2-xTB (tblite; Bannwarth, Ehlert & Grimme, JCTC 15, 1652
  (2019)) and labelled: total energy, HOMO, LUMO, gap (eV) and dipole moment (D). A molecule
  whose bonds change during the relaxation is dropped (as QM9 dropped its "uncharacterized"
  ones).
- ``xtb_molecules_vib``: the same stream of molecules, relaxed tightly, with a finite-difference
  xTB Hessian (translations and rotations projected out), ASE ``VibrationsData`` for the
  frequencies and ``IdealGasThermo`` (rigid rotor, harmonic oscillator, ideal gas at 298.15 K and
  1 atm) for ZPVE, U0, U, H, G and Cv, plus the highest frequency ω1 (cm⁻¹). The Hessian costs
  6N single points, so this set is smaller by default (see ``docs/molecules.md`` for timings).
  Molecules that are not minima (an imaginary mode above ``IMAG_TOL_CM``) are dropped.

xTB cannot give QM9's polarizability α or electronic spatial extent ⟨R²⟩: those targets are
absent from the embedded sets rather than faked.

Generation is seeded and reproducible: candidate molecules come from one seeded stream,
each is computed from its own seed, and results are cached in chunks of ``CHUNK`` candidates
(``<cache>/datasets/xtb_molecules/chunks``), so a larger set reuses a smaller one's work and
the chunks can be computed in parallel processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matscibench.data.base import CachedTableSpec, DatasetSpec, ProgressFn
from matscibench.data.cache import atomic_path, fetch_file, file_lock, find_local, verify_file
from matscibench.errors import DatasetError, DatasetNotAvailable
from matscibench.paths import cache_dir

__all__ = [
    "HARTREE_IN_EV",
    "BOHR_IN_ANGSTROM",
    "KCAL_PER_MOL_IN_EV",
    "E_BOHR_IN_DEBYE",
    "E_ANGSTROM_IN_DEBYE",
    "CAL_IN_J",
    "R_CAL_PER_MOL_K",
    "UNIT_FACTORS",
    "convert",
    "TargetInfo",
    "TARGETS",
    "QM9_TARGETS",
    "QM9_FILE_TARGETS",
    "QM9_ATOMIZATION",
    "QM9_ATOM_REFERENCES_HA",
    "DIMENET_TARGETS",
    "qm9_atomization_energy",
    "XTB_TARGETS",
    "XTB_VIB_TARGETS",
    "molecule_arrays",
    "parse_qm9_xyz",
    "Qm9Spec",
    "Qm7Spec",
    "XtbMoleculesSpec",
    "candidate_smiles",
    "label_molecule",
    "harmonic_cv",
    "register_datasets",
]

# ----------------------------------------------------------------------------------- units
#: 1 Hartree in eV (CODATA 2018)
HARTREE_IN_EV = 27.211386245988
#: 1 Bohr in Å (CODATA 2018)
BOHR_IN_ANGSTROM = 0.529177210903
#: 1 kcal/mol in eV (4.184 kJ/mol / (N_A e))
KCAL_PER_MOL_IN_EV = 0.0433641043
#: 1 e·a0 in Debye (1 D = 1e-21 C m² / s / c)
E_BOHR_IN_DEBYE = 2.541746473
#: 1 e·Å in Debye
E_ANGSTROM_IN_DEBYE = E_BOHR_IN_DEBYE / BOHR_IN_ANGSTROM
#: thermochemical calorie in J
CAL_IN_J = 4.184
#: gas constant in cal/(mol K) (R = 8.314462618 J/(mol K))
R_CAL_PER_MOL_K = 8.314462618 / CAL_IN_J
#: k_B in eV/K (CODATA 2018)
KB_EV_PER_K = 8.617333262e-5
#: 1 cm⁻¹ in eV (h c × 100 cm/m / e)
INVCM_IN_EV = 1.239841984e-4
#: 1 eV/K per particle in cal/(mol K)
EV_PER_K_IN_CAL_PER_MOL_K = 96485.33212 / CAL_IN_J

#: (from, to) -> factor; the reverse direction is derived. The only place units are converted.
UNIT_FACTORS: dict[tuple[str, str], float] = {
    ("Ha", "eV"): HARTREE_IN_EV,
    ("eV", "meV"): 1000.0,
    ("Ha", "meV"): HARTREE_IN_EV * 1000.0,
    ("kcal/mol", "eV"): KCAL_PER_MOL_IN_EV,
    ("kcal/mol", "meV"): KCAL_PER_MOL_IN_EV * 1000.0,
    ("bohr", "Å"): BOHR_IN_ANGSTROM,
    ("e·a0", "D"): E_BOHR_IN_DEBYE,
    ("e·Å", "D"): E_ANGSTROM_IN_DEBYE,
    ("eV/K", "cal/(mol K)"): EV_PER_K_IN_CAL_PER_MOL_K,
    ("cm⁻¹", "eV"): INVCM_IN_EV,
    ("cm⁻¹", "meV"): INVCM_IN_EV * 1000.0,
    ("Ha/bohr²", "eV/Å²"): HARTREE_IN_EV / BOHR_IN_ANGSTROM**2,
    # α and ⟨R²⟩ are stored and reported in a0³ / a0² (as QM9 and the papers); these are for users
    ("a0²", "Å²"): BOHR_IN_ANGSTROM**2,
    ("a0³", "Å³"): BOHR_IN_ANGSTROM**3,
}


def convert(value: Any, src: str, dst: str) -> Any:
    """``value`` in unit ``src`` expressed in unit ``dst`` (scalars or arrays)."""
    if src == dst:
        return value
    if (src, dst) in UNIT_FACTORS:
        return value * UNIT_FACTORS[(src, dst)]
    if (dst, src) in UNIT_FACTORS:
        return value / UNIT_FACTORS[(dst, src)]
    raise KeyError(f"no conversion from {src!r} to {dst!r}; known: {sorted(UNIT_FACTORS)}")


@dataclass(frozen=True)
class TargetInfo:
    """A molecular target: stored in ``unit``, reported (MAE, RMSE) in ``report_unit``."""

    name: str
    symbol: str
    description: str
    unit: str
    report_unit: str
    #: scales with molecule size (a per-element baseline helps models)
    extensive: bool = False

    @property
    def scale(self) -> float:
        """Factor from the stored unit to the report unit."""
        return float(convert(1.0, self.unit, self.report_unit))


TARGETS: dict[str, TargetInfo] = {
    t.name: t
    for t in [
        TargetInfo("mu", "μ", "dipole moment", "D", "D"),
        TargetInfo("alpha", "α", "isotropic polarizability", "a0³", "a0³", extensive=True),
        TargetInfo("homo", "ε_HOMO", "HOMO energy", "eV", "meV"),
        TargetInfo("lumo", "ε_LUMO", "LUMO energy", "eV", "meV"),
        TargetInfo("gap", "Δε", "HOMO-LUMO gap", "eV", "meV"),
        TargetInfo("r2", "⟨R²⟩", "electronic spatial extent", "a0²", "a0²", extensive=True),
        TargetInfo("zpve", "ZPVE", "zero-point vibrational energy", "eV", "meV", extensive=True),
        TargetInfo("u0", "U0", "internal energy at 0 K", "eV", "meV", extensive=True),
        TargetInfo("u", "U", "internal energy at 298.15 K", "eV", "meV", extensive=True),
        TargetInfo("h", "H", "enthalpy at 298.15 K", "eV", "meV", extensive=True),
        TargetInfo("g", "G", "free energy at 298.15 K", "eV", "meV", extensive=True),
        TargetInfo("cv", "Cv", "heat capacity at 298.15 K", "cal/(mol K)", "cal/(mol K)", extensive=True),
        TargetInfo("omega1", "ω1", "highest vibrational frequency", "cm⁻¹", "cm⁻¹"),
        TargetInfo("energy", "E", "total electronic energy", "eV", "meV", extensive=True),
        TargetInfo("u0_atom", "U0 (atomization)", "atomization energy at 0 K (U0 minus the B3LYP atomic references)", "eV", "meV",
                   extensive=True),
        TargetInfo("u_atom", "U (atomization)", "atomization internal energy at 298.15 K", "eV", "meV", extensive=True),
        TargetInfo("h_atom", "H (atomization)", "atomization enthalpy at 298.15 K", "eV", "meV", extensive=True),
        TargetInfo("g_atom", "G (atomization)", "atomization free energy at 298.15 K", "eV", "meV", extensive=True),
        TargetInfo("atomization_energy", "E_at", "PBE0 atomization energy", "kcal/mol", "kcal/mol", extensive=True),
        TargetInfo("atomization_energy_dftb", "E_at(DFTB)", "DFTB atomization energy", "kcal/mol", "kcal/mol",
                   extensive=True),
    ]
}

#: the targets read from a QM9 file (U0, U, H, G as published: total energies)
QM9_FILE_TARGETS = ("mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "u0", "u", "h", "g", "cv", "omega1")
#: total energy -> atomization energy column (the file's value minus the atomic references)
QM9_ATOMIZATION = {"u0": "u0_atom", "u": "u_atom", "h": "h_atom", "g": "g_atom"}
#: every column of the ``qm9`` dataset
QM9_TARGETS = QM9_FILE_TARGETS + tuple(QM9_ATOMIZATION.values())
#: the 12 QM9 targets of DimeNet (Klicpera, Groß & Günnemann, ICLR 2020), in their order, with U0,
#: U, H, G as atomization energies; ``config.yaml`` of gasteigerjo/dimenet @ 66a8168d lists
#: ['mu', 'alpha', 'homo', 'lumo', 'gap', 'r2', 'zpve', 'U0', 'U', 'H', 'G', 'Cv'] (no ω1)
DIMENET_TARGETS = ("mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "u0_atom", "u_atom", "h_atom", "g_atom", "cv")

#: B3LYP/6-31G(2df,p) energies of the free atoms (Hartree) that QM9 publishes with the data
#: (``atomref.txt``, figshare collection of Ramakrishnan et al., Sci. Data 1, 140022 (2014)), for
#: U0 (0 K), U, H and G (298.15 K); the atomization energy of a molecule is its value minus the sum
#: over its atoms. Checked against PyTorch Geometric's ``atomrefs`` (torch_geometric/datasets/qm9.py,
#: the same numbers times 27.211386246 eV/Ha) in tests/test_molecule_data.py.
QM9_ATOM_REFERENCES_HA: dict[str, dict[int, float]] = {
    "u0": {1: -0.500273, 6: -37.846772, 7: -54.583861, 8: -75.064579, 9: -99.718730},
    "u": {1: -0.498857, 6: -37.845355, 7: -54.582445, 8: -75.063163, 9: -99.717314},
    "h": {1: -0.497912, 6: -37.844411, 7: -54.581501, 8: -75.062219, 9: -99.716370},
    "g": {1: -0.510927, 6: -37.861317, 7: -54.598897, 8: -75.079532, 9: -99.733544},
}


def qm9_atomization_energy(total_ev: float, numbers: Sequence[int], which: str) -> float:
    """Atomization energy (eV) of a QM9 molecule: its ``which`` (``u0``, ``u``, ``h``, ``g``) total
    energy in eV minus the B3LYP energies of its free atoms (``QM9_ATOM_REFERENCES_HA``).
    Negative for a bound molecule (PyG's and SchNetPack's sign)."""
    refs = QM9_ATOM_REFERENCES_HA[which]
    try:
        atoms = sum(refs[int(z)] for z in numbers)
    except KeyError as exc:
        raise DatasetError(f"QM9 has atomic references for H, C, N, O, F only; got Z = {exc.args[0]}") from None
    return float(total_ev) - float(convert(atoms, "Ha", "eV"))
XTB_TARGETS = ("energy", "homo", "lumo", "gap", "mu")
XTB_VIB_TARGETS = XTB_TARGETS + ("zpve", "u0", "u", "h", "g", "cv", "omega1")

#: temperature (K) and pressure (Pa) of the thermochemistry, as in QM9 (Gaussian defaults)
THERMO_T_K = 298.15
THERMO_P_PA = 101325.0


def molecule_arrays(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """(atomic numbers, Cartesian positions in Å) of a pymatgen ``Molecule`` or ASE ``Atoms``."""
    from ase import Atoms
    from pymatgen.core import IMolecule

    if isinstance(x, Atoms):
        return np.asarray(x.numbers, dtype=np.int64), np.asarray(x.positions, dtype=float)
    if isinstance(x, IMolecule):
        return np.asarray(x.atomic_numbers, dtype=np.int64), np.asarray(x.cart_coords, dtype=float)
    raise TypeError(f"expected a pymatgen Molecule or an ASE Atoms, got {type(x).__name__}")


def _molecules(numbers: Sequence[np.ndarray], positions: Sequence[np.ndarray]) -> list:
    from pymatgen.core import Element, Molecule

    cache: dict[int, Any] = {}
    out = []
    for zs, xyz in zip(numbers, positions):
        species = [cache.get(int(z)) or cache.setdefault(int(z), Element.from_Z(int(z))) for z in zs]
        out.append(Molecule(species, np.asarray(xyz, dtype=float)))
    return out


# ----------------------------------------------------------------------------------- pins
def _pins_path() -> Path:
    return cache_dir() / "pins.json"


def pinned_sha256(relpath: str) -> str | None:
    """The sha256 recorded for ``relpath`` on first download (None when never seen)."""
    with contextlib.suppress(OSError, ValueError):
        return json.loads(_pins_path().read_text()).get(relpath)
    return None


def _pin_sha256(relpath: str, digest: str) -> None:
    path = _pins_path()
    with file_lock(path):
        pins: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError):
            pins = json.loads(path.read_text())
        if pins.get(relpath) == digest:
            return
        pins[relpath] = digest
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(pins, indent=1, sort_keys=True))


def _fetch_pinned(relpath: str, sha256: str | None, url: str | None) -> tuple[Path, str]:
    """``fetch_file`` with trust on first use when no sha256 is published: the digest computed on
    the first copy is recorded and every later copy must match it."""
    expected = sha256 or pinned_sha256(relpath)
    path = fetch_file(relpath, expected, url)
    digest = verify_file(path, expected)
    if expected is None:
        _pin_sha256(relpath, digest)
    return path, digest


# ----------------------------------------------------------------------------------- QM9
#: header fields of a QM9 file (line 2), in order, with their published units
QM9_HEADER: tuple[tuple[str, str | None], ...] = (
    ("tag", None),
    ("index", None),
    ("A", "GHz"),
    ("B", "GHz"),
    ("C", "GHz"),
    ("mu", "D"),
    ("alpha", "a0³"),
    ("homo", "Ha"),
    ("lumo", "Ha"),
    ("gap", "Ha"),
    ("r2", "a0²"),
    ("zpve", "Ha"),
    ("u0", "Ha"),
    ("u", "Ha"),
    ("h", "Ha"),
    ("g", "Ha"),
    ("cv", "cal/(mol K)"),
)
QM9_PARSER_VERSION = 2
QM9_ARCHIVE = "qm9/dsgdb9nsd.xyz.tar.bz2"
QM9_UNCHARACTERIZED = "qm9/uncharacterized.txt"
QM9_URL = "https://ndownloader.figshare.com/files/3195389"
QM9_UNCHARACTERIZED_URL = "https://ndownloader.figshare.com/files/3195404"
QM9_CITATION = (
    "Ramakrishnan, Dral, Rupp, von Lilienfeld, Quantum chemistry structures and properties of 134 kilo "
    "molecules, Sci. Data 1, 140022 (2014); Ruddigkeit et al., J. Chem. Inf. Model. 52, 2864 (2012) (GDB-17)"
)


def _qm9_float(tok: str) -> float:
    # the files write some small numbers in Mathematica's notation: 1.2345*^-6
    return float(tok.replace("*^", "e"))


def parse_qm9_xyz(text: str, source: str = "") -> dict[str, Any]:
    """Parse one file of the QM9 archive, converting its values to the stored units.

    Layout (Ramakrishnan et al. 2014, Table 2 and 3): line 1 the number of atoms n_a; line 2
    ``gdb <index>`` and 15 properties (rotational constants A, B, C in GHz, μ in D, α in a0³,
    ε_HOMO, ε_LUMO, Δε in Hartree, ⟨R²⟩ in a0², ZPVE, U0, U, H, G in Hartree, Cv in cal/(mol K));
    n_a lines ``element x y z q`` (Å, Mulliken charge in e); the 3n_a - 5 or 3n_a - 6 harmonic
    frequencies (cm⁻¹); the GDB-17 and the relaxed-geometry SMILES; the two InChI strings.

    Returns ``numbers``, ``positions`` (Å), ``index``, ``smiles``, ``frequencies`` (cm⁻¹) and
    the targets of ``QM9_TARGETS`` in their stored units (energies in eV): the file's total U0, U,
    H, G and their atomization energies ``u0_atom`` ... ``g_atom`` (``qm9_atomization_energy``).
    """
    from ase.data import atomic_numbers

    lines = text.splitlines()
    try:
        n = int(lines[0].split()[0])
        head = lines[1].split()
        if len(head) < len(QM9_HEADER):
            raise ValueError(f"line 2 has {len(head)} fields, expected {len(QM9_HEADER)}")
        raw = {name: (_qm9_float(tok) if unit else tok) for (name, unit), tok in zip(QM9_HEADER, head)}
        numbers, positions = [], []
        for line in lines[2 : 2 + n]:
            parts = line.split()
            numbers.append(atomic_numbers[parts[0]])
            positions.append([_qm9_float(t) for t in parts[1:4]])
        freqs = np.array([_qm9_float(t) for t in lines[2 + n].split()], dtype=float)
        smiles = lines[3 + n].split()
    except (IndexError, ValueError, KeyError) as exc:
        raise DatasetError(f"{source or 'QM9 file'}: not in the published QM9 format ({exc})") from exc
    rec: dict[str, Any] = {
        "index": int(raw["index"]),
        "numbers": np.asarray(numbers, dtype=np.int64),
        "positions": np.asarray(positions, dtype=float),
        "frequencies": freqs,
        "smiles": smiles[-1] if smiles else "",
        "rotational_constants_GHz": (raw["A"], raw["B"], raw["C"]),
    }
    for name, unit in QM9_HEADER[5:]:
        info = TARGETS[name]
        rec[name] = float(convert(raw[name], unit, info.unit))
    rec["omega1"] = float(freqs.max()) if freqs.size else float("nan")
    for total, atom in QM9_ATOMIZATION.items():
        rec[atom] = qm9_atomization_energy(rec[total], rec["numbers"], total)
    return rec


def parse_uncharacterized(text: str) -> set[int]:
    """Indices listed in QM9's ``uncharacterized.txt`` (lines ``index  SMILES ...`` between
    dashed rules)."""
    out: set[int] = set()
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0].isdigit() and len(parts) >= 2:
            out.add(int(parts[0]))
    return out


class Qm9Spec(CachedTableSpec):
    """QM9 from the published archive (see the module docstring for provenance and the sha256).

    Parameters
    ----------
    exclude_uncharacterized: leave out the 3,054 molecules of ``uncharacterized.txt`` (needs
        that file; 130,831 molecules remain).
    archive: a local path to ``dsgdb9nsd.xyz.tar.bz2`` (otherwise looked up under
        ``$MATSCIBENCH_DATA/qm9/``, the cache, then downloaded).
    sha256: the expected sha256 of the archive (default: the one recorded on first download).
    max_molecules: keep only the first molecules by index (for quick looks).
    """

    input_type = "molecule"
    license = "CC0 (figshare)"
    citation = QM9_CITATION

    def __init__(self, exclude_uncharacterized: bool = True, archive: str | None = None, sha256: str | None = None,
                 max_molecules: int | None = None, uncharacterized: str | None = None, name: str = "qm9") -> None:
        self.name = name
        self.exclude_uncharacterized = bool(exclude_uncharacterized)
        self.archive = archive
        self.uncharacterized = uncharacterized
        self.sha256 = sha256
        self.max_molecules = max_molecules
        self.targets = {t: TARGETS[t].unit for t in QM9_TARGETS}
        self.description = (
            "QM9: 133,885 small organic molecules (C, H, O, N, F; up to 9 heavy atoms), B3LYP/6-31G(2df,p) "
            "geometries and properties" + (", minus the 3,054 uncharacterized" if self.exclude_uncharacterized else "")
        )

    def cache_key(self) -> str:
        arch = hashlib.sha256(str(self.archive or "").encode()).hexdigest()[:8] if self.archive else "std"
        return f"q{QM9_PARSER_VERSION}-{'ex' if self.exclude_uncharacterized else 'all'}-{arch}-{self.max_molecules}"

    def _source_status(self) -> str:
        if self.archive:
            return "local" if Path(self.archive).is_file() else "missing"
        return "local" if find_local(QM9_ARCHIVE) else "download"

    def _archive_path(self) -> tuple[Path, str]:
        if self.archive:
            path = Path(self.archive)
            if not path.is_file():
                raise DatasetNotAvailable(f"QM9 archive {path} does not exist")
            return path, verify_file(path, self.sha256)
        return _fetch_pinned(QM9_ARCHIVE, self.sha256, QM9_URL)

    def _excluded(self) -> tuple[set[int], str]:
        if not self.exclude_uncharacterized:
            return set(), ""
        if self.uncharacterized:
            path = Path(self.uncharacterized)
            digest = verify_file(path, None)
        else:
            try:
                path, digest = _fetch_pinned(QM9_UNCHARACTERIZED, None, QM9_UNCHARACTERIZED_URL)
            except DatasetNotAvailable as exc:
                raise DatasetNotAvailable(
                    f"{exc} It lists the 3,054 QM9 molecules to leave out; or use dataset_params "
                    "{exclude_uncharacterized = false} to keep all 133,885."
                ) from exc
        return parse_uncharacterized(path.read_text()), digest

    def _build(self, progress: ProgressFn | None):
        path, digest = self._archive_path()
        excluded, udigest = self._excluded()
        recs = []
        with tarfile.open(path, "r:*") as tar:
            for k, member in enumerate(tar):
                if not member.isfile() or not member.name.endswith(".xyz"):
                    continue
                fh = tar.extractfile(member)
                rec = parse_qm9_xyz(fh.read().decode("utf-8", "replace"), f"{path}:{member.name}")
                rec["id"] = Path(member.name).stem
                recs.append(rec)
                if progress and k % 5000 == 0:
                    progress("parse QM9", len(recs), 133885)
        recs.sort(key=lambda r: r["index"])
        recs = [r for r in recs if r["index"] not in excluded]
        if self.max_molecules:
            recs = recs[: int(self.max_molecules)]
        if not recs:
            raise DatasetError(f"{path}: no QM9 molecules found")
        inputs = _molecules([r["numbers"] for r in recs], [r["positions"] for r in recs])
        targets = pd.DataFrame({t: np.array([r[t] for r in recs], dtype=float) for t in QM9_TARGETS})
        ids = np.array([r["id"] for r in recs], dtype=object)
        extra = pd.DataFrame({"smiles": [r["smiles"] for r in recs], "qm9_index": [r["index"] for r in recs]})
        checksum = hashlib.sha256(f"{digest}|{udigest}|{self.cache_key()}".encode()).hexdigest()
        return inputs, targets, ids, checksum, str(path), extra


# ----------------------------------------------------------------------------------- QM7
QM7_XYZ = "qml_qm7/qm7_xyz.tar.gz"
QM7_ENERGIES = "qml_qm7/hof_qm7.txt"
QM7_SHA256 = {
    QM7_XYZ: "1e5fceee64de15f3aa00f9a19551fca2c20896123c66bf4ca0e5784f45240c0b",
    QM7_ENERGIES: "e11bc6aac9e76b12bffcdf8d6579a8c21bea6b7e7ef59d742fd7e0f440bd42d4",
}
_QML = "https://raw.githubusercontent.com/qmlcode/qml/8bb833cdbbe69405384d6796920c5418dc53b6ba/"
QM7_URLS = {QM7_XYZ: None, QM7_ENERGIES: _QML + "test/data/hof_qm7.txt"}


def parse_xyz(text: str, source: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(atomic numbers, positions in Å) of a plain XYZ file (count, comment, ``El x y z`` lines)."""
    from ase.data import atomic_numbers

    lines = text.splitlines()
    try:
        n = int(lines[0].split()[0])
        rows = [ln.split() for ln in lines[2 : 2 + n]]
        zs = np.array([atomic_numbers[r[0]] for r in rows], dtype=np.int64)
        xyz = np.array([[float(t) for t in r[1:4]] for r in rows], dtype=float)
    except (IndexError, ValueError, KeyError) as exc:
        raise DatasetError(f"{source or 'xyz file'}: not a readable XYZ file ({exc})") from exc
    if len(zs) != n:
        raise DatasetError(f"{source}: {len(zs)} atom lines, header says {n}")
    return zs, xyz


class Qm7Spec(CachedTableSpec):
    """QM7 as shipped with qml: 7,101 molecules, PBE0 and DFTB atomization energies (kcal/mol)."""

    name = "qm7"
    input_type = "molecule"
    license = "MIT (qml); data Rupp et al. 2012"
    citation = (
        "Rupp, Tkatchenko, Müller, von Lilienfeld, Fast and accurate modeling of molecular atomization energies "
        "with machine learning, PRL 108, 058301 (2012); Blum & Reymond, JACS 131, 8732 (2009) (GDB-13); "
        "files from qmlcode/qml @ 8bb833cd"
    )
    description = "QM7 (qml's copy): 7,101 molecules (C, N, O, S, H; up to 7 heavy atoms), PBE0 atomization energies"
    targets = {"atomization_energy": "kcal/mol", "atomization_energy_dftb": "kcal/mol"}

    def cache_key(self) -> str:
        return "m1-" + QM7_SHA256[QM7_XYZ][:8] + QM7_SHA256[QM7_ENERGIES][:8]

    def _source_status(self) -> str:
        return "local" if all(find_local(p) for p in QM7_SHA256) else "missing"

    def _build(self, progress: ProgressFn | None):
        paths = {}
        for rel in (QM7_XYZ, QM7_ENERGIES):
            paths[rel] = fetch_file(rel, QM7_SHA256[rel], QM7_URLS[rel])
        energies: dict[str, tuple[float, float]] = {}
        for line in paths[QM7_ENERGIES].read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                energies[parts[0]] = (float(parts[1]), float(parts[2]))
        geoms: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        with tarfile.open(paths[QM7_XYZ], "r:*") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".xyz"):
                    text = tar.extractfile(member).read().decode()
                    geoms[Path(member.name).name] = parse_xyz(text, f"{paths[QM7_XYZ]}:{member.name}")
        names = sorted(set(energies) & set(geoms))
        missing = sorted(set(energies) ^ set(geoms))
        if missing:
            raise DatasetError(f"QM7: {len(missing)} molecules lack a geometry or an energy, e.g. {missing[:3]}")
        inputs = _molecules([geoms[n][0] for n in names], [geoms[n][1] for n in names])
        targets = pd.DataFrame({
            "atomization_energy": [energies[n][0] for n in names],
            "atomization_energy_dftb": [energies[n][1] for n in names],
        })
        ids = np.array([f"qm7-{Path(n).stem}" for n in names], dtype=object)
        checksum = hashlib.sha256("|".join(QM7_SHA256[p] for p in (QM7_XYZ, QM7_ENERGIES)).encode()).hexdigest()
        return inputs, targets, ids, checksum, " + ".join(str(p) for p in paths.values()), None


# ----------------------------------------------------------------------------------- xTB set
XTB_MOL_VERSION = 1
#: candidates per cached chunk
CHUNK = 25
#: heavy-atom count n (1..9) is drawn with weights ∝ these (QM9 is dominated by n = 9)
HEAVY_WEIGHTS = (1, 1, 2, 3, 4, 5, 6, 7, 7)
#: element probabilities of a heavy atom
HEAVY_ELEMENTS = (("C", 0.62), ("N", 0.15), ("O", 0.19), ("F", 0.04))
VALENCE = {"C": 4, "N": 3, "O": 2, "F": 1}
#: force thresholds (eV/Å) of the relaxations: electronic labels / vibrational analysis
FMAX_ELECTRONIC = 0.02
FMAX_VIBRATIONS = 0.005
#: finite-difference step (Å) of the Hessian (central differences)
HESSIAN_STEP = 0.005
#: an imaginary mode above this (cm⁻¹) marks a saddle point: the molecule is dropped
IMAG_TOL_CM = 30.0
#: a bond exists when the distance is below this factor times the sum of covalent radii
BOND_FACTOR = 1.25


def _draw_graph(rng: np.random.Generator) -> str | None:
    """One random molecular graph under GDB-like rules, as canonical SMILES (None if rejected).

    Heavy atoms C, N, O, F; no heteroatom-heteroatom bonds (as GDB excludes most of them), F
    only on carbon, a few ring closures and multiple bonds; RDKit sanitisation then rejects
    invalid valences, and cumulated double bonds and triple bonds in rings are rejected too.
    """
    from rdkit import Chem

    n = int(rng.choice(np.arange(1, 10), p=np.asarray(HEAVY_WEIGHTS) / sum(HEAVY_WEIGHTS)))
    names = [e for e, _ in HEAVY_ELEMENTS]
    probs = np.array([p for _, p in HEAVY_ELEMENTS])
    els = [str(rng.choice(names, p=probs)) for _ in range(n)]
    if "C" not in els:
        els[0] = "C"
    if n > 1 and els[0] == "F":
        els[0] = "C"
    hetero = {"N", "O", "F"}
    free = [VALENCE[e] for e in els]
    bonds: dict[tuple[int, int], int] = {}

    def ok(a: int, b: int) -> bool:
        return not (els[a] in hetero and els[b] in hetero) and free[a] > 0 and free[b] > 0

    for k in range(1, n):
        parents = [j for j in range(k) if ok(j, k)]
        if not parents:
            return None
        j = int(parents[int(rng.integers(len(parents)))])
        bonds[(j, k)] = 1
        free[j] -= 1
        free[k] -= 1
    for _ in range(min(2, int(rng.poisson(0.6)))):
        pairs = [(a, b) for a in range(n) for b in range(a + 1, n) if (a, b) not in bonds and ok(a, b)]
        if not pairs:
            break
        a, b = pairs[int(rng.integers(len(pairs)))]
        bonds[(a, b)] = 1
        free[a] -= 1
        free[b] -= 1
    for _ in range(int(rng.poisson(0.8))):
        cands = [bd for bd, o in bonds.items() if o < 3 and free[bd[0]] > 0 and free[bd[1]] > 0
                 and "F" not in (els[bd[0]], els[bd[1]]) and not (o == 2 and "O" in (els[bd[0]], els[bd[1]]))]
        if not cands:
            break
        bd = cands[int(rng.integers(len(cands)))]
        bonds[bd] += 1
        free[bd[0]] -= 1
        free[bd[1]] -= 1
    mol = Chem.RWMol()
    for e in els:
        mol.AddAtom(Chem.Atom(e))
    order = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    for (a, b), o in bonds.items():
        mol.AddBond(a, b, order[o])
    m = mol.GetMol()
    try:
        Chem.SanitizeMol(m)
    except Exception:
        return None
    ring_info = m.GetRingInfo()
    for atom in m.GetAtoms():
        doubles = sum(1 for b in atom.GetBonds() if b.GetBondType() in (Chem.BondType.DOUBLE, Chem.BondType.TRIPLE))
        if doubles > 1:  # cumulated or ene-yne on one atom
            return None
    for b in m.GetBonds():
        if b.GetBondType() == Chem.BondType.TRIPLE and ring_info.NumBondRings(b.GetIdx()):
            return None
    if ring_info.NumRings() > 2:
        return None
    return Chem.MolToSmiles(m)


def candidate_smiles(seed: int, n: int) -> list[str]:
    """The first ``n`` distinct candidates of the seeded stream (the same prefix for every n)."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    rng = np.random.default_rng([int(seed), 20140805])
    seen: set[str] = set()
    out: list[str] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 1000 * (n + 10):
            raise DatasetError(f"could not draw {n} distinct molecules (seed {seed})")
        smi = _draw_graph(rng)
        if smi and smi not in seen:
            seen.add(smi)
            out.append(smi)
    return out


def _bond_matrix(numbers: np.ndarray, positions: np.ndarray) -> np.ndarray:
    from ase.data import covalent_radii

    r = covalent_radii[numbers]
    d = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    adj = d < BOND_FACTOR * (r[:, None] + r[None, :])
    np.fill_diagonal(adj, False)
    return adj


def _mmff_hessian(mol) -> np.ndarray | None:
    """MMFF94 Hessian (eV/Å², by differences of MMFF gradients), eigenvalues floored: a good
    starting Hessian for BFGS on the xTB surface (about a third fewer steps)."""
    from rdkit.Chem import AllChem

    props = AllChem.MMFFGetMoleculeProperties(mol)
    if props is None:
        return None
    ff = AllChem.MMFFGetMoleculeForceField(mol, props)
    x0 = np.asarray(ff.Positions(), dtype=float)
    h = 1e-3
    H = np.empty((x0.size, x0.size))
    for i in range(x0.size):
        xp, xm = x0.copy(), x0.copy()
        xp[i] += h
        xm[i] -= h
        H[i] = (np.asarray(ff.CalcGrad(xp.tolist())) - np.asarray(ff.CalcGrad(xm.tolist()))) / (2 * h)
    H = 0.5 * (H + H.T) * convert(1.0, "kcal/mol", "eV")
    w, v = np.linalg.eigh(H)
    return (v * np.clip(w, 5.0, None)) @ v.T


def _xtb_api(numbers: np.ndarray, positions: np.ndarray):
    from tblite.interface import Calculator

    calc = Calculator("GFN2-xTB", numbers, positions / BOHR_IN_ANGSTROM)
    calc.set("verbosity", 0)
    return calc


def xtb_electronic_labels(numbers: np.ndarray, positions: np.ndarray) -> dict[str, float]:
    """GFN2-xTB single point through tblite's API: energy, HOMO, LUMO, gap (eV), |μ| (D)."""
    res = _xtb_api(numbers, positions).singlepoint()
    eps = np.asarray(res["orbital-energies"], dtype=float)
    occ = np.asarray(res["orbital-occupations"], dtype=float)
    if occ.ndim > 1:  # spin-resolved: total occupation per spatial orbital
        occ = occ.sum(axis=0)
    filled = np.nonzero(occ > 1.0)[0]
    if not filled.size or filled[-1] + 1 >= eps.size:
        raise DatasetError("xTB gave no HOMO/LUMO pair")
    homo, lumo = eps[filled[-1]], eps[filled[-1] + 1]
    return {
        "energy": float(convert(float(res["energy"]), "Ha", "eV")),
        "homo": float(convert(homo, "Ha", "eV")),
        "lumo": float(convert(lumo, "Ha", "eV")),
        "gap": float(convert(lumo - homo, "Ha", "eV")),
        "mu": float(convert(np.linalg.norm(res["dipole"]), "e·a0", "D")),
    }


def xtb_hessian(numbers: np.ndarray, positions: np.ndarray, step: float = HESSIAN_STEP) -> np.ndarray:
    """Cartesian Hessian (eV/Å², 3N x 3N) by central differences of GFN2-xTB gradients."""
    calc = _xtb_api(numbers, positions)
    res = calc.singlepoint()
    n = len(numbers)
    H = np.empty((3 * n, 3 * n))
    for i in range(n):
        for c in range(3):
            grads = []
            for s in (step, -step):
                p = positions.copy()
                p[i, c] += s
                calc.update(positions=p / BOHR_IN_ANGSTROM)
                res = calc.singlepoint(res)
                grads.append(np.asarray(res["gradient"], dtype=float).ravel())
            H[3 * i + c] = (grads[0] - grads[1]) / (2 * step / BOHR_IN_ANGSTROM)
    H = 0.5 * (H + H.T)
    return convert(H, "Ha/bohr²", "eV/Å²")


def _project_rigid_motions(H: np.ndarray, masses: np.ndarray, positions: np.ndarray, linear: bool) -> np.ndarray:
    """Remove translations and rotations from a Cartesian Hessian (Eckart projection in
    mass-weighted coordinates), returned in Cartesian form again."""
    n = len(masses)
    sq = np.sqrt(np.repeat(masses, 3))
    com = (masses[:, None] * positions).sum(0) / masses.sum()
    r = positions - com
    vecs = []
    for a in range(3):
        t = np.zeros((n, 3))
        t[:, a] = 1.0
        vecs.append(t.ravel() * sq)
    for a in range(3):
        axis = np.zeros(3)
        axis[a] = 1.0
        vecs.append(np.cross(axis, r).ravel() * sq)
    B = np.array(vecs).T
    u, s, _ = np.linalg.svd(B, full_matrices=False)
    U = u[:, s > 1e-6 * s.max()]
    P = np.eye(3 * n) - U @ U.T
    Hm = H / np.outer(sq, sq)
    Hm = P @ Hm @ P
    return Hm * np.outer(sq, sq)


def harmonic_cv(vib_energies_eV: np.ndarray, geometry: str, temperature: float = THERMO_T_K) -> float:
    """Constant-volume heat capacity of an ideal gas of rigid rotors with harmonic vibrations,
    in cal/(mol K): 3/2 R (translation) + R (linear) or 3/2 R (nonlinear rotation) + the
    Einstein terms R x² eˣ / (eˣ - 1)², x = ħω / k_B T (as Gaussian reports for QM9)."""
    rot = {"linear": 1.0, "nonlinear": 1.5, "monatomic": 0.0}[geometry]
    x = np.asarray(vib_energies_eV, dtype=float) / (KB_EV_PER_K * temperature)
    x = x[x > 0]
    ein = np.sum(x**2 * np.exp(-x) / (1.0 - np.exp(-x)) ** 2)
    return float(R_CAL_PER_MOL_K * (1.5 + rot + ein))


def _geometry_kind(atoms) -> str:
    if len(atoms) == 1:
        return "monatomic"
    inertia = atoms.get_moments_of_inertia()
    return "linear" if inertia.min() < 1e-3 * max(inertia.max(), 1e-12) else "nonlinear"


def vibrational_labels(atoms, energy_eV: float) -> dict[str, float]:
    """ZPVE, U0, U, H, G (eV), Cv (cal/(mol K)) at 298.15 K and ω1 (cm⁻¹) from the xTB Hessian,
    via ASE ``VibrationsData`` (frequencies) and ``IdealGasThermo`` (thermochemistry)."""
    from ase.thermochemistry import IdealGasThermo
    from ase.vibrations import VibrationsData
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import PointGroupAnalyzer

    geometry = _geometry_kind(atoms)
    n_rigid = {"monatomic": 3, "linear": 5, "nonlinear": 6}[geometry]
    H = xtb_hessian(atoms.numbers, atoms.positions)
    H = _project_rigid_motions(H, atoms.get_masses(), atoms.positions, geometry == "linear")
    vib = VibrationsData.from_2d(atoms, H)
    energies = np.asarray(vib.get_energies())  # eV, complex for imaginary modes
    signed = np.where(np.abs(energies.imag) > np.abs(energies.real), -np.abs(energies.imag), energies.real)
    signed = signed[np.argsort(np.abs(signed))][n_rigid:]
    freqs_cm = convert(signed, "eV", "cm⁻¹")
    if freqs_cm.size and freqs_cm.min() < -IMAG_TOL_CM:
        raise _Rejected(f"saddle point: imaginary mode of {-freqs_cm.min():.0f} cm⁻¹")
    vib_e = np.abs(signed)
    sigma = 1
    with contextlib.suppress(Exception):
        sigma = int(PointGroupAnalyzer(AseAtomsAdaptor.get_molecule(atoms)).get_rotational_symmetry_number())
    thermo = IdealGasThermo(vib_energies=vib_e, geometry=geometry, potentialenergy=energy_eV, atoms=atoms,
                            symmetrynumber=sigma, spin=0, vib_selection="all")
    zpve = float(thermo.get_ZPE_correction())
    return {
        "zpve": zpve,
        "u0": energy_eV + zpve,
        "u": float(thermo.get_internal_energy(THERMO_T_K, verbose=False)),
        "h": float(thermo.get_enthalpy(THERMO_T_K, verbose=False)),
        "g": float(thermo.get_gibbs_energy(THERMO_T_K, THERMO_P_PA, verbose=False)),
        "cv": harmonic_cv(vib_e, geometry),
        "omega1": float(freqs_cm.max()) if freqs_cm.size else float("nan"),
        "lowest_mode_cm": float(freqs_cm.min()) if freqs_cm.size else float("nan"),
        "symmetry_number": float(sigma),
    }


class _Rejected(Exception):
    """A candidate that is not kept (embedding failed, bonds changed, saddle point)."""


def label_molecule(smiles: str, seed: int, vibrations: bool = False) -> dict[str, Any]:
    """Embed, relax and label one molecule; raises ``_Rejected`` with the reason when dropped."""
    import warnings

    from ase import Atoms
    from ase.optimize import BFGS
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from tblite.ase import TBLite

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed) % (2**31)
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise _Rejected("RDKit could not embed it")
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=500)
        H0 = _mmff_hessian(mol)
    else:
        AllChem.UFFOptimizeMolecule(mol, maxIters=500)
        H0 = None
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    ref = np.zeros((len(numbers), len(numbers)), dtype=bool)
    for b in mol.GetBonds():
        ref[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] = ref[b.GetEndAtomIdx(), b.GetBeginAtomIdx()] = True
    atoms = Atoms(numbers=numbers, positions=mol.GetConformer().GetPositions())
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    fmax = FMAX_VIBRATIONS if vibrations else FMAX_ELECTRONIC
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = BFGS(atoms, logfile=None)
        if H0 is not None:
            opt.H0 = H0
        try:
            converged = opt.run(fmax=fmax, steps=1000)
        except Exception as exc:  # tblite SCF failure on a broken geometry
            raise _Rejected(f"xTB failed: {exc}") from None
    if not converged:
        raise _Rejected("relaxation did not converge in 1000 steps")
    positions = atoms.positions.copy()
    if not np.array_equal(_bond_matrix(numbers, positions), ref):
        raise _Rejected("bonds changed during the xTB relaxation")
    rec: dict[str, Any] = {"smiles": smiles, "numbers": numbers.tolist(), "positions": positions.tolist(),
                           "relax_steps": int(opt.nsteps)}
    rec.update(xtb_electronic_labels(numbers, positions))
    if vibrations:
        atoms.calc = None
        rec.update(vibrational_labels(atoms, rec["energy"]))
    return rec


def _label_chunk(args: tuple[str, int, int, list[str], bool]) -> list[dict[str, Any]]:
    """Label candidates ``start .. start+len(smiles)-1``; one record (or a rejection) each."""
    import tblite.interface  # noqa: F401  (load its OpenMP runtime before limiting it)
    from threadpoolctl import threadpool_limits

    kind, seed, start, smiles, vibrations = args
    out: list[dict[str, Any]] = []
    # one OpenMP thread per process: tblite's threads spin-wait, and with more threads than
    # free cores a labelling runs 30x slower
    with threadpool_limits(1):
        _label_all(out, seed, start, smiles, vibrations)
    return out


def _label_all(out: list, seed: int, start: int, smiles: list[str], vibrations: bool) -> None:
    for k, smi in enumerate(smiles):
        index = start + k
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            rec = label_molecule(smi, seed * 1_000_003 + index, vibrations)
            rec["status"] = "ok"
        except _Rejected as exc:
            rec = {"smiles": smi, "status": "rejected", "reason": str(exc)}
        rec["index"] = index
        rec["seconds"] = time.perf_counter() - t0
        rec["cpu_seconds"] = time.process_time() - c0
        out.append(rec)


class XtbMoleculesSpec(CachedTableSpec):
    """Embedded molecules labelled with GFN2-xTB (see the module docstring).

    Parameters
    ----------
    n_molecules: molecules to keep (the first that pass, in the order of the seeded stream).
    vibrations: also compute the Hessian and the thermochemical targets (``xtb_molecules_vib``).
    seed: seed of the candidate stream and of the RDKit embeddings.
    workers: processes (default: all cores).
    """

    input_type = "molecule"
    license = "generated locally"
    citation = (
        "GFN2-xTB (Bannwarth, Ehlert, Grimme, JCTC 15, 1652 (2019)) via tblite; RDKit ETKDG/MMFF94; "
        "targets after QM9 (Ramakrishnan et al., Sci. Data 1, 140022 (2014))"
    )

    def __init__(self, n_molecules: int | None = None, vibrations: bool = False, seed: int = 0,
                 workers: int | None = None) -> None:
        self.vibrations = bool(vibrations)
        self.n_molecules = int(n_molecules if n_molecules is not None else (400 if self.vibrations else 2000))
        self.seed = int(seed)
        self.workers = workers
        self.name = "xtb_molecules_vib" if self.vibrations else "xtb_molecules"
        names = XTB_VIB_TARGETS if self.vibrations else XTB_TARGETS
        self.targets = {t: TARGETS[t].unit for t in names}
        self.description = (
            f"{self.n_molecules} small organic molecules (C, H, N, O, F; 1-9 heavy atoms) drawn with RDKit, "
            "relaxed and labelled with GFN2-xTB (tblite): energy, HOMO, LUMO, gap, dipole"
            + ("; Hessian thermochemistry at 298.15 K: ZPVE, U0, U, H, G, Cv, ω1" if self.vibrations else "")
        )

    def cache_key(self) -> str:
        return f"g{XTB_MOL_VERSION}-n{self.n_molecules}-s{self.seed}"

    def _chunk_dir(self) -> Path:
        kind = "vib" if self.vibrations else "elec"
        return cache_dir() / "datasets" / "xtb_molecules" / "chunks" / f"{kind}-g{XTB_MOL_VERSION}-s{self.seed}"

    def _chunk_path(self, k: int) -> Path:
        return self._chunk_dir() / f"{k:05d}.json"

    def _compute_chunks(self, ks: list[int], candidates: list[str], progress: ProgressFn | None,
                        done_before: int) -> None:
        todo = [k for k in ks if not self._chunk_path(k).is_file()]
        if not todo:
            return
        args = [("vib" if self.vibrations else "elec", self.seed, k * CHUNK, candidates[k * CHUNK : (k + 1) * CHUNK],
                 self.vibrations) for k in todo]
        workers = self.workers or min(len(args), os.cpu_count() or 1)

        def save(k: int, recs: list[dict]) -> None:
            with atomic_path(self._chunk_path(k)) as tmp:
                tmp.write_text(json.dumps(recs))

        label = "xTB molecules" + (" + Hessians" if self.vibrations else "")
        done = 0
        if workers <= 1:
            for k, a in zip(todo, args):
                save(k, _label_chunk(a))
                done += 1
                if progress:
                    progress(label, done_before + done * CHUNK * 0.85, self.n_molecules)
        else:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers) as pool:
                for k, recs in zip(todo, pool.map(_label_chunk, args)):
                    save(k, recs)
                    done += 1
                    if progress:
                        progress(label, done_before + done * CHUNK * 0.85, self.n_molecules)

    def _records(self, progress: ProgressFn | None) -> tuple[list[dict], list[dict]]:
        kept: list[dict] = []
        rejected: list[dict] = []
        k = 0
        n_chunks = 0
        while len(kept) < self.n_molecules:
            need = self.n_molecules - len(kept)
            batch = max(1, math.ceil(need / (CHUNK * 0.8)))
            ks = list(range(n_chunks, n_chunks + batch))
            n_chunks += batch
            candidates = candidate_smiles(self.seed, n_chunks * CHUNK)
            self._compute_chunks(ks, candidates, progress, len(kept))
            for k in ks:
                for rec in json.loads(self._chunk_path(k).read_text()):
                    if len(kept) >= self.n_molecules:
                        break
                    (kept if rec["status"] == "ok" else rejected).append(rec)
        return kept, rejected

    def _build(self, progress: ProgressFn | None):
        with file_lock(self._chunk_dir() / "chunks"):
            t0 = time.perf_counter()
            kept, rejected = self._records(progress)
            wall = time.perf_counter() - t0
        names = XTB_VIB_TARGETS if self.vibrations else XTB_TARGETS
        inputs = _molecules([np.asarray(r["numbers"]) for r in kept], [np.asarray(r["positions"]) for r in kept])
        targets = pd.DataFrame({t: np.array([r[t] for r in kept], dtype=float) for t in names})
        ids = np.array([f"xtbmol-{r['index']:06d}" for r in kept], dtype=object)
        extra = pd.DataFrame({
            "smiles": [r["smiles"] for r in kept],
            "relax_steps": [r["relax_steps"] for r in kept],
            "label_cpu_s": [r["cpu_seconds"] for r in kept],
        })
        h = hashlib.sha256(f"{self.name}|{self.cache_key()}".encode())
        for r in kept:
            h.update(np.asarray(r["numbers"], dtype=np.int64).tobytes())
            h.update(np.round(np.asarray(r["positions"], dtype=float), 6).tobytes())
            h.update(np.round(np.array([r[t] for t in names], dtype=float), 6).tobytes())
        reasons: dict[str, int] = {}
        for r in rejected:
            key = r["reason"].split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        source = (
            f"generated by matscibench (xTB molecules v{XTB_MOL_VERSION}, seed {self.seed}): {len(kept)} kept, "
            f"{len(rejected)} dropped ({', '.join(f'{v} {k}' for k, v in sorted(reasons.items())) or 'none'}); "
            f"labelling CPU time {sum(r['cpu_seconds'] for r in kept + rejected):.0f} s"
            + (f", this build {wall:.0f} s wall" if wall > 1 else "")
        )
        return inputs, targets, ids, h.hexdigest(), source, extra


# ----------------------------------------------------------------------------------- registry
def register_datasets(register: Callable[[str, Callable[..., DatasetSpec]], None]) -> None:
    register("qm9", lambda **p: Qm9Spec(**p))
    register("qm7", Qm7Spec)
    register("xtb_molecules", lambda **p: XtbMoleculesSpec(**{**p, "vibrations": False}))
    register("xtb_molecules_vib", lambda **p: XtbMoleculesSpec(**{**p, "vibrations": True}))
