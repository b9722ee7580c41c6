"""Fault injection through the real command line (issue 16): one test per class of fault a long
benchmark run must survive. Every run goes through ``python -m matscibench`` in its own session,
and every test checks what batch systems check:

- the run completes, or stops with a one-line error (exit code 2) or as interrupted;
- nothing is written outside ``--results`` (the dataset cache excepted: it is the cache);
- no process the run started survives it (checked by session id: the driver is started with
  ``start_new_session``, so everything it starts shares its session unless it leaves it on purpose);
- the store holds each finished job exactly once.

docs/faults.md lists the guarantees these tests back.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import SMALL_EMT

REPO = Path(__file__).resolve().parents[1]
TASK = f"""[[tasks]]
name = "emt_formation_energy"
params = {{ dataset_params = {{ n_structures = {SMALL_EMT['n_structures']}, seed = {SMALL_EMT['seed']} }} }}
"""


def suite_text(name: str = "faults", models: str = '[[models]]\nname = "dummy"\n', extra: str = "", folds: str = "[0]") -> str:
    return f'name = "{name}"\nfolds = {folds}\nworkers = 2\nretries = 0\n{extra}\n[options]\nlatency_budget_s = 0.01\n{TASK}{models}'


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def _session(sid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (OSError, psutil.Error):
            pass
    return out


def assert_no_survivors(sid: int, timeout: float = 15.0) -> None:
    """No process of the driver's session is left (after a grace period for them to exit)."""
    deadline = time.monotonic() + timeout
    alive = _session(sid)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = _session(sid)
    if alive:
        desc = []
        for p in alive:
            try:
                desc.append(f"{p.pid} {' '.join(p.cmdline())[:100]}")
            except psutil.Error:
                pass
        for p in alive:  # do not leave them to the next test
            try:
                p.kill()
            except psutil.Error:
                pass
        if desc:
            pytest.fail("processes outlived the run: " + "; ".join(desc))


def start_cli(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "matscibench", *args], env=env or _env(), cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def run_cli(args: list[str], timeout: float = 300, env: dict[str, str] | None = None, cwd: Path | None = None,
            prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run the CLI to its end, then check that it left no process behind."""
    cmd = [*(prefix or []), sys.executable, "-m", "matscibench", *args]
    proc = subprocess.Popen(cmd, env=env or _env(), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the run did not end within {timeout} s:\n{out[-3000:]}\n{err[-3000:]}")
    assert_no_survivors(proc.pid)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def files_under(root: Path, skip: Path | None = None) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and (skip is None or skip not in p.parents)}


def one_line_error(res: subprocess.CompletedProcess, *words: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout[-2000:], res.stderr[-3000:])
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.stderr.strip().startswith("error:"), res.stderr
    msg = " ".join(res.stderr.split())
    for w in words:
        assert w in msg, (w, msg)
    return msg


def jobs(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("select key, model, status, error_type, error_message, traceback, wall_s from jobs").fetchall()


def check_store(db: Path) -> list[tuple]:
    """Each job once, no claims left, the run not left 'running'."""
    rows = jobs(db)
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys))
    with sqlite3.connect(db) as c:
        assert c.execute("select count(*) from claims").fetchone()[0] == 0
        planned, status = c.execute("select n_planned, status from runs").fetchone()
    assert status != "running"
    assert len(rows) <= planned
    return rows


# --------------------------------------------------------------------------- 1. hostile messages
@pytest.mark.slow
def test_hostile_exception_messages_are_stored_bounded_and_shown(tmp_path, small_emt):
    models = "".join(
        f'[[models]]\nname = "matscibench.models.faulty:HostileMessageModel"\nlabel = "{k}"\nparams = {{ kind = "{k}" }}\n'
        for k in ("surrogate", "huge", "nul", "unprintable")
    ) + '[[models]]\nname = "dummy"\n'
    suite = tmp_path / "s.toml"
    suite.write_text(suite_text(models=models))
    out = tmp_path / "res"
    before = files_under(tmp_path)
    t0 = time.monotonic()
    res = run_cli(["run", "-s", str(suite), "-r", str(out)])
    assert res.returncode == 0, res.stderr[-3000:]
    assert time.monotonic() - t0 < 240  # the display does not stall on a 20 MB line
    rows = check_store(out / "results.sqlite")
    assert len(rows) == 5
    by = {r[1]: r for r in rows}
    assert by["dummy"][2] == "ok"
    for k in ("surrogate", "huge", "nul", "unprintable"):
        _, _, status, etype, msg, tb, _ = by[k]
        assert status == "failed" and etype
        assert len(msg) <= 4100 and len(tb) <= 64100
        msg.encode("utf-8")  # valid UTF-8 all through
        assert "\x00" not in msg
    assert "\\udcff" in by["surrogate"][4]
    assert "characters cut" in by["huge"][4]
    assert "could not be read" in by["unprintable"][4]
    assert len(res.stdout) < 200_000
    assert files_under(tmp_path, out) == before
    # a rerun resumes: nothing to do, nothing twice
    res = run_cli(["run", "-s", str(suite), "-r", str(out)])
    assert res.returncode == 0, res.stderr[-3000:]
    assert len(check_store(out / "results.sqlite")) == 5


# --------------------------------------------------------------------------- 2. processes
def _pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["subprocess", "pool"])
def test_sigterm_stops_the_run_and_every_process_it_started(tmp_path, small_emt, kind):
    pid_file = tmp_path / "pids"
    models = (f'[[models]]\nname = "matscibench.models.faulty:ChildSpawningModel"\nlabel = "spawner"\n'
              f'params = {{ pid_file = "{pid_file}", seconds = 300, kind = "{kind}" }}\n[[models]]\nname = "dummy"\n')
    suite = tmp_path / "s.toml"
    suite.write_text(suite_text(models=models))
    out = tmp_path / "res"
    proc = start_cli(["run", "-s", str(suite), "-r", str(out)])
    deadline = time.monotonic() + 180
    while len(_pids(pid_file)) < 2:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the job did not start its child in 180 s"
        time.sleep(0.2)
    started = _pids(pid_file)
    os.kill(proc.pid, signal.SIGTERM)
    try:
        out_s, err_s = proc.communicate(timeout=60)
    finally:
        assert_no_survivors(proc.pid)  # (and kills them, so that a failure leaves nothing behind)
    assert proc.returncode == 143, (proc.returncode, err_s[-3000:])
    assert "interrupted by SIGTERM" in out_s
    assert not [p for p in started if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    with sqlite3.connect(out / "results.sqlite") as c:
        assert c.execute("select status from runs").fetchone()[0] == "interrupted"
        assert c.execute("select count(*) from claims").fetchone()[0] == 0
        assert c.execute("select count(*) from jobs where model = 'spawner'").fetchone()[0] == 0


@pytest.mark.slow
def test_a_finished_job_takes_the_processes_it_left_running_with_it(tmp_path, small_emt):
    pid_file = tmp_path / "pids"
    models = (f'[[models]]\nname = "matscibench.models.faulty:ChildSpawningModel"\nlabel = "spawner"\n'
              f'params = {{ pid_file = "{pid_file}", seconds = 0.1 }}\n')
    suite = tmp_path / "s.toml"
    suite.write_text(suite_text(models=models))
    res = run_cli(["run", "-s", str(suite), "-r", str(tmp_path / "res")])
    assert res.returncode == 0, res.stderr[-3000:]
    assert [r[2] for r in check_store(tmp_path / "res" / "results.sqlite")] == ["ok"]
    assert len(_pids(pid_file)) == 2


@pytest.mark.slow
def test_kill_minus_nine_during_dataset_generation_leaves_no_workers(tmp_path):
    cache = tmp_path / "cache"
    proc = start_cli(["datasets", "--prepare", "emt_alloys"], env=_env(MATSCIBENCH_CACHE=str(cache)))
    deadline = time.monotonic() + 120
    workers: list[psutil.Process] = []
    while len(workers) < 1:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no generator workers within 120 s"
        time.sleep(0.2)
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True) if "resource_tracker" not in " ".join(p.cmdline())]
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert_no_survivors(proc.pid)


# --------------------------------------------------------------------------- 3. names
@pytest.mark.parametrize("how", ["suite name", "run id", "run id slash"])
def test_names_cannot_escape_the_results_folder(tmp_path, how):
    base = tmp_path / "a" / "b"
    out = base / "res"
    suite = base / "s.toml"
    base.mkdir(parents=True)
    args = ["run", "-s", str(suite), "-r", str(out), "-q"]
    if how == "suite name":
        suite.write_text(suite_text(name="../../escaped"))
    else:
        suite.write_text(suite_text())
        args += ["--run-id", "../../../escaped" if how == "run id" else "x/../../../escaped"]
    before = files_under(tmp_path)
    res = run_cli(args, timeout=120)
    one_line_error(res, "results folder")
    assert files_under(tmp_path, out) == before
    assert not list(tmp_path.rglob("*escaped*"))


# --------------------------------------------------------------------------- 4. caches
def _private_cache(tmp_path: Path, small_emt) -> tuple[Path, Path]:
    """A copy of the small EMT cache in a cache folder of its own; returns (cache, parquet file)."""
    src = small_emt.cache_path()
    cache = tmp_path / "cache"
    dst = cache / src.relative_to(Path(os.environ["MATSCIBENCH_CACHE"]))
    dst.parent.mkdir(parents=True)
    shutil.copy(src, dst)
    return cache, dst


@pytest.mark.slow
def test_tampered_or_truncated_cache_is_an_error_naming_the_file(tmp_path, small_emt):
    import pyarrow as pa
    import pyarrow.parquet as pq

    cache, path = _private_cache(tmp_path, small_emt)
    suite = tmp_path / "s.toml"
    suite.write_text(suite_text())
    env = _env(MATSCIBENCH_CACHE=str(cache))
    # altered targets, metadata kept
    table = pq.read_table(path)
    col = "target:formation_energy_per_atom"
    i = table.column_names.index(col)
    vals = table.column(col).to_numpy().copy()
    vals[:10] += 1.0
    pq.write_table(table.set_column(i, col, pa.array(vals)).replace_schema_metadata(table.schema.metadata), path)
    res = run_cli(["run", "-s", str(suite), "-r", str(tmp_path / "res")], env=env, timeout=120)
    one_line_error(res, str(path), "modified", "rm")
    assert not (tmp_path / "res" / "predictions").exists()
    # truncated
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    res = run_cli(["run", "-s", str(suite), "-r", str(tmp_path / "res")], env=env, timeout=120)
    one_line_error(res, str(path), "truncated or corrupted", "rm")


def test_checksum_is_of_the_content_as_read(tmp_path, small_emt, monkeypatch):
    """Even a file whose recorded content hash was rewritten with the data gets a new checksum
    (so new job keys and a new run id), never the old one."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from matscibench.data.base import table_content_sha256
    from matscibench.families.registry import get_dataset

    before = small_emt.checksum()
    cache, path = _private_cache(tmp_path, small_emt)
    monkeypatch.setenv("MATSCIBENCH_CACHE", str(cache))
    spec = get_dataset("emt_alloys", **SMALL_EMT)
    assert spec.cache_path() == path and spec.checksum() == before == spec.load().checksum
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"matscibench"])
    col = "target:bulk_modulus"
    vals = table.column(col).to_numpy().copy()
    vals[0] = 1e6
    new = table.set_column(table.column_names.index(col), col, pa.array(vals)).replace_schema_metadata(None)
    meta["content_sha256"] = table_content_sha256(new)
    pq.write_table(new.replace_schema_metadata({"matscibench": json.dumps(meta)}), path)
    assert spec.checksum() != before
    assert spec.load().targets["bulk_modulus"].iloc[0] == 1e6


def test_npz_cache_is_checked(tmp_path):
    import numpy as np

    from matscibench.data.cache import read_npz_cache, write_npz_cache
    from matscibench.errors import DatasetError

    path = tmp_path / "c.npz"
    write_npz_cache(path, {"y": np.arange(5.0)}, {"checksum": "abc"})
    arrays, meta = read_npz_cache(path)
    assert meta == {"checksum": "abc"} and arrays["y"].tolist() == [0, 1, 2, 3, 4]
    # altered values, meta kept
    with np.load(path) as z:
        m = str(z["meta"])
    np.savez_compressed(path, meta=np.asarray(m), y=np.arange(5.0) + 1)
    with pytest.raises(DatasetError, match="modified"):
        read_npz_cache(path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DatasetError, match=f"{path}.*truncated"):
        read_npz_cache(path)


# --------------------------------------------------------------------------- 5. constructors
@pytest.mark.slow
def test_a_crashing_constructor_fails_its_jobs_not_the_run(tmp_path, small_emt):
    models = ('[[models]]\nname = "matscibench.models.faulty:CrashingConstructorModel"\nlabel = "crasher"\n'
              '[[models]]\nname = "dummy"\n')
    suite = tmp_path / "s.toml"
    suite.write_text(suite_text(models=models))
    out = tmp_path / "res"
    res = run_cli(["run", "-s", str(suite), "-r", str(out)])
    assert res.returncode == 0, res.stderr[-3000:]
    rows = check_store(out / "results.sqlite")
    by = {r[1]: r for r in rows}
    assert len(rows) == 2 and by["dummy"][2] == "ok"
    assert by["crasher"][2] == "failed" and by["crasher"][3] == "ModelBuildError"
    assert "could not be built" in by["crasher"][4] and "SIGABRT" in by["crasher"][4]


# --------------------------------------------------------------------------- 6. PostgreSQL limits
@pytest.mark.slow
def test_overlong_labels_are_refused_when_the_suite_is_read(tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text(suite_text(models=f'[[models]]\nname = "dummy"\nlabel = "{"m" * 250}"\n'))
    res = run_cli(["run", "-s", str(suite), "--store", "postgresql+psycopg://nobody@127.0.0.1:1/none"], timeout=60)
    one_line_error(res, str(suite), "250 characters", "label")
    suite.write_text(suite_text(name="n" * 190))
    one_line_error(run_cli(["run", "-s", str(suite)], timeout=60), str(suite), "suite name", "more than")


@pytest.fixture(scope="module")
def pg():
    from pgserver import PgServer

    try:
        server = PgServer().init()
        server.start()
    except Exception as exc:
        pytest.skip(f"PostgreSQL cannot start on this machine: {exc}")
    yield server
    server.cleanup()


def test_postgres_refused_value_is_not_retried_and_leaves_no_claim(pg):
    from matscibench.spec import JobResult
    from matscibench.store import Store

    st = Store(pg.url, reconnect_timeout_s=120)
    assert st.claim("r1", "k1") == "mine"
    bad = JobResult(key="k1", run_id="r1", task="t", model="m" * 300, fold=0, seed=0, status="ok")
    t0 = time.monotonic()
    with pytest.raises(Exception, match="refused a value") as err:  # a StoreError: one line in the CLI
        st.record(bad)
    assert time.monotonic() - t0 < 10  # before: retried for reconnect_timeout_s (120 s)
    assert type(err.value).__name__ == "StoreError"
    st.release_claims("r1")
    # a message with NUL and lone surrogates is stored (PostgreSQL refuses NUL in text)
    ok = JobResult(key="k2", run_id="r1", task="t", model="m", fold=0, seed=0, status="failed",
                   error_type="E", error_message="a\x00b \udcff", traceback="x" * 100_000)
    assert st.record(ok)
    row = st.jobs_frame("r1").iloc[0]
    assert row["error_message"] == "a\\x00b \\udcff" and len(row["traceback"]) <= 64100
    with st.engine.connect() as c:
        from sqlalchemy import text

        assert c.execute(text("select count(*) from claims")).scalar() == 0


# --------------------------------------------------------------------------- 7. one-line errors
@pytest.mark.slow
def test_bad_inputs_are_one_line_errors(tmp_path):
    suite = tmp_path / "s.toml"
    # bad task parameters
    suite.write_text(suite_text().replace("dataset_params", "no_such_param"))
    one_line_error(run_cli(["run", "-s", str(suite), "-r", str(tmp_path / "r1")], timeout=120), str(suite), "no_such_param", "params")
    # a suite file that is not UTF-8
    suite.write_bytes(suite_text().encode().replace(b"faults", b"f\xe9\xff"))
    one_line_error(run_cli(["run", "-s", str(suite)], timeout=60), str(suite), "not UTF-8", "save")
    # a corrupt SQLite file
    suite.write_text(suite_text())
    bad = tmp_path / "r2"
    bad.mkdir()
    (bad / "results.sqlite").write_bytes(b"this is not a database" * 100)
    one_line_error(run_cli(["run", "-s", str(suite), "-r", str(bad)], timeout=60), str(bad / "results.sqlite"), "not a readable SQLite")
    one_line_error(run_cli(["report", "-r", str(bad)], timeout=60), str(bad / "results.sqlite"))
    # a store path that cannot be written
    one_line_error(run_cli(["run", "-s", str(suite), "--store", "/proc/no/such/store.sqlite", "-r", str(tmp_path / "r3")], timeout=60),
                   "/proc/no/such/store.sqlite")


def test_read_only_results_folder_is_a_one_line_error(tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text(suite_text())
    if os.geteuid() == 0:
        # root writes through permission bits: use a folder no one can create files in
        ro = Path("/sys/kernel")
        try:
            with open(ro / "probe", "w"):
                pass
            pytest.skip("running as root and /sys/kernel is writable: no read-only folder to test with")
        except OSError:
            pass
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        os.chmod(ro, 0o555)
    before = sorted(p.name for p in ro.iterdir())
    try:
        res = run_cli(["run", "-s", str(suite), "-r", str(ro)], timeout=60)
        one_line_error(res, str(ro), "not writable", "--results")
        assert sorted(p.name for p in ro.iterdir()) == before
    finally:
        if ro.parent == tmp_path:
            os.chmod(ro, 0o755)


# --------------------------------------------------------------------------- 8. validation, limits
@pytest.mark.parametrize(
    "args,text,words",
    [
        (["--timeout", "0"], None, ["--timeout", "positive"]),
        (["--timeout", "-5"], None, ["--timeout", "positive"]),
        (["--memory-limit", "0"], None, ["--memory-limit", "positive"]),
        ([], suite_text(extra="seed = -1"), ["seed", "greater than or equal to 0"]),
        ([], suite_text(folds="[7]"), ["fold", "0 .. 4", "[7]"]),
    ],
)
def test_limits_seeds_and_folds_are_validated(tmp_path, small_emt, args, text, words):
    suite = tmp_path / "s.toml"
    suite.write_text(text or suite_text())
    out = tmp_path / "res"
    res = run_cli(["run", "-s", str(suite), "-r", str(out), *args], timeout=120)
    one_line_error(res, *words)
    assert not (out / "results.sqlite").exists() or not jobs(out / "results.sqlite")


@pytest.mark.slow
def test_default_time_limit_is_printed_and_a_killed_job_records_its_wall_time(tmp_path, small_emt):
    models = '[[models]]\nname = "matscibench.models.faulty:SlowModel"\nlabel = "slow"\nparams = { seconds = 60 }\n'
    suite = tmp_path / "s.toml"
    suite.write_text(suite_text(models=models))
    out = tmp_path / "res"
    res = run_cli(["run", "-s", str(suite), "-r", str(out), "--timeout", "4"])
    assert res.returncode == 0, res.stderr[-3000:]
    (row,) = check_store(out / "results.sqlite")
    assert row[2] == "failed" and row[3] == "JobTimeout"
    assert 3.5 <= row[6] < 30, row[6]  # before: ~0 s
    assert "job time limit: 4 s (--timeout)" in res.stdout
    # without --timeout: the family default, printed with the plan
    suite.write_text(suite_text())
    res = run_cli(["run", "-s", str(suite), "-r", str(out)])
    assert res.returncode == 0, res.stderr[-3000:]
    assert "job time limit: 3 h (family default; --timeout to change)" in res.stdout


# --------------------------------------------------------------------------- the pieces, unit by unit
def test_clean_text_bounds_and_escapes():
    from matscibench.errors import clean_text

    s = clean_text("a" * 10_000 + "\udcff" + "b" * 10_000, 1000)
    assert len(s) <= 1000 + 60 and s.startswith("a" * 600) and s.endswith("b" * 250)
    assert "characters cut" in s
    s.encode("utf-8")
    assert clean_text("x\udcffy\x00z") == "x\\udcffy\\x00z"
    t0 = time.perf_counter()
    clean_text("x" * (50 * 2**20))  # O(limit), not O(len)
    assert time.perf_counter() - t0 < 1.0


def test_only_curable_store_errors_are_retried():
    from sqlalchemy.exc import DataError, IntegrityError, OperationalError

    from matscibench.store import _transient

    class Orig(Exception):
        def __init__(self, code):
            self.sqlstate = code

    assert _transient(OperationalError("x", {}, Orig("08006")), "postgresql")  # connection failure
    assert _transient(OperationalError("x", {}, Orig("57P01")), "postgresql")  # admin shutdown
    assert not _transient(DataError("x", {}, Orig("22001")), "postgresql")  # value too long
    assert not _transient(IntegrityError("x", {}, Orig("23505")), "postgresql")
    assert _transient(OperationalError("database is locked", {}, Exception()), "sqlite")
    assert not _transient(OperationalError("file is not a database", {}, Exception()), "sqlite")
