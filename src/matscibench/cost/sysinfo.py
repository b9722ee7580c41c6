"""The machine and software a result came from, recorded with every run.

Hoefler & Belli (SC'15) rule 9 and MLPerf's submission rules ask for the hardware and software
stack next to every number: CPU model and cores, memory, accelerators and driver, kernel, Python
and library versions, and the version of the benchmark itself.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["system_info", "machine_fingerprint", "git_commit", "KEY_PACKAGES"]

KEY_PACKAGES = (
    "matscibench",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "pymatgen",
    "pymatgen-core",
    "ase",
    "spglib",
    "vesin",
    "torch",
    "torch-geometric",
    "phonopy",
    "tblite",
    "dask",
    "distributed",
    "sqlalchemy",
)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    if sys.platform == "darwin":
        with contextlib.suppress(Exception):
            return subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
    return platform.processor() or platform.machine()


def gpu_list() -> list[dict[str, Any]]:
    """GPUs from nvidia-smi when present (never imports torch or initialises CUDA)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,driver_version,uuid", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except Exception:
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3:
            with contextlib.suppress(ValueError):
                gpus.append(
                    {"name": parts[0], "memory_MiB": float(parts[1]), "driver": parts[2], "uuid": parts[3] if len(parts) > 3 else ""}
                )
    return gpus


def _versions() -> dict[str, str]:
    out = {}
    for name in KEY_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The git commit of the matscibench source tree, when it runs from a checkout."""
    here = Path(__file__).resolve().parent
    for parent in [here, *here.parents]:
        # only matscibench's own checkout, not a repository an installed copy happens to sit in
        if (parent / ".git").exists() and (parent / "src" / "matscibench").is_dir():
            with contextlib.suppress(Exception):
                res = subprocess.run(
                    ["git", "-C", str(parent), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
                )
                if res.returncode == 0:
                    sha = res.stdout.strip()
                    dirty = subprocess.run(
                        ["git", "-C", str(parent), "status", "--porcelain", "--untracked-files=no"],
                        capture_output=True,
                        text=True,
                        timeout=10,
                    ).stdout.strip()
                    return sha + ("-dirty" if dirty else "")
            return None
    return None


def _blas() -> list[dict[str, Any]]:
    with contextlib.suppress(Exception):
        from threadpoolctl import threadpool_info

        return [
            {k: d.get(k) for k in ("internal_api", "num_threads", "version", "threading_layer")}
            for d in threadpool_info()
        ]
    return []


def system_info() -> dict[str, Any]:
    """A JSON-able description of this machine and software stack."""
    import psutil

    from matscibench._version import __version__

    vm = psutil.virtual_memory()
    uname = platform.uname()
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "cpu_model": _cpu_model(),
        "cpu_physical_cores": psutil.cpu_count(logical=False),
        "cpu_logical_cores": psutil.cpu_count(logical=True),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_GiB": round(vm.total / 2**30, 2),
        "gpus": gpu_list(),
        "os": f"{uname.system} {uname.release}",
        "kernel": uname.version,
        "machine": uname.machine,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "packages": _versions(),
        "blas": _blas(),
        "matscibench_version": __version__,
        "git_commit": git_commit(),
    }
    info["fingerprint"] = machine_fingerprint(info)
    return info


def machine_fingerprint(info: dict[str, Any]) -> str:
    """A short hash of the hardware: results with different fingerprints came from different machines."""
    keys = ("cpu_model", "cpu_logical_cores", "memory_GiB", "machine")
    hw = {k: info.get(k) for k in keys}
    hw["gpus"] = sorted(g.get("name", "") for g in info.get("gpus", []))
    return hashlib.sha256(json.dumps(hw, sort_keys=True).encode()).hexdigest()[:12]
