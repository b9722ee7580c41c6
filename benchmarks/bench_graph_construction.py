#!/usr/bin/env python
"""Time the potentials' input pipeline and one energy+forces call against system size.

Part 1, graph construction: ``SchNetPotential``'s path from an ASE ``Atoms`` to the tensors the
network consumes (``schnet_graph``: vesin's full neighbour list with image shifts, then torch
tensors; ``_collate``: the batch the network reads) against a bare
``vesin.NeighborList(cutoff, full_list=True).compute(points, box, True, "ijS")`` on the same
rattled fcc Cu supercells (8 to ~4,000 atoms). Medians over ``--repeats`` runs after one warm-up
run, printed side by side with their ratio (ours / vesin).

Part 2, cost of a call: one ``get_potential_energy`` + ``get_forces`` (a fresh configuration each
time: positions nudged) of each model against system size: EMT (``EMTReference``), the linear
ACE-like potential and SchNet (both fitted on a few EMT MD frames first; accuracy is irrelevant
here), up to ``--max-atoms`` (default ~10,000) or until one call takes ``--budget`` seconds;
GFN2-xTB (``XTBReference``) on boxes of ethanol molecules; CHGNet and SevenNet when installed.
The fitted exponent x of time ∝ N^x uses the sizes of at least 100 atoms.

Usage::

    python benchmarks/bench_graph_construction.py [--repeats 7] [--max-atoms 10000] [--budget 3]
        [--models emt,linear,schnet,xtb,chgnet,sevennet] [--threads 1]
    python benchmarks/bench_graph_construction.py --quick   # graphs to 864 atoms, EMT and linear
                                                            # to 2,000 atoms, 5 repeats (< 2 min)

``--threads`` sets torch's and the BLAS thread counts (default: leave them as they are).
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
from ase import Atoms
from ase.build import bulk, molecule

from matscibench.families.potentials.models import adapters
from matscibench.families.potentials.models.linear_ace import LinearACEPotential
from matscibench.families.potentials.models.schnet import SchNetPotential, schnet_graph

CUTOFF = 5.0


def fcc_cell(n_rep: tuple[int, int, int], seed: int = 0) -> Atoms:
    at = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(n_rep)
    at.positions += np.random.default_rng(seed).normal(0.0, 0.05, at.positions.shape)
    return at


#: supercells of the 4-atom conventional cell, 8 to 13,500 atoms
REPS = [(1, 1, 2), (2, 2, 1), (2, 2, 2), (3, 3, 2), (3, 3, 3), (4, 4, 4), (5, 5, 5), (6, 6, 6), (8, 8, 8),
        (10, 10, 10), (12, 12, 12), (14, 14, 14), (15, 15, 15)]


def median_time(fn: Callable[[], object], repeats: int, min_sample_s: float = 0.02) -> float:
    """Median over ``repeats`` samples of the time of one call; a sample times as many calls in a
    row as fill ``min_sample_s`` (a single call of ~50 µs is below the timer's and the
    scheduler's jitter on a shared machine: ratios of single calls moved from 1.2 to 4 between
    runs)."""
    t = time.perf_counter()
    fn()  # warm-up
    n = max(1, int(min_sample_s / max(time.perf_counter() - t, 1e-7)))
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        ts.append((time.perf_counter() - t) / n)
    return statistics.median(ts)


def bench_graphs(repeats: int, max_atoms: int) -> None:
    """Graph construction against raw vesin on cells up to ``min(max_atoms, 4000)`` atoms (quick: 864)."""
    import vesin

    print(f"\n== graph construction, cutoff {CUTOFF} Å: median of {repeats} (ms) ==")
    print(f"{'atoms':>7} {'pairs':>9} {'vesin ijS':>11} {'schnet_graph':>13} {'+ collate':>11} {'ratio':>7}")
    nl_raw = vesin.NeighborList(cutoff=CUTOFF, full_list=True)
    nl_ours = vesin.NeighborList(cutoff=CUTOFF, full_list=True)
    small: list[float] = []
    for rep in REPS:
        at = fcc_cell(rep)
        if len(at) > max(8, min(max_atoms, 4000)):
            break
        pos = np.ascontiguousarray(at.positions)
        box = np.ascontiguousarray(at.cell.array)
        pairs = len(nl_raw.compute(points=pos, box=box, periodic=True, quantities="ij")[0])
        t_raw = median_time(lambda: nl_raw.compute(points=pos, box=box, periodic=True, quantities="ijS"), repeats)
        t_graph = median_time(lambda: schnet_graph(at, CUTOFF, nl_ours), repeats)
        t_full = median_time(lambda: SchNetPotential._collate([schnet_graph(at, CUTOFF, nl_ours)]), repeats)
        print(f"{len(at):>7} {pairs:>9} {t_raw * 1e3:>11.3f} {t_graph * 1e3:>13.3f} {t_full * 1e3:>11.3f} {t_full / t_raw:>7.2f}")
        if len(at) <= 32:
            small.append(t_full / t_raw)
    if small:
        print(f"HEADLINE | SchNet graph + collate / raw vesin, 8-32 atoms (worst) | {max(small):.2f} | <= 1.25")


def emt_frames(n: int = 40) -> list[Atoms]:
    from ase import units
    from ase.md.langevin import Langevin

    from matscibench.families.potentials.data import thermalize
    from matscibench.sim.emt import FastEMT

    rng = np.random.default_rng(0)
    at = fcc_cell((2, 2, 2))
    at.calc = FastEMT()
    thermalize(at, 600.0, rng)
    dyn = Langevin(at, 2.0 * units.fs, temperature_K=600.0, friction=0.02 / units.fs, rng=rng, fixcm=False)
    out = []
    for _ in range(n):
        dyn.run(5)
        fr = Atoms(numbers=at.numbers, positions=at.positions, cell=at.cell, pbc=True)
        fr.info["energy"] = float(at.get_potential_energy())
        fr.arrays["forces"] = np.array(at.get_forces())
        fr.info["stress"] = np.array(at.get_stress())
        out.append(fr)
    return out


def molecule_box(k: int) -> Atoms:
    base = molecule("CH3CH2OH")
    span = np.ptp(base.positions, axis=0).max() + 4.0
    out = Atoms()
    for i in range(k):
        for j in range(k):
            for m in range(k):
                b = base.copy()
                b.positions += np.array([i, j, m]) * span
                out += b
    return out


def call_time(calc, at: Atoms, repeats: int, budget: float) -> float:
    at = at.copy()
    at.calc = calc
    t = time.perf_counter()
    at.get_forces()
    first = time.perf_counter() - t
    reps = repeats if first < budget / 3 else 1
    ts = []
    for _ in range(reps):
        at.positions = at.positions + 1e-4
        t = time.perf_counter()
        at.get_potential_energy()
        at.get_forces()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def scaling(name: str, calc, systems: list[Atoms], repeats: int, budget: float, max_atoms: int) -> None:
    rows = []
    for at in systems:
        if len(at) > max_atoms:
            break
        if rows:  # skip a size predicted (at least linearly) to blow the budget
            n0, t0 = rows[-1]
            if t0 * len(at) / n0 > 2 * budget:
                break
        try:
            t = call_time(calc, at, repeats, budget)
        except Exception as exc:  # noqa: BLE001 - report and go on with the next model
            print(f"  {name}: failed at {len(at)} atoms: {type(exc).__name__}: {exc}")
            break
        rows.append((len(at), t))
        if t > budget:
            break
    n = np.array([r[0] for r in rows], float)
    t = np.array([r[1] for r in rows], float)
    use = n >= 100
    x = float(np.polyfit(np.log(n[use]), np.log(t[use]), 1)[0]) if use.sum() >= 2 else float("nan")
    print(f"\n-- {name}: energy+forces per call (median of {repeats}), time ∝ N^{x:.2f} (N ≥ 100) --")
    print(f"{'atoms':>7} {'ms/call':>10} {'µs/atom':>9}")
    for na, ta in rows:
        print(f"{na:>7} {ta * 1e3:>10.2f} {ta / na * 1e6:>9.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--max-atoms", type=int, default=10_000)
    ap.add_argument("--budget", type=float, default=3.0, help="stop a model's sizes after a call this long (s)")
    ap.add_argument("--models", default="emt,linear,schnet,xtb,chgnet,sevennet")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quick", action="store_true",
                    help="5 repeats, graphs up to 864 atoms, EMT and linear_acelike up to 2,000 atoms, 1 s budget")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.max_atoms, args.budget, args.models = 5, 2000, 1.0, "emt,linear"
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads; python {platform.python_version()}")
    bench_graphs(args.repeats, args.max_atoms)

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    cells = [fcc_cell(r) for r in REPS]
    print(f"\n== one energy+forces call against system size (budget {args.budget} s per call) ==")
    if "emt" in models:
        scaling("EMT (EMTReference, ASE EMT + vesin)", adapters.EMTReference(), cells, args.repeats, args.budget, args.max_atoms)
    if "linear" in models or "schnet" in models:
        frames = emt_frames()
        if "linear" in models:
            t = time.perf_counter()
            lin = LinearACEPotential().fit(frames)
            print(f"\n(linear_acelike fitted on {len(frames)} frames in {time.perf_counter() - t:.1f} s, {lin.n_features_} weights)")
            scaling("linear_acelike (2+3-body, numpy)", lin, cells, args.repeats, args.budget, args.max_atoms)
        if "schnet" in models:
            sch = SchNetPotential(max_epochs=1, random_state=0).fit(frames)
            scaling("schnet (PyG, float32, autograd forces)", sch, cells, args.repeats, args.budget, args.max_atoms)
    if "xtb" in models and importlib.util.find_spec("tblite") is not None:
        boxes = [molecule_box(k) for k in (1, 2, 3, 4, 5)]
        scaling("GFN2-xTB (tblite), boxes of ethanol", adapters.XTBReference(), boxes, max(1, args.repeats // 2), args.budget, args.max_atoms)
    for key, cls, pkg in (("chgnet", "CHGNetModel", "chgnet"), ("sevennet", "SevenNetModel", "sevenn")):
        if key in models:
            if importlib.util.find_spec(pkg) is None:
                print(f"\n-- {key}: skipped ({pkg} not installed: pip install {pkg} torch=={torch.__version__.split('+')[0]}) --")
                continue
            scaling(f"{key} (pretrained)", getattr(adapters, cls)(), cells, max(1, args.repeats // 2), args.budget, args.max_atoms)


if __name__ == "__main__":
    main()
