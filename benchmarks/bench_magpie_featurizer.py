#!/usr/bin/env python
"""Time matscibench's vectorised Magpie featuriser against matminer's Magpie preset.

Both featurise the same N pymatgen ``Composition`` objects (real formulas from the matbench
``expt_gap`` artifacts file when it is present, otherwise random compositions of table elements),
single process (matminer with ``set_n_jobs(1)``). The outputs are checked to agree
(``rtol=1e-10``, NaN in the same places), then the median wall time over ``--repeats`` runs
(after one untimed warm-up run each) is printed in seconds, with items per second and the speedup
over matminer (matminer's median time is printed next to it as the base case).

If ``$MATSCIBENCH_DATA/cdvae/perov_5/test.csv`` is present, 500 of its CIFs are parsed with
pymatgen (not timed) and the featuriser is also timed on those ``Structure`` objects, with
matminer on their compositions for reference.

Usage::

    PYTHONPATH=src python benchmarks/bench_magpie_featurizer.py [--n 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import bz2
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from matscibench.featurizers.magpie import MagpieFeaturizer, load_magpie_table

REPO_ROOT = Path(__file__).resolve().parents[1]
EXPT_GAP = Path("matbench_artifacts") / "matbench_expt_gap.json.bz2"
PEROV5 = Path("cdvae") / "perov_5" / "test.csv"


def data_roots() -> list[Path]:
    """Folders to look in: ``$MATSCIBENCH_DATA`` (os.pathsep-separated) or ``../shared/data``."""
    env = os.environ.get("MATSCIBENCH_DATA", "")
    roots = [Path(p.strip()).expanduser() for p in env.split(os.pathsep) if p.strip()]
    return roots or [REPO_ROOT.parent / "shared" / "data"]


def find_data(rel: Path) -> Path | None:
    for root in data_roots():
        if (root / rel).is_file():
            return root / rel
    return None


def load_formulas(n: int, seed: int) -> tuple[list[str], str]:
    """N formula strings and a description of where they came from."""
    path = find_data(EXPT_GAP)
    rng = np.random.default_rng(seed)
    if path is not None:
        with bz2.open(path, "rt", encoding="utf-8") as fh:
            column = json.load(fh)["composition"]
        formulas = [column[k] for k in sorted(column, key=int)]
        replace = n > len(formulas)
        idx = rng.choice(len(formulas), size=n, replace=replace)
        note = " (sampled with replacement)" if replace else ""
        return [formulas[i] for i in idx], f"matbench_expt_gap formulas from {path}{note}"
    symbols = load_magpie_table().symbols[:94]  # H..Pu
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 6))
        els = rng.choice(len(symbols), size=k, replace=False)
        out.append("".join(f"{symbols[e]}{int(rng.integers(1, 7))}" for e in els))
    return out, "random compositions of 1-5 elements from H..Pu (matbench file not found)"


def load_structures(n: int) -> tuple[list[Any], str] | None:
    """Up to N pymatgen Structures parsed from the perov_5 test CIFs, or None if absent."""
    path = find_data(PEROV5)
    if path is None:
        return None
    import pandas as pd
    from pymatgen.core import Structure

    cifs = pd.read_csv(path, usecols=["cif"])["cif"].tolist()[:n]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        structures = [Structure.from_str(c, fmt="cif") for c in cifs]
    return structures, f"perov_5 test structures from {path}"


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time (s) over ``repeats`` calls after one untimed warm-up, and the last result."""
    result = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def matminer_featurizer() -> Any:
    from matminer.featurizers.composition import ElementProperty

    ep = ElementProperty.from_preset("magpie")
    ep.set_n_jobs(1)
    return ep


def check_agree(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0, equal_nan=True, err_msg=what)
    same = np.array_equal(ours, ref, equal_nan=True)
    print(f"  agreement ({what}): OK at rtol=1e-10; bit-for-bit identical: {same}")


def report(label: str, n: int, t: float, base: float | None = None) -> None:
    line = f"  {label:<38s} median {t:9.4f} s  {n / t:12,.0f} items/s"
    if base is not None:
        line += f"  speedup {base / t:7.1f}x (matminer: {base:.3f} s)"
        print(line)
        print(f"HEADLINE | Magpie features, matminer time / ours: {label.strip()} ({n}) | {base / t:.1f} | >= 1")
        return
    print(line)


def run(n: int, repeats: int, n_structures: int, seed: int) -> None:
    from pymatgen.core import Composition
    import matminer
    import pymatgen.core

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, matminer {matminer.__version__}, "
        f"pymatgen {pymatgen.core.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; single process; median of {repeats} after 1 warm-up"
    )
    ours = MagpieFeaturizer()
    ep = matminer_featurizer()

    formulas, source = load_formulas(n, seed)
    comps: Sequence[Any] = [Composition(f) for f in formulas]
    print(f"\nCompositions: N = {n}, {source}; {len(set(formulas))} distinct formulas")
    t_mm, ref = median_time(lambda: ep.featurize_many(comps, pbar=False), repeats)
    ref = np.asarray(ref, dtype=np.float64)
    t_ours, got = median_time(lambda: ours.transform(comps), repeats)
    check_agree(got, ref, "Composition objects")
    t_str, got_str = median_time(lambda: ours.transform(formulas), repeats)
    check_agree(got_str, ref, "formula strings")
    report("matminer featurize_many (Composition)", n, t_mm)
    report("matscibench (Composition)", n, t_ours, t_mm)
    report("matscibench (formula str, incl. parse)", n, t_str, t_mm)

    loaded = load_structures(n_structures)
    if loaded is None:
        print(f"\nStructures: skipped ({PEROV5} not found under {data_roots()})")
        return
    structures, s_source = loaded
    ns = len(structures)
    print(f"\nStructures: N = {ns}, {s_source} (CIF parsing not timed)")
    t_s_mm, ref_s = median_time(
        lambda: ep.featurize_many([s.composition for s in structures], pbar=False), repeats
    )
    ref_s = np.asarray(ref_s, dtype=np.float64)
    t_s, got_s = median_time(lambda: ours.transform(structures), repeats)
    check_agree(got_s, ref_s, "Structures")
    report("matminer (s.composition for each)", ns, t_s_mm)
    report("matscibench (Structure)", ns, t_s, t_s_mm)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="number of compositions")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median reported)")
    parser.add_argument("--n-structures", type=int, default=500, help="perov_5 structures to time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # matminer/pymatgen deprecation chatter
    run(args.n, args.repeats, args.n_structures, args.seed)


if __name__ == "__main__":
    main()
