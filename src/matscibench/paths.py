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
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from matscibench.errors import MatscibenchError

        raise MatscibenchError(
            f"cannot create the results folder {p}: {exc.strerror or exc}. Give a writable folder with "
            "--results (or $MATSCIBENCH_RESULTS)."
        ) from None
    return p


def check_writable_dir(path: Path) -> None:
    """Raise ``MatscibenchError`` when files cannot be created in the folder ``path`` (read-only
    results folder), so a run fails before its first job rather than after it."""
    import tempfile

    from matscibench.errors import MatscibenchError

    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
            pass
    except OSError as exc:
        raise MatscibenchError(
            f"the results folder {path} is not writable ({exc.strerror or exc}). Make it writable "
            "(chmod u+w) or give another folder with --results."
        ) from None


def check_name(name: str, what: str = "name", max_chars: int = 200) -> str:
    """Return ``name`` when it can be one folder or file name inside the results folder, else raise
    ``MatscibenchError`` saying why: not empty, at most ``max_chars`` characters, no path
    separator (``/``, ``\\``), not ``.`` or ``..``, no control characters. Run ids and suite names
    become folders (``predictions/<run id>/``, ``reports/<run id>/``); a ``../`` in them would
    write outside ``--results``."""
    from matscibench.errors import MatscibenchError

    bad = None
    if not isinstance(name, str) or not name.strip():
        bad = "it is empty"
    elif len(name) > max_chars:
        bad = f"it has {len(name)} characters, more than {max_chars}"
    elif "/" in name or "\\" in name or (os.altsep and os.altsep in name):
        bad = "it contains a path separator ('/' or '\\')"
    elif name in (".", ".."):
        bad = f"{name!r} names a folder"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        bad = "it contains control characters"
    if bad:
        shown = name if not isinstance(name, str) or len(name) <= 80 else name[:80] + "…"
        raise MatscibenchError(
            f"{what} {shown!r} cannot name a folder inside the results folder: {bad}. "
            "Use letters, digits and . _ - (e.g. 'my-suite')."
        )
    return name


def inside(root: Path, path: Path) -> Path:
    """``path`` when it lies inside ``root`` (both resolved), else ``MatscibenchError``."""
    from matscibench.errors import MatscibenchError

    r, p = Path(root).resolve(), Path(path).resolve()
    if p != r and r not in p.parents:
        raise MatscibenchError(f"{path} lies outside the results folder {root}; refusing to write there")
    return path
