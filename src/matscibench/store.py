"""The results store: one SQLite file by default, any SQLAlchemy URL (e.g. PostgreSQL) for teams.

Tables: ``runs`` (suite, machine, version), ``jobs`` (one row per finished job, its status and
provenance), ``metrics`` and ``costs`` (long format: job, name, value) and ``curves`` (validation
values per epoch with the time they were reached). A job and everything it measured are written
in one transaction, so a killed driver never leaves half a job; ``(run_id, key)`` is the primary
key of ``jobs``, so a job can never be recorded twice.

Only the driver writes here; workers return plain records.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from matscibench.run.spec import JobResult

__all__ = ["Store", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(200), primary_key=True),
    Column("suite_name", String(200)),
    Column("suite_json", Text),
    Column("created_at", Float),
    Column("updated_at", Float),
    Column("system_json", Text),
    Column("matscibench_version", String(50)),
    Column("git_commit", String(80)),
    Column("n_planned", Integer),
    Column("status", String(20)),
    Column("schema_version", Integer),
)

jobs = Table(
    "jobs",
    metadata,
    Column("run_id", String(200), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("task", String(200), index=True),
    Column("model", String(200), index=True),
    Column("fold", Integer),
    Column("seed", Integer),
    Column("status", String(20)),
    Column("error_type", String(200)),
    Column("error_message", Text),
    Column("traceback", Text),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("wall_s", Float),
    Column("host", String(200)),
    Column("pid", Integer),
    Column("dataset_checksum", String(80)),
    Column("split_hash", String(40)),
    Column("n_train", Integer),
    Column("n_test", Integer),
    Column("info_json", Text),
    Column("spec_json", Text),
    Column("predictions_path", Text),
    Column("recorded_at", Float),
)

metrics_t = Table(
    "metrics",
    metadata,
    Column("run_id", String(200), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("value", Float),
)

costs_t = Table(
    "costs",
    metadata,
    Column("run_id", String(200), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("value", Float),
)

curves_t = Table(
    "curves",
    metadata,
    Column("run_id", String(200), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("epoch", Integer, primary_key=True),
    Column("elapsed_s", Float),
    Column("value", Float),
)


def _num(v: Any) -> float | None:
    """Floats for the database; NaN becomes NULL (read back as NaN), inf stays inf."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _url(target: str | Path) -> str:
    s = str(target)
    if "://" in s:
        return s
    return f"sqlite:///{Path(s).expanduser().resolve()}"


class Store:
    """Open (and create) a results store at a file path or a SQLAlchemy URL."""

    def __init__(self, target: str | Path) -> None:
        self.url = _url(target)
        if self.url.startswith("sqlite:///"):
            Path(self.url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(self.url, future=True)
        if self.engine.dialect.name == "sqlite":

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _rec):  # pragma: no cover - trivial
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

        metadata.create_all(self.engine)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def close(self) -> None:
        self.engine.dispose()

    # ----------------------------------------------------------------- runs
    def ensure_run(self, run_id: str, suite_name: str, suite: dict, system: dict, n_planned: int) -> bool:
        """Create the run row, or update it when resuming; returns True when the run is new."""
        now = time.time()
        with self.engine.begin() as conn:
            row = conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first()
            if row is None:
                conn.execute(
                    insert(runs).values(
                        run_id=run_id,
                        suite_name=suite_name,
                        suite_json=json.dumps(suite, sort_keys=True, default=str),
                        created_at=now,
                        updated_at=now,
                        system_json=json.dumps(system, default=str),
                        matscibench_version=system.get("matscibench_version"),
                        git_commit=system.get("git_commit"),
                        n_planned=n_planned,
                        status="running",
                        schema_version=SCHEMA_VERSION,
                    )
                )
                return True
            conn.execute(
                update(runs).where(runs.c.run_id == run_id).values(updated_at=now, n_planned=n_planned, status="running")
            )
            return False

    def finish_run(self, run_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(status=status, updated_at=time.time()))

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
        if row is None:
            return None
        d = dict(row)
        d["suite"] = json.loads(d.pop("suite_json") or "{}")
        d["system"] = json.loads(d.pop("system_json") or "{}")
        return d

    def list_runs(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            df = pd.read_sql(select(runs.c.run_id, runs.c.suite_name, runs.c.created_at, runs.c.updated_at,
                                    runs.c.n_planned, runs.c.status, runs.c.git_commit), conn)
            counts = pd.read_sql(select(jobs.c.run_id, jobs.c.status), conn)
        if not counts.empty:
            c = counts.groupby(["run_id", "status"]).size().unstack(fill_value=0)
            df = df.merge(c, left_on="run_id", right_index=True, how="left")
        return df.sort_values("created_at", ascending=False).reset_index(drop=True)

    def resolve_run_id(self, prefix: str) -> str:
        """A full run id from an unambiguous prefix (``latest`` gives the newest run)."""
        runs_df = self.list_runs()
        if runs_df.empty:
            raise KeyError("the store holds no runs yet")
        if prefix == "latest":
            return str(runs_df.sort_values("updated_at").iloc[-1]["run_id"])
        ids = [r for r in runs_df["run_id"] if r == prefix]
        if ids:
            return ids[0]
        ids = [r for r in runs_df["run_id"] if str(r).startswith(prefix)]
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise KeyError(f"no run {prefix!r} in the store; runs: {', '.join(runs_df['run_id'][:10])}")
        raise KeyError(f"run prefix {prefix!r} is ambiguous: {', '.join(ids)}")

    # ----------------------------------------------------------------- jobs
    def recorded_keys(self, run_id: str) -> set[str]:
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(jobs.c.key).where(jobs.c.run_id == run_id))}

    def record(self, result: JobResult, predictions_path: str | None = None) -> bool:
        """Write a finished job and all it measured in one transaction.

        Returns False (and writes nothing) when the job was already recorded.
        """
        info = result.info or {}
        row = dict(
            run_id=result.run_id,
            key=result.key,
            task=result.task,
            model=result.model,
            fold=result.fold,
            seed=result.seed,
            status=result.status,
            error_type=result.error_type,
            error_message=result.error_message,
            traceback=result.traceback,
            started_at=result.started_at,
            finished_at=result.finished_at,
            wall_s=result.wall_s,
            host=result.host,
            pid=result.pid,
            dataset_checksum=info.get("dataset_checksum") or result.spec.get("dataset_checksum"),
            split_hash=info.get("split_hash"),
            n_train=info.get("n_train"),
            n_test=info.get("n_test"),
            info_json=json.dumps(info, default=str),
            spec_json=json.dumps(result.spec, default=str),
            predictions_path=predictions_path,
            recorded_at=time.time(),
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(jobs).values(**row))
                ids = {"run_id": result.run_id, "key": result.key}
                if result.metrics:
                    conn.execute(insert(metrics_t), [{**ids, "name": k, "value": _num(v)} for k, v in result.metrics.items()])
                if result.costs:
                    conn.execute(insert(costs_t), [{**ids, "name": k, "value": _num(v)} for k, v in result.costs.items()])
                if result.curve:
                    conn.execute(
                        insert(curves_t),
                        [{**ids, "epoch": int(e), "elapsed_s": _num(t), "value": _num(v)} for e, t, v in result.curve],
                    )
        except IntegrityError:
            return False
        return True

    def delete_jobs(self, run_id: str, statuses: tuple[str, ...] = ("failed",)) -> int:
        """Forget jobs with these statuses (e.g. to retry failures); returns how many."""
        with self.engine.begin() as conn:
            keys = [r[0] for r in conn.execute(select(jobs.c.key).where(jobs.c.run_id == run_id, jobs.c.status.in_(statuses)))]
            for t in (metrics_t, costs_t, curves_t, jobs):
                if keys:
                    conn.execute(delete(t).where(t.c.run_id == run_id, t.c.key.in_(keys)))
        return len(keys)

    # ----------------------------------------------------------------- frames
    def jobs_frame(self, run_id: str) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(select(jobs).where(jobs.c.run_id == run_id), conn)

    def _long(self, table: Table, run_id: str) -> pd.DataFrame:
        with self.engine.connect() as conn:
            df = pd.read_sql(select(table).where(table.c.run_id == run_id), conn)
        if "value" in df:
            df["value"] = df["value"].astype(float)
        return df

    def metrics_frame(self, run_id: str) -> pd.DataFrame:
        return self._long(metrics_t, run_id)

    def costs_frame(self, run_id: str) -> pd.DataFrame:
        return self._long(costs_t, run_id)

    def curves_frame(self, run_id: str) -> pd.DataFrame:
        return self._long(curves_t, run_id)
