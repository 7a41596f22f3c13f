"""Reading runs back: filtered queries, counts, one run with its curves, tasks (pandas)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from lrkit.train.jsonsafe import json_safe

from .models import Policy, Run, Task, unpack_curve
from .session import DatabaseError
from .tasks import TASK_FIELDS
from .writes import SUMMARY_FIELDS


class _Queries:
    """Reading (a part of :class:`lrkit.db.Database`)."""

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
            "summary": None if s is None else json_safe({**{f: getattr(s, f) for f in SUMMARY_FIELDS}, "extra": s.extra or {}})}
