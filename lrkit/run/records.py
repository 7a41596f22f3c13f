"""Run records as the execution layer hands them out: JSON-ready dicts in the form of
:class:`lrkit.train.RunRecord`, the statuses a run can end in, and the one record of a run that raised."""

from __future__ import annotations

import json

from lrkit.train.monitor import STATUSES as RECORD_STATUSES

#: how a run can end — every status of :data:`lrkit.train.monitor.STATUSES` but "running": trained to the
#: end or its target, diverged (NaN/inf or a loss blow-up), failed (raised), stopped by request or by a scheduler
STATUSES = tuple(s for s in RECORD_STATUSES if s != "running")
#: runs whose results count (a diverged run is a result: the policy diverges)
USABLE = ("complete", "diverged")


def failed_record(config: dict, error: BaseException | str) -> dict:
    """The record of a run that raised, in the form of a finished one (empty curves and evaluations), so
    every consumer (tables, database, searches) reads it like any other; the message names the error."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {"config": dict(config), "policy": config.get("policy"), "status": "failed", "message": message,
            "curves": {"lr": [], "loss": []}, "evals": {"iteration": [], "top1": [], "top5": [], "test_loss": []},
            "summary": {"wall_time_s": 0.0}, "environment": {}}


def as_dict(record) -> dict:
    """A run record (a :class:`lrkit.train.RunRecord` or its dict) as a JSON-ready dict."""
    if isinstance(record, dict):
        return record
    return json.loads(record.to_json())
