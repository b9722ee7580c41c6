"""Executors: where jobs run. Any ``concurrent.futures.Executor`` works with the driver.

``JobProcessExecutor`` (the default) runs every job in a fresh process forked from a preloaded
``forkserver`` (a few ms per job instead of seconds of imports). Unlike ``ProcessPoolExecutor`` it
attributes a crash to the job that crashed: a segfault or an out-of-memory kill fails that job's
future with ``WorkerCrashed`` and the other jobs carry on (a process pool would break as a
whole). A fresh process per job also makes its peak memory the job's own, and lets a job that
runs past ``timeout_s`` be killed. ``ThreadExecutor`` runs jobs in the driver process (debugging,
tests of trivial jobs).

Job groups: a call submitted with ``group=key, warm=(fn, args)`` is forked from a process of its
group (a "zygote", started once from the fork server, which ran ``fn(*args)`` first: the driver
passes ``run.job.warm_group``, which parses the group's dataset and imports its task and model
modules). Every job of a dataset then starts with the dataset parsed instead of parsing it again
(measured on one fold of ``emt_formation_energy`` + ``magpie_rf``: see
``benchmarks/bench_harness_overhead.py``). The isolation is the same: each job is still a fresh
process of its own (own process group, limits, crash attribution, peak memory); it sees the
group's data through copy-on-write memory, so nothing a job changes reaches another job. A job's
resident memory includes the group's parsed dataset, as it would had the job parsed it itself.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from collections import deque
from concurrent.futures import Executor, Future
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait
from multiprocessing.reduction import recv_handle, send_handle
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
    "psutil",  # the job watchdog's: 4 ms per job when each job imports it
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


class _Zygote:
    """The driver's handle on a job group's preloaded process."""

    def __init__(self, ctx: Any, group: Any, owner: int, warm: tuple[Callable, tuple] | None,
                 inherit: tuple[Any, ...] = ()) -> None:
        self.group = group
        #: objects (the executor's event queues) that cannot travel through a pipe: the group's
        #: process inherits them when it starts, and a job's argument names them by position
        self.inherit = inherit
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_zygote_main, args=(child, owner, warm, inherit), daemon=False)
        self.proc.start()
        child.close()
        self.alive = True
        #: job id -> exit code reported by the zygote after reaping the job
        self.exit_codes: dict[int, int] = {}

    def retire(self) -> None:
        """No more jobs: the process ends once its running jobs have (their exits still come)."""
        if self.alive:
            self.alive = False
            with contextlib.suppress(Exception):
                self.conn.send(None)

    def close(self) -> None:
        """Tell it to end and wait for it (killed after 5 s)."""
        self.retire()
        with contextlib.suppress(Exception):
            self.conn.close()
        self.proc.join(timeout=5)
        if self.proc.exitcode is None:
            with contextlib.suppress(Exception):
                self.proc.kill()
            self.proc.join(timeout=5)


class _Inherited:
    """Stands in a job's arguments for the group process's ``inherit[i]``."""

    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i


def _zygote_main(conn, owner_pid: int, warm: tuple[Callable, tuple] | None, inherit: tuple[Any, ...] = ()) -> None:
    """A job group's process: run ``warm`` once, then fork one child per job request
    ``(job id, result pipe, fn, args, kwargs)``, answer ``("started", job id, pid)``, and
    ``("exit", job id, exit code)`` once the child is reaped. Ends when the driver's pipe closes
    (the driver ended or closed the group); jobs still running carry on (their watchdog ends them
    with the driver)."""
    if warm is not None:
        with contextlib.suppress(BaseException):
            warm[0](*warm[1])
    # what the group's process holds is never collected by a job: the jobs' garbage collections
    # then do not walk (and so copy, page by page) the shared objects
    gc.collect()
    gc.freeze()
    children: dict[int, int] = {}  # pid -> job id
    while True:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            job = children.pop(pid, None)
            if job is not None:
                with contextlib.suppress(Exception):
                    conn.send(("exit", job, os.waitstatus_to_exitcode(status)))
        try:
            if not conn.poll(0.05 if children else 1.0):
                continue
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if msg is None:  # no more jobs: report the exits of those still running, then end
            for pid, job in list(children.items()):
                try:
                    _, status = os.waitpid(pid, 0)
                    code = os.waitstatus_to_exitcode(status)
                except ChildProcessError:
                    code = None
                with contextlib.suppress(Exception):
                    conn.send(("exit", job, code))
            break
        job, fn, args, kwargs = msg
        try:  # the job's result pipe, passed as a file descriptor right after the request
            result_conn = Connection(recv_handle(conn))
        except (EOFError, OSError):
            break
        args = tuple(inherit[a.i] if isinstance(a, _Inherited) else a for a in args)
        kwargs = {k: inherit[v.i] if isinstance(v, _Inherited) else v for k, v in kwargs.items()}
        pid = os.fork()
        if pid == 0:  # the job
            code = 0
            try:
                conn.close()
                _child(result_conn, owner_pid, fn, args, kwargs)
            except BaseException:  # noqa: BLE001
                code = 1
            finally:
                os._exit(code)
        result_conn.close()
        children[pid] = job
        try:
            conn.send(("started", job, pid))
        except (EOFError, OSError):
            break


class _Job:
    """A call the executor runs: waiting for its process, or running."""

    __slots__ = ("id", "fut", "fn", "args", "kwargs", "limit", "group", "warm", "proc", "pid", "conn", "t0", "zygote",
                 "last")

    def __init__(self, id_: int, fut: Future, fn: Callable, args: tuple, kwargs: dict, limit: float | None,
                 group: Any, warm: tuple[Callable, tuple] | None) -> None:
        self.id, self.fut, self.fn, self.args, self.kwargs, self.limit = id_, fut, fn, args, kwargs, limit
        self.group, self.warm = group, warm
        self.proc: Any = None
        self.pid: int | None = None
        self.conn: Any = None
        self.t0 = time.monotonic()
        self.zygote: _Zygote | None = None
        self.last = False


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
    max_groups: job-group processes kept at once (see the module docstring); the one idle for
        longest is closed when another group needs one. 0 turns groups off.
    """

    #: the driver may pass ``group`` and ``warm`` to ``submit_limited``
    accepts_groups = True

    def __init__(
        self,
        max_workers: int | None = None,
        timeout_s: float | None = None,
        start_method: str | None = None,
        preload: list[str] | None = None,
        memory_limit_MiB: float | None = None,
        max_groups: int = 3,
    ) -> None:
        self.max_workers = max(1, int(max_workers or os.cpu_count() or 1))
        self.timeout_s = timeout_s
        self.memory_limit_MiB = memory_limit_MiB
        methods = mp.get_all_start_methods()
        method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
        self.ctx = mp.get_context(method)
        if method == "forkserver":
            self.ctx.set_forkserver_preload(PRELOAD if preload is None else preload)
        # groups need fork() inside the group's process
        self.max_groups = int(max_groups) if hasattr(os, "fork") else 0
        self._pending: deque[_Job] = deque()
        #: result pipe -> job (started, or waiting for its group's process to fork it)
        self._running: dict[Any, _Job] = {}
        #: group key -> its process, least recently used first
        self._zygotes: dict[Any, _Zygote] = {}
        self._queues: list[Any] = []
        #: group processes told to end, still reporting their last jobs' exits
        self._retired: list[_Zygote] = []
        self._ids = 0
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
        q = self.ctx.Queue()
        self._queues.append(q)
        return q

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        return self.submit_limited(fn, *args, timeout_s=self.timeout_s, **kwargs)

    def submit_limited(self, fn: Callable, /, *args: Any, timeout_s: float | None, group: Any = None,
                       warm: tuple[Callable, tuple] | None = None, last_in_group: bool = False,
                       **kwargs: Any) -> Future:
        """``submit`` with this call's own wall-clock limit (seconds; None: no limit). With
        ``group`` (a hashable key), the call is forked from that group's process, which ran
        ``warm = (fn, args)`` once when it started (module docstring); ``last_in_group``: no
        more calls of this group will come, its process ends once this one has been forked
        (a later call of the group starts it again)."""
        if self._shutdown:
            raise RuntimeError("cannot submit after shutdown")
        fut: Future = Future()
        with self._lock:
            self._ids += 1
            job = _Job(self._ids, fut, fn, args, kwargs, timeout_s, group if self.max_groups > 0 else None, warm)
            job.last = bool(last_in_group)
            self._pending.append(job)
        self._wake()
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True
        if cancel_futures:
            with self._lock:
                while self._pending:
                    self._pending.popleft().fut.cancel()
                running = list(self._running.values())
            for job in running:
                self._kill_job(job)
        self._wake()
        if wait:
            self._thread.join()

    # ------------------------------------------------------------- internals
    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _zygote(self, job: _Job) -> _Zygote | None:
        """The live process of ``job``'s group, started when missing (None: run it plainly)."""
        z = self._zygotes.pop(job.group, None)
        if z is not None and not z.alive:
            z = None
        if z is None:
            busy = {j.zygote.group for j in self._running.values() if j.zygote is not None}
            while len(self._zygotes) >= self.max_groups:
                idle = [g for g in self._zygotes if g not in busy]
                if not idle:
                    return None
                self._retire(self._zygotes[idle[0]])
            try:
                z = _Zygote(self.ctx, job.group, self._owner, job.warm, tuple(self._queues))
            except Exception:  # noqa: BLE001 - e.g. no more processes: run the job plainly
                return None
        self._zygotes[job.group] = z  # most recently used last
        return z

    def _launch(self) -> None:
        while len(self._running) < self.max_workers:
            with self._lock:
                if not self._pending:
                    return
                job = self._pending.popleft()
            if not job.fut.running() and not job.fut.set_running_or_notify_cancel():
                continue  # cancelled (a job put back after its group's process died is running already)
            recv, send = self.ctx.Pipe(duplex=False)
            z = self._zygote(job) if job.group is not None else None
            try:
                if z is not None:
                    args, kwargs = self._for_zygote(z, job.args), dict(zip(job.kwargs, self._for_zygote(z, tuple(job.kwargs.values()))))
                    z.conn.send((job.id, job.fn, args, kwargs))
                    # the pipe's end as a file descriptor over the group's socket (SCM_RIGHTS):
                    # no handshake with multiprocessing's resource sharer per job
                    send_handle(z.conn, send.fileno(), z.proc.pid)
                    job.zygote = z
                else:
                    job.proc = self.ctx.Process(target=_child, args=(send, self._owner, job.fn, job.args, job.kwargs),
                                                daemon=False)
                    job.proc.start()
                    job.pid = job.proc.pid
            except Exception as exc:  # noqa: BLE001
                send.close()
                recv.close()
                if z is not None:  # the group's process is gone: run this job plainly
                    self._drop_zygote(z)
                    job.group = None
                    with self._lock:
                        self._pending.appendleft(job)
                    continue
                job.fut.set_exception(exc)
                continue
            send.close()
            job.conn = recv
            job.t0 = time.monotonic()
            job.fut.launched_at = time.time()  # type: ignore[attr-defined]  # the driver's harness accounting
            self._running[recv] = job

    def _for_zygote(self, z: _Zygote, args: tuple) -> tuple:
        """``args`` with the executor's queues replaced by their place in ``z.inherit``; raises
        when a queue was made after ``z`` started (the job then runs plainly)."""
        out = []
        for a in args:
            if any(a is q for q in self._queues):
                i = next((i for i, q in enumerate(z.inherit) if q is a), None)
                if i is None:
                    raise RuntimeError("a queue newer than the group's process")
                a = _Inherited(i)
            out.append(a)
        return tuple(out)

    def _retire(self, z: _Zygote) -> None:
        """Close a group's process that no job will need any more (its forked jobs run on; the
        process reports their exits, then ends)."""
        if self._zygotes.get(z.group) is z:
            del self._zygotes[z.group]
        z.retire()
        self._retired.append(z)

    def _drop_zygote(self, z: _Zygote) -> None:
        """A group's process died or stopped answering: jobs it had not yet forked run plainly."""
        z.alive = False
        if self._zygotes.get(z.group) is z:
            del self._zygotes[z.group]
        for conn, job in list(self._running.items()):
            if job.zygote is z and job.pid is None:
                del self._running[conn]
                with contextlib.suppress(Exception):
                    conn.close()
                job.zygote, job.group = None, None
                with self._lock:
                    self._pending.appendleft(job)
        with contextlib.suppress(Exception):
            z.conn.close()

    def _zygote_message(self, z: _Zygote) -> None:
        try:
            msg = z.conn.recv()
        except (EOFError, OSError):
            if z in self._retired:  # it ended as told
                self._retired.remove(z)
                z.close()
            else:
                self._drop_zygote(z)
            return
        kind, job_id, value = msg
        if kind == "started":
            for job in self._running.values():
                if job.id == job_id and job.zygote is z:
                    job.pid = value
                    job.t0 = time.monotonic()  # the limit counts from the fork, not the group's warm-up
                    if job.last and not any(j.group == z.group for j in self._pending) and not any(
                            j.zygote is z and j.pid is None for j in self._running.values()):
                        self._retire(z)
                    break
        elif kind == "exit":
            z.exit_codes[job_id] = value

    def _fail(self, fut: Future, exc: BaseException, t0: float) -> None:
        """Fail a future with ``exc`` carrying the wall time (Unix s) the job started and ended,
        so a killed job records how long it ran."""
        now = time.time()
        exc.started_at = now - (time.monotonic() - t0)  # type: ignore[attr-defined]
        exc.finished_at = now  # type: ignore[attr-defined]
        fut.set_exception(exc)

    def _exit_code(self, job: _Job) -> int | None:
        if job.proc is not None:
            job.proc.join(timeout=5)
            return job.proc.exitcode
        z = job.zygote
        if z is None:
            return None
        deadline = time.monotonic() + 2.0
        while job.id not in z.exit_codes and (z.alive or z in self._retired) and time.monotonic() < deadline:
            if z.conn.poll(0.05):
                self._zygote_message(z)
        return z.exit_codes.pop(job.id, None)

    def _finish(self, conn: Any) -> None:
        job = self._running.pop(conn)
        payload = None
        try:
            if conn.poll():
                payload = conn.recv()
        except (EOFError, OSError):
            payload = None
        finally:
            conn.close()
        if payload is None:
            code = self._exit_code(job)
        elif job.proc is not None:
            job.proc.join(timeout=5)
        # processes the job started and left running (a subprocess, a pool) end with it
        if job.pid is not None:
            _kill_group(job.pid)
        if payload is None:
            self._fail(job.fut, WorkerCrashed(f"the worker process died without a result ({_signal_name(code)})"), job.t0)
        elif payload[0] == "ok":
            job.fut.set_result(payload[1])
        else:
            job.fut.set_exception(RemoteError(*payload[1]))

    def _close_zygotes(self) -> None:
        for z in [*self._zygotes.values(), *self._retired]:
            z.close()
        self._zygotes.clear()
        self._retired.clear()

    def _loop(self) -> None:
        while True:
            if not self._shutdown:
                self._launch()
            elif not self._running:
                with self._lock:
                    if not self._pending:
                        break
                self._launch()
            handles: list[Any] = [self._wake_r, *self._running]
            zyg = {z.conn: z for z in [*self._zygotes.values(), *self._retired] if z.alive or z in self._retired}
            handles.extend(zyg)
            timeout = 0.25 if self.memory_limit_MiB else 1.0
            limited = [j.t0 + j.limit for j in self._running.values() if j.limit is not None]
            if limited:
                timeout = max(0.0, min(timeout, min(limited) - time.monotonic()))
            ready = mp_wait(handles, timeout=timeout)
            for h in ready:
                if h == self._wake_r:
                    with contextlib.suppress(BlockingIOError, OSError):
                        os.read(self._wake_r, 4096)
                elif h in zyg:
                    self._zygote_message(zyg[h])
                elif h in self._running and self._running[h].pid is not None:
                    self._finish(h)
            # processes that exited without writing (crashes): their pipe reads EOF, caught above;
            # memory limits:
            if self.memory_limit_MiB:
                for job in list(self._running.values()):
                    if job.pid is None:
                        continue
                    rss = _tree_rss_mib(job.pid)
                    if rss > self.memory_limit_MiB:
                        self._kill(job)
                        self._fail(
                            job.fut,
                            JobMemoryExceeded(
                                f"the job used {rss:,.0f} MiB of resident memory, over its limit of "
                                f"{self.memory_limit_MiB:,.0f} MiB, and was killed"
                            ),
                            job.t0,
                        )
            # time limits:
            if limited:
                now = time.monotonic()
                for job in list(self._running.values()):
                    if job.pid is not None and job.limit is not None and now - job.t0 > job.limit:
                        self._kill(job)
                        self._fail(job.fut, JobTimeout(f"the job ran past its time limit of {job.limit:g} s and was killed"), job.t0)
        self._close_zygotes()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _kill_job(self, job: _Job) -> None:
        """SIGKILL a job and every process it started."""
        if job.pid is not None:
            _kill_group(job.pid)
            with contextlib.suppress(OSError):
                os.kill(job.pid, signal.SIGKILL)
        if job.proc is not None:
            with contextlib.suppress(Exception):
                job.proc.kill()

    def _kill(self, job: _Job) -> None:
        """Kill a running job and every process it started; forget it."""
        self._running.pop(job.conn, None)
        self._kill_job(job)
        if job.proc is not None:
            job.proc.join(timeout=5)
        job.conn.close()


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
