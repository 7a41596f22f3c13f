"""The LR policy database (004 §4.1): tasks, policies, runs, summaries and curves (SQLAlchemy).

>>> from lrkit.db import Database
>>> db = Database("sqlite://")                     # default: $LRKIT_DB_URL or ~/.lrkit/lrkit.db
>>> db.import_published() > 100                    # both papers' tables
True
"""

from .models import RUN_STATUSES
from .storage import (
    EXPORT_FORMAT,
    SCHEMA_VERSION,
    TASK_FIELDS,
    Database,
    DatabaseError,
    configured_url,
    default_url,
    normalise_task,
    task_of_config,
)

__all__ = ["Database", "DatabaseError", "RUN_STATUSES", "SCHEMA_VERSION", "TASK_FIELDS", "EXPORT_FORMAT", "configured_url",
           "default_url", "normalise_task", "task_of_config"]
