"""The process-per-job executor: results, errors, crashes and timeouts stay with their job."""

from __future__ import annotations

import os
import time
from concurrent.futures import wait

import pytest

from matscibench.errors import JobTimeout, WorkerCrashed
from matscibench.run.executor import JobProcessExecutor, RemoteError


def square(x):
    return x * x, os.getpid()


def boom(x):
    raise ValueError(f"bad {x}")


def die(code):
    os._exit(code)


def abort():
    os.abort()


def sleepy(s):
    time.sleep(s)
    return s


def send_event(q):
    q.put({"hello": os.getpid()})
    return True


@pytest.fixture(scope="module")
def ex():
    e = JobProcessExecutor(max_workers=2, timeout_s=5, preload=[])
    yield e
    e.shutdown()


def test_results_come_back_from_separate_processes(ex):
    futs = [ex.submit(square, i) for i in range(6)]
    out = [f.result(timeout=60) for f in futs]
    assert [v for v, _ in out] == [i * i for i in range(6)]
    pids = {pid for _, pid in out}
    assert os.getpid() not in pids and len(pids) == 6  # one fresh process per job


def test_errors_and_crashes_are_attributed_to_their_job(ex):
    ok = ex.submit(square, 3)
    bad = ex.submit(boom, 1)
    crash = ex.submit(die, 3)
    killed = ex.submit(abort)
    after = ex.submit(square, 4)
    wait([ok, bad, crash, killed, after], timeout=60)
    assert ok.result()[0] == 9 and after.result()[0] == 16
    with pytest.raises(RemoteError, match="ValueError: bad 1") as info:
        bad.result()
    assert "Traceback" in info.value.remote_traceback
    with pytest.raises(WorkerCrashed, match="exit code 3"):
        crash.result()
    with pytest.raises(WorkerCrashed, match="SIGABRT"):
        killed.result()


def test_timeout_kills_only_the_slow_job():
    e = JobProcessExecutor(max_workers=2, timeout_s=1.0, preload=[])
    try:
        slow = e.submit(sleepy, 30)
        fast = e.submit(sleepy, 0.1)
        t = time.monotonic()
        with pytest.raises(JobTimeout):
            slow.result(timeout=30)
        assert time.monotonic() - t < 10
        assert fast.result(timeout=10) == 0.1
    finally:
        e.shutdown()


def test_events_queue_reaches_the_driver(ex):
    q = ex.queue()
    assert ex.submit(send_event, q).result(timeout=60) is True
    assert "hello" in q.get(timeout=10)


def test_shutdown_cancels_pending():
    e = JobProcessExecutor(max_workers=1, preload=[])
    first = e.submit(sleepy, 0.5)
    rest = [e.submit(sleepy, 0.5) for _ in range(3)]
    e.shutdown(wait=True, cancel_futures=True)
    assert all(f.cancelled() for f in rest)
    assert first.done()


def hog(mib):
    import numpy as np

    block = np.ones(mib * 1024 * 1024 // 8)
    time.sleep(5)
    return block.size


def test_memory_limit_kills_the_job_with_the_reason():
    from matscibench.errors import JobMemoryExceeded

    e = JobProcessExecutor(max_workers=2, memory_limit_MiB=300, preload=[])
    try:
        big = e.submit(hog, 600)
        small = e.submit(hog, 10)
        with pytest.raises(JobMemoryExceeded, match="over its limit of 300 MiB"):
            big.result(timeout=60)
        assert small.result(timeout=60) > 0
    finally:
        e.shutdown()


# ---- job groups: jobs forked from a group's preloaded process ---------------------------------

_WARMED: dict = {}


def warm_up(tag, log):
    """Run once per group process: remembers ``tag`` and appends a line to ``log``."""
    _WARMED["tag"] = tag
    _WARMED["data"] = list(range(5))
    with open(log, "a") as fh:
        fh.write(f"{tag} {os.getpid()}\n")


def warm_crash(log):
    with open(log, "a") as fh:
        fh.write("crash\n")
    os._exit(9)


def read_warm(_i):
    return _WARMED.get("tag"), list(_WARMED.get("data", [])), os.getpid(), os.getppid()


def mutate_warm(_i):
    _WARMED.setdefault("data", []).append("changed")
    return len(_WARMED["data"])


def test_group_jobs_are_forked_from_one_warmed_process(tmp_path):
    log = tmp_path / "warm.log"
    e = JobProcessExecutor(max_workers=2, timeout_s=30, preload=[])
    try:
        warm = (warm_up, ("A", str(log)))
        futs = [e.submit_limited(read_warm, i, timeout_s=30, group="A", warm=warm) for i in range(5)]
        out = [f.result(timeout=60) for f in futs]
    finally:
        e.shutdown()
    assert [o[:2] for o in out] == [("A", [0, 1, 2, 3, 4])] * 5  # every job saw the warm-up
    assert len({o[2] for o in out}) == 5  # still one fresh process per job
    assert len({o[3] for o in out}) == 1  # all forked from the same group process
    assert log.read_text().split()[0] == "A" and len(log.read_text().splitlines()) == 1  # warmed once


def test_a_job_cannot_change_what_the_next_job_of_its_group_sees(tmp_path):
    e = JobProcessExecutor(max_workers=1, preload=[])
    try:
        warm = (warm_up, ("B", str(tmp_path / "w.log")))
        lens = [e.submit_limited(mutate_warm, i, timeout_s=None, group="B", warm=warm).result(timeout=60)
                for i in range(3)]
    finally:
        e.shutdown()
    assert lens == [6, 6, 6]


def test_group_jobs_keep_crash_timeout_and_memory_attribution(tmp_path):
    from matscibench.errors import JobMemoryExceeded

    warm = (warm_up, ("C", str(tmp_path / "w.log")))
    e = JobProcessExecutor(max_workers=2, memory_limit_MiB=300, preload=[])
    try:
        sub = lambda fn, *a, t=30: e.submit_limited(fn, *a, timeout_s=t, group="C", warm=warm)  # noqa: E731
        ok, bad, crash, killed = sub(square, 3), sub(boom, 1), sub(die, 3), sub(abort)
        slow, big, after = sub(sleepy, 30, t=1.0), sub(hog, 600), sub(square, 4)
        wait([ok, bad, crash, killed, slow, big, after], timeout=120)
        assert ok.result()[0] == 9 and after.result()[0] == 16
        with pytest.raises(RemoteError, match="ValueError: bad 1"):
            bad.result()
        with pytest.raises(WorkerCrashed, match="exit code 3"):
            crash.result()
        with pytest.raises(WorkerCrashed, match="SIGABRT"):
            killed.result()
        with pytest.raises(JobTimeout):
            slow.result()
        with pytest.raises(JobMemoryExceeded, match="over its limit of 300 MiB"):
            big.result()
    finally:
        e.shutdown()


def test_a_group_whose_warm_up_kills_it_runs_its_jobs_plainly(tmp_path):
    log = tmp_path / "w.log"
    e = JobProcessExecutor(max_workers=2, preload=[])
    try:
        futs = [e.submit_limited(read_warm, i, timeout_s=30, group="D", warm=(warm_crash, (str(log),)))
                for i in range(3)]
        out = [f.result(timeout=60) for f in futs]
    finally:
        e.shutdown()
    assert [o[0] for o in out] == [None] * 3  # not warmed, but run
    assert "crash" in log.read_text()


def test_groups_beyond_max_groups_close_the_idle_ones(tmp_path):
    log = tmp_path / "w.log"
    e = JobProcessExecutor(max_workers=1, preload=[], max_groups=1)
    try:
        out = [e.submit_limited(read_warm, 0, timeout_s=30, group=g, warm=(warm_up, (g, str(log)))).result(timeout=60)
               for g in ("E", "F", "E")]
        assert len(e._zygotes) == 1
    finally:
        e.shutdown()
    assert [o[0] for o in out] == ["E", "F", "E"]
    assert [ln.split()[0] for ln in log.read_text().splitlines()] == ["E", "F", "E"]
