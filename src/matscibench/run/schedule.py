"""In what order the driver runs jobs, and what the harness cost each one (kept out of the
driver's loop so that both can be read and tested on their own)."""

from __future__ import annotations

import math
import socket

from matscibench.spec import JobResult, JobSpec

__all__ = ["grouped_by_data", "harness_costs", "longest_first"]


def longest_first(jobs: list[JobSpec], past: dict[tuple[str, str], float]) -> list[JobSpec]:
    """Order jobs for a greedy pool: those never timed first (they may be long), then the rest
    by their past median wall time, longest first (LPT scheduling: the run does not end waiting
    on one long job started last). Order within a (task, model) is kept; results do not depend
    on the order, since every job runs on its own."""
    def cost(ij: tuple[int, JobSpec]) -> tuple[float, int]:
        i, j = ij
        t = past.get((j.task.name, j.model.label))
        return (-float("inf") if t is None else -t, i)

    return [j for _, j in sorted(enumerate(jobs), key=cost)]


def grouped_by_data(jobs: list[JobSpec]) -> list[JobSpec]:
    """Jobs of one dataset next to each other, for executors that fork them from one preloaded
    process per dataset (``JobProcessExecutor`` groups): the groups in the order of their first
    job, each group's jobs in their given order. After ``longest_first`` this runs the groups by
    their longest job, longest first, and each group longest first, and keeps few groups' data in
    memory at once."""
    groups: dict[str, list[JobSpec]] = {}
    for j in jobs:
        groups.setdefault(j.dataset_checksum or f"job:{j.key}", []).append(j)
    return [j for g in groups.values() for j in g]



def harness_costs(result: JobResult, launched_at: float | None, collected_at: float) -> dict[str, float]:
    """What the harness cost one job, outside the model's own phases (seconds):

    - ``harness.start_s``: from the executor starting the job's process to ``run_job`` starting
      in it (fork, unpickling the spec; only when the executor tells the launch time and the job
      ran on this host: a remote worker's clock is not the driver's);
    - ``harness.in_job_s``: inside ``run_job`` but outside every metered phase (building the task
      and the model, meters, the result record) -- the data loading phase is ``load.wall_s``;
    - ``harness.return_s``: from the job's end to the driver holding its result (pickling, pipe).

    Recording in the store comes after these are written; the report takes it from the job's
    ``recorded_at``."""
    out: dict[str, float] = {}
    start, end = result.started_at, result.finished_at
    if launched_at is not None and start is not None and result.host == socket.gethostname():
        out["harness.start_s"] = max(0.0, float(start) - float(launched_at))
    if start is not None and end is not None and result.status != "failed":
        phases = sum(v for k, v in result.costs.items()
                     if k.endswith(".wall_s") and "/" not in k and math.isfinite(v))
        out["harness.in_job_s"] = max(0.0, float(end) - float(start) - phases)
    if end is not None and result.host == socket.gethostname():
        out["harness.return_s"] = max(0.0, collected_at - float(end))
    return out
