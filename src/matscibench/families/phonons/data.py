"""Datasets of the phonon family, and the phonopy code that makes (and scores) them.

A phonon dataset holds crystal structures with their phonon density of states (DOS) on a fixed
frequency grid (THz) and what follows from it (Cv(T), vibrational entropy and free energy, Debye
temperature, average and maximum frequency; definitions in ``matscibench.metrics.phonon``), and
where it was computed here, the band structure along the standard path and the displaced
supercells with their reference energies and forces.

Embedded, generated offline and cached (``emt_phonons``): phonopy with ASE's EMT on

* the elemental metals Al, Cu, Ag, Au, Ni, Pd, Pt on fcc, bcc and hcp lattices (relaxed with
  EMT, cell and positions), and
* the first ``n_alloys`` relaxed cells of the engine's ``emt_alloys`` dataset (1-8 atoms).

For each structure (``compute_phonons``): the cell is Niggli-reduced; the supercell is the
smallest diagonal multiple of it whose three perpendicular widths are all at least
``min_supercell_length`` Å (so a sphere of that diameter fits in it); phonopy's symmetry-reduced
finite displacements of ``displacement`` Å (plus and minus where symmetry requires); EMT forces on
every displaced supercell, minus the residual forces of the undisplaced one (the relaxation stops at
0.02 eV/Å); force constants; frequencies on a Γ-centred q-mesh of phonopy's length-based density
``mesh_length`` Å (symmetry-reduced, weighted) and along seekpath's standard path (HPKOT
convention, Hinuma et al., Comput. Mater. Sci. 128, 140 (2017)) expressed in the structure's own
reciprocal basis. The DOS is the mesh frequencies broadened by Gaussians of ``sigma`` THz on the
grid, then normalised to unit area on the grid. Structures with imaginary modes (any mesh or
path frequency below -0.05 THz: dynamically unstable under EMT, which is common for random bcc
and hcp decorations) or with modes above the grid are left out, and counted. The undisplaced and
displaced supercells are kept with their EMT energies (eV) and forces (eV/Å): they are the
training frames of the potential route.

Real (``chen2021_phonon_dos``): the phonon DOS of ~1,500 crystals computed with DFPT (Petretto et
al., Sci. Data 5, 180065 (2018)) as published by Chen et al., Adv. Sci. 8, 2004214 (2021) in
their tutorial repository (``ninarina12/phononDoS_tutorial``, ``data/data.csv``): columns
``structure`` (an ASE ``Atoms.todict()`` written as a Python literal with ``array(...)``),
``phfreq`` (cm⁻¹, 0-1000 in 51 points), ``phdos`` (max-normalised) and ``pdos``. No sha256 is
published; git records the file's blob id (SHA-1 of ``"blob <size>\\0" + content``), which is
checked; the sha256 computed on first read is kept in the cache metadata. The literal is parsed
with ``ast`` (never ``eval``).
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matscibench.data.base import DatasetSpec, ProgressFn
from matscibench.data.cache import fetch_file, file_lock, find_local, verify_file, read_npz_cache, write_npz_cache
from matscibench.errors import ChecksumError, DatasetError
from matscibench.metrics import phonon as PHM
from matscibench.paths import cache_dir

__all__ = [
    "PhononDataset",
    "PhononResult",
    "supercell_matrix_for",
    "band_path",
    "compute_phonons",
    "phonon_targets",
    "EmtPhononSpec",
    "ChenPhononDosSpec",
    "read_chen_csv",
    "parse_atoms_literal",
    "git_blob_sha1",
    "potential_check_phonons",
    "register_datasets",
    "chen2021_split",
    "CM1_PER_THZ",
    "THERMAL_GRID_K",
]

GENERATOR_VERSION = 1
#: 1 THz in cm⁻¹ (1e12 / c, c in cm/s)
CM1_PER_THZ = 1e12 / 2.99792458e10
#: temperatures (K) of the stored Cv(T), S(T), F(T) curves
THERMAL_GRID_K = tuple(float(t) for t in range(10, 1001, 10))
#: default frequency grid (THz): 0 to 15 in steps of 0.1
DEFAULT_GRID = (0.0, 15.0, 0.1)


def frequency_grid(start: float, stop: float, step: float) -> np.ndarray:
    n = int(round((stop - start) / step)) + 1
    return np.round(start + step * np.arange(n), 10)


# ===================================================================================== phonopy
def _heights(cell: np.ndarray) -> np.ndarray:
    """Perpendicular widths (Å) of a cell: volume / area of the opposite face."""
    cell = np.asarray(cell, dtype=float)
    vol = abs(float(np.linalg.det(cell)))
    return np.array([vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)])


def supercell_matrix_for(cell: np.ndarray, min_length: float) -> np.ndarray:
    """Smallest diagonal supercell (3x3 int) whose perpendicular widths are all >= ``min_length`` Å."""
    h = _heights(cell)
    return np.diag(np.maximum(1, np.ceil(float(min_length) / h - 1e-9)).astype(int))


def band_path(cell: np.ndarray, frac: np.ndarray, numbers: np.ndarray, reference_distance: float = 0.1) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """q-points (reduced coordinates of this cell's reciprocal basis) along the standard path.

    seekpath's HPKOT path of the crystal, mapped back onto the given cell (so phonopy can use the
    cell as it is); ``reference_distance`` is seekpath's spacing between points (1/Å). Returns
    (q-points (n, 3), [(index, label), ...] of the high-symmetry points). When seekpath cannot
    classify the cell, the path Γ-X-M-R-Γ of the cell's own reciprocal basis is used.
    """
    try:
        import seekpath

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = seekpath.get_explicit_k_path_orig_cell(
                (np.asarray(cell, float), np.asarray(frac, float), np.asarray(numbers, int)), reference_distance=float(reference_distance)
            )
        q = np.asarray(res["explicit_kpoints_rel"], dtype=float)
        labels = [(i, str(lab).replace("GAMMA", "Γ")) for i, lab in enumerate(res["explicit_kpoints_labels"]) if lab]
        return q, labels
    except Exception:  # noqa: BLE001 - seekpath raises several kinds of errors
        corners = np.array([[0, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0], [0.5, 0.5, 0.5], [0, 0, 0]], float)
        names = ["Γ", "X", "M", "R", "Γ"]
        pts, labels = [], []
        for a, b, na in zip(corners[:-1], corners[1:], names[:-1]):
            labels.append((len(pts), na))
            for t in np.linspace(0, 1, 10, endpoint=False):
                pts.append(a + t * (b - a))
        labels.append((len(pts), names[-1]))
        pts.append(corners[-1])
        return np.asarray(pts), labels


@dataclass
class PhononResult:
    """phonopy's output for one structure with one calculator (frequencies in THz)."""

    mesh_numbers: np.ndarray
    mesh_frequencies: np.ndarray  # (n_q, n_branches), irreducible q-points
    mesh_weights: np.ndarray  # (n_q,)
    band_frequencies: np.ndarray | None  # (n_path, n_branches)
    supercell_matrix: np.ndarray
    displacements: list[tuple[int, np.ndarray]]
    n_supercell_atoms: int
    n_force_calls: int
    force_s: float
    total_s: float
    #: (positions, forces, energy) of the undisplaced supercell then each displaced one (keep_frames)
    frames: list[tuple[np.ndarray, np.ndarray, float]] | None = None
    supercell_numbers: np.ndarray | None = None
    supercell_cell: np.ndarray | None = None
    #: phonopy's own thermal properties on the q-mesh at ``thermal_temperatures`` (per mole of atoms)
    mesh_thermal: dict[str, np.ndarray] | None = None

    @property
    def min_frequency(self) -> float:
        m = float(np.min(self.mesh_frequencies))
        if self.band_frequencies is not None and self.band_frequencies.size:
            m = min(m, float(np.min(self.band_frequencies)))
        return m

    @property
    def max_frequency(self) -> float:
        m = float(np.max(self.mesh_frequencies))
        if self.band_frequencies is not None and self.band_frequencies.size:
            m = max(m, float(np.max(self.band_frequencies)))
        return m

    def imaginary_branches(self, tol: float = PHM.IMAGINARY_TOL_THZ) -> int:
        """Branches imaginary somewhere on the mesh or the path."""
        f = self.mesh_frequencies
        if self.band_frequencies is not None and self.band_frequencies.size:
            f = np.concatenate([f, self.band_frequencies])
        return PHM.imaginary_branches(f, tol)


def _phonopy_atoms(numbers, cell, frac):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(numbers=np.asarray(numbers, int), cell=np.asarray(cell, float), scaled_positions=np.asarray(frac, float))


def compute_phonons(
    numbers: np.ndarray,
    cell: np.ndarray,
    frac: np.ndarray,
    calc: Any,
    *,
    supercell_matrix: np.ndarray,
    displacement: float = 0.01,
    displacements: Sequence[tuple[int, np.ndarray]] | None = None,
    supercell_positions: Sequence[np.ndarray] | None = None,
    mesh: float | Sequence[int] = 40.0,
    band_qpoints: np.ndarray | None = None,
    keep_frames: bool = False,
    thermal_temperatures: Sequence[float] | None = None,
    describe: str = "",
) -> PhononResult:
    """Finite-displacement phonons of one crystal with an ASE calculator (phonopy).

    ``displacements`` [(supercell atom index, vector Å), ...] and ``supercell_positions`` (Å, the
    undisplaced supercell first, then one per displacement) reproduce a stored calculation
    exactly; without them phonopy generates the displacements (``displacement`` Å). Forces of the
    undisplaced supercell are subtracted from every displaced one. ``mesh`` is phonopy's mesh
    (a length in Å or three numbers). Raises ``ModelOutputError`` naming ``describe`` and the
    supercell when the calculator returns non-finite or mis-shaped forces.
    """
    import phonopy
    from ase import Atoms

    from matscibench.errors import ModelOutputError

    t_start = time.perf_counter()
    unit = _phonopy_atoms(numbers, cell, frac)
    P = np.asarray(supercell_matrix, dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy.Phonopy(unit, supercell_matrix=P, primitive_matrix="P")
    sc = ph.supercell
    n_sc = len(sc.numbers)
    sc_numbers = np.asarray(sc.numbers, dtype=int)
    sc_cell = np.asarray(sc.cell, dtype=float)
    if displacements is None:
        ph.generate_displacements(distance=float(displacement), is_plusminus="auto")
        disps = [(int(d["number"]), np.asarray(d["displacement"], float)) for d in ph.dataset["first_atoms"]]
    else:
        disps = [(int(a), np.asarray(v, float)) for a, v in displacements]
        ph.dataset = {"natom": n_sc, "first_atoms": [{"number": a, "displacement": v.copy()} for a, v in disps]}
    base = np.asarray(sc.positions, dtype=float)
    if supercell_positions is None:
        positions = [base] + [_displaced(base, a, v) for a, v in disps]
    else:
        positions = [np.asarray(p, dtype=float) for p in supercell_positions]
        if len(positions) != len(disps) + 1:
            raise ValueError(f"{describe}: {len(positions)} supercells for {len(disps)} displacements (+1 undisplaced)")

    frames = [] if keep_frames else None
    forces = []
    t0 = time.perf_counter()
    for k, pos in enumerate(positions):
        at = Atoms(numbers=sc_numbers, positions=pos, cell=sc_cell, pbc=True)
        at.calc = calc
        if keep_frames:
            e = float(at.get_potential_energy())
        f = np.asarray(at.get_forces(), dtype=float)
        if f.shape != (n_sc, 3) or not np.isfinite(f).all():
            what = "the undisplaced supercell" if k == 0 else f"displaced supercell {k} of {len(positions) - 1}"
            bad = int((~np.isfinite(f)).sum()) if f.size else 0
            raise ModelOutputError(
                f"{describe}: forces on {what} ({n_sc} atoms) have shape {f.shape} with {bad} non-finite values; "
                f"expected ({n_sc}, 3) finite forces (eV/Å)"
            )
        forces.append(f)
        if keep_frames:
            frames.append((np.asarray(at.positions, float).copy(), f.copy(), e))
    force_s = time.perf_counter() - t0
    f0 = forces[0]
    ph.forces = np.asarray([f - f0 for f in forces[1:]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph.produce_force_constants(show_drift=False)
        ph.run_mesh(mesh if np.isscalar(mesh) else [int(x) for x in mesh], is_gamma_center=True, is_mesh_symmetry=True)
    mesh_numbers = np.asarray(ph.mesh.mesh_numbers, dtype=int)
    band_f = None
    if band_qpoints is not None and len(band_qpoints):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ph.run_qpoints(np.asarray(band_qpoints, float))
        band_f = np.asarray(ph.qpoints.frequencies, dtype=float)
    mesh_thermal = None
    if thermal_temperatures is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # phonopy's note on the three zero modes at Γ
            ph.run_thermal_properties(temperatures=list(thermal_temperatures))
        tp = ph.thermal_properties
        n = len(numbers)
        mesh_thermal = {
            "cv": np.asarray(tp.heat_capacity, float) / n,
            "entropy": np.asarray(tp.entropy, float) / n,
            # kJ/mol of cells -> meV/atom
            "free_energy": np.asarray(tp.free_energy, float) / n * 1e3 / 96.48533212331001,
        }
    return PhononResult(
        mesh_numbers=mesh_numbers,
        mesh_frequencies=np.asarray(ph.mesh.frequencies, dtype=float),
        mesh_weights=np.asarray(ph.mesh.weights, dtype=float),
        band_frequencies=band_f,
        supercell_matrix=P,
        displacements=disps,
        n_supercell_atoms=n_sc,
        n_force_calls=len(positions),
        force_s=force_s,
        total_s=time.perf_counter() - t_start,
        frames=frames,
        supercell_numbers=sc_numbers,
        supercell_cell=sc_cell,
        mesh_thermal=mesh_thermal,
    )


def _displaced(base: np.ndarray, atom: int, vec: np.ndarray) -> np.ndarray:
    out = base.copy()
    out[atom] += vec
    return out


def phonon_targets(grid: np.ndarray, dos: np.ndarray, temperatures: Sequence[float] = THERMAL_GRID_K) -> dict[str, np.ndarray]:
    """Everything derived from DOS curves (n, n_grid): thermal curves and scalar targets."""
    dos = np.atleast_2d(dos)
    th = PHM.thermal_properties(grid, dos, temperatures)
    return {
        "cv": th["cv"],
        "entropy": th["entropy"],
        "free_energy": th["free_energy"],
        "debye_temperature": np.atleast_1d(PHM.debye_temperature(grid, dos)),
        "avg_frequency": np.atleast_1d(PHM.average_frequency(grid, dos)),
        "max_frequency": np.atleast_1d(PHM.maximum_frequency(grid, dos)),
    }


def potential_check_phonons(prim: Any, calc: Any, grid: np.ndarray, sigma: float = 0.2) -> dict[str, Any]:
    """The potentials task's phonon check on an fcc primitive cell (``tasks.potential``).

    3x3x3 supercell, 0.01 Å displacements, 12x12x12 Γ-centred mesh. The conventions are the phonon
    family's (``metrics.phonon``): the DOS is the mesh frequencies broadened by Gaussians of
    ``sigma`` THz (``smeared_dos``) and normalised to unit area on ``grid`` (``normalize_dos``); the
    maximum frequency is the frequency below which 99 % of the modes lie (``maximum_frequency``);
    imaginary modes are the branches whose lowest mesh frequency is below ``-IMAGINARY_TOL_THZ``
    (``imaginary_branches``). Also ``max_mesh_freq`` (the largest mesh frequency, THz) and phonopy's
    Cv(300 K) (J/(K·mol) per mole of cells).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # phonopy's notes on acoustic modes of poor potentials
        return _potential_check_phonons(prim, calc, grid, sigma)


def _potential_check_phonons(prim: Any, calc: Any, grid: np.ndarray, sigma: float) -> dict[str, Any]:
    import phonopy
    from ase import Atoms

    cell = _phonopy_atoms(prim.numbers, np.asarray(prim.cell), prim.get_scaled_positions())
    ph = phonopy.Phonopy(cell, supercell_matrix=np.eye(3, dtype=int) * 3, primitive_matrix=None)
    ph.generate_displacements(distance=0.01)
    forces = []
    for sc in ph.supercells_with_displacements:
        at = Atoms(symbols=sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
        at.calc = calc
        forces.append(np.asarray(at.get_forces(), float))
    ph.forces = np.asarray(forces)
    ph.produce_force_constants()
    ph.run_mesh([12, 12, 12], is_gamma_center=True)
    freqs = np.asarray(ph.mesh.frequencies, float)
    weights = np.asarray(ph.mesh.weights, float)
    dos = PHM.normalize_dos(grid, PHM.smeared_dos(freqs, weights, grid, sigma))
    ph.run_thermal_properties(temperatures=[300.0])
    cv = float(np.asarray(ph.thermal_properties.heat_capacity)[0])
    return {"dos": dos, "max_freq": float(PHM.maximum_frequency(grid, dos)), "max_mesh_freq": float(freqs.max()),
            "cv": cv, "imag": int(PHM.imaginary_branches(freqs))}


# ===================================================================================== dataset
@dataclass
class PhononDataset:
    """Structures with their phonon DOS and what follows from it.

    ``cells[i]``, ``numbers[i]``, ``frac[i]`` describe structure i (Å); ``dos`` is (n, n_grid) on
    ``frequencies`` (THz), unit area; ``targets`` holds the derived arrays of ``phonon_targets``
    on ``temperatures`` (K). Computed sets also have ``bands`` (q-points and frequencies along the
    path), the phonopy set-up (``supercell_matrices``, ``mesh_numbers``, ``displacements``) and
    the labelled supercells (``frames``, ``frame_structure``).
    """

    name: str
    checksum: str
    source: str
    reference: str
    ids: np.ndarray
    numbers: list[np.ndarray]
    cells: np.ndarray
    frac: list[np.ndarray]
    frequencies: np.ndarray
    dos: np.ndarray
    targets: dict[str, np.ndarray]
    temperatures: np.ndarray
    groups: np.ndarray
    sigma_THz: float | None = None
    band_qpoints: list[np.ndarray] | None = None
    band_frequencies: list[np.ndarray] | None = None
    band_labels: list[list[tuple[int, str]]] | None = None
    supercell_matrices: np.ndarray | None = None
    mesh_numbers: np.ndarray | None = None
    displacements: list[list[tuple[int, np.ndarray]]] | None = None
    frame_arrays: dict[str, np.ndarray] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_atoms(self) -> np.ndarray:
        return np.array([len(z) for z in self.numbers], dtype=int)

    @property
    def has_frames(self) -> bool:
        return self.frame_arrays is not None and len(self.frame_arrays.get("frame_structure", ())) > 0

    @property
    def has_bands(self) -> bool:
        return self.band_frequencies is not None

    def elements(self) -> set[str]:
        from ase.data import chemical_symbols

        return {chemical_symbols[int(z)] for zs in self.numbers for z in zs}

    def atoms(self, i: int):
        from ase import Atoms

        return Atoms(numbers=self.numbers[i], cell=self.cells[i], scaled_positions=self.frac[i], pbc=True)

    def structure(self, i: int):
        from pymatgen.core import Lattice, Structure

        return Structure(Lattice(self.cells[i]), [int(z) for z in self.numbers[i]], self.frac[i], coords_are_cartesian=False)

    def structures(self, idx: Sequence[int] | None = None) -> list:
        idx = range(len(self)) if idx is None else idx
        return [self.structure(int(i)) for i in idx]

    def formula(self, i: int) -> str:
        from ase.formula import Formula

        from ase.data import chemical_symbols

        return Formula("".join(chemical_symbols[int(z)] for z in self.numbers[i])).reduce()[0].format("metal")

    def frames_of(self, structures: Sequence[int]) -> list:
        """Labelled supercells (ASE ``Atoms`` with ``info["energy"]`` eV, ``arrays["forces"]`` eV/Å,
        ``info["system"]`` = structure id, ``info["group"]`` = "undisplaced" / "displaced") of the
        given structures, in their order."""
        if not self.has_frames:
            return []
        from ase import Atoms

        fa = self.frame_arrays
        owner = fa["frame_structure"]
        offs = np.concatenate([[0], np.cumsum(fa["frame_n_atoms"])])
        sc_offs = np.concatenate([[0], np.cumsum(fa["sc_n_atoms"])])
        out = []
        for s in structures:
            s = int(s)
            zs = fa["sc_numbers"][sc_offs[s] : sc_offs[s + 1]]
            for k in np.nonzero(owner == s)[0]:
                a, b = offs[k], offs[k + 1]
                at = Atoms(numbers=zs, positions=fa["frame_positions"][a:b], cell=fa["sc_cells"][s], pbc=True)
                at.arrays["forces"] = fa["frame_forces"][a:b].copy()
                at.info = {"energy": float(fa["frame_energy"][k]), "system": str(self.ids[s]),
                           "group": "undisplaced" if fa["frame_disp_index"][k] < 0 else "displaced"}
                out.append(at)
        return out

    def supercell_positions(self, s: int) -> list[np.ndarray] | None:
        """Positions (Å) of the stored undisplaced then displaced supercells of structure ``s``."""
        if not self.has_frames:
            return None
        fa = self.frame_arrays
        offs = np.concatenate([[0], np.cumsum(fa["frame_n_atoms"])])
        ks = np.nonzero(fa["frame_structure"] == int(s))[0]
        ks = ks[np.argsort(fa["frame_disp_index"][ks], kind="stable")]
        return [fa["frame_positions"][offs[k] : offs[k + 1]] for k in ks]

    def scalar_table(self):
        """One row per structure: id, formula, group, n_atoms and the scalar targets (units in names)."""
        import pandas as pd

        T = list(self.temperatures)
        df = pd.DataFrame({"id": self.ids, "formula": [self.formula(i) for i in range(len(self))], "group": self.groups,
                           "n_atoms": self.n_atoms,
                           "avg_frequency_THz": self.targets["avg_frequency"], "max_frequency_THz": self.targets["max_frequency"],
                           "debye_temperature_K": self.targets["debye_temperature"]})
        for t in PHM.THERMAL_TEMPERATURES_K:
            if t in T:
                j = T.index(t)
                df[f"cv_{t:g}K_J_per_K_mol"] = self.targets["cv"][:, j]
                df[f"entropy_{t:g}K_J_per_K_mol"] = self.targets["entropy"][:, j]
                df[f"free_energy_{t:g}K_meV_per_atom"] = self.targets["free_energy"][:, j]
        return df


def _ragged(parts: Sequence[np.ndarray], dtype=float, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    lens = np.array([len(p) for p in parts], dtype=np.int64)
    if width is None:
        flat = np.concatenate([np.asarray(p, dtype=dtype).ravel() for p in parts]) if parts else np.empty(0, dtype)
    else:
        flat = np.concatenate([np.asarray(p, dtype=dtype).reshape(-1, width) for p in parts]) if parts else np.empty((0, width), dtype)
    return flat, lens


def _split(flat: np.ndarray, lens: np.ndarray) -> list[np.ndarray]:
    offs = np.concatenate([[0], np.cumsum(lens)])
    return [flat[offs[i] : offs[i + 1]] for i in range(len(lens))]


def _content_hash(arr: dict[str, np.ndarray], salt: str) -> str:
    h = hashlib.sha256(salt.encode())
    for key in sorted(arr):
        v = np.asarray(arr[key])
        h.update(key.encode())
        if v.dtype.kind == "f":
            h.update(np.round(np.nan_to_num(v, nan=1e300), 8).tobytes())
        elif v.dtype.kind in "USO":
            h.update("|".join(map(str, v.ravel().tolist())).encode())
        else:
            h.update(np.ascontiguousarray(v).tobytes())
    return h.hexdigest()


class PhononSpec(DatasetSpec):
    """A phonon dataset cached as ``<cache>/datasets/<name>/<key>.npz``."""

    input_type = "structure"
    reference = "unknown"
    targets = {"dos": "1/THz (unit area)", "cv": "J/(K·mol)", "entropy": "J/(K·mol)", "free_energy": "meV/atom",
               "debye_temperature": "K", "avg_frequency": "THz", "max_frequency": "THz"}

    def cache_key(self) -> str:
        return "v1"

    def cache_path(self) -> Path:
        return cache_dir() / "datasets" / self.name / f"{self.cache_key()}.npz"

    def _build(self, progress: ProgressFn | None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Return (arrays, metadata) in the cache layout (see ``_pack``)."""
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
            arr, meta = self._build(progress)
            meta = {**meta, "checksum": _content_hash(arr, self.name), "reference": self.reference}
            write_npz_cache(path, arr, meta, default=float)

    def _read(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        path = self.cache_path()
        if not path.is_file():
            self.prepare()
        return read_npz_cache(path)

    def checksum(self) -> str:
        return self._read()[1]["checksum"]

    def load(self) -> PhononDataset:
        arr, meta = self._read()
        return _unpack(self.name, arr, meta)


def _pack(
    ids: Sequence[str],
    groups: Sequence[str],
    numbers: Sequence[np.ndarray],
    cells: Sequence[np.ndarray],
    frac: Sequence[np.ndarray],
    grid: np.ndarray,
    dos: np.ndarray,
    temperatures: Sequence[float] = THERMAL_GRID_K,
    *,
    bands: Sequence[tuple[np.ndarray, np.ndarray, list]] | None = None,
    phonopy_setup: Sequence[tuple[np.ndarray, np.ndarray, list]] | None = None,
    frames: Sequence[dict[str, np.ndarray]] | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Flatten one dataset into named arrays (the cache layout)."""
    T = np.asarray(temperatures, float)
    dos = normalize_rows(grid, dos)
    derived = phonon_targets(grid, dos, T)
    z_flat, n_atoms = _ragged(numbers, np.int16)
    f_flat, _ = _ragged(frac, float, 3)
    arr: dict[str, np.ndarray] = {
        "ids": np.asarray(ids, dtype=str),
        "groups": np.asarray(groups, dtype=str),
        "n_atoms": n_atoms,
        "numbers": z_flat,
        "frac": f_flat,
        "cells": np.asarray(cells, float).reshape(-1, 3, 3),
        "grid": np.asarray(grid, float),
        "dos": dos,
        "temperatures": T,
        **{f"target_{k}": v for k, v in derived.items()},
    }
    if bands is not None:
        q_flat, n_q = _ragged([b[0] for b in bands], float, 3)
        arr["band_n_q"] = n_q
        arr["band_qpoints"] = q_flat
        arr["band_frequencies"] = np.concatenate([np.asarray(b[1], float).ravel() for b in bands]) if bands else np.empty(0)
        arr["band_labels"] = np.asarray([json.dumps(b[2], ensure_ascii=False) for b in bands], dtype=str)
    if phonopy_setup is not None:
        arr["supercell_matrices"] = np.asarray([p[0] for p in phonopy_setup], dtype=np.int64).reshape(-1, 3, 3)
        arr["mesh_numbers"] = np.asarray([p[1] for p in phonopy_setup], dtype=np.int64).reshape(-1, 3)
        d_atoms = [np.asarray([a for a, _ in p[2]], dtype=np.int64) for p in phonopy_setup]
        d_vecs = [np.asarray([v for _, v in p[2]], dtype=float).reshape(-1, 3) for p in phonopy_setup]
        arr["disp_atom"], arr["disp_n"] = _ragged(d_atoms, np.int64)
        arr["disp_vec"], _ = _ragged(d_vecs, float, 3)
    if frames is not None:
        for k in ("sc_numbers", "sc_n_atoms", "sc_cells", "frame_structure", "frame_disp_index", "frame_n_atoms",
                  "frame_positions", "frame_forces", "frame_energy"):
            arr[k] = frames[k] if isinstance(frames, dict) else None
    if extra:
        arr.update({f"extra_{k}": np.asarray(v) for k, v in extra.items()})
    return arr


def normalize_rows(grid: np.ndarray, dos: np.ndarray) -> np.ndarray:
    return PHM.normalize_dos(grid, np.atleast_2d(np.asarray(dos, float)))


def _unpack(name: str, arr: dict[str, np.ndarray], meta: dict[str, Any]) -> PhononDataset:
    n_atoms = arr["n_atoms"]
    numbers = [z.astype(int) for z in _split(arr["numbers"], n_atoms)]
    frac = _split(arr["frac"], n_atoms)
    targets = {k[len("target_"):]: v for k, v in arr.items() if k.startswith("target_")}
    ds = PhononDataset(
        name=name,
        checksum=meta["checksum"],
        source=meta.get("source", ""),
        reference=meta.get("reference", ""),
        ids=arr["ids"].astype(object),
        numbers=numbers,
        cells=arr["cells"],
        frac=frac,
        frequencies=arr["grid"],
        dos=arr["dos"],
        targets=targets,
        temperatures=arr["temperatures"],
        groups=arr["groups"].astype(object),
        sigma_THz=meta.get("sigma_THz"),
        info={k: v for k, v in meta.items() if k not in ("checksum",)},
    )
    for k, v in arr.items():
        if k.startswith("extra_"):
            ds.info.setdefault("extra", {})[k[len("extra_"):]] = v
    if "band_n_q" in arr:
        n_q = arr["band_n_q"]
        ds.band_qpoints = _split(arr["band_qpoints"], n_q)
        nb = 3 * n_atoms
        ds.band_frequencies = [f.reshape(q, b) for f, q, b in zip(_split(arr["band_frequencies"], n_q * nb), n_q, nb)]
        ds.band_labels = [[(int(i), str(s)) for i, s in json.loads(x)] for x in arr["band_labels"]]
    if "supercell_matrices" in arr:
        ds.supercell_matrices = arr["supercell_matrices"]
        ds.mesh_numbers = arr["mesh_numbers"]
        atoms = _split(arr["disp_atom"], arr["disp_n"])
        vecs = _split(arr["disp_vec"], arr["disp_n"])
        ds.displacements = [[(int(a), v) for a, v in zip(aa, vv)] for aa, vv in zip(atoms, vecs)]
    if "frame_structure" in arr:
        ds.frame_arrays = {k: arr[k] for k in ("sc_numbers", "sc_n_atoms", "sc_cells", "frame_structure", "frame_disp_index",
                                               "frame_n_atoms", "frame_positions", "frame_forces", "frame_energy")}
    return ds


# ------------------------------------------------------------------------------- EMT generation
def _elemental_candidates() -> list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]]:
    """(id, group, numbers, cell, frac) of the relaxed elemental fcc/bcc/hcp cells."""
    from ase.build import bulk
    from ase.data import atomic_numbers, reference_states

    from matscibench.data.emt import EMT_ELEMENTS, relax_emt

    out = []
    for el in EMT_ELEMENTS:
        a = float(reference_states[atomic_numbers[el]]["a"])
        for lat in ("fcc", "bcc", "hcp"):
            if lat == "fcc":
                at = bulk(el, "fcc", a=a)
            elif lat == "bcc":
                at = bulk(el, "bcc", a=a * (0.5) ** (1 / 3))  # same volume per atom as fcc
            else:
                a_h = a / math.sqrt(2)
                at = bulk(el, "hcp", a=a_h, c=a_h * math.sqrt(8 / 3))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ok = relax_emt(at, fmax=0.005, steps=300)
            if ok:
                out.append((f"{el}-{lat}", "element", at.numbers.copy(), np.asarray(at.cell, float), at.get_scaled_positions()))
    return out


def _niggli(numbers, cell, frac):
    from ase import Atoms
    from ase.build import niggli_reduce

    at = Atoms(numbers=numbers, cell=cell, scaled_positions=frac, pbc=True)
    niggli_reduce(at)
    frac = at.get_scaled_positions(wrap=True)
    frac[np.abs(frac - 1.0) < 1e-10] = 0.0
    return at.numbers.copy(), np.asarray(at.cell, float), frac


def _phonon_record(args: tuple) -> tuple[str, dict | None]:
    """Phonons of one candidate with EMT (runs in a worker process)."""
    (sid, group, numbers, cell, frac, p) = args
    from matscibench.data.emt import _FastEMT

    numbers, cell, frac = _niggli(numbers, cell, frac)
    P = supercell_matrix_for(cell, p["min_supercell_length"])
    q, labels = band_path(cell, frac, numbers, p["band_distance"])
    grid = frequency_grid(*p["grid"])
    try:
        res = compute_phonons(numbers, cell, frac, _FastEMT(), supercell_matrix=P, displacement=p["displacement"],
                              mesh=p["mesh_length"], band_qpoints=q, keep_frames=True,
                              thermal_temperatures=PHM.THERMAL_TEMPERATURES_K, describe=sid)
    except Exception as exc:  # noqa: BLE001 - a failed candidate is a reject
        return f"error: {type(exc).__name__}", None
    if res.imaginary_branches() > 0:
        return "imaginary_modes", None
    if res.max_frequency > grid[-1] - 4 * p["sigma"]:
        return "above_grid", None
    dos = PHM.smeared_dos(res.mesh_frequencies, res.mesh_weights, grid, p["sigma"])
    return "ok", {
        "id": sid, "group": group, "numbers": numbers, "cell": cell, "frac": frac,
        "dos": dos, "band_q": q, "band_f": res.band_frequencies, "labels": labels,
        "P": res.supercell_matrix, "mesh": res.mesh_numbers, "disps": res.displacements,
        "frames": res.frames, "sc_numbers": res.supercell_numbers, "sc_cell": res.supercell_cell,
        "mesh_thermal": res.mesh_thermal, "mesh_max": res.max_frequency, "total_s": res.total_s,
        "force_s": res.force_s, "n_calls": res.n_force_calls, "n_sc": res.n_supercell_atoms,
    }


def _run_chunk(chunk: list[tuple]) -> list[tuple[str, dict | None]]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # tiny matrices; threads next to another worker only cost
        return [_phonon_record(a) for a in chunk]


class EmtPhononSpec(PhononSpec):
    """Phonons with EMT (phonopy) of elemental metals and the engine's EMT alloys.

    Parameters: ``n_alloys`` (the first n structures of ``emt_alloys`` with ``alloy_seed``),
    ``elements`` (include the elemental fcc/bcc/hcp cells), ``min_supercell_length`` (Å),
    ``displacement`` (Å), ``mesh_length`` (phonopy's length-based q-mesh density, Å), ``sigma``
    (Gaussian broadening of the DOS, THz), ``grid`` ((start, stop, step) THz), ``band_distance``
    (spacing of the path q-points, 1/Å), ``workers`` (processes; the output does not depend on it).
    """

    reference = "emt"
    citation = (
        "phonopy (Togo & Tanaka, Scr. Mater. 108, 1 (2015); Togo, J. Phys. Soc. Jpn. 92, 012001 (2023)) with EMT "
        "(Jacobsen, Stoltze, Nørskov, Surf. Sci. 366, 394 (1996)) as implemented in ASE; paths from seekpath "
        "(Hinuma et al., Comput. Mater. Sci. 128, 140 (2017)); generated by matscibench"
    )
    license = "generated locally (public domain)"

    def __init__(
        self,
        n_alloys: int = 250,
        alloy_seed: int = 0,
        elements: bool = True,
        min_supercell_length: float = 8.0,
        displacement: float = 0.01,
        mesh_length: float = 40.0,
        sigma: float = 0.2,
        grid: Sequence[float] = DEFAULT_GRID,
        band_distance: float = 0.1,
        workers: int | None = None,
    ) -> None:
        self.n_alloys = int(n_alloys)
        self.alloy_seed = int(alloy_seed)
        self.elements = bool(elements)
        self.params = {
            "min_supercell_length": float(min_supercell_length),
            "displacement": float(displacement),
            "mesh_length": float(mesh_length),
            "sigma": float(sigma),
            "grid": tuple(float(x) for x in grid),
            "band_distance": float(band_distance),
        }
        self.workers = workers
        self.name = "emt_phonons"
        self.description = (
            f"phonopy + EMT phonons of elemental metals and the first {self.n_alloys} EMT alloys (dynamically stable "
            "ones): DOS on a fixed THz grid, band structure, Cv(T), S(T), F(T), Debye temperature, displaced supercells"
        )

    def cache_key(self) -> str:
        ident = json.dumps([GENERATOR_VERSION, self.n_alloys, self.alloy_seed, self.elements, self.params], sort_keys=True)
        return "g%d-%s" % (GENERATOR_VERSION, hashlib.sha256(ident.encode()).hexdigest()[:12])

    def grid(self) -> np.ndarray:
        return frequency_grid(*self.params["grid"])

    def candidates(self) -> list[tuple]:
        from matscibench.families.registry import get_dataset

        cands: list[tuple] = []
        if self.elements:
            cands += [(sid, g, z, c, f, self.params) for sid, g, z, c, f in _elemental_candidates()]
        if self.n_alloys > 0:
            alloys = get_dataset("emt_alloys", n_structures=self.n_alloys, seed=self.alloy_seed).load()
            for sid, s in zip(alloys.ids, alloys.inputs):
                cands.append((str(sid), "alloy", np.asarray(s.atomic_numbers, int), np.asarray(s.lattice.matrix, float),
                              np.asarray(s.frac_coords, float), self.params))
        return cands

    def _build(self, progress: ProgressFn | None):
        from concurrent.futures import ProcessPoolExecutor

        t0 = time.perf_counter()
        cands = self.candidates()
        t_cand = time.perf_counter() - t0
        workers = max(1, int(self.workers or os.cpu_count() or 1))
        chunk = 8
        chunks = [cands[i : i + chunk] for i in range(0, len(cands), chunk)]
        results: list[tuple[str, dict | None]] = []
        if progress:
            progress("phonons with EMT", 0, len(cands))
        if workers == 1 or len(chunks) == 1:
            for c in chunks:
                results += _run_chunk(c)
                if progress:
                    progress("phonons with EMT", len(results), len(cands))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for res in pool.map(_run_chunk, chunks):
                    results += res
                    if progress:
                        progress("phonons with EMT", len(results), len(cands))
        wall = time.perf_counter() - t0
        recs = [r for reason, r in results if reason == "ok"]
        rejects: dict[str, int] = {}
        for reason, _ in results:
            if reason != "ok":
                rejects[reason] = rejects.get(reason, 0) + 1
        if not recs:
            raise DatasetError(f"dataset {self.name}: no dynamically stable structure among {len(cands)} candidates ({rejects})")
        grid = self.grid()
        frames = _frames_arrays(recs)
        mesh_cv = np.asarray([r["mesh_thermal"]["cv"] for r in recs])
        arr = _pack(
            [r["id"] for r in recs], [r["group"] for r in recs], [r["numbers"] for r in recs],
            [r["cell"] for r in recs], [r["frac"] for r in recs], grid, np.asarray([r["dos"] for r in recs]),
            bands=[(r["band_q"], r["band_f"], r["labels"]) for r in recs],
            phonopy_setup=[(r["P"], r["mesh"], r["disps"]) for r in recs],
            frames=frames,
            extra={"mesh_cv": mesh_cv, "mesh_max_frequency": np.asarray([r["mesh_max"] for r in recs]),
                   "n_force_calls": np.asarray([r["n_calls"] for r in recs]),
                   "supercell_atoms": np.asarray([r["n_sc"] for r in recs])},
        )
        meta = {
            "source": f"generated by matscibench (EMT phonons v{GENERATOR_VERSION}; emt_alloys n={self.n_alloys}, seed={self.alloy_seed})",
            "sigma_THz": self.params["sigma"],
            "params": self.params,
            "generation": {
                "candidates": len(cands),
                "accepted": len(recs),
                "rejected": dict(sorted(rejects.items())),
                "wall_s": round(wall, 3),
                "candidates_s": round(t_cand, 3),
                # timings stay out of the arrays (and so out of the checksum)
                "phonopy_s_total": round(float(sum(r["total_s"] for r in recs)), 3),
                "phonopy_s_per_structure_median": round(float(np.median([r["total_s"] for r in recs])), 4),
                "force_s_total": round(float(sum(r["force_s"] for r in recs)), 3),
                "workers": workers,
                "frames": int(len(frames["frame_structure"])),
                "mesh_cv_temperatures_K": list(PHM.THERMAL_TEMPERATURES_K),
            },
        }
        return arr, meta


def _frames_arrays(recs: list[dict]) -> dict[str, np.ndarray]:
    sc_numbers, sc_n, sc_cells = [], [], []
    owner, disp_idx, fn, pos, frc, en = [], [], [], [], [], []
    for s, r in enumerate(recs):
        sc_numbers.append(np.asarray(r["sc_numbers"], np.int16))
        sc_n.append(len(r["sc_numbers"]))
        sc_cells.append(r["sc_cell"])
        for k, (p, f, e) in enumerate(r["frames"]):
            owner.append(s)
            disp_idx.append(k - 1)
            fn.append(len(p))
            pos.append(p)
            frc.append(f)
            en.append(e)
    return {
        "sc_numbers": np.concatenate(sc_numbers),
        "sc_n_atoms": np.asarray(sc_n, np.int64),
        "sc_cells": np.asarray(sc_cells, float),
        "frame_structure": np.asarray(owner, np.int64),
        "frame_disp_index": np.asarray(disp_idx, np.int64),
        "frame_n_atoms": np.asarray(fn, np.int64),
        "frame_positions": np.concatenate(pos),
        "frame_forces": np.concatenate(frc),
        "frame_energy": np.asarray(en, float),
    }


# ------------------------------------------------------------------------------- Chen et al. CSV
#: where the CSV lives: the tutorial repository at the commit that added it
CHEN_COMMIT = "e1911bb556e091a42b3df478def93bd9674fabe3"
CHEN_URL = f"https://raw.githubusercontent.com/ninarina12/phononDoS_tutorial/{CHEN_COMMIT}/data/data.csv"
#: git's blob id of data/data.csv at that commit (the only published checksum)
CHEN_GIT_BLOB_SHA1 = "a20428522cf81f93207db1dcdb1de22e5b1b4cd6"
CHEN_RELPATH = "phonon_dos_chen2021/data.csv"


def git_blob_sha1(path: str | os.PathLike) -> str:
    """git's object id of a file: SHA-1 of ``b"blob <size>\\0"`` followed by the content."""
    p = Path(path)
    h = hashlib.sha1(f"blob {p.stat().st_size}\0".encode())
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_SAFE_NAMES = {"True": True, "False": False, "None": None, "nan": float("nan"), "inf": float("inf")}
_DTYPE_NAMES = {"float64", "float32", "int64", "int32", "int16", "int8", "uint8", "bool", "bool_", "complex128", "object"}


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _literal(node.operand)
        return -v if isinstance(node.op, ast.USub) else +v
    if isinstance(node, ast.Name) and node.id in _SAFE_NAMES:
        return _SAFE_NAMES[node.id]
    if isinstance(node, ast.Name) and node.id in _DTYPE_NAMES:
        return f"numpy.{node.id}"  # ``dtype=float64`` as numpy's repr writes it
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("np", "numpy"):
        if node.attr in _SAFE_NAMES:
            return _SAFE_NAMES[node.attr]
        return f"numpy.{node.attr}"  # a dtype name
    if isinstance(node, ast.Call):
        fn = node.func
        name = fn.id if isinstance(fn, ast.Name) else (fn.attr if isinstance(fn, ast.Attribute) else None)
        if name == "array" and len(node.args) == 1:
            kw = {k.arg: _literal(k.value) for k in node.keywords}
            dtype = kw.get("dtype")
            data = _literal(node.args[0])
            if isinstance(dtype, str):
                dtype = dtype.replace("numpy.", "")
            try:
                return np.asarray(data, dtype=dtype) if dtype not in (None, "object") else np.asarray(data)
            except TypeError:
                return np.asarray(data)
        raise ValueError(f"call to {name!r} is not allowed in a structure literal")
    raise ValueError(f"{type(node).__name__} is not allowed in a structure literal")


def parse_atoms_literal(text: str) -> dict[str, Any]:
    """Parse ``repr(Atoms.todict())`` safely: literals and ``array(..., dtype=...)`` calls only."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not a Python literal: {exc}") from None
    out = _literal(tree.body)
    if not isinstance(out, dict):
        raise ValueError(f"expected a dict, got {type(out).__name__}")
    return out


def read_chen_csv(path: str | os.PathLike, grid: np.ndarray | None = None) -> tuple[list[str], list, np.ndarray, np.ndarray]:
    """(ids, ASE Atoms, grid in THz, DOS rows) from a CSV in Chen et al.'s format.

    ``phfreq`` (cm⁻¹) becomes THz; the DOS keeps the file's grid unless ``grid`` (THz) is given,
    in which case it is interpolated (zero outside the file's range). Rows whose structure or DOS
    cannot be read raise ``DatasetError`` naming the file and row.
    """
    import pandas as pd
    from ase import Atoms

    df = pd.read_csv(path)
    missing = {"structure", "phfreq", "phdos"} - set(df.columns)
    if missing:
        raise DatasetError(f"{path}: missing column(s) {sorted(missing)}; expected Chen et al.'s structure, phfreq, phdos")
    ids, atoms, rows = [], [], []
    freq_ref = None
    for k, r in df.iterrows():
        rid = str(r["mp_id"]) if "mp_id" in df.columns and isinstance(r["mp_id"], str) and r["mp_id"] else f"row{k}"
        try:
            d = parse_atoms_literal(str(r["structure"]))
            at = Atoms(numbers=np.asarray(d["numbers"], int), positions=np.asarray(d["positions"], float),
                       cell=np.asarray(d["cell"], float), pbc=np.asarray(d.get("pbc", [True] * 3), bool))
            f = np.asarray(_literal(ast.parse(str(r["phfreq"]), mode="eval").body), float) / CM1_PER_THZ
            g = np.asarray(_literal(ast.parse(str(r["phdos"]), mode="eval").body), float)
        except Exception as exc:  # noqa: BLE001
            raise DatasetError(f"{path}: row {k} ({rid}) cannot be read: {exc}") from exc
        if f.shape != g.shape or f.ndim != 1:
            raise DatasetError(f"{path}: row {k} ({rid}) has {f.size} frequencies but {g.size} DOS values")
        if freq_ref is None:
            freq_ref = f
        if grid is None and not np.allclose(f, freq_ref):
            raise DatasetError(f"{path}: row {k} ({rid}) has another frequency grid; give a common grid")
        rows.append(np.interp(grid, f, g, left=0.0, right=0.0) if grid is not None else g)
        ids.append(rid)
        atoms.append(at)
    if not rows:
        raise DatasetError(f"{path}: no rows")
    return ids, atoms, np.asarray(grid if grid is not None else freq_ref, float), np.asarray(rows)


#: the published split of the CSV's rows (package data written by tools/make_chen2021_split.py)
CHEN_SPLIT_FILE = "chen2021_phonon_split.csv"
CHEN_SPLIT_CITATION = (
    "data/idx_train.txt, idx_valid.txt, idx_test.txt of ninarina12/phononDoS_tutorial @ e1911bb5 (Andrejevic, Chen, "
    "Smidt et al., e3nn tutorial accompanying Chen et al., Adv. Sci. 8, 2004214 (2021)): 1,192 / 141 / 189 rows of "
    "data/data.csv, element-balanced (train_valid_test_split, seed 12)"
)


def chen2021_split(n_rows: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, valid, test) row indices of Chen et al.'s CSV as published with it (``CHEN_SPLIT_CITATION``).

    The paper's own split (zhantaochen/phonondos_e3nn, ``models/200801_trteva_indices.pkl``,
    1,220 / 152 / 152) indexes the 1,524 entries of a pickle published only inside a zip, in an
    order no other file gives, so it cannot be mapped onto the 1,522 rows of this CSV; the
    tutorial's split, made by the same group for exactly this file, is used instead.
    ``n_rows``: the dataset's size, checked against the split's.
    """
    from importlib.resources import files

    path = files("matscibench") / "data" / "tables" / CHEN_SPLIT_FILE
    parts: dict[str, list[int]] = {"train": [], "valid": [], "test": []}
    for line in path.read_text().splitlines()[1:]:
        row, name = line.split(",")
        parts[name].append(int(row))
    total = sum(len(v) for v in parts.values())
    if n_rows is not None and total != n_rows:
        raise DatasetError(
            f"{path}: the published split covers {total} rows, the dataset has {n_rows}; it belongs to data/data.csv of "
            f"ninarina12/phononDoS_tutorial at {CHEN_COMMIT} (git blob {CHEN_GIT_BLOB_SHA1}); use that file"
        )
    return tuple(np.asarray(sorted(parts[k]), dtype=int) for k in ("train", "valid", "test"))  # type: ignore[return-value]


class ChenPhononDosSpec(PhononSpec):
    """Chen et al. (2021)'s phonon DOS set: ~1,500 crystals, DFPT DOS (Petretto et al. 2018)."""

    reference = "dft-dfpt"
    citation = (
        "Z. Chen, N. Andrejevic, T. Smidt, et al., Direct prediction of phonon density of states with Euclidean neural "
        "networks, Adv. Sci. 8, 2004214 (2021); DFPT data: G. Petretto et al., Sci. Data 5, 180065 (2018)"
    )
    license = "MIT (tutorial repository); data CC BY 4.0 (Petretto et al.)"

    def __init__(self, relpath: str = CHEN_RELPATH, git_sha1: str | None = CHEN_GIT_BLOB_SHA1, url: str | None = CHEN_URL,
                 name: str = "chen2021_phonon_dos") -> None:
        self.relpath = relpath
        self.git_sha1 = git_sha1
        self.url = url
        self.name = name
        self.description = "phonon DOS of ~1,500 crystals (DFPT, Petretto et al. 2018) in Chen et al. (2021)'s CSV (0-1000 cm⁻¹, 51 points)"

    def cache_key(self) -> str:
        return f"c1-{(self.git_sha1 or 'unchecked')[:12]}"

    def _source_status(self) -> str:
        return "local" if find_local(self.relpath) else "download"

    def _build(self, progress: ProgressFn | None):
        path = fetch_file(self.relpath, None, self.url)
        if self.git_sha1 is not None:
            got = git_blob_sha1(path)
            if got != self.git_sha1:
                raise ChecksumError(
                    f"{path}: git blob id is {got}, expected {self.git_sha1} (data/data.csv of ninarina12/phononDoS_tutorial at "
                    f"{CHEN_COMMIT}). The file is truncated or a different version; replace it with the published file."
                )
        sha256 = verify_file(path, None)
        ids, atoms, grid, rows = read_chen_csv(path)
        arr = _pack(ids, ["dfpt"] * len(ids), [a.numbers for a in atoms], [np.asarray(a.cell, float) for a in atoms],
                    [a.get_scaled_positions(wrap=True) for a in atoms], grid, rows)
        step = float(np.median(np.diff(grid)))
        return arr, {"source": str(path), "sha256": sha256, "git_blob_sha1": git_blob_sha1(path), "sigma_THz": step,
                     "url": self.url, "note": "DOS max-normalised in the file; stored with unit area on the grid"}


def register_datasets(register: Callable[[str, Callable[..., DatasetSpec]], None]) -> None:
    register("emt_phonons", EmtPhononSpec)
    register("chen2021_phonon_dos", ChenPhononDosSpec)
