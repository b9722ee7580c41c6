"""Imported once by the fork server: modules and tables every job needs, so each forked job
starts warm (measured: ~0.15 s saved per job; see benchmarks/bench_harness_overhead.py)."""

from __future__ import annotations

import contextlib

import matscibench.families.registry  # noqa: F401
import matscibench.featurizers.sitestats  # noqa: F401
import matscibench.models.dummy  # noqa: F401
import matscibench.families.properties.models  # noqa: F401
import matscibench.families.properties.task  # noqa: F401

with contextlib.suppress(Exception):
    from matscibench.featurizers import magpie

    magpie.load_magpie_table()
with contextlib.suppress(Exception):
    from pymatgen.core import Element, Lattice, Structure

    # element objects and their data are built lazily on first use
    for z in range(1, 104):
        Element.from_Z(z).atomic_mass  # noqa: B018
    Structure(Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]]).composition  # noqa: B018
with contextlib.suppress(Exception):
    import vesin  # noqa: F401
