"""Process pools for work inside a job or a dataset build (not the job executor, see ``run/``).

``process_pool(n)`` gives workers that do not inherit the parent's threads: a process that has
already run OpenMP code (phonopy, torch, BLAS) and then ``fork()``s can deadlock in the child
(libgomp's thread pool is not fork-safe), which is what a job that computed phonons and then
generated a dataset met. So the workers are spawned: they start from a clean interpreter and
import what the submitted function needs (about a second per worker, once per pool). Functions and
arguments must therefore be picklable and must not rely on globals the parent set.

Not a fork server: its workers hold the server's liveness pipe open, so after a ``kill -9`` of
the process that started it the server and its workers live on, finishing work for nobody
(measured: both workers alive until their tasks ended). Spawned workers are children of the pool's
owner and ask the kernel to kill them when it dies (Linux ``PR_SET_PDEATHSIG``).

A script of yours that builds a dataset with several workers needs the usual
``if __name__ == "__main__":`` guard: spawned workers import the main module, and without the guard
they would run the script again (the CLI and pytest have it).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["process_pool", "safe_context", "die_with_parent"]


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; elsewhere a no-op).
    Meant for a freshly started child."""
    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: no such guarantee
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(137)


def _init_worker(initializer: Callable[..., Any] | None, initargs: tuple[Any, ...]) -> None:
    die_with_parent()
    if initializer is not None:
        initializer(*initargs)


def safe_context() -> multiprocessing.context.BaseContext:
    """``spawn``: workers that share no state with this process (see the module docstring)."""
    return multiprocessing.get_context("spawn")


def process_pool(
    max_workers: int, *, initializer: Callable[..., Any] | None = None, initargs: tuple[Any, ...] = ()
) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` of ``max_workers`` fork-safe workers (see the module docstring)."""
    return ProcessPoolExecutor(
        max_workers=max(1, int(max_workers)), mp_context=safe_context(), initializer=_init_worker,
        initargs=(initializer, initargs),
    )
