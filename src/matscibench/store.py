"""The results store: one SQLite file by default, any SQLAlchemy URL (e.g. PostgreSQL) for teams.

Tables: ``runs`` (suite, machine, version), ``jobs`` (one row per finished job, its status and
provenance), ``metrics`` and ``costs`` (long format: job, name, value) and ``curves`` (validation
values per epoch with the time they were reached). A job and everything it measured are written
in one transaction, so a killed driver never leaves half a job; ``(run_id, key)`` is the primary
key of ``jobs``, so a job can never be recorded twice.

Only the driver writes here; workers return plain records.

Teams share one store through a SQLAlchemy URL (``postgresql+psycopg://user@host/db``). Every
operation is retried with exponential backoff when the connection drops (a restarted server, a
network blip) for up to ``reconnect_timeout_s``; writes are idempotent (a job already recorded is
not written again), so a retried write never duplicates anything. Several drivers on one store
share the work through ``claims``: a driver claims a job before running it; a claim held by a
process that died (same host) or whose lease expired (other hosts) can be taken over.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
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
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)

from matscibench.errors import MESSAGE_MAX_CHARS, TRACEBACK_MAX_CHARS, StoreError, clean_text
from matscibench.spec import NAME_MAX_CHARS, JobResult

__all__ = ["Store", "SCHEMA_VERSION", "driver_identity"]

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA_VERSION = 1

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(NAME_MAX_CHARS), primary_key=True),
    Column("suite_name", String(NAME_MAX_CHARS)),
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
    Column("task", String(NAME_MAX_CHARS), index=True),
    Column("model", String(NAME_MAX_CHARS), index=True),
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


claims_t = Table(
    "claims",
    metadata,
    Column("run_id", String(200), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("owner", String(200)),
    Column("host", String(200)),
    Column("pid", Integer),
    Column("claimed_at", Float),
    Column("expires_at", Float),
)


def driver_identity() -> tuple[str, str, int]:
    """(owner string, host, pid) naming this driver process in claims."""
    host = socket.gethostname()
    pid = os.getpid()
    return f"{host}:{pid}", host, pid


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _num(v: Any) -> float | None:
    """Floats for the database; NaN becomes NULL (read back as NaN), inf stays inf."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


#: SQLSTATE classes of errors that a retry can cure: connection exceptions (08), operator
#: intervention such as a server restart (57), insufficient resources (53), transaction rollback
#: (40: serialization failure, deadlock)
_TRANSIENT_SQLSTATE = ("08", "57", "53", "40")


def _transient(exc: BaseException, dialect: str) -> bool:
    """Whether retrying the operation that raised ``exc`` can succeed (a dropped connection, a
    locked SQLite file) -- never for data the database refuses (DataError: a value too long),
    constraint violations or SQL errors, which fail the same way every time."""
    if isinstance(exc, (IntegrityError, ProgrammingError, DataError, NotSupportedError)):
        return False
    if not isinstance(exc, DBAPIError):
        return False
    if getattr(exc, "connection_invalidated", False):
        return True
    if dialect == "sqlite":
        msg = str(exc).lower()
        return "locked" in msg or "busy" in msg  # a bad SQLite file is not a network problem
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code:
        return str(code)[:2] in _TRANSIENT_SQLSTATE
    return isinstance(exc, (OperationalError, InterfaceError))


def _url(target: str | Path) -> str:
    s = str(target)
    if "://" in s:
        return s
    return f"sqlite:///{Path(s).expanduser().resolve()}"


class Store:
    """Open (and create) a results store at a file path or a SQLAlchemy URL."""

    def __init__(self, target: str | Path, reconnect_timeout_s: float = 120.0) -> None:
        self.url = _url(target)
        self.reconnect_timeout_s = reconnect_timeout_s
        path = Path(self.url[len("sqlite:///") :]) if self.url.startswith("sqlite:///") else None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the folder of the results store {path}: {exc.strerror or exc}. "
                    "Give a writable place with --results or --store."
                ) from None
            if path.is_dir():
                raise StoreError(f"the results store {path} is a folder, not a file; give a file path with --store")
        # pre-ping: a connection that died while idle in the pool is replaced, not used
        self.engine: Engine = create_engine(self.url, future=True, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _rec):  # pragma: no cover - trivial
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

        try:
            self._retry(self._create_tables)
        except StoreError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            self.engine.dispose()
            raise self._open_error(path, exc) from None

    def check_writable(self) -> None:
        """Raise ``StoreError`` now, not after the first job, when the store cannot be written
        (SQLite opens a read-only file, or one in a read-only folder, without complaint until the
        first write): writes a row and rolls it back."""
        path = Path(self.url[len("sqlite:///") :]) if self.url.startswith("sqlite:///") else None

        def op() -> None:
            with self.engine.connect() as conn:
                trans = conn.begin()
                try:
                    conn.execute(insert(claims_t).values(run_id="(write probe)", key=os.urandom(8).hex(), owner="probe"))
                finally:
                    trans.rollback()

        try:
            self._retry(op)
        except (SQLAlchemyError, OSError) as exc:
            raise self._open_error(path, exc) from None

    def _open_error(self, path: Path | None, exc: BaseException) -> StoreError:
        detail = clean_text(getattr(exc, "orig", None) or exc, 300)
        if path is None:
            return StoreError(f"cannot open the results store {self.url}: {detail}")
        low = detail.lower()
        if "not a database" in low or "malformed" in low or "corrupt" in low:
            return StoreError(
                f"{path} is not a readable SQLite results store ({detail}). Move it away (it is "
                "corrupt or another kind of file) or give another --results / --store."
            )
        if "readonly" in low or "read-only" in low or "unable to open" in low or isinstance(exc, PermissionError):
            return StoreError(
                f"cannot write the results store {path} ({detail}). Make it and its folder writable, "
                "or give another --results / --store."
            )
        return StoreError(f"cannot open the results store {path}: {detail}")

    def _create_tables(self) -> None:
        # two drivers starting at once may both try to create the tables; the loser sees
        # "already exists" and simply finds them on the second look
        for attempt in range(5):
            try:
                metadata.create_all(self.engine)
                return
            except (IntegrityError, ProgrammingError):
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _retry(self, fn: Callable[[], T]) -> T:
        """Run ``fn``; on a dropped connection, back off (0.25 s, doubling, max 5 s) and retry."""
        deadline = time.monotonic() + self.reconnect_timeout_s
        delay = 0.25
        while True:
            try:
                return fn()
            except DataError as exc:  # a value the database refuses: the same on every retry
                raise StoreError(
                    f"the results store {self.url} refused a value: {clean_text(exc.orig or exc, 500)}"
                ) from exc
            except DBAPIError as exc:
                if not _transient(exc, self.engine.dialect.name):
                    raise
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("results store %s unreachable (%s); retrying in %.2g s", self.url, exc.__class__.__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def close(self) -> None:
        self.engine.dispose()

    # ----------------------------------------------------------------- runs
    def ensure_run(self, run_id: str, suite_name: str, suite: dict, system: dict, n_planned: int) -> bool:
        """Create the run row, or update it when resuming; returns True when the run is new."""

        def op() -> bool:
            now = time.time()
            with self.engine.begin() as conn:
                row = conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first()
                if row is None:
                    try:
                        with conn.begin_nested():
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
                    except IntegrityError:  # another driver created it a moment ago
                        pass
                conn.execute(
                    update(runs).where(runs.c.run_id == run_id).values(updated_at=now, n_planned=n_planned, status="running")
                )
                return False

        return self._retry(op)

    def finish_run(self, run_id: str, status: str) -> None:
        def op() -> None:
            with self.engine.begin() as conn:
                conn.execute(update(runs).where(runs.c.run_id == run_id).values(status=status, updated_at=time.time()))

        self._retry(op)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        def op():
            with self.engine.connect() as conn:
                return conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()

        row = self._retry(op)
        if row is None:
            return None
        d = dict(row)
        d["suite"] = json.loads(d.pop("suite_json") or "{}")
        d["system"] = json.loads(d.pop("system_json") or "{}")
        return d

    def list_runs(self) -> pd.DataFrame:
        def op():
            with self.engine.connect() as conn:
                df = pd.read_sql(select(runs.c.run_id, runs.c.suite_name, runs.c.created_at, runs.c.updated_at,
                                        runs.c.n_planned, runs.c.status, runs.c.git_commit), conn)
                counts = pd.read_sql(select(jobs.c.run_id, jobs.c.status), conn)
            return df, counts

        df, counts = self._retry(op)
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
        def op() -> set[str]:
            with self.engine.connect() as conn:
                return {r[0] for r in conn.execute(select(jobs.c.key).where(jobs.c.run_id == run_id))}

        return self._retry(op)

    def past_wall_times(self, limit: int = 20000) -> dict[tuple[str, str], float]:
        """Median wall time (s) of finished jobs per (task, model label), over the newest
        ``limit`` jobs of every run in this store: how long a job is likely to take."""

        def op() -> dict[tuple[str, str], float]:
            q = (select(jobs.c.task, jobs.c.model, jobs.c.wall_s)
                 .where(jobs.c.status == "ok", jobs.c.wall_s.is_not(None))
                 .order_by(jobs.c.recorded_at.desc()).limit(limit))
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            by: dict[tuple[str, str], list[float]] = {}
            for task, model, wall in rows:
                by.setdefault((task, model), []).append(float(wall))
            return {k: float(np.median(v)) for k, v in by.items()}

        return self._retry(op)

    def is_recorded(self, run_id: str, key: str) -> bool:
        def op() -> bool:
            with self.engine.connect() as conn:
                return conn.execute(select(jobs.c.key).where(jobs.c.run_id == run_id, jobs.c.key == key)).first() is not None

        return self._retry(op)

    def record(self, result: JobResult, predictions_path: str | None = None) -> bool:
        """Write a finished job and all it measured in one transaction.

        Returns False (and writes nothing) when the job was already recorded. Safe to retry: a
        transaction cut by a dropped connection is rolled back by the server and written again.
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
            # whatever a model raised: bounded, valid text (lone surrogates, 20 MB messages)
            error_type=None if result.error_type is None else clean_text(result.error_type, NAME_MAX_CHARS),
            error_message=None if result.error_message is None else clean_text(result.error_message, MESSAGE_MAX_CHARS),
            traceback=None if result.traceback is None else clean_text(result.traceback, TRACEBACK_MAX_CHARS),
            started_at=result.started_at,
            finished_at=result.finished_at,
            wall_s=result.wall_s,
            host=clean_text(result.host, NAME_MAX_CHARS),
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
        ids = {"run_id": result.run_id, "key": result.key}

        def op() -> bool:
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(jobs).values(**row))
                    if result.metrics:
                        conn.execute(insert(metrics_t), [{**ids, "name": k, "value": _num(v)} for k, v in result.metrics.items()])
                    if result.costs:
                        conn.execute(insert(costs_t), [{**ids, "name": k, "value": _num(v)} for k, v in result.costs.items()])
                    if result.curve:
                        conn.execute(
                            insert(curves_t),
                            [{**ids, "epoch": int(e), "elapsed_s": _num(t), "value": _num(v)} for e, t, v in result.curve],
                        )
                    conn.execute(delete(claims_t).where(claims_t.c.run_id == result.run_id, claims_t.c.key == result.key))
            except IntegrityError:
                return False
            return True

        return self._retry(op)

    def delete_jobs(self, run_id: str, statuses: tuple[str, ...] = ("failed",)) -> int:
        """Forget jobs with these statuses (e.g. to retry failures); returns how many."""

        def op() -> int:
            with self.engine.begin() as conn:
                keys = [r[0] for r in conn.execute(select(jobs.c.key).where(jobs.c.run_id == run_id, jobs.c.status.in_(statuses)))]
                for t in (metrics_t, costs_t, curves_t, jobs):
                    if keys:
                        conn.execute(delete(t).where(t.c.run_id == run_id, t.c.key.in_(keys)))
            return len(keys)

        return self._retry(op)

    # ----------------------------------------------------------------- claims
    def claim(self, run_id: str, key: str, lease_s: float = 600.0) -> str:
        """Try to take a job for this driver: ``"mine"``, ``"recorded"`` or ``"taken"`` (by a live driver).

        A claim is stale when its lease expired or when it belongs to a dead process on this
        host; a stale claim is taken over with a compare-and-swap on its owner.
        """
        owner, host, pid = driver_identity()

        def op() -> str:
            now = time.time()
            with self.engine.begin() as conn:
                if conn.execute(select(jobs.c.key).where(jobs.c.run_id == run_id, jobs.c.key == key)).first():
                    return "recorded"
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(claims_t).values(run_id=run_id, key=key, owner=owner, host=host, pid=pid,
                                                    claimed_at=now, expires_at=now + lease_s)
                        )
                    return "mine"
                except IntegrityError:
                    pass
                cur = conn.execute(
                    select(claims_t.c.owner, claims_t.c.host, claims_t.c.pid, claims_t.c.expires_at).where(
                        claims_t.c.run_id == run_id, claims_t.c.key == key
                    )
                ).first()
                if cur is None:
                    return "taken"  # released between our insert and select: try again later
                if cur.owner == owner:
                    return "mine"
                stale = (cur.expires_at or 0) < now or (cur.host == host and not _pid_alive(int(cur.pid or 0)))
                if not stale:
                    return "taken"
                res = conn.execute(
                    update(claims_t)
                    .where(claims_t.c.run_id == run_id, claims_t.c.key == key, claims_t.c.owner == cur.owner)
                    .values(owner=owner, host=host, pid=pid, claimed_at=now, expires_at=now + lease_s)
                )
                return "mine" if res.rowcount == 1 else "taken"

        return self._retry(op)

    def renew_claims(self, run_id: str, keys: list[str], lease_s: float = 600.0) -> None:
        """Extend the leases of this driver's claims on ``keys``."""
        if not keys:
            return
        owner, _, _ = driver_identity()

        def op() -> None:
            with self.engine.begin() as conn:
                conn.execute(
                    update(claims_t)
                    .where(claims_t.c.run_id == run_id, claims_t.c.key.in_(keys), claims_t.c.owner == owner)
                    .values(expires_at=time.time() + lease_s)
                )

        self._retry(op)

    def release_claims(self, run_id: str, keys: list[str] | None = None) -> None:
        """Drop this driver's claims (all of them, or on ``keys``), e.g. when it is interrupted."""
        owner, _, _ = driver_identity()

        def op() -> None:
            with self.engine.begin() as conn:
                q = delete(claims_t).where(claims_t.c.run_id == run_id, claims_t.c.owner == owner)
                if keys is not None:
                    q = q.where(claims_t.c.key.in_(keys))
                conn.execute(q)

        self._retry(op)

    # ----------------------------------------------------------------- frames
    def jobs_frame(self, run_id: str) -> pd.DataFrame:
        def op():
            with self.engine.connect() as conn:
                return pd.read_sql(select(jobs).where(jobs.c.run_id == run_id), conn)

        return self._retry(op)

    def _long(self, table: Table, run_id: str) -> pd.DataFrame:
        def op():
            with self.engine.connect() as conn:
                return pd.read_sql(select(table).where(table.c.run_id == run_id), conn)

        df = self._retry(op)
        if "value" in df:
            df["value"] = df["value"].astype(float)
        return df

    def metrics_frame(self, run_id: str) -> pd.DataFrame:
        return self._long(metrics_t, run_id)

    def costs_frame(self, run_id: str) -> pd.DataFrame:
        return self._long(costs_t, run_id)

    def curves_frame(self, run_id: str) -> pd.DataFrame:
        return self._long(curves_t, run_id)
