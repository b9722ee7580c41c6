"""The driver: plan a suite, run its jobs on an executor, record each result, report.

One direction only: jobs are pure functions of their spec; the driver alone writes to the store,
one transaction per job, after writing the job's predictions file. Re-running the same suite
re-plans it and skips every job already recorded, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matscibench.families import all_families
from matscibench.errors import DatasetError, RegistryError, SuiteError, clean_text, safe_str
from matscibench.errors import TRACEBACK_MAX_CHARS
from matscibench.paths import check_name, check_writable_dir
from matscibench.paths import results_dir as default_results_dir
from matscibench.run.interrupt import Terminated, sigterm_as_interrupt
from matscibench.run.job import run_job, warm_group
from matscibench.run.schedule import grouped_by_data, harness_costs, longest_first
from matscibench.spec import NAME_MAX_CHARS, JobResult, JobSpec, ModelRef, TaskRef
from matscibench.store import Store
from matscibench.suite import Suite

__all__ = ["Plan", "plan_suite", "run_suite", "RunOutcome", "record_result", "make_executor"]


@dataclass
class Plan:
    run_id: str
    suite: Suite
    jobs: list[JobSpec]
    #: (task, model) pairs that cannot run, with the reason; recorded as skipped jobs
    incompatible: list[tuple[JobSpec, str]] = field(default_factory=list)
    #: optional tasks dropped because their data is not available offline, and optional models
    #: that cannot be built here (a package not installed), named "model <label>"
    dropped_tasks: list[tuple[str, str]] = field(default_factory=list)
    checksums: dict[str, str] = field(default_factory=dict)
    #: jobs of models that could not be built (constructor raised or crashed); recorded as failed
    unbuildable: list[tuple[JobSpec, str]] = field(default_factory=list)
    #: default time limit of each task's jobs (s), by task entry name (its family's default)
    timeouts: dict[str, float] = field(default_factory=dict)

    @property
    def n_planned(self) -> int:
        return len(self.jobs) + len(self.incompatible) + len(self.unbuildable)


@dataclass
class RunOutcome:
    run_id: str
    store_url: str
    results_dir: Path
    n_planned: int
    n_ran: int
    n_resumed: int
    counts: dict[str, int]
    reports: dict[str, Path] = field(default_factory=dict)
    wall_s: float = 0.0


def resolve_workers(workers: int | str | None, suite: Suite) -> int:
    w = workers if workers is not None else suite.workers
    if w in (None, "auto"):
        return max(1, os.cpu_count() or 1)
    return max(1, int(w))


#: a task whose family is not built in: the longest built-in default (each family's default is
#: ``Family.default_timeout_s``: generous, so a hanging model cannot hang a suite forever)
FALLBACK_TIMEOUT_S = 12 * 3600.0
#: longest a worker may take to build a suite's models and check them against their tasks (s)
PROBE_TIMEOUT_S = 600.0


class ModelBuildError(RuntimeError):
    """A model could not be built (its constructor raised or crashed); its jobs fail with this."""


def _probe(items: list, isolate: bool, workers: int) -> dict[str, dict[str, Any]]:
    """Run ``probe_models`` in a worker process (one for all models; when that process dies,
    one per model, so the crash is attributed to its model)."""
    from matscibench.run.job import probe_models

    if not items:
        return {}
    if not isolate:
        return probe_models(items)
    from matscibench.errors import clean_text, safe_str
    from matscibench.run.executor import JobProcessExecutor

    ex = JobProcessExecutor(max_workers=max(1, min(workers, len(items))), timeout_s=PROBE_TIMEOUT_S)
    try:
        try:
            return ex.submit(probe_models, items).result()
        except Exception as exc:  # noqa: BLE001 - the worker died: find which model killed it
            first = exc
        futs = {} if len(items) == 1 else {it[0]: ex.submit(probe_models, [it]) for it in items}
        out: dict[str, dict[str, Any]] = {}
        for label, *_ in items:
            try:
                if label not in futs:
                    raise first
                out.update(futs[label].result())
            except Exception as exc:  # noqa: BLE001
                out[label] = {"error": "build", "import_error": False,
                              "message": clean_text(f"the process building it died: {type(exc).__name__}: {safe_str(exc)}")}
        return out
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def plan_suite(
    suite: Suite,
    *,
    run_id: str | None = None,
    threads: int = 1,
    progress: Any = None,
    log: Any = print,
    isolate_models: bool = True,
    workers: int = 2,
) -> Plan:
    """Build tasks, prepare their data (download, generate, parse; cached) and list the jobs.

    Model code never runs here: each model is built, and checked against its tasks, in a worker
    process (``isolate_models``; False builds them in this process, for in-process executors). A
    model whose constructor raises or crashes gets its jobs recorded as failed, with the reason;
    the rest of the suite runs.
    """
    tasks = []
    dropped: list[tuple[str, str]] = []
    checksums: dict[str, str] = {}
    timeouts: dict[str, float] = {}
    for entry in suite.tasks:
        prepared = _prepare_task(suite, entry, progress, dropped)
        if prepared is None:
            continue
        task, checksums[entry.name] = prepared
        fam = all_families().get(getattr(task, "family", ""))
        timeouts[entry.name] = fam.default_timeout_s if fam is not None else FALLBACK_TIMEOUT_S
        tasks.append((entry, task))
    rid = run_id or suite.default_run_id(checksums)
    options = {"threads": threads, **suite.options}

    # build the models and ask the tasks about them, in a worker process
    by_model: dict[str, tuple[Any, list[Any]]] = {}
    for entry, task in tasks:
        for mspec in suite.models_for(entry):
            by_model.setdefault(mspec.display, (mspec, []))[1].append((entry, task.n_folds()))
    items = [(label, m.name, dict(m.params), [(e.name, dict(e.params)) for e, _ in es]) for label, (m, es) in by_model.items()]
    probed = _probe(items, isolate_models, workers)

    plan = Plan(rid, suite, [], [], dropped, checksums)
    plan.timeouts = timeouts
    _expand_jobs(plan, by_model, probed, options)
    # keep the suite's order: task by task, then model by model
    order = {e.name: i for i, (e, _) in enumerate(tasks)}
    plan.jobs.sort(key=lambda j: order[j.task.name])
    return plan


def _expand_jobs(plan: Plan, by_model: dict[str, tuple[Any, list[Any]]], probed: dict[str, dict[str, Any]],
                 options: dict[str, Any]) -> None:
    """Fill ``plan`` with one job per (task, model, fold, seed): runnable, incompatible (the
    task's reason) or unbuildable (the model's constructor failed in the probe)."""
    suite, rid, dropped = plan.suite, plan.run_id, plan.dropped_tasks
    for label, (mspec, entries) in by_model.items():
        res = probed.get(label) or {"error": "build", "message": "no answer from the worker that built it", "import_error": False}
        err = res.get("error")
        if err is not None:
            msg = res.get("message", "")
            if err in ("registry", "params") and not (mspec.optional and res.get("import_error")):
                raise SuiteError(f"{suite.origin}: {msg}")
            if mspec.optional:
                dropped.append((f"model {label}", f"cannot be built here ({msg})"))
                continue
        for i, (entry, n) in enumerate(entries):
            reason = None if err else res["reasons"][i]
            folds_opt = suite.folds_for(entry)
            folds = list(range(n)) if folds_opt == "all" else [f for f in folds_opt if f < n]
            for fold in folds:
                for seed in suite.seeds:
                    spec = JobSpec(
                        run_id=rid,
                        task=TaskRef(entry.name, dict(entry.params)),
                        model=ModelRef(mspec.display, mspec.name, dict(mspec.params)),
                        fold=fold,
                        seed=seed,
                        dataset_checksum=plan.checksums[entry.name],
                        options=options,
                    )
                    if err:
                        plan.unbuildable.append((spec, f"model {label!r} could not be built: {res.get('message', '')}"))
                    elif reason:
                        plan.incompatible.append((spec, reason))
                    else:
                        plan.jobs.append(spec)


def _prepare_task(suite: Suite, entry: Any, progress: Any, dropped: list[tuple[str, str]]) -> tuple[Any, str] | None:
    """Build one suite entry's task, prepare its data and read its checksum: (task, checksum), or
    None when an optional task is dropped
    (the reason appended to ``dropped``). Bad parameters or folds raise ``SuiteError``."""
    from matscibench.families.registry import get_task

    where = suite.origin
    try:
        task = get_task(entry.name, **entry.params)
    except RegistryError as exc:
        raise SuiteError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise SuiteError(
            f"{where}: task {entry.name!r} does not take params {entry.params}: {clean_text(safe_str(exc), 500)}. "
            "Fix the task's 'params' (see `matscibench list tasks`)."
        ) from None
    if entry.optional and not task.data_available():
        reason = f"data not available offline ({task.spec.status() if hasattr(task, 'spec') else 'missing'})"
        hint = _data_hint(task)
        dropped.append((entry.name, reason + (f"; {hint}" if hint else "")))
        return None
    try:
        task.prepare(progress)
        checksum = task.dataset_checksum()
    except DatasetError as exc:
        if entry.optional:
            dropped.append((entry.name, str(exc)))
            return None
        raise
    except (TypeError, ValueError) as exc:
        raise SuiteError(
            f"{where}: task {entry.name!r} cannot prepare its data with params {entry.params}: "
            f"{clean_text(safe_str(exc), 500)}. Fix the task's 'params'."
        ) from None
    n = task.n_folds()
    folds_opt = suite.folds_for(entry)
    if folds_opt != "all":
        out_of_range = [f for f in folds_opt if f >= n]
        if out_of_range and (entry.folds is not None or len(out_of_range) == len(folds_opt)):
            raise SuiteError(
                f"{where}: task {entry.name!r} has {n} fold(s), numbered 0 .. {n - 1}; folds "
                f"{out_of_range} do not exist. Fix 'folds' (or use folds = \"all\")."
            )
    return task, checksum


def _data_hint(task: Any) -> str:
    spec = getattr(task, "spec", None)
    rel = getattr(spec, "relpath", None)
    if callable(rel):
        splits = getattr(spec, "splits", ())
        rel = ", ".join(rel(s) for s in splits) if splits else None
    if rel:
        return f"set MATSCIBENCH_DATA to a folder holding {rel}"
    return ""


def _duration(s: float) -> str:
    """A time limit for people: 900 s, 3 h."""
    if s >= 3600 and s % 3600 == 0:
        return f"{s / 3600:g} h"
    return f"{s:g} s"


def predictions_relpath(result: JobResult) -> str:
    return f"predictions/{result.run_id}/{result.key}.parquet"


def record_result(store: Store, result: JobResult, out_dir: Path) -> bool:
    """Write the predictions file (atomically), then the job in one transaction."""
    rel = None
    if result.predictions is not None and len(result.predictions):
        from matscibench.data.cache import atomic_path

        rel = predictions_relpath(result)
        with atomic_path(out_dir / rel) as tmp:
            result.predictions.to_parquet(tmp, index=False)
    return store.record(result, rel)


TRANSIENT_ERRORS = {"WorkerCrashed", "KilledWorker", "CommClosedError", "FutureCancelledError"}


def make_executor(
    kind: str,
    *,
    workers: int,
    timeout_s: float | None,
    memory_limit_MiB: float | None,
    scheduler: str | None = None,
    cluster_config: str | Path | None = None,
    exclusive: bool = False,
) -> Executor:
    """``local`` (a fresh process per job on this machine) or ``dask`` (LocalCluster, a scheduler
    address, or a dask-jobqueue cluster from a config file)."""
    if kind == "local":
        from matscibench.run.executor import JobProcessExecutor

        return JobProcessExecutor(max_workers=workers, timeout_s=timeout_s, memory_limit_MiB=memory_limit_MiB)
    if kind == "dask":
        from matscibench.run.dask_executor import make_dask_executor

        return make_dask_executor(
            workers=workers,
            scheduler=scheduler,
            cluster_config=cluster_config,
            timeout_s=timeout_s,
            memory_limit_MiB=memory_limit_MiB,
            exclusive=exclusive,
        )
    raise SuiteError(f"executor must be 'local' or 'dask', got {kind!r}")


def run_suite(
    suite: Suite,
    *,
    results: str | Path | None = None,
    store: Store | str | None = None,
    workers: int | str | None = None,
    run_id: str | None = None,
    retry_failed: bool = False,
    executor: Executor | str | None = None,
    scheduler: str | None = None,
    cluster_config: str | Path | None = None,
    exclusive: bool = False,
    timeout_s: float | None = None,
    memory_limit_MiB: float | None = None,
    console: Any = None,
    quiet: bool = False,
    report: bool = True,
    lease_s: float = 600.0,
) -> RunOutcome:
    """Plan, execute and record a suite; resume it if it was interrupted.

    Parameters
    ----------
    results: folder for the store (``results.sqlite``), predictions and reports.
    store: a ``Store`` or a path/SQLAlchemy URL (default: ``<results>/results.sqlite``).
    workers: jobs at once (default: the suite's, ``auto`` = CPU count).
    run_id: record into this run (default: the suite name + a hash of the suite and its data).
    retry_failed: forget failed jobs of this run and run them again.
    executor: ``"local"`` (default: one fresh process per job), ``"dask"``, or any
        ``concurrent.futures.Executor``.
    scheduler, cluster_config: for ``dask``: an existing scheduler's address, or a dask-jobqueue
        cluster description (TOML); neither: a LocalCluster sized to this machine.
    exclusive: one job at a time per machine (cost measurements undisturbed by other jobs).
    timeout_s, memory_limit_MiB: per-job limits (default: the suite's).
    lease_s: how long a claim on a job stays valid without renewal (drivers sharing a store).
    """
    args = dict(locals())
    with sigterm_as_interrupt():
        return _run_suite(**args)


def _positive(value: float | None, what: str) -> float | None:
    """``value`` when it is a positive number (inf: no limit, None), else ``MatscibenchError``."""
    import math

    from matscibench.errors import MatscibenchError

    if value is None:
        return None
    v = float(value)
    if math.isnan(v) or v <= 0:
        raise MatscibenchError(f"{what} must be a positive number, got {value!r}; leave it out for the default")
    return None if math.isinf(v) else v


def _run_suite(
    suite: Suite,
    *,
    results: str | Path | None = None,
    store: Store | str | None = None,
    workers: int | str | None = None,
    run_id: str | None = None,
    retry_failed: bool = False,
    executor: Executor | str | None = None,
    scheduler: str | None = None,
    cluster_config: str | Path | None = None,
    exclusive: bool = False,
    timeout_s: float | None = None,
    memory_limit_MiB: float | None = None,
    console: Any = None,
    quiet: bool = False,
    report: bool = True,
    lease_s: float = 600.0,
) -> RunOutcome:
    """``run_suite`` without the signal handling (same parameters): plan, execute, record, report."""
    from matscibench.run.executor import ThreadExecutor, forked_children_die_with_this_process
    from matscibench.run.progress import RunDisplay

    t_start = time.perf_counter()
    timeout_s = _positive(timeout_s, "--timeout (s)")
    memory_limit_MiB = _positive(memory_limit_MiB, "--memory-limit (MiB)")
    if run_id is not None:
        check_name(run_id, "run id", NAME_MAX_CHARS)
    console = console if console is not None else _default_console(quiet)
    out_dir, store = _open_store(results, store)
    n_workers = 1 if exclusive else resolve_workers(workers, suite)
    # threads per job: part of the spec (the suite's ``[options] threads``, default 1), never
    # derived from the machine or the worker count: BLAS and torch reductions sum in an order that
    # depends on the thread count, and a model's training can follow it (measured: the quick suite
    # with 1 worker x 2 threads and 2 workers x 1 thread differed in 7 jobs, up to 50 % in a
    # phonon heat capacity and in the XRD CNN's accuracy)
    threads = int(suite.options.get("threads", 1))
    display = RunDisplay(console, enabled=not quiet)
    # workers of a dataset generator's process pool die with this process, even by kill -9
    forked_children_die_with_this_process()

    with display.preparing() as prep_progress:
        plan = plan_suite(suite, run_id=run_id, threads=threads, progress=prep_progress,
                          isolate_models=not isinstance(executor, ThreadExecutor), workers=n_workers)
    for name, reason in plan.dropped_tasks:
        what = name if name.startswith("model ") else f"task {name}"
        console.print(f"[yellow]skipping optional {what}[/]: {reason}")

    from matscibench.cost.sysinfo import system_info

    sysinfo = system_info()
    new = store.ensure_run(plan.run_id, suite.name, suite.model_dump(mode="json"), sysinfo, plan.n_planned)
    if retry_failed:
        n = store.delete_jobs(plan.run_id, ("failed",))
        if n:
            console.print(f"retrying {n} failed job(s)")
    done = _record_not_runnable(store, plan)
    # time limit of each task's jobs: --timeout, else the suite's timeout_s, else the family default
    limits = {name: timeout_s or suite.timeout_s or t for name, t in plan.timeouts.items()}
    todo = longest_first([j for j in plan.jobs if j.key not in done], store.past_wall_times())

    own_executor = not isinstance(executor, Executor)
    kind = executor if isinstance(executor, str) else "local"
    if own_executor:
        executor = make_executor(
            kind,
            workers=n_workers,
            timeout_s=timeout_s or suite.timeout_s or max(limits.values(), default=None),
            memory_limit_MiB=memory_limit_MiB or suite.memory_limit_MiB,
            scheduler=scheduler,
            cluster_config=cluster_config,
            exclusive=exclusive,
        )
    slots = int(getattr(executor, "max_workers", n_workers) or n_workers)
    if getattr(executor, "accepts_groups", False):
        todo = grouped_by_data(todo)
    console.print(
        f"[bold]{'starting' if new else 'resuming'} run {plan.run_id}[/]: {plan.n_planned} jobs planned"
        + (f", {plan.n_planned - len(todo)} already recorded" if not new else "")
        + f", {len(todo)} to run on {slots} worker(s) × {threads} thread(s)"
        + (f" ({kind} executor)" if own_executor else "")
        + (", exclusive" if exclusive else "")
    )
    _print_limits(console, store, limits, "--timeout" if timeout_s else "the suite's timeout_s" if suite.timeout_s else None)

    loop = _Dispatch(plan=plan, suite=suite, store=store, executor=executor, out_dir=out_dir, limits=limits,
                     sysinfo=sysinfo, lease_s=lease_s, window=max(1, 2 * slots))
    _drive(loop, todo, display, own_executor, console)
    outcome = RunOutcome(run_id=plan.run_id, store_url=store.url, results_dir=out_dir, n_planned=plan.n_planned,
                         n_ran=loop.n_ran, n_resumed=len(plan.jobs) - len(todo), counts={})
    _finish(store, outcome, console, report, t_start)
    return outcome


def _drive(loop: _Dispatch, todo: list[JobSpec], display: Any, own_executor: bool, console: Any) -> None:
    """Run the loop; on Ctrl-C / SIGTERM or a failure of the driver itself, stop the jobs and
    everything they started, release the claims and mark the run (interrupted / failed)."""
    executor, store, run_id = loop.executor, loop.store, loop.plan.run_id
    interrupted = False
    try:
        with display.running(todo) as live:
            loop.run(todo, live)
    except KeyboardInterrupt as exc:
        interrupted = True
        executor.shutdown(wait=False, cancel_futures=True)
        store.release_claims(run_id)
        store.finish_run(run_id, "interrupted")
        why = f" by {exc.args[0]}" if isinstance(exc, Terminated) and exc.args else ""
        console.print(f"[yellow]interrupted{why}[/]: {loop.n_ran} job(s) recorded; run the same command again to resume {run_id}")
        raise
    except BaseException:
        # the driver itself failed (the store refused a write, ...)
        interrupted = True
        executor.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            store.release_claims(run_id)
        with contextlib.suppress(Exception):
            store.finish_run(run_id, "failed")
        raise
    finally:
        if own_executor and not interrupted:
            executor.shutdown(wait=True)


def _print_limits(console: Any, store: Store, limits: dict[str, float], source: str | None) -> None:
    console.print(f"store: {store.url}")
    shown = sorted({_duration(v) for v in limits.values()})
    if shown:
        console.print(f"job time limit: {', '.join(shown)} ({source or 'family default; --timeout to change'})")


def _default_console(quiet: bool) -> Any:
    import sys

    from rich.console import Console

    # a log file or pipe gets wide lines rather than numbers cut short with "…"
    return Console(quiet=quiet, width=None if sys.stdout.isatty() else 160)


def _open_store(results: str | Path | None, store: Store | str | None) -> tuple[Path, Store]:
    """The results folder (checked writable) and the store (default ``<results>/results.sqlite``)."""
    out_dir = default_results_dir(results).resolve()
    check_writable_dir(out_dir)
    if store is None:
        store = Store(out_dir / "results.sqlite")
    elif not isinstance(store, Store):
        store = Store(store)
    store.check_writable()
    return out_dir, store


def _record_not_runnable(store: Store, plan: Plan) -> set[str]:
    """Record the jobs that cannot run (incompatible: skipped; model not buildable: failed);
    return the keys recorded in the run so far."""
    done = store.recorded_keys(plan.run_id)
    for spec, reason in plan.incompatible:
        if spec.key not in done:
            store.record(JobResult.failure(spec, RuntimeError(reason), status="skipped"))
            done.add(spec.key)
    for spec, reason in plan.unbuildable:
        if spec.key not in done:
            store.record(JobResult.failure(spec, ModelBuildError(reason)))
            done.add(spec.key)
    return done


@dataclass
class _Dispatch:
    """The driver's loop: claim and submit jobs (at most ``window`` in flight), collect results,
    retry transient failures with back-off, record everything else, renew claims."""

    plan: Plan
    suite: Suite
    store: Store
    executor: Executor
    out_dir: Path
    limits: dict[str, float]
    sysinfo: dict[str, Any]
    lease_s: float
    window: int
    n_ran: int = 0
    queue: deque = field(default_factory=deque)
    pending: dict = field(default_factory=dict)
    #: claimed by another live driver
    deferred: list = field(default_factory=list)
    retry_at: list = field(default_factory=list)

    def run(self, todo: list[JobSpec], live: Any) -> None:
        self.queue.extend((spec, 1) for spec in todo)
        # jobs over one dataset share a preloaded process (JobProcessExecutor's groups)
        self.groups: dict[str, tuple[list, list]] = {}
        #: jobs of each group not yet submitted (the group's process closes after its last)
        self.group_left: dict[str, int] = {}
        for spec in todo:
            if spec.dataset_checksum:
                self.group_left[spec.dataset_checksum] = self.group_left.get(spec.dataset_checksum, 0) + 1
                tasks, models = self.groups.setdefault(spec.dataset_checksum, ([], []))
                if (spec.task.name, spec.task.params) not in tasks:
                    tasks.append((spec.task.name, spec.task.params))
                if spec.model.model not in models:
                    models.append(spec.model.model)
        events = self.executor.queue() if hasattr(self.executor, "queue") else None
        last_renew = time.monotonic()
        while self.queue or self.pending or self.deferred or self.retry_at:
            self._requeue_due()
            self._fill(live, events)
            if not self.pending and not self.queue:
                if self._wait_idle():
                    continue
                break
            finished, _ = wait(list(self.pending), timeout=0.2, return_when=FIRST_COMPLETED) if self.pending else (set(), set())
            live.drain(events)
            for fut in finished:
                self._collect(fut, live)
            if time.monotonic() - last_renew > self.lease_s / 4:
                self.store.renew_claims(self.plan.run_id, [s.key for s, _ in self.pending.values()], self.lease_s)
                last_renew = time.monotonic()
        live.drain(events)

    def _requeue_due(self) -> None:
        now = time.monotonic()
        for item in [r for r in self.retry_at if r[0] <= now]:
            self.retry_at.remove(item)
            self.queue.appendleft((item[1], item[2]))

    def _fill(self, live: Any, events: Any) -> None:
        submit_limited = getattr(self.executor, "submit_limited", None)
        with_resources = bool(getattr(self.executor, "accepts_resources", False))
        with_groups = bool(getattr(self.executor, "accepts_groups", False))
        while self.queue and len(self.pending) < self.window:
            spec, attempt = self.queue.popleft()
            state = self.store.claim(self.plan.run_id, spec.key, self.lease_s)
            if state == "recorded":
                live.elsewhere(spec)
                continue
            if state == "taken":
                self.deferred.append((spec, attempt))
                continue
            kwargs = {}
            if with_resources:
                model_res = next((dict(m.resources) for m in self.suite.models if m.display == spec.model.label), {})
                kwargs["resources"] = {**self.suite.resources, **model_res}
            if with_groups and spec.dataset_checksum in self.groups:
                kwargs["group"] = spec.dataset_checksum
                kwargs["warm"] = (warm_group, self.groups[spec.dataset_checksum])
                left = self.group_left[spec.dataset_checksum] = max(0, self.group_left[spec.dataset_checksum] - 1)
                kwargs["last_in_group"] = left == 0
            if submit_limited is not None:
                fut = submit_limited(run_job, spec, events, timeout_s=self.limits.get(spec.task.name), **kwargs)
            else:
                fut = self.executor.submit(run_job, spec, events, **kwargs)
            self.pending[fut] = (spec, attempt)

    def _wait_idle(self) -> bool:
        """Nothing in flight or queued: wait for retries or for another driver's claims; False
        when nothing is left at all."""
        if self.retry_at:
            time.sleep(min(0.5, max(0.0, min(r[0] for r in self.retry_at) - time.monotonic())))
            return True
        if self.deferred:  # wait for the other driver, or for its claims to go stale
            time.sleep(1.0)
            self.queue.extend(self.deferred)
            self.deferred.clear()
            return True
        return False

    def _collect(self, fut: Future, live: Any) -> None:
        spec, attempt = self.pending.pop(fut)
        try:
            result = fut.result()
        except Exception as exc:  # crashed worker, timeout, memory, executor failure
            # a killed job records the time it ran, not ~0 s
            t_end = getattr(exc, "finished_at", None) or time.time()
            result = JobResult.failure(spec, exc, started_at=getattr(exc, "started_at", None) or t_end, finished_at=t_end)
            remote = getattr(exc, "remote_traceback", None)
            if remote is not None:
                result.traceback = clean_text(remote, TRACEBACK_MAX_CHARS)
        if result.status == "failed" and result.error_type in TRANSIENT_ERRORS and attempt <= self.suite.retries:
            delay = min(60.0, 2.0 ** (attempt - 1))
            live.retrying(spec, result, attempt, delay)
            self.retry_at.append((time.monotonic() + delay, spec, attempt + 1))
            return
        result.info.setdefault("machine", self.sysinfo.get("fingerprint"))
        result.info["attempts"] = attempt
        result.costs.update(harness_costs(result, getattr(fut, "launched_at", None), time.time()))
        if attempt > 1 and result.status == "failed":
            result.error_message = f"{result.error_message} (after {attempt} attempts)"
        record_result(self.store, result, self.out_dir)
        self.n_ran += 1
        live.finished(spec, result)


def _finish(store: Store, outcome: RunOutcome, console: Any, report: bool, t_start: float) -> None:
    """Mark the run finished, write the reports, print the summary and where everything is."""
    jobs = store.jobs_frame(outcome.run_id)
    outcome.counts = {k: int(v) for k, v in jobs["status"].value_counts().items()} if not jobs.empty else {}
    status = "complete with failures" if outcome.counts.get("failed") else "complete"
    store.finish_run(outcome.run_id, status)
    if report:
        from matscibench.report.aggregate import aggregate_run
        from matscibench.report.render import console_tables, write_reports

        rep = aggregate_run(store, outcome.run_id)
        outcome.reports = write_reports(rep, outcome.results_dir / "reports" / outcome.run_id)
        for tab in console_tables(rep):
            console.print(tab)
        from matscibench.report.render import harness_text

        ht = harness_text(rep)
        if ht is not None:
            console.print(ht[0] + " Parts: " + ", ".join(f"{label} {sec:.1f} s" for label, sec in ht[1]) + ".")
    outcome.wall_s = time.perf_counter() - t_start
    console.print(
        f"[bold]run {outcome.run_id}[/] {status}: "
        + ", ".join(f"{v} {k}" for k, v in sorted(outcome.counts.items()))
        + f" in {outcome.wall_s:.1f} s"
    )
    console.print(f"store:  {store.url}")
    for kind_, path in outcome.reports.items():
        console.print(f"report ({kind_}): {path}")
