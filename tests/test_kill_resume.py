"""``kill -9`` of the driver mid-run, then the same command: nothing lost, nothing twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import SMALL_EMT

SUITE = f"""
name = "kill-test"
folds = "all"
workers = 2
[options]
latency_budget_s = 0.05
[[tasks]]
name = "emt_formation_energy"
params = {{ dataset_params = {{ n_structures = {SMALL_EMT['n_structures']}, seed = {SMALL_EMT['seed']} }} }}
[[tasks]]
name = "emt_bulk_modulus"
params = {{ dataset_params = {{ n_structures = {SMALL_EMT['n_structures']}, seed = {SMALL_EMT['seed']} }} }}
[[models]]
name = "matscibench.models.faulty:SlowModel"
label = "slow"
params = {{ seconds = 1.0 }}
[[models]]
name = "magpie_rf"
"""


def _cmd(suite: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "matscibench", "run", "--suite", str(suite), "--results", str(out), "--quiet"]


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("select count(*) from jobs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_kill_minus_nine_then_resume(tmp_path, small_emt):
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE)
    out = tmp_path / "killed"
    db = out / "results.sqlite"
    env = dict(os.environ)
    proc = subprocess.Popen(_cmd(suite, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _count(db) < 4:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the run recorded nothing in 120 s"
        time.sleep(0.05)
    children = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    n_at_kill = _count(db)
    assert 4 <= n_at_kill < 20
    # the driver's workers do not outlive it
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"orphaned workers: {[p.pid for p in alive]}"

    res = subprocess.run(_cmd(suite, out), env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    with sqlite3.connect(db) as c:
        rows = c.execute("select key, status from jobs").fetchall()
        n_metric_rows = c.execute("select count(*) from metrics").fetchone()[0]
        planned = c.execute("select n_planned from runs").fetchone()[0]
        dup = c.execute("select count(*) from (select key from jobs group by run_id, key having count(*) > 1)").fetchone()[0]
    assert planned == 20 and len(rows) == 20 and dup == 0
    assert {s for _, s in rows} == {"ok"}
    from matscibench.families.properties.task import REGRESSION_METRICS

    assert len(REGRESSION_METRICS) == 8  # matbench's set (mae, rmse, mape, max_error) and ours
    assert n_metric_rows == 20 * len(REGRESSION_METRICS)  # every job has its regression metrics, once

    # the same results as a run that was never interrupted (the jobs are seeded and pure)
    clean = tmp_path / "clean"
    res = subprocess.run(_cmd(suite, clean), env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr

    def metrics(db_path):
        with sqlite3.connect(db_path) as c:
            return sorted(c.execute("select key, name, value from metrics").fetchall())

    assert metrics(db) == metrics(clean / "results.sqlite")
