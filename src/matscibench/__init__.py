"""matscibench: a benchmark for AI in materials science that measures accuracy and cost.

The public entry points are the command line (``matscibench --help``) and a small Python API:

>>> from matscibench import run_suite, load_suite          # doctest: +SKIP
>>> result = run_suite(load_suite("quick"))                 # doctest: +SKIP
"""

from __future__ import annotations

from matscibench._version import __version__

__all__ = ["__version__", "run_suite", "load_suite", "get_task", "get_dataset", "Store"]


def __getattr__(name: str):  # lazy imports keep ``import matscibench`` fast
    if name == "run_suite":
        from matscibench.run.driver import run_suite

        return run_suite
    if name == "load_suite":
        from matscibench.suite import load_suite

        return load_suite
    if name == "get_task":
        from matscibench.families.registry import get_task

        return get_task
    if name == "get_dataset":
        from matscibench.families.registry import get_dataset

        return get_dataset
    if name == "Store":
        from matscibench.store import Store

        return Store
    raise AttributeError(f"module 'matscibench' has no attribute {name!r}")
