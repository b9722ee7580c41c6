"""Random symmetric crystals (PyXtal) for the XRD family's simulated datasets.

``generate_pyxtal_structures`` draws crystals over all 230 space groups, balanced over the seven
crystal systems, with oxide-, chalcogenide-, halide-, nitride-, pnictide-like or intermetallic
compositions (S. Fredericks, K. Parrish, D. Sayre, Q. Zhu, PyXtal, Comput. Phys. Commun. 261,
107810 (2021)). Every crystal is seeded by ``(seed, index)`` (``one_crystal``), so the result
does not depend on the number of worker processes.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np
import pandas as pd

from matscibench.errors import DatasetError
from matscibench.parallel import process_pool
from matscibench.sim.xrd import CRYSTAL_SYSTEMS, LATTICE_PARAMETERS, SPACE_GROUP_RANGES, structure_labels

__all__ = ["COMMON_SPACE_GROUPS", "GENERATOR_VERSION", "generate_pyxtal_structures", "one_crystal"]

#: version of the PyXtal structure generator (changes the structures' cache key)
GENERATOR_VERSION = 1

#: space groups frequent among inorganic crystals, per crystal system (half the structures of a
#: system draw from these, half uniformly from all of the system's groups)
COMMON_SPACE_GROUPS: dict[str, tuple[int, ...]] = {
    "triclinic": (2, 1),
    "monoclinic": (14, 15, 12, 11, 4, 9, 5, 13, 7, 8),
    "orthorhombic": (62, 63, 61, 60, 33, 19, 71, 58, 74, 70, 65, 64, 57, 29, 59, 55, 36, 69, 20, 56),
    "tetragonal": (139, 136, 129, 141, 140, 123, 127, 121, 122, 88, 87, 113, 92, 114, 130, 131, 137, 115, 82, 85),
    "trigonal": (166, 148, 167, 164, 161, 160, 165, 147, 146, 150, 152, 162, 163, 155, 156, 154),
    "hexagonal": (194, 191, 186, 187, 176, 189, 190, 173, 193, 182, 185, 188, 180, 174),
    "cubic": (225, 227, 221, 216, 229, 223, 205, 217, 215, 230, 220, 198, 204, 224, 213, 212, 218, 200, 206),
}
_CATIONS = (
    "Li", "Na", "K", "Rb", "Cs", "Be", "Mg", "Ca", "Sr", "Ba", "Sc", "Y", "La", "Ti", "Zr", "Hf", "V", "Nb",
    "Ta", "Cr", "Mo", "W", "Mn", "Fe", "Co", "Ni", "Cu", "Ag", "Zn", "Cd", "Al", "Ga", "In", "Sn", "Pb", "Bi",
    "Ce", "Nd", "Gd",
)
_METALS = ("Al", "Cu", "Ni", "Fe", "Co", "Ti", "Zr", "Pd", "Pt", "Au", "Ag", "Mg", "Zn", "Ga", "Sn", "Mn", "Cr", "Nb", "Mo", "Si", "Ge")
_ANIONS = ("O", "O", "O", "S", "Se", "F", "Cl", "Br", "N", "P", "Te", "I")
#: formula-unit ratios (cations first, anion last)
_RATIOS: dict[int, tuple[tuple[int, ...], ...]] = {
    1: ((1,),),
    2: ((1, 1), (1, 2), (2, 1), (2, 3), (1, 3), (3, 4), (1, 4)),
    3: ((1, 1, 3), (1, 2, 4), (2, 1, 4), (1, 1, 2), (1, 1, 1), (2, 2, 7), (1, 2, 2)),
    4: ((1, 1, 1, 4), (2, 1, 1, 6), (1, 1, 2, 4)),
}
_MULTIPLIERS = (1, 2, 3, 4, 6, 8, 12, 16)


def _choose_composition(rng: np.random.Generator) -> tuple[list[str], tuple[int, ...]]:
    n_el = int(rng.choice([1, 2, 3, 4], p=[0.08, 0.42, 0.42, 0.08]))
    if n_el == 1:
        return [str(rng.choice(_METALS + ("C",)))], (1,)
    ratio = _RATIOS[n_el][int(rng.integers(len(_RATIOS[n_el])))]
    if rng.random() < 0.2:  # intermetallic
        els = list(rng.choice(_METALS, size=n_el, replace=False))
    else:
        els = list(rng.choice(_CATIONS, size=n_el - 1, replace=False)) + [str(rng.choice(_ANIONS))]
    return [str(e) for e in els], ratio


def _wyckoff_counts(group: Any, n_species: int, rng: np.random.Generator, max_atoms: int) -> list[int] | None:
    """Per-species atom counts built from the group's Wyckoff multiplicities (small ones favoured)."""
    mults = sorted({w.multiplicity for w in group})
    for _ in range(20):
        counts = []
        for _s in range(n_species):
            m = [x for x in mults if x <= max_atoms // n_species] or mults[:1]
            w = 1.0 / np.asarray(m, dtype=float)
            counts.append(int(rng.choice(m, p=w / w.sum())))
        if sum(counts) <= max_atoms and group.check_compatible(counts)[0]:
            return counts
    return None


def _fast_pyxtal() -> None:
    """PyXtal builds a default ``Tol_matrix`` (covalent-radius pair tolerances, ~5 ms) inside every
    image check of every Wyckoff merge; it depends only on its arguments and is only read, so one
    built per (prototype, factor) serves them all. Same structures, 3-4x faster generation."""
    import pyxtal.operations as ops

    orig = ops.Tol_matrix
    if getattr(orig, "_matscibench_cached", False) or not isinstance(orig, type):
        return
    cache: dict[tuple, Any] = {}

    def tol_matrix(*tuples: Any, prototype: str = "atomic", factor: float = 1.0) -> Any:
        if tuples:
            return orig(*tuples, prototype=prototype, factor=factor)
        key = (prototype, factor)
        if key not in cache:
            cache[key] = orig(prototype=prototype, factor=factor)
        return cache[key]

    tol_matrix._matscibench_cached = True  # type: ignore[attr-defined]
    ops.Tol_matrix = tol_matrix
    _TM["atomic"] = orig(prototype="atomic")


_TM: dict[str, Any] = {}


def one_crystal(args: tuple[int, int, str, int]) -> tuple[int, dict | None]:
    """Generate crystal ``index`` of a dataset (seeded by (seed, index)); None after many failures."""
    index, seed, system, max_atoms = args
    import logging

    logging.getLogger("pyxtal").setLevel(logging.ERROR)
    _fast_pyxtal()
    from pyxtal import pyxtal
    from pyxtal.symmetry import Group

    rng = np.random.default_rng([seed, index])
    lo, hi = SPACE_GROUP_RANGES[CRYSTAL_SYSTEMS.index(system)]
    for _attempt in range(12):
        sg = int(rng.choice(COMMON_SPACE_GROUPS[system])) if rng.random() < 0.5 else int(rng.integers(lo, hi + 1))
        group = Group(sg)
        els, ratio = _choose_composition(rng)
        counts = None
        for z in rng.permutation(_MULTIPLIERS):
            c = [int(r * z) for r in ratio]
            if sum(c) <= max_atoms and group.check_compatible(c)[0]:
                counts = c
                break
        if counts is None:
            counts = _wyckoff_counts(group, len(els), rng, max_atoms)
        if counts is None:
            continue
        xtal = pyxtal()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                xtal.from_random(
                    3, sg, els, counts, factor=float(rng.uniform(1.0, 1.3)), tm=_TM.get("atomic"),
                    random_state=int(rng.integers(2**31)),
                )
            if not xtal.valid:
                continue
            s = xtal.to_pymatgen()
        except Exception:
            continue
        if len(s) == 0 or len(s) > 4 * max_atoms or not _plausible_density(s):
            continue
        lab = structure_labels(s, symprec=0.01)
        if lab["crystal_system"] != system:  # a special placement raised the symmetry: keep the label honest
            continue
        return index, {
            "lattice": np.asarray(s.lattice.matrix).tolist(),
            "numbers": [int(z) for z in s.atomic_numbers],
            "frac": np.asarray(s.frac_coords).tolist(),
            "generated_space_group": sg,
            **lab,
        }
    return index, None


_ATOM_VOLUME: dict[int, float] = {}


def _plausible_density(s: Any, max_ratio: float = 5.0) -> bool:
    """Reject open cells: volume over ``max_ratio`` times the atoms' covalent-sphere volume
    (PyXtal's radii). Real crystals lie between ~1.1 (close-packed metals, perovskites) and ~4.6
    (quartz); PyXtal, which draws volumes up to van der Waals spheres, leaves about 1 % of cells
    (atoms on fixed special positions in a blown-up cell) above 5."""
    from pyxtal.database.element import Element

    total = 0.0
    for z in s.atomic_numbers:
        if z not in _ATOM_VOLUME:
            _ATOM_VOLUME[z] = 4.0 / 3.0 * math.pi * float(Element(int(z)).covalent_radius) ** 3
        total += _ATOM_VOLUME[z]
    return s.volume <= max_ratio * total


def _crystal_chunk(chunk: list[tuple[int, int, str, int]]) -> list[tuple[int, dict | None]]:
    return [one_crystal(a) for a in chunk]


def generate_pyxtal_structures(
    n_structures: int,
    seed: int = 0,
    max_atoms: int = 24,
    workers: int | None = None,
    progress: Any = None,
) -> tuple[list, pd.DataFrame, np.ndarray]:
    """``n_structures`` random symmetric crystals, the same number per crystal system (±1).

    Each crystal system gets every seventh index; within a system half the crystals draw a
    common space group and half any of the system's groups; compositions are oxide, chalcogenide,
    halide, nitride or pnictide-like (cations + one anion) or intermetallic, 1-4 elements, with a
    formula-unit count compatible with the group's Wyckoff positions and at most ``max_atoms``
    atoms in the conventional cell; PyXtal places the atoms with a volume factor of 1.0-1.3 on
    its atomic-volume estimate. Every crystal is seeded by ``(seed, index)``, so the result does
    not depend on ``workers``. Labels are spglib's (symprec 0.01 Å); a crystal whose symmetry came
    out higher than drawn is redrawn so that the systems stay balanced.
    """
    from pymatgen.core import Lattice, Structure

    jobs = [(i, int(seed), CRYSTAL_SYSTEMS[i % 7], int(max_atoms)) for i in range(int(n_structures))]
    workers = max(1, int(workers or os.cpu_count() or 1))
    results: dict[int, dict | None] = {}
    if workers == 1 or len(jobs) < 16:
        for a in jobs:
            i, rec = one_crystal(a)
            results[i] = rec
            if progress:
                progress(len(results), len(jobs))
    else:
        size = max(4, -(-len(jobs) // (workers * 8)))
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        # fresh workers (parallel.process_pool): one_crystal needs nothing from this process
        # (it sets up PyXtal's tolerance-matrix cache in the worker, _fast_pyxtal)
        with process_pool(workers) as pool:
            for out in pool.map(_crystal_chunk, chunks):
                for i, rec in out:
                    results[i] = rec
                if progress:
                    progress(len(results), len(jobs))
    structures, rows, ids = [], [], []
    for i in range(len(jobs)):
        rec = results[i]
        if rec is None:
            continue
        s = Structure(Lattice(rec["lattice"]), rec["numbers"], rec["frac"])
        structures.append(s)
        rows.append({k: rec[k] for k in ("space_group", "crystal_system", *LATTICE_PARAMETERS, "generated_space_group")})
        ids.append(f"pyxtal-{seed}-{i:05d}")
    if not structures:
        raise DatasetError("PyXtal produced no crystals; is pyxtal installed and working? (pip install pyxtal)")
    df = pd.DataFrame(rows)
    df["formula"] = [s.composition.reduced_formula for s in structures]
    return structures, df, np.asarray(ids, dtype=object)
