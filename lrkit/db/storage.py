"""The policy database: where runs and published results are stored and read back.

``Database(url)`` opens (and creates, and migrates) a database. The URL is a SQLAlchemy URL; by
default ``$LRKIT_DB_URL``, else the SQLite file ``~/.lrkit/lrkit.db``. PostgreSQL works through the
same URL (``postgresql+psycopg://user@host/db``), for a team sharing one database and for parallel
tuning.

Concurrency (:mod:`lrkit.db.session`): SQLite in WAL mode with a busy timeout, write transactions
that take the lock up front, and retries with jittered back-off on both back ends. Get-or-create of tasks
and policies tolerates a concurrent insert of the same row (unique keys; the loser re-reads).

A run is written twice: :meth:`start_run` inserts it as ``running`` (so a writer killed mid-run
leaves it visible and unfinished), :meth:`finish_run` adds the status, summary and curves in one
transaction.

The class is assembled from one module per concern: :mod:`~lrkit.db.session` (connection and
retried transactions), :mod:`~lrkit.db.schema` (version and migrations), :mod:`~lrkit.db.tasks`,
:mod:`~lrkit.db.writes`, :mod:`~lrkit.db.queries` (pandas) and :mod:`~lrkit.db.transfer`
(import and export). The names below are re-exported from them.
"""

from __future__ import annotations

from .queries import _Queries
from .schema import MIGRATIONS, SCHEMA_VERSION, _Schema
from .session import DatabaseError, _Connection, configured_url, default_url
from .tasks import TASK_FIELDS, normalise_task, task_key, task_of_config
from .transfer import EXPORT_FORMAT, _Transfer
from .writes import CURVE_NAMES, EVAL_CURVES, SUMMARY_FIELDS, _Writes

__all__ = ["CURVE_NAMES", "Database", "DatabaseError", "EVAL_CURVES", "EXPORT_FORMAT", "MIGRATIONS", "SCHEMA_VERSION",
           "SUMMARY_FIELDS", "TASK_FIELDS", "configured_url", "default_url", "normalise_task", "task_key",
           "task_of_config"]


class Database(_Connection, _Schema, _Writes, _Queries, _Transfer):
    """An lrkit policy database. ``Database()`` opens the default one (see :func:`default_url`).

    >>> db = Database("sqlite://")          # in memory
    >>> rid = db.add_result({"dataset": "mnist", "model": "lenet"}, "FIX(k=0.01)", {"highest_top1": 0.9911})
    >>> db.runs()[["policy", "highest_top1"]].values.tolist()
    [['FIX(k=0.01)', 0.9911]]
    """
