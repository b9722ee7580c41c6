#!/usr/bin/env python
"""Powder-pattern simulation throughput: matscibench's generator against pymatgen, side by side.

For the same structures, in alternating rounds (so that a busy machine slows both alike):

- pymatgen: ``XRDCalculator(wavelength).get_pattern(structure, two_theta_range=grid)``, the stick
  pattern the library returns (no profile, no grid);
- ours, full: ``compute_reflections`` + ``Instrument.render`` (pseudo-Voigt profiles, zero shift,
  background, texture, Poisson noise) onto the task's 2θ grid: everything a dataset needs;
- ours, sticks: ``compute_reflections`` alone (the part that replaces pymatgen).

Prints the median patterns/s of each (over the rounds, with the spread) and the ratio of ours to
pymatgen measured in the same run; a ratio ≥ 1 means the generator is not slower than the
library it wraps. ``--neutron`` compares with ``NDCalculator`` instead.

Structures: PyXtal crystals as the embedded dataset makes them (≤ 24 atoms per conventional cell)
and, when ``$MATSCIBENCH_DATA`` (or ../shared/data) holds them, Perov-5 and Carbon-24 crystals.

Usage::

    python benchmarks/bench_xrd_simulation.py [--n 60] [--rounds 7] [--neutron]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path


def structures(n: int) -> list[tuple[str, object]]:
    from pymatgen.core import Structure

    from matscibench.families.xrd.crystals import generate_pyxtal_structures

    out: list[tuple[str, object]] = []
    s, _, _ = generate_pyxtal_structures(n, seed=12345, workers=1)
    out += [("pyxtal", x) for x in s]
    roots = [Path(p) for p in os.environ.get("MATSCIBENCH_DATA", "").split(os.pathsep) if p]
    roots.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for ds in ("perov_5", "carbon_24"):
        for root in roots:
            f = root / "cdvae" / ds / "test.csv"
            if f.is_file():
                import pandas as pd

                df = pd.read_csv(f, nrows=n)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out += [(ds, Structure.from_str(c, fmt="cif")) for c in df["cif"]]
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="structures per source")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--neutron", action="store_true")
    args = ap.parse_args()

    import numpy as np
    from pymatgen.analysis.diffraction.neutron import NDCalculator
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    from matscibench.sim.xrd import DEFAULT_GRID, DEFAULT_INSTRUMENT, compute_reflections, reflection_range

    radiation = "neutron" if args.neutron else "xray"
    wavelength = 1.54184
    calc = NDCalculator(wavelength) if args.neutron else XRDCalculator(wavelength)
    grid = DEFAULT_GRID
    inst = DEFAULT_INSTRUMENT
    span = (grid.start, grid.stop)
    refl_range = reflection_range(grid, inst)
    items = structures(args.n)
    structs = [s for _, s in items]
    sources = sorted({k for k, _ in items})
    n_atoms = np.array([len(s) for s in structs])

    def run_pymatgen() -> float:
        t = time.perf_counter()
        for s in structs:
            calc.get_pattern(s, two_theta_range=span)
        return time.perf_counter() - t

    def run_ours() -> float:
        t = time.perf_counter()
        for i, s in enumerate(structs):
            refl = compute_reflections(s, wavelength, radiation, refl_range)
            inst.render(refl, grid, np.random.default_rng(i))
        return time.perf_counter() - t

    def run_sticks() -> float:
        t = time.perf_counter()
        for s in structs:
            compute_reflections(s, wavelength, radiation, span)
        return time.perf_counter() - t

    # warm-up (imports, tables, caches)
    run_pymatgen(), run_ours(), run_sticks()
    rates: dict[str, list[float]] = {"pymatgen": [], "ours": [], "sticks": []}
    ratios: list[float] = []
    for r in range(args.rounds):
        order = [("pymatgen", run_pymatgen), ("ours", run_ours), ("sticks", run_sticks)]
        if r % 2:
            order.reverse()
        t = {name: fn() for name, fn in order}
        for name in rates:
            rates[name].append(len(structs) / t[name])
        ratios.append(t["pymatgen"] / t["ours"])

    def fmt(v: list[float]) -> str:
        return f"{statistics.median(v):9.1f} patterns/s (min {min(v):.1f}, max {max(v):.1f})"

    lib = "NDCalculator" if args.neutron else "XRDCalculator"
    print(f"{len(structs)} structures ({', '.join(sources)}; {n_atoms.min()}-{n_atoms.max()} atoms, median "
          f"{int(np.median(n_atoms))}), {radiation}, λ = {wavelength} Å, grid {grid.start:g}-{grid.stop:g}° 2θ step "
          f"{grid.step:g}° ({grid.n} points); {args.rounds} alternating rounds, one process, one thread")
    print(f"pymatgen {lib}.get_pattern (sticks only):      {fmt(rates['pymatgen'])}")
    print(f"matscibench compute_reflections (sticks only): {fmt(rates['sticks'])}")
    print(f"matscibench full pattern on the grid:          {fmt(rates['ours'])}")
    print(f"HEADLINE | XRD patterns/s, ours (full pattern) / pymatgen (sticks only) | {statistics.median(ratios):.2f} | >= 1")
    print(f"ratio ours (full pattern) / pymatgen (sticks): median {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x, per round)")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
