"""Physics checks of a potential against the reference calculator: EOS, phonons, dimer curves.

* ``run_eos``: each calculator relaxes each system's cell (``relax``), then E(V) at ``EOS_POINTS``
  volumes within ±``EOS_MAX_STRAIN`` with atoms relaxed at each (MLIP Arena's EOS); scored by the
  errors of the Birch-Murnaghan V0 and B0 (``scoring.eos_metrics``);
* ``run_phonons``: phonopy on the fcc primitive cell of each elemental system, as relaxed by each
  calculator (``sim.phonopy.potential_check_phonons``: 3x3x3 supercell, 0.01 Å displacements, the
  phonons family's DOS conventions);
* ``run_diatomics``: homonuclear dimer curves of the dataset's elements on MLIP Arena's grid.

Each returns prediction rows (``kind`` ``eos``, ``phonon``, ``diatomic``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from matscibench.errors import ModelOutputError
from matscibench.families.potentials import metrics as PM
from matscibench.families.potentials.atoms import clean_atoms

__all__ = ["EOS_POINTS", "EOS_MAX_STRAIN", "RELAX_FMAX", "RELAX_STEPS", "relax", "bulk_cells", "run_eos",
           "run_phonons", "run_diatomics"]

#: MLIP Arena's EOS (mlip_arena/tasks/eos.py at f649ffe): 11 volumes within ±10 % of the relaxed one
EOS_POINTS = 11
EOS_MAX_STRAIN = 0.10
#: relaxation: force (eV/Å) and stress criteria of ASE's optimisers, and a step cap
RELAX_FMAX = 0.01
RELAX_STEPS = 300


def relax(atoms, calc, cell: bool, fmax: float = RELAX_FMAX, steps: int = RELAX_STEPS):
    """A copy of ``atoms`` relaxed with ``calc``: atoms only (``cell=False``) or atoms and cell
    (ASE's ``UnitCellFilter``), with ASE's BFGS to ``fmax`` eV/Å (the same bound on the filter's
    virial per atom), at most ``steps``. MLIP Arena relaxes with ``FrechetCellFilter``: the same
    minimum, but its matrix exponentials made each step 5x slower here (EMT, 32 atoms)."""
    import warnings

    from ase.filters import UnitCellFilter
    from ase.optimize import BFGS

    at = clean_atoms(atoms)
    at.calc = calc
    target = UnitCellFilter(at) if cell else at
    from threadpoolctl import threadpool_limits

    # BFGS diagonalises a (3N+9)² Hessian each step: threaded BLAS on a busy machine made it 4x slower
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")
        BFGS(target, logfile=None).run(fmax=fmax, steps=steps)
    if not np.isfinite(at.positions).all() or not np.isfinite(np.asarray(at.cell)).all():
        raise ModelOutputError(f"relaxing {at.get_chemical_formula()} gave non-finite positions or cell")
    return at


def bulk_cells(ds) -> list:
    """One bulk cell per system: the first frame of its coldest MD group (or any bulk frame)."""
    out = {}
    order = sorted(set(ds.groups.tolist()), key=lambda g: (not g.startswith("md_"), int("".join(c for c in g if c.isdigit()) or 0)))
    for g in order:
        if g in ("surface", "vacancy"):
            continue
        for fr in (f for f in ds.frames if f.info.get("group") == g):
            out.setdefault(fr.info.get("system", ""), fr)
    return list(out.values())[:4]


def _eos_curve(fr, calc) -> tuple[list[float], list[float]]:
    """(volumes Å³, energies eV) of one calculator's E(V) around its own relaxed cell; empty lists
    when it cannot be relaxed."""
    vols, es = [], []
    try:
        relaxed = relax(clean_atoms(fr), calc, cell=True)
        c0 = np.asarray(relaxed.cell)
        for x in np.linspace(1 - EOS_MAX_STRAIN, 1 + EOS_MAX_STRAIN, EOS_POINTS):
            at = relaxed.copy()
            at.set_cell(c0 * x ** (1 / 3), scale_atoms=True)
            at = relax(at, calc, cell=False)
            vols.append(float(at.get_volume()))
            es.append(float(at.get_potential_energy()))
    except Exception:  # noqa: BLE001 - a potential that cannot be relaxed fails its EOS
        vols, es = [], []
    return vols, es


def run_eos(model, ref, ds) -> list[dict]:
    """E(V) of each system with each calculator, MLIP Arena's way (atomind-ai/mlip-arena commit
    f649ffeb789d8cd2af7e47ceab396dc5f3e36332, mlip_arena/tasks/eos.py): relax cell and atoms,
    then ``EOS_POINTS`` volumes within ±``EOS_MAX_STRAIN`` of the relaxed one (cell scaled by
    (1+ε)^(1/3)), atoms relaxed at each fixed cell; each calculator relaxes its own cell."""
    rows = []
    for fr in bulk_cells(ds):
        out = {tag: _eos_curve(fr, calc) for tag, calc in (("model", model), ("ref", ref))}
        rows.append({"kind": "eos", "id": f"eos-{fr.info.get('system')}", "system": fr.info.get("system", ""),
                     "n_atoms": len(fr), "eos_volumes": out["model"][0], "eos_e_model": out["model"][1],
                     "eos_volumes_ref": out["ref"][0], "eos_e_ref": out["ref"][1]})
    return rows


def _phonons(prim, calc, grid: np.ndarray) -> dict[str, Any]:
    """DOS (unit area on ``grid``, THz), max frequency, Cv(300 K) and imaginary branches of
    ``calc`` on ``prim`` relaxed by it (cell and atoms); NaN when it cannot be relaxed."""
    from matscibench.sim.phonopy import potential_check_phonons

    try:
        return potential_check_phonons(relax(prim, calc, cell=True), calc, grid)
    except Exception:  # noqa: BLE001 - no relaxed cell: no phonons (NaN errors)
        return {"dos": np.full(len(grid), np.nan), "max_freq": float("nan"), "cv": float("nan"), "imag": float("nan")}


def run_phonons(model, ref, ds) -> list[dict]:
    """phonopy on the fcc primitive cell of each elemental system (at most 3), relaxed by each
    calculator (``relax``, cell and atoms) before its own phonons."""
    from ase.build import bulk
    from ase.data import atomic_numbers, reference_states

    rows = []
    systems = [s for s in dict.fromkeys(ds.systems.tolist()) if s in atomic_numbers][:3]
    grid = np.linspace(0.0, 15.0, 151)  # THz
    for el in systems:
        rs = reference_states[atomic_numbers[el]]
        if not rs or rs.get("symmetry") != "fcc":
            continue
        start = bulk(el, "fcc", a=float(rs["a"]))
        res_m, res_r = _phonons(start, model, grid), _phonons(start, ref, grid)
        rows.append({"kind": "phonon", "id": f"phonon-{el}", "system": el, "n_atoms": len(start),
                     "dos_model": res_m["dos"].tolist(), "dos_ref": res_r["dos"].tolist(),
                     "max_freq_model": res_m["max_freq"], "max_freq_ref": res_r["max_freq"],
                     "cv_model": res_m["cv"], "cv_ref": res_r["cv"], "imag_model": res_m["imag"]})
    return rows


def run_diatomics(model, ds, diatomics: dict[str, Any] | None) -> list[dict]:
    """Homonuclear dimers of the dataset's elements (MLIP Arena's diatomics/run.py, commit
    a05d1ab: a non-periodic box of 5 r_max, atoms along x, 0.01 Å steps); radial force on the
    second atom along the bond."""
    from ase import Atoms

    cfg = {"rstep": 0.01, "elements": None, **(diatomics or {})}
    elements = cfg["elements"] or sorted(ds.elements())
    rows = []
    for el in elements:
        rs = PM.diatomic_distances(el, float(cfg["rstep"]))
        a = 5 * rs[-1]
        es, fs = [], []
        for r in rs:
            at = Atoms(el + el, positions=[[a / 2 - r / 2, a / 2, a / 2], [a / 2 + r / 2, a / 2, a / 2]],
                       cell=[a, a + 0.001, a + 0.002], pbc=False)
            at.calc = model
            try:
                es.append(float(at.get_potential_energy()))
                fs.append(float(at.get_forces()[1, 0]))
            except Exception:  # noqa: BLE001 - a model that cannot evaluate a dimer: NaN curve
                es.append(float("nan"))
                fs.append(float("nan"))
        rows.append({"kind": "diatomic", "id": f"dimer-{el}{el}", "system": f"{el}2", "n_atoms": 2,
                     "dimer_r": rs.tolist(), "dimer_e": es, "dimer_f": fs})
    return rows
