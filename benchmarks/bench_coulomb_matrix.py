#!/usr/bin/env python
"""Time matscibench's Coulomb-matrix eigenvalue featuriser against dscribe's ``CoulombMatrix``.

Both compute the sorted eigenvalue spectrum of the Coulomb matrix (``permutation="eigenspectrum"``
in dscribe; ``families.molecules.models.coulomb_eigenvalues`` here) of the same N molecules, single
process (dscribe with ``n_jobs=1``): the real QM7 molecules (qml's copy, 7,101 molecules of up to
23 atoms) when ``qml_qm7/qm7_xyz.tar.gz`` is found under ``$MATSCIBENCH_DATA`` or
``../shared/data``, otherwise ASE's G2 molecules repeated. The outputs are checked to agree
(``atol=1e-8``), then the median wall and CPU times over ``--repeats`` runs (after one untimed
warm-up each) are printed with molecules per second and the ratio dscribe / ours (dscribe's time
printed next to it as the base case). Our featuriser is timed on ASE ``Atoms`` (dscribe's input)
and on pymatgen ``Molecule`` objects (what the molecular tasks give a model).

Usage::

    python benchmarks/bench_coulomb_matrix.py [--n 7101] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
QM7 = Path("qml_qm7") / "qm7_xyz.tar.gz"


def data_roots() -> list[Path]:
    env = os.environ.get("MATSCIBENCH_DATA", "")
    roots = [Path(p.strip()).expanduser() for p in env.split(os.pathsep) if p.strip()]
    return roots or [REPO_ROOT.parent / "shared" / "data"]


def load_molecules(n: int) -> tuple[list[Any], str]:
    """N ASE ``Atoms`` (QM7 when present) and where they came from."""
    from ase import Atoms

    from matscibench.families.molecules.data import parse_xyz

    for root in data_roots():
        path = root / QM7
        if path.is_file():
            out = []
            with tarfile.open(path, "r:*") as tar:
                members = sorted((m for m in tar if m.isfile() and m.name.endswith(".xyz")), key=lambda m: m.name)
                for m in members[:n]:
                    z, r = parse_xyz(tar.extractfile(m).read().decode(), m.name)
                    out.append(Atoms(numbers=z, positions=r))
            return out, f"QM7 from {path}"
    from ase.build import molecule
    from ase.collections import g2

    base = [molecule(name) for name in g2.names]
    return [base[i % len(base)] for i in range(n)], "ASE G2 molecules, repeated (QM7 not found)"


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Median wall and CPU time (s) over ``repeats`` calls after one untimed warm-up."""
    result = fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu), result


def report(label: str, n: int, t: tuple[float, float], base: tuple[float, float] | None = None) -> None:
    line = f"  {label:<34s} wall {t[0]:8.4f} s  CPU {t[1]:8.4f} s  {n / t[1]:10,.0f} molecules/CPU-s"
    if base is not None:
        line += f"  ratio dscribe/ours: CPU {base[1] / t[1]:5.1f}x, wall {base[0] / t[0]:5.1f}x (dscribe: {base[1]:.3f} CPU-s)"
    print(line)


def run(n: int, repeats: int) -> None:
    import dscribe
    from dscribe.descriptors import CoulombMatrix
    from importlib.metadata import version
    from pymatgen.io.ase import AseAtomsAdaptor

    from matscibench.families.molecules.models import coulomb_eigenvalues

    atoms, source = load_molecules(n)
    n = len(atoms)
    n_max = max(len(a) for a in atoms)
    mols = [AseAtomsAdaptor.get_molecule(a) for a in atoms]
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, dscribe {version('dscribe')}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}; single process; median of {repeats} after 1 warm-up"
    )
    print(f"N = {n} molecules ({source}), n_atoms_max = {n_max}")
    del dscribe
    cm = CoulombMatrix(n_atoms_max=n_max, permutation="eigenspectrum")
    t_ds = median_time(lambda: np.asarray(cm.create(atoms, n_jobs=1)), repeats)
    t_ours = median_time(lambda: coulomb_eigenvalues(atoms, n_max), repeats)
    t_mol = median_time(lambda: coulomb_eigenvalues(mols, n_max), repeats)
    np.testing.assert_allclose(t_ours[2], t_ds[2], atol=1e-8, rtol=0)
    np.testing.assert_allclose(t_mol[2], t_ds[2], atol=1e-8, rtol=0)
    print(f"  agreement: OK at atol=1e-8 (max |diff| {np.abs(t_ours[2] - t_ds[2]).max():.1e})")
    report("dscribe CoulombMatrix (Atoms)", n, t_ds[:2])
    report("matscibench (Atoms)", n, t_ours[:2], t_ds[:2])
    report("matscibench (pymatgen Molecule)", n, t_mol[:2], t_ds[:2])
    print(f"HEADLINE | Coulomb-matrix eigenvalues, dscribe CPU time / ours ({n} molecules) | {t_ds[1] / t_ours[1]:.1f} | >= 1")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=7101, help="number of molecules")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median reported)")
    args = parser.parse_args(argv)
    run(args.n, args.repeats)


if __name__ == "__main__":
    main()
