"""Datasets of the molecular-property family: QM9, QM7 (here) and the embedded GFN2-xTB sets
(``xtb_molecules.py``), and the table of molecular targets.

Every dataset here is a table of pymatgen ``Molecule`` objects (Cartesian coordinates in Å)
with one column per target. Targets are stored in the units below (energies in eV) and every
unit conversion goes through ``sim.units.convert``, whose factors live in ``UNIT_FACTORS`` (the
single place where Hartree, Bohr, kcal/mol, Debye and calories are turned into one another). The
tasks report errors in the units the papers use (meV for energies, see ``TARGETS``).

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

Embedded, generated offline and cached (``xtb_molecules.py``, labelled by ``sim.xtb``):

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
  Molecules that are not minima (an imaginary mode above ``sim.xtb.IMAG_TOL_CM``) are dropped.

xTB cannot give QM9's polarizability α or electronic spatial extent ⟨R²⟩: those targets are
absent from the embedded sets rather than faked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tarfile
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
from matscibench.sim.units import convert

__all__ = [
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
    "molecules_from_arrays",
    "parse_qm9_xyz",
    "parse_xyz",
    "Qm9Spec",
    "Qm7Spec",
    "register_datasets",
]


# ----------------------------------------------------------------------------------- targets
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


def molecule_arrays(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """(atomic numbers, Cartesian positions in Å) of a pymatgen ``Molecule`` or ASE ``Atoms``."""
    from ase import Atoms
    from pymatgen.core import IMolecule

    if isinstance(x, Atoms):
        return np.asarray(x.numbers, dtype=np.int64), np.asarray(x.positions, dtype=float)
    if isinstance(x, IMolecule):
        return np.asarray(x.atomic_numbers, dtype=np.int64), np.asarray(x.cart_coords, dtype=float)
    raise TypeError(f"expected a pymatgen Molecule or an ASE Atoms, got {type(x).__name__}")


def molecules_from_arrays(numbers: Sequence[np.ndarray], positions: Sequence[np.ndarray]) -> list:
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
    sources = ("QM9",)

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
        inputs = molecules_from_arrays([r["numbers"] for r in recs], [r["positions"] for r in recs])
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
    sources = ("QM7",)
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
        inputs = molecules_from_arrays([geoms[n][0] for n in names], [geoms[n][1] for n in names])
        targets = pd.DataFrame({
            "atomization_energy": [energies[n][0] for n in names],
            "atomization_energy_dftb": [energies[n][1] for n in names],
        })
        ids = np.array([f"qm7-{Path(n).stem}" for n in names], dtype=object)
        checksum = hashlib.sha256("|".join(QM7_SHA256[p] for p in (QM7_XYZ, QM7_ENERGIES)).encode()).hexdigest()
        return inputs, targets, ids, checksum, " + ".join(str(p) for p in paths.values()), None


# ----------------------------------------------------------------------------------- registry
def register_datasets(register: Callable[[str, Callable[..., DatasetSpec]], None]) -> None:
    from matscibench.families.molecules.xtb_molecules import XtbMoleculesSpec

    register("qm9", lambda **p: Qm9Spec(**p))
    register("qm7", Qm7Spec)
    register("xtb_molecules", lambda **p: XtbMoleculesSpec(**{**p, "vibrations": False}))
    register("xtb_molecules_vib", lambda **p: XtbMoleculesSpec(**{**p, "vibrations": True}))
