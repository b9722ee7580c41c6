"""The package's shape cannot rot: the layer contract in pyproject.toml ([tool.importlinter])
holds, so no package imports another in a circle and no family imports another family."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_hold():
    pytest.importorskip("importlinter", reason="import-linter is a dev dependency: pip install -e '.[dev]'")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()",
         str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "BROKEN" not in out and "KEPT" in out


def test_every_package_is_a_regular_package():
    """import-linter (and readers) see a package only when it has an __init__.py."""
    src = ROOT / "src" / "matscibench"
    missing = [str(d.relative_to(src)) for d in src.rglob("*") if d.is_dir() and d.name != "__pycache__"
               and any(d.glob("*.py")) and not (d / "__init__.py").exists()]
    assert not missing, f"folders with Python files but no __init__.py: {missing}"
