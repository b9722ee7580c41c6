"""EMT, shared by several families: a fast EMT calculator and the relaxed EMT alloy generator.

``FastEMT`` (ASE's EMT with a faster neighbour list) labels the potentials and phonons datasets and
relaxes generated crystals; ``generate_emt_alloys`` makes the properties family's embedded dataset
(``emt_alloys``), which the phonons family and generation reuse.

The generator runs offline in well under two minutes on a laptop. A candidate is drawn from
``numpy.random.default_rng([seed, index])``:

1. a parent lattice (fcc, bcc or hcp) and one of a few supercells of its primitive cell
   (fcc and bcc: 1, 2, 4 or 8 atoms; hcp: 2, 4 or 8 atoms);
2. one, two or three of the seven EMT metals, spread over the sites at random with every chosen
   element present at least once;
3. a starting volume per atom from Vegard's law on the relaxed EMT fcc volumes per atom of the
   elements (the same volume per atom for bcc and hcp; ideal c/a = sqrt(8/3) for hcp);
4. the decorated supercell is reduced to its standardised primitive cell (spglib), so that the
   same decoration drawn in two different supercells relaxes along the same path and is
   recognised as a duplicate (a unary 8-atom fcc cell becomes the 1-atom cell).

The candidate is relaxed with EMT (atomic positions and all six cell degrees of freedom:
``ase.filters.UnitCellFilter`` + ``ase.optimize.BFGS``, fmax = ``FMAX`` eV/Å, at most
``MAX_STEPS`` steps). Candidates that do not converge, whose volume per atom moves by more than
``MAX_VOLUME_CHANGE`` (fraction) from the start, that end with two atoms closer than
``MIN_DISTANCE`` Å, or whose equation-of-state fit fails are rejected; two candidates that relax to
the same thing (same reduced formula and parent lattice, energies per atom within ``DEDUP_DE``
eV/atom and volumes per atom within ``DEDUP_DV`` Å³/atom) are one entry, the first one kept.

Targets (units in brackets):

* ``formation_energy_per_atom`` [eV/atom]: (E_total - sum_i n_i mu_i) / N, where mu_i is the
  lowest relaxed EMT energy per atom of pure element i among fcc, bcc and hcp (same relaxation);
* ``bulk_modulus`` [GPa]: Birch-Murnaghan fit (``ase.eos.EquationOfState``) to EMT energies at
  ``EOS_POINTS`` volumes spanning ±``EOS_STRAIN`` (fraction) around the relaxed volume, the cell
  scaled isotropically with the fractional coordinates fixed (an unrelaxed-ion bulk modulus);
* ``is_stable`` [bool]: formation energy < 0;
* ``energy_per_atom`` [eV/atom]: EMT total energy per atom (ASE's EMT energy zero);
* ``volume_per_atom`` [Å³/atom];
* ``lattice_type``: parent lattice, "fcc", "bcc" or "hcp";
* ``n_elements`` [int]: number of distinct elements.

Speed. ASE's EMT spends most of its time per call rebuilding its generic neighbour list (the
cell changes at every relaxation step) and comparing the atoms with the last ones it saw, so this
module uses ``FastEMT``: ASE's EMT, unchanged physics, with vesin's neighbour list for
small periodic cells and an exact (cheap) state comparison (2.2 -> 0.5 ms per energy+forces+stress
call on a 4-atom cell; energies, forces and stresses agree with ``ase.calculators.emt.EMT`` to
1e-13). The cell filter is ``UnitCellFilter`` rather than ``FrechetCellFilter``: the latter's
matrix logarithms and exponentials (scipy) cost several ms per step, many times the EMT call
(measured: 72 vs 9 ms per relaxation with BFGS), and both filters have the same minima (zero
forces and stress). Measured: 2,500 structures in ~40 s wall with ``workers=2`` on 2 cores.

Reproducibility: a candidate depends only on (seed, index); chunks of candidates run in worker
processes, and the parent merges them in index order, so the output does not depend on
``workers``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from ase import Atoms, units
from ase.build import bulk, make_supercell
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT
from ase.data import atomic_numbers, chemical_symbols, reference_states
from ase.eos import EquationOfState
from ase.filters import UnitCellFilter
from ase.optimize import BFGS

from matscibench.parallel import process_pool

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = [
    "EMT_ELEMENTS",
    "FastEMT",
    "GENERATOR_VERSION",
    "LATTICE_TYPES",
    "TARGET_COLUMNS",
    "generate_emt_alloys",
    "ElementReference",
    "elemental_references",
    "chemical_potentials",
    "relax_emt",
    "emt_bulk_modulus",
    "min_interatomic_distance",
    "make_candidate",
]

EMT_ELEMENTS = ("Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt")
GENERATOR_VERSION = 1  # bump when the output would change

LATTICE_TYPES = ("fcc", "bcc", "hcp")
TARGET_COLUMNS = (
    "formation_energy_per_atom",
    "bulk_modulus",
    "is_stable",
    "energy_per_atom",
    "volume_per_atom",
    "lattice_type",
    "n_elements",
)

#: relaxation: force criterion (eV/Å; the cell "forces" are virial / N in eV) and step cap
FMAX = 0.02
MAX_STEPS = 200
#: rejection: |V_relaxed / V_start - 1| above this (fraction), or any distance below this (Å)
MAX_VOLUME_CHANGE = 0.4
MIN_DISTANCE = 1.5
#: equation of state: number of volumes and the relative volume half-range
EOS_POINTS = 7
EOS_STRAIN = 0.05
#: deduplication tolerances: eV/atom and Å³/atom
DEDUP_DE = 1e-6
DEDUP_DV = 1e-4
#: candidates per task sent to a worker process
CHUNK_SIZE = 32

# Supercells as integer matrices acting on ASE's primitive cells (rows: new vectors in units of
# the primitive vectors), grouped by the number of atoms they hold.
_FCC_CONV = ((-1, 1, 1), (1, -1, 1), (1, 1, -1))  # conventional cubic cell, 4 atoms
_BCC_CONV = ((0, 1, 1), (1, 0, 1), (1, 1, 0))  # conventional cubic cell, 2 atoms
_ORTHO_HEX = ((1, 0, 0), (1, 2, 0), (0, 0, 1))  # orthohexagonal cell, 4 atoms


def _diag(a: int, b: int, c: int) -> tuple[tuple[int, ...], ...]:
    return ((a, 0, 0), (0, b, 0), (0, 0, c))


def _scale_rows(m: tuple[tuple[int, ...], ...], f: tuple[int, int, int]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(f[i] * x for x in row) for i, row in enumerate(m))


_SUPERCELLS: dict[str, dict[int, tuple[tuple[tuple[int, ...], ...], ...]]] = {
    "fcc": {
        1: (_diag(1, 1, 1),),
        2: (_diag(2, 1, 1), ((1, -1, 0), (1, 1, 0), (0, 0, 1))),
        4: (_FCC_CONV, _diag(2, 2, 1), _diag(4, 1, 1)),
        8: (_diag(2, 2, 2), _scale_rows(_FCC_CONV, (2, 1, 1)), ((1, -1, 0), (1, 1, 0), (0, 0, 4))),
    },
    "bcc": {
        1: (_diag(1, 1, 1),),
        2: (_BCC_CONV, _diag(2, 1, 1)),
        4: (_scale_rows(_BCC_CONV, (2, 1, 1)), _diag(2, 2, 1), _diag(4, 1, 1)),
        8: (_diag(2, 2, 2), _scale_rows(_BCC_CONV, (2, 2, 1)), _scale_rows(_BCC_CONV, (4, 1, 1))),
    },
    "hcp": {
        2: (_diag(1, 1, 1),),
        4: (_diag(2, 1, 1), _diag(1, 1, 2), _ORTHO_HEX),
        8: (_diag(2, 2, 1), _diag(2, 1, 2), _scale_rows(_ORTHO_HEX, (1, 1, 2))),
    },
}
#: probability of each cell size (atoms) given the lattice; small cells have few distinct
#: decorations, so most of their draws would be duplicates
_SIZE_WEIGHTS = {1: 0.02, 2: 0.06, 4: 0.37, 8: 0.55}
#: probability of 1, 2, 3 elements (renormalised over what the cell size allows)
_NEL_WEIGHTS = (0.02, 0.43, 0.55)


# --------------------------------------------------------------------------------------------
# A faster EMT: same physics as ase.calculators.emt.EMT
# --------------------------------------------------------------------------------------------


class _SmallCellNeighborList:
    """Drop-in for the ``update``/``get_neighbors`` part of ``ase.neighborlist.NeighborList``.

    Pairs come from vesin (full list with periodic image shifts, exact for cells smaller than the
    cutoff); ASE's own ``NeighborList`` rebuilt on every call made EMT ~4x slower on these cells.
    """

    def __init__(self, cutoff: float) -> None:
        import vesin

        self.cutoff = float(cutoff)
        self._nl = vesin.NeighborList(cutoff=self.cutoff, full_list=True)
        self._key: tuple[bytes, bytes] | None = None

    def update(self, atoms: Atoms) -> bool:
        cell = np.array(atoms.cell, dtype=float)
        pos = np.array(atoms.positions, dtype=float)
        key = (cell.tobytes(), pos.tobytes())
        if key == self._key:
            return False
        self._key = key
        i, j, S = self._nl.compute(points=pos, box=cell, periodic=True, quantities="ijS")
        order = np.argsort(i, kind="stable")
        i, j, S = np.asarray(i)[order], np.asarray(j)[order], np.asarray(S)[order]
        self._start = np.searchsorted(i, np.arange(len(pos) + 1))
        self._j = j
        self._S = S
        return True

    def get_neighbors(self, a: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self._start[a], self._start[a + 1]
        return self._j[lo:hi], self._S[lo:hi]


class FastEMT(EMT):
    """ASE's EMT with a vectorised small-cell neighbour list and an exact, cheap state check.

    EMT itself filters neighbours by its own cutoff (``rc_list``), so any list that contains all
    pairs within it gives the same sums; ours contains exactly those pairs.
    """

    def initialize(self, atoms: Atoms) -> None:
        super().initialize(atoms)
        self.nl = _SmallCellNeighborList(self.rc_list)

    def check_state(self, atoms: Atoms, tol: float = 1e-15) -> list[str]:
        old = self.atoms
        if old is None:
            return list(all_changes)
        changes = []
        if not np.array_equal(old.cell.array, atoms.cell.array):
            changes.append("cell")
        if not np.array_equal(old.pbc, atoms.pbc):
            changes.append("pbc")
        a1, a2 = old.arrays, atoms.arrays
        for name in set(a1) | set(a2):
            if name not in all_changes:
                continue
            if name not in a1 or name not in a2 or not np.array_equal(a1[name], a2[name]):
                changes.append(name)
        return changes


# --------------------------------------------------------------------------------------------
# Relaxation, equation of state, geometry checks
# --------------------------------------------------------------------------------------------


def relax_emt(atoms: Atoms, fmax: float = FMAX, steps: int = MAX_STEPS) -> bool:
    """Relax positions and cell of ``atoms`` in place with EMT; return whether it converged.

    ``fmax`` is in eV/Å (for the cell degrees of freedom ASE's ``UnitCellFilter`` uses the virial
    divided by the number of atoms, in eV). Attaches a fresh EMT calculator to ``atoms``.
    """
    atoms.calc = FastEMT()
    opt = BFGS(UnitCellFilter(atoms), logfile=None)
    return bool(opt.run(fmax=fmax, steps=steps))


def emt_bulk_modulus(atoms: Atoms, n_points: int = EOS_POINTS, strain: float = EOS_STRAIN) -> float:
    """Bulk modulus (GPa) of ``atoms`` from a Birch-Murnaghan fit of EMT E(V).

    Energies at ``n_points`` volumes evenly spaced in [1 - strain, 1 + strain] times the current
    volume, scaling the cell isotropically with fixed fractional coordinates. ``atoms`` is not
    modified. Raises ``ValueError`` when the fit fails or gives a non-positive modulus.
    """
    work = atoms.copy()
    work.calc = FastEMT()
    cell0 = np.array(atoms.cell, dtype=float)
    frac = atoms.get_scaled_positions(wrap=False)
    v0 = abs(np.linalg.det(cell0))
    factors = np.linspace(1.0 - strain, 1.0 + strain, n_points)
    energies = np.empty(n_points)
    for k, f in enumerate(factors):
        work.set_cell(cell0 * f ** (1.0 / 3.0), scale_atoms=False)
        work.set_scaled_positions(frac)
        energies[k] = work.get_potential_energy()
    try:
        _, _, b = EquationOfState(factors * v0, energies, eos="birchmurnaghan").fit(warn=False)
    except Exception as exc:  # scipy curve_fit failures come in several types
        raise ValueError(f"equation-of-state fit failed: {exc}") from exc
    b_gpa = float(b) / units.GPa
    if not np.isfinite(b_gpa) or b_gpa <= 0:
        raise ValueError(f"equation-of-state fit gave B = {b_gpa} GPa")
    return b_gpa


def min_interatomic_distance(atoms: Atoms, cutoff: float = 4.0) -> float:
    """Shortest distance (Å) between two atoms, periodic images included (inf if > ``cutoff``)."""
    import vesin

    nl = vesin.NeighborList(cutoff=cutoff, full_list=False)
    d = nl.compute(points=np.asarray(atoms.positions, dtype=float), box=np.asarray(atoms.cell, dtype=float), periodic=True, quantities="d")[0]
    return float(np.min(d)) if len(d) else math.inf


def _parent_cell(lattice: str, volume_per_atom: float) -> Atoms:
    """Primitive cell (ASE's ``bulk``, placeholder element Cu) with the given volume per atom (Å³)."""
    if lattice == "fcc":
        return bulk("Cu", "fcc", a=(4.0 * volume_per_atom) ** (1.0 / 3.0))
    if lattice == "bcc":
        return bulk("Cu", "bcc", a=(2.0 * volume_per_atom) ** (1.0 / 3.0))
    if lattice == "hcp":
        c_over_a = math.sqrt(8.0 / 3.0)
        # cell volume = (sqrt(3)/2) a^2 c for 2 atoms
        a = (2.0 * volume_per_atom / (math.sqrt(3.0) / 2.0 * c_over_a)) ** (1.0 / 3.0)
        return bulk("Cu", "hcp", a=a, c=c_over_a * a)
    raise ValueError(f"unknown lattice {lattice!r}")


# --------------------------------------------------------------------------------------------
# Elemental references
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ElementReference:
    """Relaxed EMT reference of one element on one lattice: eV/atom, Å³/atom, GPa."""

    element: str
    lattice: str
    energy_per_atom: float
    volume_per_atom: float
    bulk_modulus: float
    converged: bool


@lru_cache(maxsize=1)
def elemental_references() -> tuple[ElementReference, ...]:
    """Relaxed pure-element cells (fcc, bcc, hcp primitive cells) of every EMT element.

    Each starts from the ``ase.data.reference_states`` fcc volume per atom (ideal c/a for hcp)
    and is relaxed by ``relax_emt``, the code used for the dataset. Cached per process.
    """
    from threadpoolctl import threadpool_limits

    out = []
    with threadpool_limits(limits=1):  # same BLAS set-up as the workers (see _run_chunk)
        for el in EMT_ELEMENTS:
            a_fcc = reference_states[atomic_numbers[el]]["a"]
            v = a_fcc**3 / 4.0
            for lat in LATTICE_TYPES:
                atoms = _parent_cell(lat, v)
                atoms.set_chemical_symbols([el] * len(atoms))
                ok = relax_emt(atoms)
                n = len(atoms)
                out.append(
                    ElementReference(
                        element=el,
                        lattice=lat,
                        energy_per_atom=float(atoms.get_potential_energy()) / n,
                        volume_per_atom=float(atoms.get_volume()) / n,
                        bulk_modulus=emt_bulk_modulus(atoms),
                        converged=ok,
                    )
                )
    return tuple(out)


def chemical_potentials() -> dict[str, float]:
    """mu_i (eV/atom): the lowest relaxed EMT energy per atom of each element over fcc/bcc/hcp."""
    mu: dict[str, float] = {}
    for r in elemental_references():
        mu[r.element] = min(mu.get(r.element, math.inf), r.energy_per_atom)
    return mu


def _fcc_volumes() -> dict[str, float]:
    """Relaxed EMT fcc volume per atom (Å³) of each element (the Vegard's-law end points)."""
    return {r.element: r.volume_per_atom for r in elemental_references() if r.lattice == "fcc"}


# --------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------


def make_candidate(
    seed: int, index: int, fcc_volumes: dict[str, float] | None = None, primitive: bool = True
) -> tuple[str, Atoms]:
    """The unrelaxed candidate ``index`` of stream ``seed``: (parent lattice type, Atoms).

    Drawn only from ``numpy.random.default_rng([seed, index])``. ``fcc_volumes`` (Å³/atom per
    element, default: relaxed EMT values) set the Vegard's-law starting volume per atom. With
    ``primitive`` the decorated supercell is replaced by its standardised primitive cell
    (spglib), so that equivalent decorations drawn in different supercells relax along the same
    path (ASE's cell filters are not invariant to the supercell size) and are recognised as
    duplicates; it never has more atoms than the drawn supercell.
    """
    vols = fcc_volumes if fcc_volumes is not None else _fcc_volumes()
    rng = np.random.default_rng([seed, index])
    lattice = LATTICE_TYPES[int(rng.integers(len(LATTICE_TYPES)))]
    sizes = sorted(_SUPERCELLS[lattice])
    w = np.array([_SIZE_WEIGHTS[s] for s in sizes])
    n_atoms = sizes[int(rng.choice(len(sizes), p=w / w.sum()))]
    options = _SUPERCELLS[lattice][n_atoms]
    matrix = np.array(options[int(rng.integers(len(options)))], dtype=int)
    max_el = min(3, n_atoms)
    pw = np.array(_NEL_WEIGHTS[:max_el])
    n_el = 1 + int(rng.choice(max_el, p=pw / pw.sum()))
    elements = [EMT_ELEMENTS[k] for k in rng.choice(len(EMT_ELEMENTS), size=n_el, replace=False)]
    # every chosen element at least once, the remaining sites uniformly at random
    occupation = np.concatenate([np.arange(n_el), rng.integers(n_el, size=n_atoms - n_el)])
    rng.shuffle(occupation)
    symbols = [elements[k] for k in occupation]
    v_start = float(np.mean([vols[s] for s in symbols]))  # Vegard's law on volume per atom
    prim = _parent_cell(lattice, v_start)
    atoms = make_supercell(prim, matrix)
    if len(atoms) != n_atoms:  # pragma: no cover - guards the supercell tables above
        raise AssertionError(f"{lattice} supercell {matrix.tolist()} has {len(atoms)} atoms, not {n_atoms}")
    atoms.set_chemical_symbols(symbols)
    if primitive:
        atoms = _standard_primitive(atoms)
    return lattice, atoms


def _standard_primitive(atoms: Atoms, symprec: float = 1e-5) -> Atoms:
    """spglib's standardised primitive cell of ``atoms`` (unchanged if spglib finds none)."""
    import spglib

    cell = (np.array(atoms.cell, dtype=float), atoms.get_scaled_positions(), atoms.numbers)
    try:
        with warnings.catch_warnings():
            # spglib >= 2.5 warns about its legacy error handling (None on failure) on every call
            warnings.simplefilter("ignore", DeprecationWarning)
            res = spglib.standardize_cell(cell, to_primitive=True, no_idealize=False, symprec=symprec)
    except Exception:  # noqa: BLE001 - newer spglib raises instead of returning None
        res = None
    if res is None or len(res[2]) > len(atoms):
        return atoms
    lattice, frac, numbers = res
    return Atoms(numbers=np.asarray(numbers, dtype=int), cell=lattice, scaled_positions=frac, pbc=True)


def _formula_key(numbers: np.ndarray) -> str:
    """Reduced formula as a canonical string (elements sorted by symbol), e.g. 'Al1Cu3'."""
    z, counts = np.unique(numbers, return_counts=True)
    g = math.gcd(*(int(c) for c in counts))
    parts = sorted((chemical_symbols[int(a)], int(c) // g) for a, c in zip(z, counts))
    return "".join(f"{s}{c}" for s, c in parts)


# A candidate's outcome: (index, reason, record) with reason "ok" or a rejection reason.
_Record = dict


def _evaluate(seed: int, index: int, fcc_volumes: dict[str, float]) -> tuple[int, str, _Record | None]:
    lattice, atoms = make_candidate(seed, index, fcc_volumes)
    n = len(atoms)
    v_start = atoms.get_volume() / n
    try:
        converged = relax_emt(atoms)
    except Exception:  # noqa: BLE001 - a blown-up relaxation is a reject, not a crash
        return index, "error", None
    if not converged:
        return index, "not_converged", None
    v = atoms.get_volume() / n
    if not np.isfinite(v) or abs(v / v_start - 1.0) > MAX_VOLUME_CHANGE:
        return index, "volume_change", None
    if min_interatomic_distance(atoms) < MIN_DISTANCE:
        return index, "short_distance", None
    energy = float(atoms.get_potential_energy()) / n
    try:
        b = emt_bulk_modulus(atoms)
    except ValueError:
        return index, "eos_failed", None
    cell = np.array(atoms.cell, dtype=float)
    frac = np.linalg.solve(cell.T, atoms.positions.T).T % 1.0
    frac[frac > 1.0 - 1e-10] = 0.0
    numbers = atoms.numbers.astype(np.int64)
    record = {
        "lattice_type": lattice,
        "numbers": numbers,
        "cell": cell,
        "frac": frac,
        "energy_per_atom": energy,
        "volume_per_atom": float(v),
        "bulk_modulus": b,
        "formula": _formula_key(numbers),
    }
    return index, "ok", record


def _run_chunk(
    seed: int, start: int, stop: int, fcc_volumes: dict[str, float]
) -> list[tuple[int, str, _Record | None]]:
    """Evaluate candidates ``start..stop-1`` (runs in a worker process or in-process).

    BLAS is held to one thread: the matrices are tiny, and OpenBLAS threads spinning next to
    another worker on the same cores cost ~40 % of the wall time (measured on 2 cores).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return [_evaluate(seed, i, fcc_volumes) for i in range(start, stop)]


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


@dataclass
class _Merged:
    """Candidates merged so far, in index order: the accepted records and the counts."""

    n_structures: int
    accepted: list[_Record] = field(default_factory=list)
    seen: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)
    rejects: dict[str, int] = field(default_factory=dict)
    tried: int = 0
    duplicates: int = 0

    def merge(self, results: list[tuple[int, str, _Record | None]]) -> bool:
        """Merge one chunk in index order; return True once enough structures are accepted."""
        for index, reason, rec in results:
            if len(self.accepted) >= self.n_structures:
                return True
            self.tried = index + 1
            if reason != "ok":
                self.rejects[reason] = self.rejects.get(reason, 0) + 1
                continue
            assert rec is not None
            key = (rec["formula"], rec["lattice_type"])
            e, v = rec["energy_per_atom"], rec["volume_per_atom"]
            prior = self.seen.setdefault(key, [])
            if any(abs(e - e2) <= DEDUP_DE and abs(v - v2) <= DEDUP_DV for e2, v2 in prior):
                self.duplicates += 1
                continue
            prior.append((e, v))
            self.accepted.append(rec)
        return len(self.accepted) >= self.n_structures


class _Chunks:
    """Bounds of the next chunk of ``CHUNK_SIZE`` candidates, at most ``max_candidates`` in all."""

    def __init__(self, max_candidates: int, merged: _Merged) -> None:
        self.max_candidates = max_candidates
        self.merged = merged
        self.next_start = 0

    def next(self) -> tuple[int, int]:
        if self.next_start >= self.max_candidates:
            raise RuntimeError(
                f"EMT generator: only {len(self.merged.accepted)} of {self.merged.n_structures} structures after "
                f"{self.next_start} candidates"
            )
        bounds = (self.next_start, self.next_start + CHUNK_SIZE)
        self.next_start += CHUNK_SIZE
        return bounds


def _run_chunks(seed: int, vols: dict[str, float], workers: int, merged: _Merged, chunks: _Chunks,
                report: Callable[[], None]) -> None:
    """Evaluate chunks until ``merged`` has enough structures: in-process (``workers == 1``) or in
    ``workers`` processes with ``2 * workers`` chunks in flight, merged strictly in index order."""
    done = merged.n_structures == 0
    if workers == 1:
        while not done:
            lo, hi = chunks.next()
            done = merged.merge(_run_chunk(seed, lo, hi, vols))
            report()
        return
    # fork-safe workers (see matscibench.parallel): a chunk needs only its arguments (seed,
    # bounds, Vegard volumes) and this module's constants, not the parent's state
    pool = process_pool(workers)
    try:
        pending: dict[int, Future] = {}
        in_flight = 2 * workers
        while not done:
            while len(pending) < in_flight:
                lo, hi = chunks.next()
                pending[lo] = pool.submit(_run_chunk, seed, lo, hi, vols)
            first = min(pending)  # merge strictly in candidate-index order
            results = pending.pop(first).result()
            done = merged.merge(results)
            report()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _assemble(accepted: list[_Record], mu: dict[str, float]) -> tuple[list[Structure], pd.DataFrame, list[str]]:
    """(structures, targets, ids) of the accepted records (formation energies from ``mu``)."""
    from pymatgen.core import Lattice, Structure  # noqa: F811 - runtime import of the hinted type

    structures = [
        Structure(
            Lattice(r["cell"]),
            [chemical_symbols[int(z)] for z in r["numbers"]],
            r["frac"],
            coords_are_cartesian=False,
        )
        for r in accepted
    ]
    e_form = np.array(
        [
            r["energy_per_atom"] - np.mean([mu[chemical_symbols[int(z)]] for z in r["numbers"]])
            for r in accepted
        ],
        dtype=float,
    )
    targets = pd.DataFrame(
        {
            "formation_energy_per_atom": e_form,
            "bulk_modulus": np.array([r["bulk_modulus"] for r in accepted], dtype=float),
            "is_stable": e_form < 0.0,
            "energy_per_atom": np.array([r["energy_per_atom"] for r in accepted], dtype=float),
            "volume_per_atom": np.array([r["volume_per_atom"] for r in accepted], dtype=float),
            "lattice_type": pd.Series([r["lattice_type"] for r in accepted], dtype=object),
            "n_elements": np.array([len(np.unique(r["numbers"])) for r in accepted], dtype=np.int64),
        },
        columns=list(TARGET_COLUMNS),
    )
    ids = [f"emt-{k:06d}" for k in range(len(accepted))]
    return structures, targets, ids


def generate_emt_alloys(
    n_structures: int = 2500,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Structure], pd.DataFrame, list[str]]:
    """Return (structures, targets, ids) of ``n_structures`` relaxed EMT alloy cells.

    ``structures`` are ordered pymatgen ``Structure`` objects (1-8 atoms, Å); ``targets`` has the
    columns of ``TARGET_COLUMNS`` (units in the module docstring: eV/atom, GPa, Å³/atom);
    ``ids`` are "emt-000000", "emt-000001", ... in output order. ``workers`` processes evaluate
    chunks of ``CHUNK_SIZE`` candidates (default ``os.cpu_count()``; 1 runs in-process); the
    result is the same for any ``workers``. ``progress(n_accepted, n_structures)`` is called in
    this process each time a chunk has been merged. ``targets.attrs["generation"]`` holds counts
    of candidates tried, rejected (by reason) and duplicated, and the chemical potentials used.
    """
    n_structures = int(n_structures)
    if n_structures < 0:
        raise ValueError("n_structures must be >= 0")
    workers = int(workers) if workers is not None else (os.cpu_count() or 1)
    workers = max(1, workers)
    mu = chemical_potentials()
    vols = _fcc_volumes()
    merged = _Merged(n_structures)
    chunks = _Chunks(20 * n_structures + 10 * CHUNK_SIZE, merged)

    def report() -> None:
        if progress is not None:
            progress(min(len(merged.accepted), n_structures), n_structures)

    _run_chunks(seed, vols, workers, merged, chunks, report)
    if n_structures == 0:
        report()
    structures, targets, ids = _assemble(merged.accepted, mu)
    targets.attrs["generation"] = {
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "candidates_tried": int(merged.tried),
        "rejected": dict(sorted(merged.rejects.items())),
        "duplicates": int(merged.duplicates),
        "chemical_potentials": dict(mu),
    }
    return structures, targets, ids
