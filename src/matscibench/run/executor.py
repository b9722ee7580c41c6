"""Executors: where jobs run. Any ``concurrent.futures.Executor`` works with the driver.

``JobProcessExecutor`` (the default) runs every job in a fresh process forked from a preloaded
``forkserver`` (a few ms per job instead of seconds of imports). Unlike ``ProcessPoolExecutor`` it
attributes a crash to the job that crashed: a segfault or an out-of-memory kill fails that job's
future with ``WorkerCrashed`` and the other jobs carry on (a process pool would break as a
whole). A fresh process per job also makes its peak memory the job's own, and lets a job that
runs past ``timeout_s`` be killed. ``ThreadExecutor`` runs jobs in the driver process (debugging,
tests of trivial jobs).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from collections import deque
from concurrent.futures import Executor, Future
from multiprocessing.connection import wait as mp_wait
from typing import Any, Callable

from matscibench.parallel import die_with_parent
from matscibench.errors import (
    TRACEBACK_MAX_CHARS,
    JobMemoryExceeded,
    JobTimeout,
    WorkerCrashed,
    clean_text,
    safe_str,
)

__all__ = ["JobProcessExecutor", "ThreadExecutor", "PRELOAD", "forked_children_die_with_this_process"]

#: modules imported once in the fork server so that each job starts warm
PRELOAD = [
    "numpy",
    "scipy.stats",
    "pandas",
    "pyarrow.parquet",
    "sklearn.ensemble",
    "pymatgen.core",
    "matscibench.run.job",
    "matscibench.run.warmup",
]


_PDEATHSIG_INSTALLED = False


def forked_children_die_with_this_process() -> None:
    """From now on every process this one forks (the ``fork`` workers of a dataset generator's
    process pool, ``multiprocessing`` fork processes) is killed by the kernel when this process
    dies, even by ``kill -9`` (Linux ``PR_SET_PDEATHSIG``; elsewhere a no-op). Processes started
    by ``subprocess`` or the ``spawn``/``forkserver`` methods are not concerned: the fork server
    and the resource tracker end when their pipe to this process closes, jobs by their watchdog.
    Idempotent."""
    global _PDEATHSIG_INSTALLED
    if _PDEATHSIG_INSTALLED or not hasattr(os, "register_at_fork") or not os.path.exists("/proc/self"):
        return
    os.register_at_fork(after_in_child=die_with_parent)
    _PDEATHSIG_INSTALLED = True


def _kill_group(pgid: int) -> None:
    """SIGKILL a process group (a job and every process it started); quiet when it is gone."""
    if pgid > 1 and hasattr(os, "killpg"):
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)


def _orphan_watchdog(owner_pid: int) -> None:
    """End this job and everything it started when the process that submitted it is gone (the
    driver was killed). Watches the submitter, not the parent: a job is forked by the fork server,
    which lives as long as any job holds its pipe, so the parent never goes away first."""
    try:
        import psutil

        owner = psutil.Process(owner_pid)
        alive = owner.is_running  # compares start times: immune to pid reuse
    except Exception:  # noqa: BLE001 - already gone, or no psutil
        def alive() -> bool:
            try:
                os.kill(owner_pid, 0)
            except ProcessLookupError:
                return False
            except OSError:
                return True
            return True
    while True:
        time.sleep(0.5)
        if not alive():
            _kill_group(os.getpgid(0) if os.getpgid(0) == os.getpid() else 0)
            os._exit(137)


def _child(conn, owner_pid: int, fn: Callable, args: tuple, kwargs: dict) -> None:
    # a process group of its own: the job and every process it starts end together
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    threading.Thread(target=_orphan_watchdog, args=(owner_pid,), daemon=True).start()
    try:
        result = fn(*args, **kwargs)
        payload = ("ok", result)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the driver
        payload = ("err", (clean_text(type(exc).__name__, 200), clean_text(safe_str(exc)),
                           clean_text(traceback.format_exc(), TRACEBACK_MAX_CHARS)))
    try:
        conn.send(payload)
    except Exception as exc:  # result not picklable
        conn.send(("err", (type(exc).__name__, clean_text(f"result could not be sent to the driver: {safe_str(exc)}"),
                           clean_text(traceback.format_exc(), TRACEBACK_MAX_CHARS))))
    finally:
        conn.close()


def _tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (MiB); 0 when it is gone."""
    try:
        import psutil

        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
        total = 0
        for q in procs:
            with contextlib.suppress(psutil.Error):
                total += q.memory_info().rss
        return total / 2**20
    except Exception:
        return 0.0


class RemoteError(Exception):
    """An exception raised inside a worker, carried back as text."""

    def __init__(self, type_name: str, message: str, tb: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.remote_traceback = tb


def _signal_name(code: int | None) -> str:
    if code is None:
        return "unknown"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
        return f"signal {-code}"
    return f"exit code {code}"


class JobProcessExecutor(Executor):
    """One fresh process per submitted call, at most ``max_workers`` at a time.

    Parameters
    ----------
    max_workers: processes running at once.
    timeout_s: wall-clock limit per call; the process is killed and the future fails with
        ``JobTimeout``.
    memory_limit_MiB: resident-memory limit per call (the process and its children, sampled
        every 0.25 s); past it the process is killed and the future fails with
        ``JobMemoryExceeded``.
    start_method: ``forkserver`` (default where available) or ``spawn``.
    preload: modules the fork server imports once.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        timeout_s: float | None = None,
        start_method: str | None = None,
        preload: list[str] | None = None,
        memory_limit_MiB: float | None = None,
    ) -> None:
        self.max_workers = max(1, int(max_workers or os.cpu_count() or 1))
        self.timeout_s = timeout_s
        self.memory_limit_MiB = memory_limit_MiB
        methods = mp.get_all_start_methods()
        method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
        self.ctx = mp.get_context(method)
        if method == "forkserver":
            self.ctx.set_forkserver_preload(PRELOAD if preload is None else preload)
        self._pending: deque[tuple[Future, Callable, tuple, dict, float | None]] = deque()
        #: sentinel -> (process, result pipe, future, start (monotonic), time limit (s) or None)
        self._running: dict[Any, tuple[Any, Any, Future, float, float | None]] = {}
        self._owner = os.getpid()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._shutdown = False
        self._thread = threading.Thread(target=self._loop, name="matscibench-executor", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- public
    def queue(self):
        """A queue that worker processes can write progress events to."""
        return self.ctx.Queue()

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        return self.submit_limited(fn, *args, timeout_s=self.timeout_s, **kwargs)

    def submit_limited(self, fn: Callable, /, *args: Any, timeout_s: float | None, **kwargs: Any) -> Future:
        """``submit`` with this call's own wall-clock limit (seconds; None: no limit)."""
        if self._shutdown:
            raise RuntimeError("cannot submit after shutdown")
        fut: Future = Future()
        with self._lock:
            self._pending.append((fut, fn, args, kwargs, timeout_s))
        self._wake()
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True
        if cancel_futures:
            with self._lock:
                while self._pending:
                    fut, *_ = self._pending.popleft()
                    fut.cancel()
                running = list(self._running.values())
            for proc, *_ in running:
                _kill_group(proc.pid)  # the job and every process it started
                with contextlib.suppress(Exception):
                    proc.kill()
        self._wake()
        if wait:
            self._thread.join()

    # ------------------------------------------------------------- internals
    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _launch(self) -> None:
        while len(self._running) < self.max_workers:
            with self._lock:
                if not self._pending:
                    return
                fut, fn, args, kwargs, limit = self._pending.popleft()
            if not fut.set_running_or_notify_cancel():
                continue
            recv, send = self.ctx.Pipe(duplex=False)
            proc = self.ctx.Process(target=_child, args=(send, self._owner, fn, args, kwargs), daemon=False)
            try:
                proc.start()
            except Exception as exc:
                fut.set_exception(exc)
                continue
            send.close()
            self._running[proc.sentinel] = (proc, recv, fut, time.monotonic(), limit)

    def _fail(self, fut: Future, exc: BaseException, t0: float) -> None:
        """Fail a future with ``exc`` carrying the wall time (Unix s) the job started and ended,
        so a killed job records how long it ran."""
        now = time.time()
        exc.started_at = now - (time.monotonic() - t0)  # type: ignore[attr-defined]
        exc.finished_at = now  # type: ignore[attr-defined]
        fut.set_exception(exc)

    def _finish(self, sentinel: Any) -> None:
        proc, conn, fut, t0, _limit = self._running.pop(sentinel)
        payload = None
        try:
            if conn.poll():
                payload = conn.recv()
        except (EOFError, OSError):
            payload = None
        finally:
            conn.close()
        proc.join(timeout=5)
        # processes the job started and left running (a subprocess, a pool) end with it
        _kill_group(proc.pid)
        if payload is None:
            self._fail(fut, WorkerCrashed(f"the worker process died without a result ({_signal_name(proc.exitcode)})"), t0)
        elif payload[0] == "ok":
            fut.set_result(payload[1])
        else:
            fut.set_exception(RemoteError(*payload[1]))

    def _loop(self) -> None:
        while True:
            if not self._shutdown:
                self._launch()
            elif not self._running:
                with self._lock:
                    if not self._pending:
                        break
                self._launch()
            handles: list[Any] = [self._wake_r]
            conns = {}
            for sentinel, (_proc, conn, _fut, _t, _limit) in self._running.items():
                handles.append(conn)
                conns[conn] = sentinel
            timeout = 0.25 if self.memory_limit_MiB else 1.0
            limited = [t + lim for (*_, t, lim) in self._running.values() if lim is not None]
            if limited:
                timeout = max(0.0, min(timeout, min(limited) - time.monotonic()))
            ready = mp_wait(handles, timeout=timeout)
            for h in ready:
                if h == self._wake_r:
                    with contextlib.suppress(BlockingIOError, OSError):
                        os.read(self._wake_r, 4096)
                elif h in conns and conns[h] in self._running:
                    self._finish(conns[h])
            # processes that exited without writing (crashes): their pipe reads EOF, caught above;
            # memory limits:
            if self.memory_limit_MiB:
                for sentinel, (proc, conn, fut, t0, _limit) in list(self._running.items()):
                    rss = _tree_rss_mib(proc.pid)
                    if rss > self.memory_limit_MiB:
                        self._kill(sentinel)
                        self._fail(
                            fut,
                            JobMemoryExceeded(
                                f"the job used {rss:,.0f} MiB of resident memory, over its limit of "
                                f"{self.memory_limit_MiB:,.0f} MiB, and was killed"
                            ),
                            t0,
                        )
            # time limits:
            if limited:
                now = time.monotonic()
                for sentinel, (proc, conn, fut, t0, limit) in list(self._running.items()):
                    if limit is not None and now - t0 > limit:
                        self._kill(sentinel)
                        self._fail(fut, JobTimeout(f"the job ran past its time limit of {limit:g} s and was killed"), t0)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _kill(self, sentinel: Any) -> None:
        """Kill a running job and every process it started; forget it."""
        proc, conn, *_ = self._running.pop(sentinel)
        _kill_group(proc.pid)
        with contextlib.suppress(Exception):
            proc.kill()
        proc.join(timeout=5)
        conn.close()


class ThreadExecutor(Executor):
    """Run each call synchronously in the calling process (no isolation; for debugging)."""

    def __init__(self) -> None:
        self._events = None

    def queue(self):
        import queue

        return queue.Queue()

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        fut: Future = Future()
        fut.set_running_or_notify_cancel()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001
            fut.set_exception(exc)
        return fut
