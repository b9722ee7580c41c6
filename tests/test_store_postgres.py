"""The results store on a real PostgreSQL server: records, claims, reconnects, two drivers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import SMALL_EMT
from pgserver import PgServer

from matscibench.spec import JobResult
from matscibench.store import Store


@pytest.fixture(scope="module")
def pg():
    try:
        server = PgServer().init()
        server.start()
    except Exception as exc:
        pytest.skip(f"PostgreSQL cannot start on this machine: {exc}")
    yield server
    server.cleanup()


@pytest.fixture()
def pg_url(pg):
    # a fresh database per test
    name = f"t{int(time.time() * 1e6)}"
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={pg.port} user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f"create database {name}")
    return pg.url.rsplit("/", 1)[0] + "/" + name


def _result(key, run_id="r1"):
    return JobResult(key=key, run_id=run_id, task="t", model="m", fold=0, seed=0, status="ok",
                     metrics={"mae": 0.1, "r2": float("nan")}, costs={"fit.wall_s": 1.0}, curve=[(1, 0.5, 0.2)])


def test_record_and_duplicates_on_postgres(pg_url):
    st = Store(pg_url)
    assert st.ensure_run("r1", "s", {}, {}, 2)
    assert st.record(_result("a")) and not st.record(_result("a"))
    assert st.recorded_keys("r1") == {"a"}
    m = st.metrics_frame("r1").set_index("name")["value"]
    assert m["mae"] == 0.1 and m.isna()["r2"]


def test_claims_between_owners(pg_url, monkeypatch):
    from matscibench import store as store_mod

    st = Store(pg_url)
    st.ensure_run("r1", "s", {}, {}, 2)
    assert st.claim("r1", "a") == "mine"
    assert st.claim("r1", "a") == "mine"  # idempotent for the owner
    # another live driver on another host
    monkeypatch.setattr(store_mod, "driver_identity", lambda: ("other:1", "other", 1))
    assert st.claim("r1", "a", lease_s=600) == "taken"
    monkeypatch.undo()
    st.record(_result("a"))
    monkeypatch.setattr(store_mod, "driver_identity", lambda: ("other:1", "other", 1))
    assert st.claim("r1", "a") == "recorded"
    # an expired lease can be taken over
    assert st.claim("r1", "b", lease_s=-1) == "mine"
    monkeypatch.undo()
    assert st.claim("r1", "b") == "mine"


def test_dead_driver_claims_are_taken_over(pg_url, monkeypatch):
    from matscibench import store as store_mod

    st = Store(pg_url)
    st.ensure_run("r1", "s", {}, {}, 1)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    host = store_mod.driver_identity()[1]
    monkeypatch.setattr(store_mod, "driver_identity", lambda: (f"{host}:{proc.pid}", host, proc.pid))
    assert st.claim("r1", "a", lease_s=3600) == "mine"
    monkeypatch.undo()
    assert st.claim("r1", "a") == "mine"  # same host, owner process is dead


def test_record_survives_a_server_restart(pg, pg_url):
    st = Store(pg_url, reconnect_timeout_s=60)
    st.ensure_run("r1", "s", {}, {}, 50)
    done = []

    def writer():
        for i in range(50):
            done.append(st.record(_result(f"k{i}")))
            time.sleep(0.05)

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.5)
    pg.restart(down_s=1.5)  # the connection drops under the writer
    t.join(timeout=120)
    assert not t.is_alive()
    keys = st.recorded_keys("r1")
    assert keys == {f"k{i}" for i in range(50)}
    assert len(st.metrics_frame("r1")) == 100  # nothing written twice


SUITE = f"""
name = "two-drivers"
folds = "all"
workers = 1
[options]
latency_budget_s = 0.05
[[tasks]]
name = "emt_formation_energy"
params = {{ dataset_params = {{ n_structures = {SMALL_EMT['n_structures']}, seed = {SMALL_EMT['seed']} }} }}
[[tasks]]
name = "emt_is_stable"
params = {{ dataset_params = {{ n_structures = {SMALL_EMT['n_structures']}, seed = {SMALL_EMT['seed']} }} }}
[[models]]
name = "matscibench.models.faulty:SlowModel"
label = "slow"
params = {{ seconds = 0.7 }}
[[models]]
name = "dummy"
"""


@pytest.mark.slow
def test_two_drivers_on_one_store_record_each_job_once(pg, pg_url, tmp_path, small_emt):
    suite = tmp_path / "s.toml"
    suite.write_text(SUITE)
    cmds = [
        [sys.executable, "-m", "matscibench", "run", "-s", str(suite), "-r", str(tmp_path / f"d{i}"), "--store", pg_url, "-q"]
        for i in range(2)
    ]
    procs = [subprocess.Popen(c, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    st = Store(pg_url)
    jobs = st.jobs_frame(st.resolve_run_id("two-drivers"))
    assert len(jobs) == 20 and jobs["key"].is_unique and set(jobs["status"]) == {"ok"}
    # the work was shared: both drivers recorded jobs
    assert jobs["pid"].nunique() >= 2
    assert len(jobs.groupby("host")) == 1


@pytest.mark.slow
def test_driver_reconnects_when_postgres_restarts_mid_run(pg, pg_url, tmp_path, small_emt):
    suite = tmp_path / "s.toml"
    suite.write_text(SUITE)
    cmd = [sys.executable, "-m", "matscibench", "run", "-s", str(suite), "-r", str(tmp_path / "d"), "--store", pg_url, "-q"]
    proc = subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    st = Store(pg_url)
    deadline = time.monotonic() + 120
    while True:
        try:
            rid = st.resolve_run_id("two-drivers")
            if len(st.recorded_keys(rid)) >= 3:
                break
        except KeyError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    pg.restart(down_s=2.0)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    jobs = st.jobs_frame(rid)
    assert len(jobs) == 20 and jobs["key"].is_unique
    from matscibench.families.properties.task import CLASSIFICATION_METRICS, REGRESSION_METRICS

    assert len(st.metrics_frame(rid)) == 10 * len(REGRESSION_METRICS) + 10 * len(CLASSIFICATION_METRICS)
