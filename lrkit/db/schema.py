"""The schema version of a database and the migrations that bring an older one up to it."""

from __future__ import annotations

from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Base, SchemaVersion
from .session import DatabaseError

SCHEMA_VERSION = 1
# version n -> the function that upgrades a database at version n - 1 (given a Connection, inside a
# transaction). Version 1 is the schema of models.py, created whole by create_all.
MIGRATIONS: dict[int, Callable] = {}


class _Schema:
    """Creating and migrating the tables (a part of :class:`lrkit.db.Database`)."""

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
