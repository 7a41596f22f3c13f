"""Opening a database and writing to it safely: the URL, the engine, SQLite's locking, retried transactions.

SQLite runs in WAL mode (readers never wait for the writer) with a busy timeout, and every write
transaction starts with ``BEGIN IMMEDIATE`` (it takes the write lock up front instead of failing
half-way); on both back ends a write that still meets a lock, a serialization failure or a dropped
connection is retried with jittered exponential back-off.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker


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


class _Connection:
    """The engine and its sessions (a part of :class:`lrkit.db.Database`)."""

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
