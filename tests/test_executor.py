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
