#!/usr/bin/env python
"""Overhead of the harness's MD-stability loop against a bare ASE MD loop, same calculator.

The harness (``PotentialTask._run_md``, what a potentials job runs for ``md_stable_time``) drives
ASE's ``Langevin`` in chunks of ``sample_every`` steps; after each chunk it checks that the run is
still physical (finite positions, temperature below a bound, no pair closer than ``min_distance``
through a vesin neighbour list) and keeps a copy of the frame for the radial distribution. The bare
loops are what a user would write: the same cell, the same calculator object, the same
Maxwell-Boltzmann start, then ``Langevin(...).run(steps)`` (same time step, temperature, friction)
or ``VelocityVerlet(...).run(steps)``. The harness runs one seed and no reference trajectory here
(``ref=None``), so only the loop itself is compared; the job's extra reference run for the RDF is a
measurement of its own, not overhead, and is timed separately with ``--with-rdf``.

Each repeat runs all loops back to back in turn (interleaved, so slow drifts of a shared machine hit
all of them); the table gives medians over ``--repeats`` after one warm-up and the ratio
harness / bare Langevin.

Usage::

    python benchmarks/bench_md_overhead.py            # 32, 108, 256-atom Cu cells, 200 steps, 5 repeats
    python benchmarks/bench_md_overhead.py --quick    # 32 and 108 atoms, 100 steps, 3 repeats (< 1 min)
    python benchmarks/bench_md_overhead.py --sizes 108,500 --steps 400 --repeats 7 --calc ase --with-rdf

``--calc emt_reference`` (default) is the registered ``emt_reference`` model (ASE's EMT with a
vesin neighbour list on periodic cells); ``--calc ase`` is ``ase.calculators.emt.EMT`` itself.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
from ase import units
from ase.build import bulk
from ase.md.langevin import Langevin
from ase.md.verlet import VelocityVerlet

from matscibench.families.potentials.atoms import clean_atoms
from matscibench.families.potentials.data import thermalize
from matscibench.families.potentials.task import PotentialTask

#: the emt_metals_forces task's MD settings (900 K, 2 fs, pair bound 1.5 Å, a check every 10 steps)
MD = {"temperature_K": 900.0, "timestep_fs": 2.0, "seeds": 1, "min_distance": 1.5,
      "max_temperature_factor": 5.0, "sample_every": 10}
FRICTION = 0.02 / units.fs  # the harness's Langevin friction


def cu_cell(n_atoms: int, seed: int = 0):
    """An fcc Cu supercell of about ``n_atoms`` atoms (cubic 4-atom cell repeated), slightly rattled."""
    base = bulk("Cu", "fcc", a=3.61, cubic=True)
    best = min(((i, j, k) for i in range(1, 12) for j in range(i, 12) for k in range(j, 12)),
               key=lambda r: (abs(4 * r[0] * r[1] * r[2] - n_atoms), r[2] - r[0]))
    at = base.repeat(best)
    at.positions += np.random.default_rng(seed).normal(0.0, 0.03, at.positions.shape)
    return at


def make_calc(kind: str):
    if kind == "ase":
        from ase.calculators.emt import EMT

        return EMT()
    from matscibench.families.potentials.models.adapters import EMTReference

    return EMTReference()


def bare_langevin(calc, cell, steps: int, seed: int) -> float:
    atoms = clean_atoms(cell)
    atoms.calc = calc
    rng = np.random.default_rng([seed, 0])
    thermalize(atoms, MD["temperature_K"], rng)
    dyn = Langevin(atoms, MD["timestep_fs"] * units.fs, temperature_K=MD["temperature_K"], friction=FRICTION,
                   rng=rng, fixcm=False)
    t = time.perf_counter()
    dyn.run(steps)
    return time.perf_counter() - t


def bare_verlet(calc, cell, steps: int, seed: int) -> float:
    atoms = clean_atoms(cell)
    atoms.calc = calc
    thermalize(atoms, MD["temperature_K"], np.random.default_rng([seed, 0]))
    dyn = VelocityVerlet(atoms, MD["timestep_fs"] * units.fs)
    t = time.perf_counter()
    dyn.run(steps)
    return time.perf_counter() - t


def harness(task: PotentialTask, calc, cell, steps: int, seed: int, ref=None) -> tuple[float, int]:
    t = time.perf_counter()
    rows, _ = task._run_md(calc, ref, [cell], seed)
    wall = time.perf_counter() - t
    return wall, int(rows[0]["md_stable_steps"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="32,108,256", help="comma-separated cell sizes (atoms)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calc", choices=("emt_reference", "ase"), default="emt_reference")
    ap.add_argument("--with-rdf", action="store_true", help="also time the job's MD with its reference run for the RDF")
    ap.add_argument("--quick", action="store_true", help="32 and 108 atoms, 100 steps, 3 repeats")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.steps, args.repeats = "32,108", 100, 3
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    task = PotentialTask("bench_md", "emt_metals", md={**MD, "steps": args.steps})
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}; "
          f"calculator {args.calc}; {args.steps} steps of {MD['timestep_fs']} fs at {MD['temperature_K']:.0f} K; "
          f"medians of {args.repeats} (after a warm-up), loops interleaved")
    head = f"{'atoms':>6} {'bare VV (s)':>12} {'bare Langevin (s)':>18} {'harness (s)':>12} {'ratio':>7} {'µs/atom-step bare':>18} {'stable steps':>13}"
    if args.with_rdf:
        head += f" {'harness+RDF ref (s)':>20} {'ratio':>7}"
    print(head)
    ratios: dict[int, float] = {}
    for n in sizes:
        cell = cu_cell(n)
        calc = make_calc(args.calc)
        ref = make_calc(args.calc) if args.with_rdf else None
        loops = {"vv": lambda s: bare_verlet(calc, cell, args.steps, s),
                 "bare": lambda s: bare_langevin(calc, cell, args.steps, s),
                 "harness": lambda s: harness(task, calc, cell, args.steps, s)[0]}
        if args.with_rdf:
            loops["rdf"] = lambda s: harness(task, calc, cell, args.steps, s, ref)[0]
        _, stable = harness(task, calc, cell, args.steps, 0)  # warm-up; the run must stay physical
        for fn in loops.values():
            fn(0)
        times: dict[str, list[float]] = {k: [] for k in loops}
        for r in range(args.repeats):
            for k, fn in loops.items():
                times[k].append(fn(r + 1))
        med = {k: statistics.median(v) for k, v in times.items()}
        line = (f"{len(cell):>6} {med['vv']:>12.3f} {med['bare']:>18.3f} {med['harness']:>12.3f} "
                f"{med['harness'] / med['bare']:>7.3f} {med['bare'] / (len(cell) * args.steps) * 1e6:>18.2f} "
                f"{stable:>13}")
        if args.with_rdf:
            line += f" {med['rdf']:>20.3f} {med['rdf'] / med['bare']:>7.3f}"
        print(line)
        ratios[len(cell)] = med["harness"] / med["bare"]
    print("ratio = harness / bare Langevin (same calculator, cell, steps, temperature, friction); "
          "1.00 means no overhead")
    for n, r in ratios.items():
        print(f"HEADLINE | MD loop through the harness / bare ASE Langevin, {n} atoms | {r:.3f} | <= 1.05")


if __name__ == "__main__":
    main()
