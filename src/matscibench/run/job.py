"""The job function: runs in a worker process, returns a plain ``JobResult``, writes nothing."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any

from matscibench.models.replay import is_replay
from matscibench.spec import JobResult, JobSpec

__all__ = ["run_job", "limit_threads", "warm_group", "replay_costs", "HARNESS_COST_PHASES"]

#: phases whose costs are the harness's own work, measured here even when a job replays a file
#: (loading the data, computing the metrics); every other cost is the model's
HARNESS_COST_PHASES = ("load", "metrics")


def replay_costs(costs: dict[str, float], model: Any) -> tuple[dict[str, float], dict[str, Any]]:
    """The costs of a job that replayed a predictions file: the harness's own (``HARNESS_COST_PHASES``)
    as measured, the model's as the submitter declares them (never mixed with measured ones: the
    returned note lists which are declared), the rest not measured here."""
    measured = {k: v for k, v in costs.items() if _harness_cost(k)}
    declared = check_declared_costs(model)
    note = {"model_costs": "declared" if declared else "not measured here", "declared": sorted(declared),
            "declared_in": getattr(model.meta, "path", None), "measured_here": sorted(measured)}
    return {**measured, **declared}, note


def _harness_cost(key: str) -> bool:
    return key.split(".", 1)[0].split("/", 1)[0] in HARNESS_COST_PHASES


def check_declared_costs(model: Any) -> dict[str, float]:
    """The costs a replayed model declares, checked: names the reports know, none of the harness's own."""
    from matscibench.errors import PredictionsFileError
    from matscibench.report.aggregate import COST_COLUMNS

    declared = dict(getattr(model, "declared_costs", {}) or {})
    known = {c.key for c in COST_COLUMNS if not _harness_cost(c.key)}
    unknown = sorted(set(declared) - known)
    if unknown:
        where = getattr(getattr(model, "meta", None), "path", None) or "the model description"
        raise PredictionsFileError(f"{where}: declared cost(s) {unknown} are not model costs the reports know (costs of "
                                   f"loading data and computing metrics are measured here); use: {', '.join(sorted(known))}")
    return declared


def _provenance(spec: JobSpec, task: Any, model: Any) -> dict[str, Any]:
    """The model card and the task's data sources, stored with the job (the report's leakage flag)."""
    from matscibench.families.registry import model_card

    out: dict[str, Any] = {}
    try:
        out["model_card"] = model_card(spec.model.model, model, spec.model.label).as_dict()
    except Exception as exc:  # noqa: BLE001 - a broken card must not lose the job's numbers
        out["model_card"] = {"name": spec.model.label, "notes": f"card could not be made: {type(exc).__name__}: {exc}"}
    try:
        out["dataset_sources"] = list(task.data_sources())
    except Exception:  # noqa: BLE001
        out["dataset_sources"] = []
    return out


@contextlib.contextmanager
def limit_threads(n: int):
    """Cap BLAS/OpenMP (threadpoolctl) and PyTorch threads for the duration of a job."""
    n = max(1, int(n))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):
            torch.set_num_threads(n)
    controller = _threadpool_controller()
    if controller is None:  # pragma: no cover
        yield
        return
    with controller.limit(limits=n):
        yield


_CONTROLLER: tuple[int, Any] | None = None


def _threadpool_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries, rebuilt only when modules were
    imported since (finding the libraries walks every loaded shared object: 3 ms a job)."""
    global _CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    if _CONTROLLER is None or _CONTROLLER[0] != len(sys.modules):
        _CONTROLLER = (len(sys.modules), ThreadpoolController())
    return _CONTROLLER[1]


_MACHINE: str | None = None


def _machine() -> str:
    """Fingerprint of the hardware this job ran on (a remote Dask worker's, not the driver's)."""
    global _MACHINE
    if _MACHINE is None:
        from matscibench.cost.sysinfo import machine_fingerprint, system_info

        try:
            _MACHINE = system_info()["fingerprint"]
        except Exception:  # pragma: no cover
            _MACHINE = machine_fingerprint({})
    return _MACHINE


def run_job(spec: JobSpec, events: Any = None) -> JobResult:
    """Build the task and the model, run one fold, and return everything measured.

    Any exception from the task or the model becomes a ``failed`` result carrying the error and
    traceback; an incompatible (task, model) pair becomes ``skipped``. ``events`` (a queue) gets
    progress messages ``{"key", "kind", ...}`` for the driver's display.
    """
    from matscibench.cost.meters import JobMeter
    from matscibench.models.base import set_seed
    from matscibench.families.base import JobContext
    from matscibench.families.registry import build_model, get_task
    from matscibench.models.replay import bind_to_task

    started = time.time()
    key = spec.key

    from matscibench.run.concurrency import count_running, running_marker

    threads = int(spec.options.get("threads", 1))
    peers = [0]

    def emit(event: dict) -> None:
        if event.get("kind") == "phase":
            with contextlib.suppress(OSError):
                peers[0] = max(peers[0], count_running())
        if events is not None:
            events.put({"key": key, **event})

    emit({"kind": "start", "pid": os.getpid()})
    meter = JobMeter(events=emit)
    marker = running_marker(key)
    marker.__enter__()
    try:
        with limit_threads(threads):
            task = get_task(spec.task.name, **spec.task.params)
            model = bind_to_task(build_model(spec.model.model, spec.model.params), task)
            set_seed(model, spec.seed)
            if is_replay(model):
                check_declared_costs(model)
            reason = task.incompatibility(model)
            if reason:
                return JobResult.failure(spec, RuntimeError(reason), status="skipped", pid=os.getpid(), started_at=started)
            out = task.run(model, spec.fold, JobContext(meter=meter, seed=spec.seed, threads=threads, options=spec.options))
    except Exception as exc:  # the job fails, the suite goes on
        res = JobResult.failure(spec, exc, pid=os.getpid(), started_at=started)
        res.costs = meter.costs()
        res.finished_at = time.time()
        emit({"kind": "done", "status": "failed"})
        return res
    finally:
        marker.__exit__(None, None, None)
    costs = meter.costs()
    costs.update(out.costs)
    costs["job.threads"] = float(threads)
    costs["job.concurrent_jobs"] = float(max(1, peers[0]))
    info = dict(out.info)
    info["seed"] = spec.seed
    info["machine"] = _machine()
    info.update(_provenance(spec, task, model))
    if is_replay(model):
        costs, info["costs"] = replay_costs(costs, model)
        info["predictions_file"] = model.replay_info()
    res = JobResult(
        key=key,
        run_id=spec.run_id,
        task=spec.task.name,
        model=spec.model.label,
        fold=spec.fold,
        seed=spec.seed,
        status="ok",
        metrics=out.metrics,
        costs=costs,
        info=info,
        curve=list(meter.curve),
        predictions=out.predictions,
        started_at=started,
        finished_at=time.time(),
        pid=os.getpid(),
        spec=spec.as_dict(),
    )
    emit({"kind": "done", "status": "ok"})
    return res


def warm_group(task_refs: list[tuple[str, dict[str, Any]]], model_names: list[str]) -> None:
    """Prepare a job group's preloaded process (``JobProcessExecutor``'s ``group``/``warm``): the
    jobs of the group are forked from it afterwards and start with everything here done once
    instead of once per job. Reads each task's data into memory (``Task.warm`` with
    ``keep_loaded``), imports the task and model modules of this package (never a third-party
    model's module: it might start threads that a fork would break), the meters, and reads the
    machine fingerprint. Model code is not run. Whatever fails here is left for the job to meet
    and report."""
    from matscibench.data.base import keep_loaded
    from matscibench.families.registry import get_model_entry, get_task, resolve_factory

    keep_loaded(True)
    for name, params in task_refs:
        with contextlib.suppress(Exception):
            get_task(name, **params).warm()
    for model in model_names:
        with contextlib.suppress(Exception):
            entry = get_model_entry(model)
            if isinstance(entry.factory, str) and entry.factory.startswith("matscibench."):
                resolve_factory(entry.factory)
    with contextlib.suppress(Exception):
        import threadpoolctl  # noqa: F401

        import matscibench.cost.meters  # noqa: F401
        import matscibench.run.concurrency  # noqa: F401

        _machine()
        _threadpool_controller()


def probe_models(items: list[tuple[str, str, dict[str, Any], list[tuple[str, dict[str, Any]]]]]) -> dict[str, dict[str, Any]]:
    """Build each model and ask each of its tasks whether it can run it -- in a worker process,
    so that model code never runs in the driver (a constructor that crashes takes down this
    process, not the run).

    ``items``: (label, model name, model params, [(task name, task params), ...]). Returns, per
    label, ``{"reasons": [reason or None per task]}`` or ``{"error": kind, "message": text,
    "import_error": bool}`` with kind ``registry`` (unknown name, cannot import), ``params``
    (the parameters do not fit the constructor's signature) or ``build`` (the constructor raised).
    """
    import inspect

    from matscibench.errors import RegistryError, clean_text, safe_str
    from matscibench.families.registry import build_model, get_model_entry, get_task, resolve_factory
    from matscibench.models.replay import bind_to_task

    out: dict[str, dict[str, Any]] = {}
    tasks: dict[str, Any] = {}
    for label, name, params, task_refs in items:
        try:
            entry = get_model_entry(name)
            factory = resolve_factory(entry.factory)
        except RegistryError as exc:
            out[label] = {"error": "registry", "message": clean_text(safe_str(exc)),
                          "import_error": isinstance(exc.__cause__, ImportError)}
            continue
        kwargs = {**entry.params, **(params or {})}
        try:
            inspect.signature(factory).bind(**kwargs)
        except TypeError as exc:
            out[label] = {"error": "params", "message": clean_text(f"{safe_str(exc)} (model {label!r}, params {kwargs})"),
                          "import_error": False}
            continue
        except ValueError:  # no signature (a builtin): let the call decide
            pass
        try:
            model = build_model(name, params)
        except Exception as exc:  # noqa: BLE001 - whatever a constructor raises
            out[label] = {"error": "build", "message": clean_text(f"{type(exc).__name__}: {safe_str(exc)}"),
                          "import_error": isinstance(exc, ImportError)}
            continue
        reasons: list[str | None] = []
        try:
            for tname, tparams in task_refs:
                tkey = canonical_key(tname, tparams)
                if tkey not in tasks:
                    tasks[tkey] = get_task(tname, **tparams)
                reason = tasks[tkey].incompatibility(bind_to_task(model, tasks[tkey]))
                reasons.append(None if not reason else clean_text(safe_str(reason)))
        except Exception as exc:  # noqa: BLE001 - a model whose attributes raise
            out[label] = {"error": "build", "message": clean_text(f"{type(exc).__name__}: {safe_str(exc)}"),
                          "import_error": False}
            continue
        out[label] = {"reasons": reasons}
    return out


def canonical_key(name: str, params: dict[str, Any]) -> str:
    from matscibench.spec import canonical_json

    return canonical_json([name, params])
