"""Database tests run against both back ends: a SQLite file and a real PostgreSQL server
(``LRKIT_TEST_PG_URL``, or one started for the session by ``pg_server.py``)."""

import os
import uuid

import pytest

from .pg_server import PostgresServer

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_server():
    external = os.environ.get("LRKIT_TEST_PG_URL")
    if external:
        yield external
        return
    srv = PostgresServer()
    try:
        srv.start()
    except (FileNotFoundError, OSError) as e:
        if os.environ.get("CI"):  # CI installs PostgreSQL (.ci/run): there these tests must run
            raise
        pytest.skip(f"no PostgreSQL server for the PostgreSQL half of the database tests: {e}")
    yield srv
    srv.stop()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """An empty database of each back end."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lrkit.db'}"
    srv = request.getfixturevalue("pg_server")
    if isinstance(srv, str):  # an external server: clear lrkit's tables
        from sqlalchemy import create_engine

        from lrkit.db.models import Base

        eng = create_engine(srv)
        Base.metadata.drop_all(eng)
        eng.dispose()
        return srv
    return srv.fresh_database("t_" + uuid.uuid4().hex[:12])
