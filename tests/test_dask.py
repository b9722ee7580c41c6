"""The engine on Dask: same results as the local executor; a killed Dask worker costs nothing."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import SMALL_EMT

pytest.importorskip("distributed")

from matscibench.run.driver import run_suite  # noqa: E402
from matscibench.store import Store  # noqa: E402
from matscibench.suite import Suite  # noqa: E402

PARAMS = {"dataset_params": SMALL_EMT}


def _suite(models, **kw):
    base = {
        "name": "dask-test",
        "folds": [0, 1],
        "workers": 2,
        "options": {"latency_budget_s": 0.05},
        "tasks": [{"name": "emt_formation_energy", "params": PARAMS}, {"name": "emt_is_stable", "params": PARAMS}],
        "models": models,
    }
    base.update(kw)
    return Suite.model_validate(base)


@pytest.mark.slow
def test_dask_gives_the_local_results(tmp_path, small_emt):
    suite = _suite(["dummy", "magpie_rf", {"name": "matscibench.models.faulty:CrashingModel", "label": "crasher"}], retries=0)
    local = run_suite(suite, results=tmp_path / "local", quiet=True)
    dask = run_suite(suite, results=tmp_path / "dask", quiet=True, executor="dask")
    assert local.counts == dask.counts == {"ok": 8, "failed": 4}

    def table(out):
        st = Store(out.results_dir / "results.sqlite")
        m = st.metrics_frame(out.run_id)
        return sorted(zip(m["key"], m["name"], m["value"].round(12)))

    assert table(local) == table(dask)
    jobs = Store(dask.results_dir / "results.sqlite").jobs_frame(dask.run_id)
    assert set(jobs.loc[jobs["model"] == "crasher", "error_type"]) == {"WorkerCrashed"}


def _markers() -> list[int]:
    d = Path(os.environ["MATSCIBENCH_CACHE"]) / "running" / socket.gethostname()
    out = []
    if d.is_dir():
        for f in d.iterdir():
            try:
                pid = int(f.name)
            except ValueError:
                continue
            if psutil.pid_exists(pid):
                out.append(pid)
    return out


@pytest.mark.slow
def test_killed_dask_worker_job_is_rerun_and_recorded_once(tmp_path, small_emt):
    suite = tmp_path / "s.toml"
    suite.write_text(
        f"""name = "dask-kill"
folds = "all"
workers = 2
[options]
latency_budget_s = 0.05
[[tasks]]
name = "emt_formation_energy"
params = {{ dataset_params = {{ n_structures = {SMALL_EMT['n_structures']}, seed = {SMALL_EMT['seed']} }} }}
[[models]]
name = "matscibench.models.faulty:SlowModel"
label = "slow"
params = {{ seconds = 3.0 }}
"""
    )
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "matscibench", "run", "-s", str(suite), "-r", str(out), "--executor", "dask", "-q"]
    proc = subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    victim = None
    while victim is None:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no job started on Dask in 120 s"
        for job_pid in _markers():
            try:
                chain = psutil.Process(job_pid).parents()
            except psutil.Error:
                continue
            # job process <- fork server <- Dask worker <- nanny <- ... <- the driver
            if any(p.pid == proc.pid for p in chain) and len(chain) >= 3:
                victim = chain[1]
                break
        time.sleep(0.1)
    victim.send_signal(signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    with sqlite3.connect(out / "results.sqlite") as c:
        rows = c.execute("select key, status from jobs").fetchall()
    assert len(rows) == 5 and len({k for k, _ in rows}) == 5
    assert {s for _, s in rows} == {"ok"}


def test_slurm_cluster_from_config_file(tmp_path):
    pytest.importorskip("dask_jobqueue")
    from matscibench.run.dask_executor import load_cluster_config, make_cluster

    cfg_file = tmp_path / "slurm.toml"
    cfg_file.write_text(
        """kind = "slurm"
jobs = 4
[options]
cores = 16
memory = "64GB"
processes = 1
walltime = "02:00:00"
queue = "gpu"
job_extra_directives = ["--gres=gpu:2"]
worker_extra_args = ["--resources", "GPU=2,NODE=1"]
"""
    )
    cfg = load_cluster_config(cfg_file)
    assert cfg["kind"] == "slurm" and cfg["jobs"] == 4
    cluster = make_cluster(cfg)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ("#SBATCH -p gpu", "#SBATCH --cpus-per-task=16", "#SBATCH -t 02:00:00", "#SBATCH --gres=gpu:2", "--resources GPU=2,NODE=1"):
        assert line in script
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "kubernetes"\n')
    with pytest.raises(ValueError, match="kind must be"):
        load_cluster_config(bad)
