"""Process pools for work inside a job or a dataset build (not the job executor, see ``run/``).

``process_pool(n)`` gives workers that do not inherit the parent's threads: a process that has
already run OpenMP code (phonopy, torch, BLAS) and then ``fork()``s can deadlock in the child
(libgomp's thread pool is not fork-safe), which is what a job that computed phonons and then
generated a dataset met. So the workers come from a fork server (Linux) or are spawned (macOS,
Windows): they start from a clean interpreter and import what the submitted function needs.
Functions and arguments must therefore be picklable and must not rely on globals the parent set.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["process_pool", "safe_context"]


def safe_context() -> multiprocessing.context.BaseContext:
    """``forkserver`` where it exists, else ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def process_pool(
    max_workers: int, *, initializer: Callable[..., Any] | None = None, initargs: tuple[Any, ...] = ()
) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` of ``max_workers`` fork-safe workers (see the module docstring)."""
    return ProcessPoolExecutor(
        max_workers=max(1, int(max_workers)), mp_context=safe_context(), initializer=initializer, initargs=initargs
    )
