"""The phonopy driver: finite-displacement phonons of a crystal with any ASE calculator.

``compute_phonons`` runs one structure through phonopy (Togo & Tanaka, Scr. Mater. 108, 1 (2015))
step by step: the supercell (``supercell_matrix_for``: the smallest diagonal multiple of the cell
whose three perpendicular widths reach a length), phonopy's symmetry-reduced displacements
(``set_displacements``; or stored ones, to reproduce a calculation exactly), the calculator's
forces on every supercell minus its residual forces on the undisplaced one (``supercell_forces``),
force constants and frequencies on a Γ-centred q-mesh (``run_force_constants_and_mesh``),
frequencies along a path (``band_frequencies``; ``band_path`` gives seekpath's standard path in the
cell's own reciprocal basis) and phonopy's thermal properties on the mesh
(``mesh_thermal_properties``). Frequencies are in THz; phonopy reports an imaginary frequency iν
as -ν.

``potential_check_phonons`` is the potentials task's phonon check on an fcc primitive cell, with
the DOS conventions of ``sim.phonon_dos`` (the phonons family's).

The phonons family makes its ``emt_phonons`` dataset and runs its potential route with this
module; the potentials task uses ``potential_check_phonons``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from matscibench.sim import phonon_dos as DOS

__all__ = [
    "PhononResult",
    "cell_heights",
    "supercell_matrix_for",
    "band_path",
    "phonopy_atoms",
    "displaced_positions",
    "set_displacements",
    "supercell_forces",
    "run_force_constants_and_mesh",
    "band_frequencies",
    "mesh_thermal_properties",
    "compute_phonons",
    "potential_check_phonons",
]

def cell_heights(cell: np.ndarray) -> np.ndarray:
    """Perpendicular widths (Å) of a cell: volume / area of the opposite face."""
    cell = np.asarray(cell, dtype=float)
    vol = abs(float(np.linalg.det(cell)))
    return np.array([vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)])


def supercell_matrix_for(cell: np.ndarray, min_length: float) -> np.ndarray:
    """Smallest diagonal supercell (3x3 int) whose perpendicular widths are all >= ``min_length`` Å."""
    h = cell_heights(cell)
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

    def imaginary_branches(self, tol: float = DOS.IMAGINARY_TOL_THZ) -> int:
        """Branches imaginary somewhere on the mesh or the path."""
        f = self.mesh_frequencies
        if self.band_frequencies is not None and self.band_frequencies.size:
            f = np.concatenate([f, self.band_frequencies])
        return DOS.imaginary_branches(f, tol)


def phonopy_atoms(numbers, cell, frac):
    """phonopy's ``PhonopyAtoms`` of a crystal (atomic numbers, cell in Å, fractional coordinates)."""
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(numbers=np.asarray(numbers, int), cell=np.asarray(cell, float), scaled_positions=np.asarray(frac, float))


def displaced_positions(base: np.ndarray, atom: int, vec: np.ndarray) -> np.ndarray:
    """A copy of the positions ``base`` (Å) with ``atom`` moved by ``vec`` (Å)."""
    out = base.copy()
    out[atom] += vec
    return out


def set_displacements(ph: Any, displacement: float, displacements: Sequence[tuple[int, np.ndarray]] | None) -> list[tuple[int, np.ndarray]]:
    """Give phonopy its displacements and return them as [(supercell atom, vector Å), ...]: the
    stored ``displacements`` when given, else phonopy's symmetry-reduced ones of ``displacement`` Å
    (plus and minus where symmetry requires)."""
    if displacements is None:
        ph.generate_displacements(distance=float(displacement), is_plusminus="auto")
        return [(int(d["number"]), np.asarray(d["displacement"], float)) for d in ph.dataset["first_atoms"]]
    disps = [(int(a), np.asarray(v, float)) for a, v in displacements]
    ph.dataset = {"natom": len(ph.supercell.numbers), "first_atoms": [{"number": a, "displacement": v.copy()} for a, v in disps]}
    return disps


def supercell_forces(
    numbers: np.ndarray, cell: np.ndarray, positions: Sequence[np.ndarray], calc: Any, *, keep_frames: bool = False,
    describe: str = "",
) -> tuple[list[np.ndarray], list[tuple[np.ndarray, np.ndarray, float]] | None, float]:
    """(forces eV/Å of each supercell, frames or None, seconds spent) with ``calc`` on the
    supercells at ``positions`` (the undisplaced one first). ``keep_frames`` also records
    (positions, forces, energy eV) of each. Raises ``ModelOutputError`` naming ``describe`` and the
    supercell when the calculator returns non-finite or mis-shaped forces."""
    from ase import Atoms

    from matscibench.errors import ModelOutputError

    n_sc = len(numbers)
    frames = [] if keep_frames else None
    forces = []
    t0 = time.perf_counter()
    for k, pos in enumerate(positions):
        at = Atoms(numbers=numbers, positions=pos, cell=cell, pbc=True)
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
    return forces, frames, time.perf_counter() - t0


def run_force_constants_and_mesh(ph: Any, forces: Sequence[np.ndarray], mesh: float | Sequence[int]) -> None:
    """Force constants from the displaced supercells' forces minus the undisplaced one's
    (``forces[0]``), then frequencies on a Γ-centred, symmetry-reduced q-mesh (phonopy's length
    in Å or three numbers)."""
    f0 = forces[0]
    ph.forces = np.asarray([f - f0 for f in forces[1:]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph.produce_force_constants(show_drift=False)
        ph.run_mesh(mesh if np.isscalar(mesh) else [int(x) for x in mesh], is_gamma_center=True, is_mesh_symmetry=True)


def band_frequencies(ph: Any, qpoints: np.ndarray | None) -> np.ndarray | None:
    """Frequencies (THz) at ``qpoints`` (reduced coordinates), (n_q, n_branches); None without."""
    if qpoints is None or not len(qpoints):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph.run_qpoints(np.asarray(qpoints, float))
    return np.asarray(ph.qpoints.frequencies, dtype=float)


def mesh_thermal_properties(ph: Any, temperatures: Sequence[float] | None, n_atoms: int) -> dict[str, np.ndarray] | None:
    """phonopy's harmonic thermal properties on its mesh at ``temperatures`` (K), per atom of a cell
    of ``n_atoms``: ``cv`` and ``entropy`` in J/(K·mol atoms), ``free_energy`` in meV/atom; None
    without temperatures."""
    if temperatures is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # phonopy's note on the three zero modes at Γ
        ph.run_thermal_properties(temperatures=list(temperatures))
    tp = ph.thermal_properties
    return {
        "cv": np.asarray(tp.heat_capacity, float) / n_atoms,
        "entropy": np.asarray(tp.entropy, float) / n_atoms,
        # kJ/mol of cells -> meV/atom
        "free_energy": np.asarray(tp.free_energy, float) / n_atoms * 1e3 / 96.48533212331001,
    }


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

    t_start = time.perf_counter()
    P = np.asarray(supercell_matrix, dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy.Phonopy(phonopy_atoms(numbers, cell, frac), supercell_matrix=P, primitive_matrix="P")
    sc = ph.supercell
    sc_numbers = np.asarray(sc.numbers, dtype=int)
    sc_cell = np.asarray(sc.cell, dtype=float)
    disps = set_displacements(ph, displacement, displacements)
    base = np.asarray(sc.positions, dtype=float)
    if supercell_positions is None:
        positions = [base] + [displaced_positions(base, a, v) for a, v in disps]
    else:
        positions = [np.asarray(p, dtype=float) for p in supercell_positions]
        if len(positions) != len(disps) + 1:
            raise ValueError(f"{describe}: {len(positions)} supercells for {len(disps)} displacements (+1 undisplaced)")
    forces, frames, force_s = supercell_forces(sc_numbers, sc_cell, positions, calc, keep_frames=keep_frames,
                                               describe=describe)
    run_force_constants_and_mesh(ph, forces, mesh)
    mesh_numbers = np.asarray(ph.mesh.mesh_numbers, dtype=int)
    band_f = band_frequencies(ph, band_qpoints)
    mesh_thermal = mesh_thermal_properties(ph, thermal_temperatures, len(numbers))
    return PhononResult(
        mesh_numbers=mesh_numbers,
        mesh_frequencies=np.asarray(ph.mesh.frequencies, dtype=float),
        mesh_weights=np.asarray(ph.mesh.weights, dtype=float),
        band_frequencies=band_f,
        supercell_matrix=P,
        displacements=disps,
        n_supercell_atoms=len(sc_numbers),
        n_force_calls=len(positions),
        force_s=force_s,
        total_s=time.perf_counter() - t_start,
        frames=frames,
        supercell_numbers=sc_numbers,
        supercell_cell=sc_cell,
        mesh_thermal=mesh_thermal,
    )


def potential_check_phonons(prim: Any, calc: Any, grid: np.ndarray, sigma: float = 0.2) -> dict[str, Any]:
    """The potentials task's phonon check on an fcc primitive cell (``families/potentials``).

    3x3x3 supercell, 0.01 Å displacements, 12x12x12 Γ-centred mesh. The conventions are the phonon
    family's (``sim.phonon_dos``): the DOS is the mesh frequencies broadened by Gaussians of
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

    cell = phonopy_atoms(prim.numbers, np.asarray(prim.cell), prim.get_scaled_positions())
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
    dos = DOS.normalize_dos(grid, DOS.smeared_dos(freqs, weights, grid, sigma))
    ph.run_thermal_properties(temperatures=[300.0])
    cv = float(np.asarray(ph.thermal_properties.heat_capacity)[0])
    return {"dos": dos, "max_freq": float(DOS.maximum_frequency(grid, dos)), "max_mesh_freq": float(freqs.max()),
            "cv": cv, "imag": int(DOS.imaginary_branches(freqs))}
