"""Shared fixtures: an isolated cache, the real data folder when present, a small EMT dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MATSCIBENCH_TEST_DATA", REPO.parent / "shared" / "data"))

#: a small embedded dataset for engine tests (generated once per test session)
SMALL_EMT = {"n_structures": 120, "seed": 0}


def pytest_configure(config):
    # one cache per test session, never the user's
    if "MATSCIBENCH_CACHE" not in os.environ or not os.environ.get("MATSCIBENCH_KEEP_CACHE"):
        import tempfile

        os.environ["MATSCIBENCH_CACHE"] = tempfile.mkdtemp(prefix="matscibench-test-cache-")
    os.environ["MATSCIBENCH_OFFLINE"] = "1"  # tests never download
    if SHARED_DATA.is_dir():
        os.environ["MATSCIBENCH_DATA"] = str(SHARED_DATA)
    else:
        os.environ.pop("MATSCIBENCH_DATA", None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public datasets (../shared/data); tests that need them skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set MATSCIBENCH_TEST_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def small_emt():
    """The small EMT dataset spec, prepared (generated and cached) once per session."""
    from matscibench.families.registry import get_dataset

    spec = get_dataset("emt_alloys", **SMALL_EMT)
    spec.prepare()
    return spec


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    return tmp_path / "results"


def chromium_executable() -> str | None:
    """A Chromium (or Chrome) on PATH for the browser tests, or None."""
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None
