"""Molecular dynamics with a potential: the stability screen, Fu et al.'s protocol, an NVE run.

* ``run_md_screen``: short Langevin runs, each until two atoms come closer than ``min_distance``
  Å, the temperature exceeds ``max_temperature_factor`` x the target or forces turn non-finite
  (``physical``), with the RDF against the reference calculator's run from the same start;
* ``run_mdsim``: Fu et al.'s stability protocol (Nosé-Hoover at 500 K, 0.5 fs, 300 ps, unstable
  when a bond leaves its reference mean by > 0.5 Å; h(r) against the dataset);
* ``run_nve``: velocity Verlet from a test frame, the total energy recorded for its drift.

Each returns prediction rows (scored by ``scoring.md_metrics`` and ``scoring.score_predictions``)
and, for the MD runs, the cost of MD (atom-steps per second, ns per day).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from matscibench.families.potentials import metrics as PM
from matscibench.families.potentials.atoms import clean_atoms
from matscibench.families.potentials.data import thermalize

__all__ = ["SCREEN_MD", "MDSIM_MD", "NVE", "physical", "run_md_screen", "run_mdsim", "run_nve"]

#: the screen's defaults (a task's ``md`` settings replace them key by key)
SCREEN_MD = {"temperature_K": 600.0, "timestep_fs": 1.0, "steps": 300, "seeds": 2, "min_distance": 0.5,
             "max_temperature_factor": 5.0, "sample_every": 10}
#: Fu et al.'s MD17 protocol (kyonofx/MDsim@61ca2cf, configs/simulate/*.yml): 300 ps at 500 K,
#: Nosé-Hoover (ttime 20 steps), 0.5 fs, frames every 100 steps; run in the first fold only
MDSIM_MD = {"protocol": "mdsim", "temperature_K": 500.0, "timestep_fs": 0.5, "steps": 600_000, "seeds": 5,
            "save_every": 100, "ttime": 20.0, "folds": [0]}
#: the NVE run's defaults
NVE = {"steps": 500, "timestep_fs": 1.0, "temperature_K": 300.0, "every": 10}


def physical(atoms, T: float, min_distance: float, tfactor: float) -> bool:
    """Finite positions, temperature at most ``tfactor`` x ``T`` (K), no two atoms closer than
    ``min_distance`` Å (periodic images included)."""
    pos = atoms.positions
    if not np.isfinite(pos).all():
        return False
    if atoms.get_temperature() > tfactor * T:
        return False
    if atoms.pbc.any():
        import vesin

        d = vesin.NeighborList(cutoff=min_distance, full_list=False).compute(
            points=pos, box=np.asarray(atoms.cell), periodic=True, quantities="d")[0]
        return len(d) == 0
    if len(atoms) > 1:
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        np.fill_diagonal(dist, np.inf)
        return float(dist.min()) >= min_distance
    return True


def _md_costs(rows: list[dict], walls: float, atom_steps: float, dt: float) -> dict[str, float]:
    """Atom-steps per second and ns per day of the MD runs (none when no time was spent)."""
    costs = {}
    if walls > 0:
        costs["md.atom_steps_per_s"] = atom_steps / walls
        steps_total = atom_steps / max(1, rows[0]["n_atoms"]) if rows else 0
        costs["md.ns_per_day"] = (steps_total * dt * 1e-6) / (walls / 86400.0)
    return costs


def screen_trajectory(calc, start, rng_seed: list[int], cfg: dict[str, Any], check: bool):
    """One Langevin run of the screen from ``start``: (snapshots every ``sample_every`` steps, steps
    before it turned unphysical (or its length), wall seconds, steps done)."""
    from ase import units
    from ase.md.langevin import Langevin

    T, dt, n_steps = float(cfg["temperature_K"]), float(cfg["timestep_fs"]), int(cfg["steps"])
    every = int(cfg["sample_every"])
    atoms = clean_atoms(start)
    atoms.calc = calc
    rng = np.random.default_rng(rng_seed)
    thermalize(atoms, T, rng)
    dyn = Langevin(atoms, dt * units.fs, temperature_K=T, friction=0.02 / units.fs, rng=rng, fixcm=False)
    snaps, stable = [], n_steps
    t0 = time.perf_counter()
    done = 0
    while done < n_steps:
        try:
            dyn.run(every)
        except Exception:
            stable = done
            break
        done += every
        if check and not physical(atoms, T, float(cfg["min_distance"]), float(cfg["max_temperature_factor"])):
            stable = done
            break
        snaps.append(atoms.copy())
    return snaps, min(stable, n_steps), time.perf_counter() - t0, done


def run_md_screen(model, ref, frames, seed: int, md: dict[str, Any]) -> tuple[list[dict], dict[str, float]]:
    """The screen: ``seeds`` runs from evenly spaced test frames; with a reference calculator, the
    RDF of the model's run against the reference's from the same start (as many snapshots)."""
    cfg = {**SCREEN_MD, **md}
    T, dt, n_steps = float(cfg["temperature_K"]), float(cfg["timestep_fs"]), int(cfg["steps"])
    rows, walls, atom_steps = [], 0.0, 0.0
    for s in range(int(cfg["seeds"])):
        start = frames[(s * max(1, len(frames) // max(1, int(cfg["seeds"])))) % len(frames)]
        snaps, stable, wall, done = screen_trajectory(model, start, [seed, s], cfg, True)
        walls += wall
        atom_steps += done * len(start)
        row = {"kind": "md", "id": f"md{s}", "n_atoms": len(start), "md_stable_steps": stable, "md_steps": n_steps,
               "md_timestep_fs": dt, "md_temperature_K": T, "system": start.info.get("system", ""), "rdf_model": None, "rdf_ref": None}
        if ref is not None and snaps:
            ref_snaps, _, _, _ = screen_trajectory(ref, start, [seed, s], cfg, False)
            ref_snaps = ref_snaps[: len(snaps)]
            _, gm = PM.rdf(snaps)
            _, gr = PM.rdf(ref_snaps)
            row["rdf_model"] = gm.tolist()
            row["rdf_ref"] = gr.tolist()
        rows.append(row)
    return rows, _md_costs(rows, walls, atom_steps, dt)


def _mdsim_trajectory(atoms, pairs: np.ndarray, ref_mean: np.ndarray, cfg: dict[str, Any]) -> tuple[list[np.ndarray], bool, int]:
    """Nosé-Hoover (one thermostat) from ``atoms`` (calculator and velocities set): (positions of
    the kept frames, whether it collapsed, steps done). A frame every ``save_every`` steps; stops
    at a bond > ``MDSIM_BOND_THRESHOLD`` Å off its reference mean (that frame kept) or when T
    leaves [0.1, 1e5] K or a step fails (that frame not kept)."""
    from ase import units
    from ase.md.nose_hoover_chain import NoseHooverChainNVT

    T, dt, n_steps = float(cfg["temperature_K"]), float(cfg["timestep_fs"]), int(cfg["steps"])
    every = int(cfg["save_every"])
    dyn = NoseHooverChainNVT(atoms, dt * units.fs, temperature_K=T, tdamp=float(cfg["ttime"]) * dt * units.fs,
                             tchain=1)
    traj = [atoms.positions.copy()]
    collapsed, done = False, 0
    while done < n_steps:
        try:
            dyn.run(every)
            temp = atoms.get_temperature()
            ok = np.isfinite(atoms.positions).all() and 0.1 <= temp <= 1e5
        except Exception:  # noqa: BLE001 - a model that fails mid-run has collapsed
            ok = False
        done += every
        if not ok:
            collapsed = True
            break
        traj.append(atoms.positions.copy())
        dev = np.abs(PM.bond_lengths(traj[-1], pairs)[0] - ref_mean)
        if len(dev) and dev.max() > PM.MDSIM_BOND_THRESHOLD:
            collapsed = True
            break
    return traj, collapsed, done


def run_mdsim(model, frames, ref_frames, seed: int, md: dict[str, Any], task: str = "") -> tuple[list[dict], dict[str, float]]:
    """Fu et al.'s stability protocol (kyonofx/MDsim commit 61ca2cfba373fd374343592556789fa30fbe3b56:
    simulate.py, mdsim/md/integrator.py, observable.ipynb). Each seed starts from a test frame drawn
    at random, Maxwell-Boltzmann velocities at T, Nosé-Hoover with one thermostat of mass
    Q = 3N kT (ttime·dt)² (ASE's ``NoseHooverChainNVT`` with ``tchain=1``, ``tdamp = ttime·dt``: the
    same Q as MDsim's ``NoseHoover``; ASE integrates it with its own splitting), a frame every
    ``save_every`` steps. The run stops at the collapse (a bond > 0.5 Å off its mean over the
    reference frames, MDsim's criterion) or when T leaves [0.1, 1e5] K (MDsim's Simulator).
    Molecules only (bonds without periodic images)."""
    cfg = {**MDSIM_MD, **md}
    T, dt, n_steps = float(cfg["temperature_K"]), float(cfg["timestep_fs"]), int(cfg["steps"])
    every = int(cfg["save_every"])
    rows, walls, atom_steps = [], 0.0, 0.0
    ref_cache: dict[tuple, tuple] = {}
    for s in range(int(cfg["seeds"])):
        rng = np.random.default_rng([seed, s, 17])
        start = frames[int(rng.integers(len(frames)))]
        if start.pbc.any():
            raise ValueError(f"task {task}: the mdsim protocol is for molecules (bond lengths without "
                             "periodic images); use md.protocol='screen' for periodic cells")
        key = tuple(start.numbers.tolist())
        if key not in ref_cache:
            ref_pos = np.stack([f.positions for f in ref_frames if np.array_equal(f.numbers, start.numbers)])
            ref_cache[key] = (ref_pos, PM.distance_histogram(ref_pos).tolist())
        ref_pos, hr_ref = ref_cache[key]
        pairs = PM.bond_pairs(clean_atoms(start))
        ref_mean = PM.bond_lengths(ref_pos, pairs).mean(axis=0)
        atoms = clean_atoms(start)
        atoms.calc = model
        thermalize(atoms, T, rng)
        t0 = time.perf_counter()
        traj, collapsed, done = _mdsim_trajectory(atoms, pairs, ref_mean, cfg)
        walls += time.perf_counter() - t0
        atom_steps += done * len(start)
        pos = np.stack(traj)
        # MDsim's collapse_pt: after a bond breach at frame k (kept), k + 1; after a failed step
        # (frame not kept) or a full run, the number of frames: len(traj) in every case
        cp = len(pos)
        hr_frames = pos[:cp]
        rows.append({"kind": "md", "id": f"mdsim{s}", "n_atoms": len(start), "md_protocol": "mdsim",
                     "md_stable_ps": (cp - 1) * every * dt / 1000.0, "md_total_ps": n_steps * dt / 1000.0,
                     "md_collapsed": int(collapsed), "md_timestep_fs": dt, "md_temperature_K": T,
                     "system": start.info.get("system", ""), "hr_model": PM.distance_histogram(hr_frames).tolist(),
                     "hr_n_frames": len(hr_frames), "hr_ref": hr_ref})
    return rows, _md_costs(rows, walls, atom_steps, dt)


def run_nve(model, frame, seed: int, nve: dict[str, Any]) -> dict:
    """Velocity Verlet (NVE) from ``frame`` with Maxwell-Boltzmann velocities; total energy
    recorded every ``every`` steps (a run that fails leaves an infinite drift)."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    cfg = {**NVE, **nve}
    dt, every = float(cfg["timestep_fs"]), int(cfg["every"])
    atoms = clean_atoms(frame)
    atoms.calc = model
    thermalize(atoms, float(cfg["temperature_K"]), np.random.default_rng([seed, 23]))
    dyn = VelocityVerlet(atoms, dt * units.fs)
    times, etot = [0.0], [float(atoms.get_total_energy())]
    done = 0
    while done < int(cfg["steps"]):
        try:
            dyn.run(every)
            e = float(atoms.get_total_energy())
        except Exception:  # noqa: BLE001 - a failed run: infinite drift
            e = float("inf")
        done += every
        times.append(done * dt / 1000.0)
        etot.append(e)
        if not math.isfinite(e):
            break
    return {"kind": "nve", "id": "nve", "n_atoms": len(atoms), "system": frame.info.get("system", ""),
            "nve_times_ps": times, "nve_e_total": etot, "nve_timestep_fs": dt}
