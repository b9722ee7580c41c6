"""Where matscibench keeps its cache, looks for local data and writes results.

- Cache (generated datasets, downloads, parsed structures): ``$MATSCIBENCH_CACHE`` or
  ``~/.cache/matscibench``.
- Local data folders searched before any download: ``$MATSCIBENCH_DATA`` (one or more folders,
  separated by ``os.pathsep``). A folder laid out like the public sources (``cdvae/perov_5/test.csv``,
  ``matbench_artifacts/...``) is used as is, after its checksum is verified.
- Results (store, predictions, reports): ``$MATSCIBENCH_RESULTS`` or ``./matscibench-results``.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("MATSCIBENCH_CACHE")
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "matscibench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dirs() -> list[Path]:
    """Local folders to search for dataset files, in order (existing ones only)."""
    dirs: list[Path] = []
    for part in os.environ.get("MATSCIBENCH_DATA", "").split(os.pathsep):
        if part.strip():
            p = Path(part.strip()).expanduser()
            if p.is_dir():
                dirs.append(p)
    dl = cache_dir() / "downloads"
    dirs.append(dl)
    return dirs


def results_dir(path: str | os.PathLike | None = None) -> Path:
    if path is None:
        path = os.environ.get("MATSCIBENCH_RESULTS", "matscibench-results")
    p = Path(path).expanduser()
    p.mkdir(parents=True, exist_ok=True)
    return p
