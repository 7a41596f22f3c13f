"""The policy database: where runs and published results are stored and read back.

``Database(url)`` opens (and creates, and migrates) a database. The URL is a SQLAlchemy URL; by
default ``$LRKIT_DB_URL``, else the SQLite file ``~/.lrkit/lrkit.db``. PostgreSQL works through the
same URL (``postgresql+psycopg://user@host/db``), for a team sharing one database and for parallel
tuning.

Concurrency: SQLite runs in WAL mode (readers never wait for the writer) with a busy timeout, and
every write transaction starts with ``BEGIN IMMEDIATE`` (it takes the write lock up front instead
of failing half-way); on both back ends a write that still meets a lock, a serialization failure or
a dropped connection is retried with jittered exponential back-off. Get-or-create of tasks and
policies tolerates a concurrent insert of the same row (unique keys; the loser re-reads).

A run is written twice: :meth:`start_run` inserts it as ``running`` (so a writer killed mid-run
leaves it visible and unfinished), :meth:`finish_run` adds the status, summary and curves in one
transaction.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from .models import RUN_STATUSES, Base, Curve, Policy, Run, SchemaVersion, Summary, Task, pack_curve, unpack_curve

SCHEMA_VERSION = 1
# version n -> the function that upgrades a database at version n - 1 (given a Connection, inside a
# transaction). Version 1 is the schema of models.py, created whole by create_all.
MIGRATIONS: dict[int, Callable] = {}

TASK_FIELDS = ("dataset", "model", "framework", "optimizer", "batch_size", "iterations")
SUMMARY_FIELDS = ("highest_top1", "highest_top1_std", "highest_top1_iteration", "highest_top5", "final_top1",
                  "final_top5", "target_acc", "iterations_to_target", "iterations", "wall_time_s", "repeats", "lam")
CURVE_NAMES = ("lr", "loss")
EVAL_CURVES = ("iteration", "top1", "top5", "test_loss")


class DatabaseError(RuntimeError):
    """A database problem lrkit can explain (bad URL, newer schema, unknown run)."""


def default_url() -> str:
    """``$LRKIT_DB_URL``, or the SQLite file ``lrkit.db`` in ``$LRKIT_HOME`` (default ``~/.lrkit``)."""
    url = os.environ.get("LRKIT_DB_URL")
    if url:
        return url
    home = Path(os.environ["LRKIT_HOME"]) if os.environ.get("LRKIT_HOME") else Path.home() / ".lrkit"
    return f"sqlite:///{home / 'lrkit.db'}"


def configured_url() -> str | None:
    """The database training runs are recorded to automatically: ``$LRKIT_DB_URL`` when set."""
    return os.environ.get("LRKIT_DB_URL") or None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def task_key(task: Mapping[str, Any]) -> str:
    return "|".join("-" if task.get(f) is None else str(task.get(f)) for f in TASK_FIELDS)


def normalise_task(task: Mapping[str, Any]) -> dict:
    """A task dict with the allowed fields only; dataset and model required (lower-cased)."""
    unknown = sorted(set(task) - set(TASK_FIELDS))
    if unknown:
        raise ValueError(f"task: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(TASK_FIELDS)}")
    out = {f: task.get(f) for f in TASK_FIELDS}
    for f in ("dataset", "model"):
        if not out[f] or not isinstance(out[f], str):
            raise ValueError(f"task: field '{f}' must be a non-empty string, got {out[f]!r}")
    for f in ("dataset", "model", "framework", "optimizer"):
        if out[f] is not None:
            out[f] = str(out[f]).lower()
    for f in ("batch_size", "iterations"):
        if out[f] is not None:
            if isinstance(out[f], bool) or int(out[f]) != out[f] or out[f] <= 0:
                raise ValueError(f"task: field '{f}' must be a positive int or None, got {out[f]!r}")
            out[f] = int(out[f])
    return out


def task_of_config(config: Mapping[str, Any], framework: str = "pytorch") -> dict:
    """The task of a :class:`~lrkit.train.TrainConfig` dict (lrkit trains with PyTorch)."""
    return normalise_task({"dataset": config["dataset"], "model": config["model"], "framework": framework,
                           "optimizer": config.get("optimizer"), "batch_size": config.get("batch_size"),
                           "iterations": config.get("iters")})


def _transient(e: Exception) -> bool:
    """A lock, a serialization failure or a lost connection: worth another try."""
    if isinstance(e, OperationalError):
        return True
    if isinstance(e, DBAPIError) and e.connection_invalidated:
        return True
    code = getattr(getattr(e, "orig", None), "sqlstate", None) or getattr(getattr(e, "orig", None), "pgcode", None)
    return code in ("40001", "40P01")  # serialization_failure, deadlock_detected


def _reason(e: Exception) -> str:
    """The first line of the driver's message (sqlalchemy's own text adds the SQL and a help link)."""
    return (str(getattr(e, "orig", None) or e).strip().splitlines() or [type(e).__name__])[0]


def _clean(v):
    """JSON-safe (NaN/inf as strings, as run records store them)."""
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return str(v)
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def _num(v):
    if v is None:
        return None
    if isinstance(v, str):
        v = float(v)
    return float(v)


class Database:
    """An lrkit policy database. ``Database()`` opens the default one (see :func:`default_url`).

    >>> db = Database("sqlite://")          # in memory
    >>> rid = db.add_result({"dataset": "mnist", "model": "lenet"}, "FIX(k=0.01)", {"highest_top1": 0.9911})
    >>> db.runs()[["policy", "highest_top1"]].values.tolist()
    [['FIX(k=0.01)', 0.9911]]
    """

    def __init__(self, url: str | None = None, *, retries: int = 30, busy_timeout_s: float = 30.0, init: bool = True):
        self.url = url or default_url()
        try:
            parsed = make_url(self.url)
        except Exception as e:  # noqa: BLE001 - sqlalchemy raises ArgumentError and others
            raise DatabaseError(f"database URL {self.url!r} is not a SQLAlchemy URL ({e}); e.g. sqlite:///path/lrkit.db "
                                "or postgresql+psycopg://user@host/dbname") from e
        self.backend = parsed.get_backend_name()
        if self.backend not in ("sqlite", "postgresql"):
            raise DatabaseError(f"database URL {self.url!r}: back end {self.backend!r} is not supported; "
                                "allowed: sqlite, postgresql")
        self.retries = retries
        if self.backend == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(self.url, connect_args={"timeout": busy_timeout_s})
            _sqlite_setup(self.engine, busy_timeout_s)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._write_session = sessionmaker(self.engine.execution_options(lrkit_write=True), expire_on_commit=False)
        if init:
            for attempt in range(3):  # no server, refused, bad credentials: a few tries, not the lock retries
                try:
                    with self.engine.connect():
                        break
                except DBAPIError as e:
                    if attempt == 2:
                        raise DatabaseError(f"cannot open the database {self!r}: {_reason(e)}") from e
                    time.sleep(0.2 * (attempt + 1))
            try:
                self.init()
            except DBAPIError as e:
                raise DatabaseError(f"cannot set up the database {self!r}: {_reason(e)}") from e

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    # ---- schema ---------------------------------------------------------------------------
    def init(self) -> int:
        """Create the tables if absent and bring the schema to :data:`SCHEMA_VERSION`; returns it."""

        def work(s: Session) -> int:
            if self.backend == "postgresql":  # one initialiser at a time across processes
                s.connection().exec_driver_sql("SELECT pg_advisory_xact_lock(734100)")
            Base.metadata.create_all(s.connection(), checkfirst=True)
            row = s.scalar(select(SchemaVersion).where(SchemaVersion.id == 1))
            if row is None:
                s.add(SchemaVersion(id=1, version=SCHEMA_VERSION))
                return SCHEMA_VERSION
            if row.version > SCHEMA_VERSION:
                raise DatabaseError(f"the database {self!r} has schema version {row.version}; this lrkit knows up to "
                                    f"{SCHEMA_VERSION}: upgrade lrkit")
            for v in range(row.version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[v](s.connection())
                row.version = v
            return row.version

        return self._write(work, integrity_retry=True)

    def schema_version(self) -> int:
        with self._session() as s:
            return s.scalar(select(SchemaVersion.version).where(SchemaVersion.id == 1))

    # ---- retried transactions -------------------------------------------------------------
    def _write(self, fn: Callable[[Session], Any], integrity_retry: bool = False):
        """Run ``fn(session)`` in one write transaction, retrying transient failures."""
        delay = 0.01
        for attempt in range(self.retries + 1):
            try:
                with self._write_session() as s, s.begin():
                    return fn(s)
            except (OperationalError, DBAPIError) as e:
                retry = _transient(e) or (integrity_retry and isinstance(e, IntegrityError))
                if not retry or attempt == self.retries:
                    raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)

    # ---- tasks and policies ---------------------------------------------------------------
    def _get_or_create(self, s: Session, table, key_col, key_value, **fields):
        row = s.scalar(select(table).where(key_col == key_value))
        if row is not None:
            return row
        try:
            with s.begin_nested():
                row = table(**fields)
                s.add(row)
            return row
        except IntegrityError:  # inserted by a concurrent writer: read theirs
            return s.scalar(select(table).where(key_col == key_value))

    def _task(self, s: Session, task: Mapping[str, Any]) -> Task:
        t = normalise_task(task)
        key = task_key(t)
        return self._get_or_create(s, Task, Task.key, key, key=key, **t)

    def _policy(self, s: Session, spec: str) -> Policy:
        from lrkit.policies import parse

        pol = parse(spec)
        canon = str(pol)
        return self._get_or_create(s, Policy, Policy.spec, canon, spec=canon, family=pol.name,
                                   category=getattr(pol, "family", None) or None, params=_clean(pol.to_dict()))

    # ---- writing runs ---------------------------------------------------------------------
    def start_run(self, task: Mapping[str, Any], policy: str, *, seed: int | None = None, device: str | None = None,
                  config: Mapping | None = None, environment: Mapping | None = None, source: str = "lrkit",
                  label: str | None = None) -> int:
        """Insert a ``running`` run and return its id."""

        def work(s):
            run = Run(task=self._task(s, task), policy=self._policy(s, policy), status="running", source=source,
                      label=label, seed=seed, device=device, config=_clean(dict(config)) if config else None,
                      environment=_clean(dict(environment)) if environment else None, host=socket.gethostname(),
                      pid=os.getpid(), started_at=_now())
            s.add(run)
            s.flush()
            return run.id

        return self._write(work)

    def finish_run(self, run_id: int, record=None, *, status: str | None = None, summary: Mapping | None = None,
                   message: str | None = None) -> None:
        """Complete a started run from its :class:`~lrkit.train.RunRecord` (or a dict of one): status,
        message, summary and curves, in one transaction. A live-edited run's edit history goes to
        the summary's ``extra["history"]`` (``lrkit.train.replay_policy`` turns it into one spec)."""
        rec = _record_dict(record) if record is not None else {}
        status = status or rec.get("status") or "complete"
        if status not in RUN_STATUSES:
            raise ValueError(f"finish_run: field 'status' must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        summ = dict(rec.get("summary") or {})
        summ.update(summary or {})
        if len(rec.get("history") or []) > 1:  # live edits: the policy in force from each iteration on
            summ["history"] = rec["history"]
        curves = _curves_of(rec)

        def work(s):
            run = s.get(Run, run_id)
            if run is None:
                raise DatabaseError(f"no run with id {run_id} in {self!r}")
            run.status = status
            run.message = message if message is not None else (rec.get("message") or run.message)
            if rec.get("environment") and not run.environment:
                run.environment = _clean(rec["environment"])
            run.ended_at = _now()
            _set_summary(run, summ)
            existing = {c.name: c for c in run.curves}
            for name, values in curves.items():
                n, blob = pack_curve(values)
                if name in existing:
                    existing[name].length, existing[name].data = n, blob
                else:
                    run.curves.append(Curve(name=name, length=n, data=blob))

        self._write(work)

    def record_run(self, record, *, task: Mapping | None = None, source: str = "lrkit", label: str | None = None) -> int:
        """Store a finished run record (``lrkit train --out`` JSON, a :class:`RunRecord`) in one go."""
        rec = _record_dict(record)
        cfg = rec.get("config") or {}
        if task is None:
            if "dataset" not in cfg:
                raise ValueError("record_run: the record has no config (dataset, model, ...); pass task=")
            task = task_of_config(cfg)
        run_id = self.start_run(task, rec.get("policy") or cfg.get("policy"), seed=cfg.get("seed"),
                                device=cfg.get("device"), config=cfg, environment=rec.get("environment"), source=source,
                                label=label)
        self.finish_run(run_id, rec)
        return run_id

    def add_result(self, task: Mapping[str, Any], policy: str, summary: Mapping[str, Any], *, status: str = "complete",
                   source: str = "lrkit", label: str | None = None, seed: int | None = None,
                   extra: Mapping | None = None) -> int:
        """One result without curves (a published table row, an imported summary)."""
        if status not in RUN_STATUSES:
            raise ValueError(f"add_result: field 'status' must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        return self._write(lambda s: self._add_result(s, task, policy, summary, status=status, source=source,
                                                      label=label, seed=seed, extra=extra))

    def _add_result(self, s: Session, task, policy, summary, *, status="complete", source="lrkit", label=None,
                    seed=None, extra=None) -> int:
        run = Run(task=self._task(s, task), policy=self._policy(s, policy), status=status, source=source, label=label,
                  seed=seed)
        _set_summary(run, {**dict(summary), **({"extra": dict(extra)} if extra else {})})
        s.add(run)
        s.flush()
        return run.id

    def close_unfinished(self, older_than_s: float = 0.0, message: str = "unfinished: the writer stopped") -> int:
        """Mark ``running`` runs started more than ``older_than_s`` ago as failed; returns how many."""
        cutoff = _now().timestamp() - older_than_s

        def work(s):
            n = 0
            for run in s.scalars(select(Run).where(Run.status == "running")):
                started = run.started_at.replace(tzinfo=run.started_at.tzinfo or timezone.utc) if run.started_at else None
                if started is None or started.timestamp() <= cutoff:
                    run.status, run.message, n = "failed", message, n + 1
            return n

        return self._write(work)

    # ---- published results and files ------------------------------------------------------
    def import_published(self, paths: Iterable[str | Path] | None = None) -> int:
        """Load the papers' tables shipped in ``lrkit/db/published`` (or ``paths``); a table already
        imported (same source) is skipped. Each table is written in one transaction, so an interrupted
        import never leaves half a table behind. Returns the number of rows added."""
        from .published import load_tables

        def import_table(s, table) -> int:
            source = table["source_label"]
            if s.scalar(select(Run.id).where(Run.source == source).limit(1)) is not None:
                return 0
            for row in table["rows"]:
                self._add_result(s, row["task"], row["policy"], row["summary"], source=source, label=row.get("label"),
                                 extra=row.get("extra"))
            return len(table["rows"])

        return sum(self._write(lambda s, t=table: import_table(s, t)) for table in load_tables(paths))

    def import_file(self, path: str | Path) -> int:
        """Import a file: an ``lrkit db export`` document, a published table, a run record, or a
        reproduction's ``results.json``. Returns the number of runs added."""
        from .published import is_table, load_table

        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise DatabaseError(f"cannot read {path}: {e}") from e
        if isinstance(doc, dict) and doc.get("format") == EXPORT_FORMAT:
            return self._import_export(doc)
        if is_table(doc):
            load_table(path)  # validates it
            return self.import_published([path])
        if isinstance(doc, dict) and "curves" in doc and "config" in doc:
            self.record_run(doc, source=f"file:{path.name}")
            return 1
        if isinstance(doc, dict) and isinstance(doc.get("runs"), list):  # lrkit reproduce results.json
            n = 0
            for r in doc["runs"]:
                rec = r.get("record", r)
                if isinstance(rec, dict) and "config" in rec:
                    self.record_run(rec, source=f"file:{path.name}")
                    n += 1
            return n
        raise DatabaseError(f"{path}: not an lrkit export, published table, run record or results.json")

    def export(self, *, curves: bool = False, **filters) -> dict:
        """Every run matching ``filters`` (see :meth:`runs`) as one JSON-safe document."""
        out = []
        with self._session() as s:
            for run in s.scalars(self._run_query(**filters).options(selectinload(Run.curves))):
                d = _run_dict(run)
                if curves:
                    d["curves"] = {c.name: _clean(unpack_curve(c.length, c.data).tolist()) for c in run.curves}
                out.append(d)
        return {"format": EXPORT_FORMAT, "version": SCHEMA_VERSION, "runs": out}

    def _import_export(self, doc: dict) -> int:
        n = 0
        for r in doc["runs"]:
            task = {f: r["task"].get(f) for f in TASK_FIELDS}
            if r.get("curves") or r["status"] == "running":
                rid = self.start_run(task, r["policy"], seed=r.get("seed"), device=r.get("device"), config=r.get("config"),
                                     environment=r.get("environment"), source=r.get("source", "import"),
                                     label=r.get("label"))
                if r["status"] != "running":
                    self.finish_run(rid, {"curves": {}, "evals": {}}, status=r["status"], summary=r.get("summary") or {},
                                    message=r.get("message"))
                    if r.get("curves"):
                        self._put_curves(rid, r["curves"])
            else:
                self.add_result(task, r["policy"], r.get("summary") or {}, status=r["status"],
                                source=r.get("source", "import"), label=r.get("label"), seed=r.get("seed"))
            n += 1
        return n

    def _put_curves(self, run_id: int, curves: Mapping[str, list]) -> None:
        def work(s):
            run = s.get(Run, run_id)
            for name, values in curves.items():
                n, blob = pack_curve(values)
                run.curves.append(Curve(name=name, length=n, data=blob))

        self._write(work)

    # ---- reading --------------------------------------------------------------------------
    def _run_query(self, *, dataset=None, model=None, optimizer=None, framework=None, batch_size=None, iterations=None,
                   status=None, source=None, policy=None, run_ids=None):
        q = select(Run).join(Run.task).join(Run.policy).options(selectinload(Run.summary), selectinload(Run.task),
                                                                   selectinload(Run.policy)).order_by(Run.id)
        for col, v in ((Task.dataset, dataset), (Task.model, model), (Task.optimizer, optimizer),
                       (Task.framework, framework)):
            if v is not None:
                q = q.where(col == str(v).lower())
        for col, v in ((Task.batch_size, batch_size), (Task.iterations, iterations), (Run.source, source)):
            if v is not None:
                q = q.where(col == v)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            q = q.where(Run.status.in_(statuses))
        if policy is not None:
            from lrkit.policies import parse

            q = q.where(Policy.spec == str(parse(policy)))
        if run_ids is not None:
            q = q.where(Run.id.in_(list(run_ids)))
        return q

    def runs(self, **filters):
        """A pandas DataFrame, one row per run: id, task fields, policy, family, category, status,
        source, label, seed, device, started/ended and the summary columns (the summary's
        ``iterations``, those the run took, is ``iterations_run``). Filters: dataset, model,
        optimizer, framework, batch_size, iterations, status (one or several), source, policy."""
        import pandas as pd

        with self._session() as s:
            rows = [_run_row(r) for r in s.scalars(self._run_query(**filters))]
        cols = ["id", *TASK_FIELDS, "policy", "family", "category", "status", "source", "label", "seed", "device",
                "started_at", "ended_at", "message", *(_COLUMN.get(f, f) for f in SUMMARY_FIELDS), "extra"]
        return pd.DataFrame(rows, columns=cols)

    def count(self, **filters) -> int:
        """How many runs match ``filters`` (those of :meth:`runs`), counted in the database."""
        q = self._run_query(**filters).with_only_columns(func.count(Run.id)).order_by(None)
        with self._session() as s:
            return s.scalar(q)

    def get_run(self, run_id: int) -> dict:
        """Everything about one run, curves decoded to lists (NaN kept as NaN)."""
        with self._session() as s:
            run = s.scalar(self._run_query(run_ids=[run_id]).options(selectinload(Run.curves)))
            if run is None:
                raise DatabaseError(f"no run with id {run_id} in {self!r}")
            d = _run_dict(run)
            d["curves"] = {c.name: unpack_curve(c.length, c.data).tolist() for c in run.curves}
            return d

    def tasks(self):
        import pandas as pd

        with self._session() as s:
            rows = [{"id": t.id, **{f: getattr(t, f) for f in TASK_FIELDS}} for t in s.scalars(select(Task).order_by(Task.id))]
        return pd.DataFrame(rows, columns=["id", *TASK_FIELDS])


EXPORT_FORMAT = "lrkit-db-export"


def _sqlite_setup(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # SQLAlchemy's begin event below emits BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        try:
            cur.execute("PRAGMA journal_mode = WAL")
        except Exception:  # noqa: BLE001 - in-memory databases and read-only media keep their mode
            pass
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("lrkit_write") else "BEGIN")


def _record_dict(record) -> dict:
    if record is None:
        return {}
    if isinstance(record, Mapping):
        return dict(record)
    if hasattr(record, "to_json"):
        return json.loads(record.to_json())
    raise TypeError(f"expected a RunRecord or a dict, got {type(record).__name__}")


def _curves_of(rec: Mapping) -> dict[str, list]:
    out = {}
    for name in CURVE_NAMES:
        values = (rec.get("curves") or {}).get(name)
        if values:
            out[name] = values
    for name in EVAL_CURVES:
        values = (rec.get("evals") or {}).get(name)
        if values:
            out["eval_" + name] = values
    mopt = rec.get("mopt") or {}
    for name, values in mopt.items():
        if values:
            out["mopt_" + name] = values
    return out


def _set_summary(run: Run, summ: Mapping[str, Any]) -> None:
    if run.summary is None:
        run.summary = Summary(extra={})
    s = run.summary
    extra = dict(s.extra or {})
    for k, v in summ.items():
        if k in SUMMARY_FIELDS:
            if k in ("highest_top1_iteration", "iterations_to_target", "iterations", "repeats"):
                setattr(s, k, None if v is None else int(v))
            else:
                setattr(s, k, _num(v))
        elif k == "extra":
            extra.update(v or {})
        else:
            extra[k] = v
    s.extra = _clean(extra)


_COLUMN = {"iterations": "iterations_run"}  # in runs(): "iterations" is the task's budget


def _run_row(run: Run) -> dict:
    s = run.summary
    row = {"id": run.id, **{f: getattr(run.task, f) for f in TASK_FIELDS}, "policy": run.policy.spec,
           "family": run.policy.family, "category": run.policy.category, "status": run.status, "source": run.source,
           "label": run.label, "seed": run.seed, "device": run.device, "started_at": run.started_at,
           "ended_at": run.ended_at, "message": run.message}
    for f in SUMMARY_FIELDS:
        row[_COLUMN.get(f, f)] = getattr(s, f) if s is not None else None
    row["extra"] = (s.extra if s is not None else None) or {}
    return row


def _run_dict(run: Run) -> dict:
    s = run.summary
    return {"id": run.id, "task": {f: getattr(run.task, f) for f in TASK_FIELDS}, "policy": run.policy.spec,
            "family": run.policy.family, "category": run.policy.category, "status": run.status, "source": run.source,
            "label": run.label, "seed": run.seed, "device": run.device, "message": run.message, "config": run.config,
            "environment": run.environment, "host": run.host, "pid": run.pid,
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "ended_at": run.ended_at.isoformat() if run.ended_at else None,
            "summary": None if s is None else _clean({**{f: getattr(s, f) for f in SUMMARY_FIELDS}, "extra": s.extra or {}})}
