"""Training runs recorded to the database as they happen (004 Fig. 3: monitor → database).

The engine opens a :class:`RunRecorder` when a database is configured — ``db=`` given to
:func:`lrkit.train.train` / :class:`lrkit.train.Run`, or ``$LRKIT_DB_URL`` set — and writes the run
as ``running`` when training starts and its status, summary and curves when it ends (complete,
diverged, stopped or failed). A database problem never stops the training: it is reported once as
a warning and the run goes on unrecorded.
"""

from __future__ import annotations

import warnings

from .storage import Database, configured_url, task_of_config


class RunRecorder:
    def __init__(self, db: Database):
        self.db = db
        self.run_id: int | None = None
        self.error: str | None = None

    @classmethod
    def open(cls, db=None) -> "RunRecorder | None":
        """``db``: a :class:`Database`, a URL, ``False`` (never record) or ``None`` ($LRKIT_DB_URL if set)."""
        if db is False:
            return None
        if db is None:
            db = configured_url()
            if db is None:
                return None
        try:
            return cls(db if isinstance(db, Database) else Database(db))
        except Exception as e:  # noqa: BLE001 - an unreachable database must not stop training
            warnings.warn(f"the run is not recorded: cannot open the database ({type(e).__name__}: {e})", RuntimeWarning,
                          stacklevel=3)
            return None

    def start(self, record) -> int | None:
        cfg = record.config
        try:
            self.run_id = self.db.start_run(task_of_config(cfg), record.policy or cfg["policy"], seed=cfg.get("seed"),
                                            device=cfg.get("device"), config=cfg, environment=record.environment)
        except Exception as e:  # noqa: BLE001
            self._fail(e)
        return self.run_id

    def finish(self, record) -> None:
        if self.run_id is None:
            return
        try:
            self.db.finish_run(self.run_id, record)
        except Exception as e:  # noqa: BLE001
            self._fail(e)

    def _fail(self, e: Exception) -> None:
        self.error = f"{type(e).__name__}: {e}"
        warnings.warn(f"the run is not recorded in {self.db!r}: {self.error}", RuntimeWarning, stacklevel=3)
