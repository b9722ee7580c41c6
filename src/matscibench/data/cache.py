"""Files: checksums, atomic writes, locks, local look-up and checked downloads."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from matscibench.errors import ChecksumError, DatasetNotAvailable
from matscibench.paths import cache_dir, data_dirs

__all__ = [
    "sha256_file",
    "sha256_bytes",
    "atomic_path",
    "file_lock",
    "verify_file",
    "find_local",
    "fetch_file",
]

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _memo_path() -> Path:
    return cache_dir() / "verified.json"


def _memo_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def verify_file(path: str | os.PathLike, sha256: str | None) -> str:
    """Check a file's sha256 and return it; raise ``ChecksumError`` naming the file on mismatch.

    A file that was verified before and has not changed since (same size and mtime) is not read
    again: a 100 MB archive costs its hash once per machine, not once per job.
    """
    path = Path(path)
    key = _memo_key(path)
    memo: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        memo = json.loads(_memo_path().read_text())
    digest = memo.get(key)
    if digest is None:
        digest = sha256_file(path)
    if sha256 is not None and digest != sha256:
        raise ChecksumError(
            f"{path}: sha256 is {digest}, expected {sha256}. The file is truncated, corrupted or "
            f"a different version. Delete it and run again to re-download, or replace it with the "
            f"published file."
        )
    if memo.get(key) != digest:
        memo[key] = digest
        with contextlib.suppress(OSError):
            with atomic_path(_memo_path()) as tmp:
                tmp.write_text(json.dumps(memo, indent=0))
    return digest


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success it replaces ``dest`` atomically.

    A process killed while writing leaves ``dest`` as it was (absent or the previous version).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes owner-only files; give the result the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, timeout: float = 3600.0) -> Iterator[None]:
    """An exclusive advisory lock (``fcntl.flock``) so two processes never build one cache file."""
    lock_path = Path(str(path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(lock_path, "a+")
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no locking, best effort
            yield
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"could not lock {lock_path} within {timeout:.0f} s") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    finally:
        fh.close()


def write_npz_cache(path: str | os.PathLike, arrays: dict, meta: dict, default: Callable | None = None) -> None:
    """Write ``arrays`` and a JSON ``meta`` record as one compressed ``.npz``, atomically (a
    killed writer leaves no partial cache file). ``default`` converts what JSON cannot."""
    import io

    import numpy as np

    buf = io.BytesIO()
    meta = {**meta, "_content_sha256": arrays_sha256({k: np.asarray(v) for k, v in arrays.items()})}
    np.savez_compressed(buf, meta=np.asarray(json.dumps(meta, default=default)), **arrays)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def arrays_sha256(arrays: dict) -> str:
    """sha256 of named numpy arrays (names, dtypes, shapes and bytes)."""
    import numpy as np

    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"\x00{k}|{a.dtype.str}|{a.shape}".encode())
        if a.dtype.kind == "O":  # not written by write_npz_cache (allow_pickle=False), but be total
            h.update(json.dumps(a.tolist(), default=str).encode())
        else:
            h.update(a.tobytes())
    return h.hexdigest()


def content_hash(arrays: dict, salt: str) -> str:
    """The checksum of a dataset from its content (what every npz-cached dataset records).

    ``salt`` is the dataset's name. Floats are rounded to 8 decimals (NaN written as 1e300), so the
    checksum survives the last-bit differences of BLAS builds; strings and objects are hashed as
    their text. The one function behind all content checksums: two datasets hashed by different
    rules would make the same data look different.
    """
    import numpy as np

    h = hashlib.sha256(salt.encode())
    for key in sorted(arrays):
        v = np.asarray(arrays[key])
        h.update(key.encode())
        if v.dtype.kind == "f":
            h.update(np.round(np.nan_to_num(v, nan=1e300), 8).tobytes())
        elif v.dtype.kind in "USO":
            h.update("|".join(map(str, v.ravel().tolist())).encode())
        else:
            h.update(np.ascontiguousarray(v).tobytes())
    return h.hexdigest()


def read_npz_cache(path: str | os.PathLike) -> tuple[dict, dict]:
    """The (arrays, meta) that ``write_npz_cache`` wrote, the arrays checked against the hash
    recorded when they were written. A truncated, corrupted or altered file raises
    ``DatasetError`` naming it and saying how to have it made again."""
    import numpy as np

    from matscibench.errors import DatasetError, clean_text, safe_str

    fix = f"Delete it to have it made again from its source: rm '{path}'."
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != "meta"}
            meta = json.loads(str(z["meta"]))
    except Exception as exc:  # noqa: BLE001 - zip, numpy, JSON errors all mean a bad file
        raise DatasetError(
            f"{path}: the cached dataset cannot be read ({type(exc).__name__}: {clean_text(safe_str(exc), 300)}); "
            f"it is truncated or corrupted. {fix}"
        ) from None
    recorded = meta.pop("_content_sha256", None)
    if recorded is not None and arrays_sha256(arrays) != recorded:
        raise DatasetError(f"{path}: the cached dataset was modified after it was written; its numbers cannot be trusted. {fix}")
    return arrays, meta


def find_local(relpath: str) -> Path | None:
    """First existing ``<dir>/<relpath>`` among the local data folders (see ``paths.data_dirs``)."""
    for d in data_dirs():
        p = d / relpath
        if p.is_file():
            return p
    return None


def fetch_file(
    relpath: str,
    sha256: str | None,
    url: str | None,
    *,
    offline: bool | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Return a verified local copy of a dataset file, downloading it into the cache if needed.

    Search order: ``$MATSCIBENCH_DATA`` folders, then ``<cache>/downloads``, then ``url``.
    ``offline`` (default: ``$MATSCIBENCH_OFFLINE`` is set) forbids the download; the error then
    says where to put the file.
    """
    local = find_local(relpath)
    if local is not None:
        verify_file(local, sha256)
        return local
    if offline is None:
        offline = bool(os.environ.get("MATSCIBENCH_OFFLINE"))
    dest = cache_dir() / "downloads" / relpath
    where = (
        f"Place the file at {dest}"
        + (f" (download it from {url})" if url else "")
        + ", or set MATSCIBENCH_DATA to a folder that contains "
        + relpath
        + "."
    )
    if url is None or offline:
        raise DatasetNotAvailable(f"{relpath} is not available locally. {where}")
    with file_lock(dest):
        if dest.is_file():  # another process downloaded it meanwhile
            verify_file(dest, sha256)
            return dest
        try:
            with atomic_path(dest) as tmp:
                _download(url, tmp, progress)
                verify_file(tmp, sha256)
        except ChecksumError:
            raise
        except Exception as exc:  # network errors
            raise DatasetNotAvailable(f"could not download {url}: {exc}. {where}") from exc
    return dest


def _download(url: str, dest: Path, progress: Callable[[int, int | None], None] | None) -> None:
    req = urllib.request.Request(url, headers={"User-Agent": "matscibench"})
    with urllib.request.urlopen(req, timeout=60) as resp, open(dest, "wb") as out:
        total = resp.headers.get("Content-Length")
        total_i = int(total) if total and total.isdigit() else None
        done = 0
        while True:
            block = resp.read(_CHUNK)
            if not block:
                break
            out.write(block)
            done += len(block)
            if progress is not None:
                progress(done, total_i)
    if total_i is not None and done != total_i:
        raise OSError(f"download truncated: {done} of {total_i} bytes")
