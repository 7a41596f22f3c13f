"""Writing runs and results: tasks and policies got or created, runs started and finished, summaries."""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lrkit.train.jsonsafe import json_safe, read_number

from .models import RUN_STATUSES, Curve, Policy, Run, Summary, Task, pack_curve
from .session import DatabaseError
from .tasks import normalise_task, task_key, task_of_config

SUMMARY_FIELDS = ("highest_top1", "highest_top1_std", "highest_top1_iteration", "highest_top5", "final_top1",
                  "final_top5", "target_acc", "iterations_to_target", "iterations", "wall_time_s", "repeats", "lam")
CURVE_NAMES = ("lr", "loss")
EVAL_CURVES = ("iteration", "top1", "top5", "test_loss")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _Writes:
    """Writing runs (a part of :class:`lrkit.db.Database`)."""

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
                                   category=getattr(pol, "family", None) or None, params=json_safe(pol.to_dict()))

    def start_run(self, task: Mapping[str, Any], policy: str, *, seed: int | None = None, device: str | None = None,
                  config: Mapping | None = None, environment: Mapping | None = None, source: str = "lrkit",
                  label: str | None = None) -> int:
        """Insert a ``running`` run and return its id."""

        def work(s):
            run = Run(task=self._task(s, task), policy=self._policy(s, policy), status="running", source=source,
                      label=label, seed=seed, device=device, config=json_safe(dict(config)) if config else None,
                      environment=json_safe(dict(environment)) if environment else None, host=socket.gethostname(),
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
                run.environment = json_safe(rec["environment"])
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
                setattr(s, k, read_number(v))
        elif k == "extra":
            extra.update(v or {})
        else:
            extra[k] = v
    s.extra = json_safe(extra)
