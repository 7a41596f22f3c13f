"""Tasks: what a run trained (dataset, model, framework, optimizer, batch size, budget), as one key."""

from __future__ import annotations

from typing import Any, Mapping

TASK_FIELDS = ("dataset", "model", "framework", "optimizer", "batch_size", "iterations")


def task_key(task: Mapping[str, Any]) -> str:
    return "|".join("-" if task.get(f) is None else str(task.get(f)) for f in TASK_FIELDS)


def normalise_task(task: Mapping[str, Any]) -> dict:
    """A task dict with the allowed fields only; dataset and model required (lower-cased)."""
    unknown = sorted(set(task) - set(TASK_FIELDS))
    if unknown:
        raise ValueError(f"task: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(TASK_FIELDS)}")
    out = {f: task.get(f) for f in TASK_FIELDS}
    for f in ("dataset", "model"):
        if not out[f] or not isinstance(out[f], str):
            raise ValueError(f"task: field '{f}' must be a non-empty string, got {out[f]!r}")
    for f in ("dataset", "model", "framework", "optimizer"):
        if out[f] is not None:
            out[f] = str(out[f]).lower()
    for f in ("batch_size", "iterations"):
        if out[f] is not None:
            if isinstance(out[f], bool) or int(out[f]) != out[f] or out[f] <= 0:
                raise ValueError(f"task: field '{f}' must be a positive int or None, got {out[f]!r}")
            out[f] = int(out[f])
    return out


def task_of_config(config: Mapping[str, Any], framework: str = "pytorch") -> dict:
    """The task of a :class:`~lrkit.train.TrainConfig` dict (lrkit trains with PyTorch)."""
    return normalise_task({"dataset": config["dataset"], "model": config["model"], "framework": framework,
                           "optimizer": config.get("optimizer"), "batch_size": config.get("batch_size"),
                           "iterations": config.get("iters")})
