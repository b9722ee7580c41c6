"""The cost of one energy+forces call against system size, and the fitted exponent.

``run_scaling`` times a calculator on ever larger copies of a test frame (``tile``: supercells of
a periodic cell, cubic grids of copies of a molecule) until a call takes the budget or the system
passes ``max_atoms``; ``scaling.exponent`` is the slope of log(time) against log(atoms) over the
sizes of at least 100 atoms (when two or more reach it).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from matscibench.cost.meters import peak_rss_mib, peak_rss_reset
from matscibench.families.potentials.atoms import clean_atoms

__all__ = ["SCALING", "REPLICAS", "tile", "run_scaling"]

#: defaults of a task's ``scaling`` settings
SCALING = {"max_atoms": 4000, "budget_s": 2.0, "repeats": 3}
#: replication factors tried in turn (the system grows about r³ times)
REPLICAS = (1, 2, 3, 4, 6, 8, 10, 13, 16, 20, 25)


def tile(base, r: int, periodic: bool):
    """A system about r³ times larger: a supercell, or a cubic grid of copies of a molecule."""
    if periodic:
        return base.repeat((r, r, r))
    from ase import Atoms

    span = np.ptp(base.positions, axis=0).max() + 4.0
    out = Atoms()
    for i in range(r):
        for j in range(r):
            for k in range(r):
                m = base.copy()
                m.positions = m.positions + np.array([i, j, k]) * span
                out += m
    return out


def _too_slow(table: list[dict], n_atoms: int, budget: float) -> bool:
    """Whether the next call, predicted from the scaling so far (at least linear), would blow the budget."""
    if len(table) < 1:
        return False
    n0, t0 = table[-1]["n_atoms"], table[-1]["ms_per_call"] / 1e3
    x = 1.0
    if len(table) >= 2:
        n1, t1 = table[-2]["n_atoms"], table[-2]["ms_per_call"] / 1e3
        x = max(1.0, math.log(t0 / t1) / math.log(n0 / n1)) if t1 > 0 and n0 > n1 else 1.0
    return t0 * (n_atoms / n0) ** x > budget


def _time_calls(model, at, repeats: int, budget: float) -> list[float]:
    """Seconds of ``repeats`` energy+forces calls on fresh configurations, after a warm-up call
    (one call only when the warm-up took more than a third of the budget)."""
    at.calc = model
    t = time.perf_counter()
    at.get_forces()  # warm-up (and allocations)
    first = time.perf_counter() - t
    repeats = repeats if first < budget / 3 else 1
    ts = []
    peak_rss_reset()
    for _ in range(repeats):
        at.positions = at.positions + 1e-4  # a new configuration: no cached result
        t = time.perf_counter()
        at.get_potential_energy()
        at.get_forces()
        ts.append(time.perf_counter() - t)
    return ts


def _scaling_costs(table: list[dict]) -> dict[str, float]:
    costs: dict[str, float] = {}
    if len(table) >= 2:
        n = np.array([r["n_atoms"] for r in table], float)
        t = np.array([r["ms_per_call"] for r in table], float)
        use = n >= min(100, n.max() / 4) if (n >= 100).sum() >= 2 else np.ones_like(n, bool)
        costs["scaling.exponent"] = float(np.polyfit(np.log(n[use]), np.log(t[use]), 1)[0])
    if table:
        costs["scaling.max_atoms"] = float(table[-1]["n_atoms"])
        costs["scaling.ms_per_call_largest"] = float(table[-1]["ms_per_call"])
        costs["scaling.peak_rss_MiB_largest"] = float(table[-1]["peak_rss_MiB"])
    return costs


def run_scaling(model, frame, periodic: bool, scaling: dict[str, Any]) -> tuple[list[dict], dict[str, float]]:
    """(table of n_atoms / ms_per_call / peak_rss_MiB per size, costs ``scaling.*``)."""
    cfg = {**SCALING, **scaling}
    table = []
    base = clean_atoms(frame)
    budget = float(cfg["budget_s"])
    for r in REPLICAS:
        at = tile(base, r, periodic)
        if len(at) > int(cfg["max_atoms"]) and table:
            break
        if _too_slow(table, len(at), budget):
            break
        ts = _time_calls(model, at, int(cfg["repeats"]), budget)
        table.append({"n_atoms": len(at), "ms_per_call": float(np.median(ts) * 1e3), "peak_rss_MiB": peak_rss_mib()})
        if np.median(ts) > budget:
            break
    return table, _scaling_costs(table)
