"""How many jobs run at once on this machine: a timing is only as good as what ran beside it.

Every running job keeps a marker file ``<cache>/running/<host>/<pid>`` for its lifetime. A job
counts the live markers (dead pids are pruned) when it starts and at each phase, and records the
largest count as ``job.concurrent_jobs``: 1 means the job had the machine to itself (as far as
matscibench jobs go), whatever executor, driver or Dask worker started it.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from matscibench.paths import cache_dir

__all__ = ["running_marker", "count_running"]


def _dir() -> Path:
    d = cache_dir() / "running" / socket.gethostname()
    d.mkdir(parents=True, exist_ok=True)
    return d


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def count_running() -> int:
    """Live job markers on this host (stale ones from killed jobs are removed)."""
    n = 0
    for f in _dir().iterdir():
        try:
            pid = int(f.name)
        except ValueError:
            continue
        if _alive(pid):
            n += 1
        else:
            with contextlib.suppress(OSError):
                f.unlink()
    return n


@contextlib.contextmanager
def running_marker(key: str) -> Iterator[None]:
    """Mark this process as running a job for the duration of the block."""
    path = _dir() / str(os.getpid())
    try:
        path.write_text(key)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
