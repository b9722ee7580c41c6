#!/usr/bin/env python
"""Time the crystal-property graph step against raw vesin and pymatgen's ``get_all_neighbors``.

On the same structures, three ways to get each atom's periodic neighbours within ``--cutoff`` Å:

* ``vesin``: a bare ``vesin.NeighborList(cutoff, full_list=True).compute(..., "ijSD")`` on the
  Cartesian positions and cell (the floor: what any graph needs);
* ``ours``: ``featurizers.crystal_graph.crystal_graph`` (vesin, then sorting, the whole-shell
  ``max_neighbors`` cut, distances), with and without the line graph (bond angles, ALIGNN);
* ``pymatgen``: ``Structure.get_all_neighbors(cutoff)`` (what CGCNN's and ALIGNN's own loaders,
  through pymatgen or jarvis-tools, do per structure) followed by the same nearest-``max_neighbors``
  selection (sorting each atom's list by distance) so the outputs match.

Structures: Perov-5 (``cdvae/perov_5/test.csv``, 5-atom cubic perovskites) when
``$MATSCIBENCH_DATA`` holds it, and rattled supercells of rock-salt NaCl (2 to 512 atoms).
Each timing is the median of ``--repeats`` runs over the whole set after one warm-up run; the
ratios are (pymatgen or ours) / vesin. The machine is printed first.

Usage::

    python benchmarks/bench_crystal_graph.py [--repeats 5] [--cutoff 8] [--max-neighbors 12]
        [--n-perov 500]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from pymatgen.core import Lattice, Structure


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def nacl_supercell(n: int, seed: int = 0) -> Structure:
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    s = s.get_primitive_structure() if n == 1 else s * (n, n, n)
    rng = np.random.default_rng(seed)
    return Structure(s.lattice, s.species, s.cart_coords + rng.normal(0, 0.03, (len(s), 3)), coords_are_cartesian=True)


def perov5(n: int) -> list[Structure] | None:
    from matscibench.data.cache import find_local

    path = find_local("cdvae/perov_5/test.csv")
    if path is None:
        return None
    import pandas as pd

    df = pd.read_csv(path, nrows=n)
    return [Structure.from_str(c, fmt="cif") for c in df["cif"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cutoff", type=float, default=8.0)
    ap.add_argument("--max-neighbors", type=int, default=12)
    ap.add_argument("--n-perov", type=int, default=500)
    args = ap.parse_args()

    import vesin

    from matscibench.cost.sysinfo import system_info
    from matscibench.featurizers.crystal_graph import crystal_graph, structure_arrays

    info = system_info()
    print(f"machine: {info['cpu_model']}, {info['cpu_logical_cores']} logical cores "
          f"({info['cpu_affinity']} usable), {info['memory_GiB']} GiB; {info['os']}; python {info['python']}; "
          f"vesin {vesin.__version__}, pymatgen {info['packages'].get('pymatgen', '?')}")
    R, K = args.cutoff, args.max_neighbors
    sets: list[tuple[str, list[Structure]]] = []
    p5 = perov5(args.n_perov)
    if p5 is not None:
        sets.append((f"Perov-5 ({len(p5)} x 5 atoms)", p5))
    else:
        print("(Perov-5 not found under $MATSCIBENCH_DATA: cdvae/perov_5/test.csv; NaCl cells only)")
    for n, count in ((1, 200), (2, 40), (3, 10), (4, 4)):
        s = nacl_supercell(n)
        sets.append((f"NaCl {len(s)} atoms (x{count})", [nacl_supercell(n, seed) for seed in range(count)]))

    nl = vesin.NeighborList(cutoff=R, full_list=True)

    def run_vesin(X):
        for x in X:
            _, pos, cell = structure_arrays(x)
            nl.compute(points=pos, box=cell, periodic=True, quantities="ijSD")

    def run_ours(X, lg=False):
        for x in X:
            crystal_graph(x, R, K, lg, nl)

    def run_pymatgen(X):
        for x in X:
            for nbrs in x.get_all_neighbors(R):
                nbrs = sorted(nbrs, key=lambda nb: nb.nn_distance)
                if len(nbrs) > K:  # the same whole-shell cut as ours
                    kth = nbrs[K - 1].nn_distance + 1e-4
                    nbrs = [nb for nb in nbrs if nb.nn_distance <= kth]

    print(f"\n== neighbours within {R} Å, nearest {K} (whole shells); median of {args.repeats} (ms per set) ==")
    print(f"{'structures':<28} {'edges':>8} {'vesin':>9} {'ours':>9} {'ours+angles':>12} {'pymatgen':>10} "
          f"{'ours/vesin':>11} {'pymatgen/vesin':>15} {'pymatgen/ours':>14}")
    for name, X in sets:
        edges = sum(crystal_graph(x, R, K, False, nl).n_edges for x in X)
        t_v = median_time(lambda X=X: run_vesin(X), args.repeats)
        t_o = median_time(lambda X=X: run_ours(X), args.repeats)
        t_l = median_time(lambda X=X: run_ours(X, True), args.repeats)
        t_p = median_time(lambda X=X: run_pymatgen(X), max(1, args.repeats // 2))
        print(f"{name:<28} {edges:>8} {1e3 * t_v:>9.1f} {1e3 * t_o:>9.1f} {1e3 * t_l:>12.1f} {1e3 * t_p:>10.1f} "
              f"{t_o / t_v:>11.2f} {t_p / t_v:>15.1f} {t_p / t_o:>14.1f}")
        print(f"HEADLINE | crystal graphs, {name.strip()}: ours / vesin | {t_o / t_v:.2f} | -")
        print(f"HEADLINE | crystal graphs, {name.strip()}: pymatgen get_all_neighbors / ours | {t_p / t_o:.1f} | >= 1")


if __name__ == "__main__":
    main()
