"""A throw-away PostgreSQL server on loopback for the database tests.

``LRKIT_TEST_PG_URL`` names an existing server to use instead. Otherwise the server binaries
(``initdb``, ``pg_ctl``; Debian's ``postgresql`` package, which ``.ci/run`` installs when absent)
start a cluster in a temporary folder on a free port, as the ``postgres`` user when run as root
(PostgreSQL refuses to run as root), with fsync off (a test database), and stop it afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return cands[-1] if cands else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self):
        self.dir = None
        self.url = None
        self._as = []

    def start(self) -> str:
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not (initdb and pg_ctl):
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's 'postgresql' "
                                    "package or set LRKIT_TEST_PG_URL")
        self.dir = tempfile.mkdtemp(prefix="lrkit-pg-")
        data, sock = os.path.join(self.dir, "data"), self.dir
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        port = _free_port()
        subprocess.run([*self._as, initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
                       check=True, capture_output=True)
        opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
        subprocess.run([*self._as, pg_ctl, "-D", data, "-o", opts, "-l", os.path.join(self.dir, "log"), "-w", "start"],
                       check=True, capture_output=True)
        base = f"postgresql+psycopg://postgres@127.0.0.1:{port}"
        import psycopg

        for _ in range(50):
            try:
                with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as c:
                    c.execute("CREATE DATABASE lrkit_test")
                break
            except psycopg.OperationalError:
                time.sleep(0.1)
        self.url = f"{base}/lrkit_test"
        self._port = port
        return self.url

    def fresh_database(self, name: str) -> str:
        """A new empty database on this server; returns its URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self._port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self._port}/{name}"

    def stop(self) -> None:
        if self.dir:
            subprocess.run([*self._as, find_bin("pg_ctl"), "-D", os.path.join(self.dir, "data"), "-m", "immediate", "stop"],
                           capture_output=True)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
