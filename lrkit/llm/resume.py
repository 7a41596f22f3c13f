"""The state of a fine-tuning run at the end of an epoch, so that an interrupted run goes on from its last
finished epoch and gives the run it would have given uninterrupted.

``out/resume.pt`` holds the trainable parameters, the optimizer state, torch's RNG state, the loss of
every step so far, the training time and tokens, and the evaluations made: what the loop reads after an
epoch. It is written whole to a temporary name and then renamed, so the file on disk is always a
finished epoch's state; it is kept only for a run under the same :class:`FinetuneConfig` and deleted once
the run ends other than by an interruption.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import torch

from lrkit.train.jsonsafe import json_safe

RESUME_FILE = "resume.pt"


def save_state(out: Path, config: dict, *, epoch: int, step: int, model, optimizer, losses: list, train_time: float,
               train_tokens: int, evals: list, timings: list) -> None:
    """Store the state after ``epoch`` epochs (``step`` optimizer steps) in ``out/resume.pt``."""
    state = {"config": json_safe(config), "epoch": epoch, "step": step,
             "params": {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad},
             "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(), "losses": list(losses),
             "train_time": train_time, "train_tokens": train_tokens,
             "evals": [e.to_dict(orient="records") for e in evals], "timings": timings}
    tmp = out / (RESUME_FILE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, out / RESUME_FILE)


def load_state(out: Optional[Path], config: dict) -> Optional[dict]:
    """The stored state of a run under ``config`` in ``out``, or None (no file, or another config's)."""
    path = None if out is None else out / RESUME_FILE
    if path is None or not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    return state if state.get("config") == json_safe(config) else None


def restore(state: dict, model, optimizer, monitor) -> None:
    """Put the stored parameters, optimizer state and RNG state back, and replay the recorded losses
    through ``monitor`` so that its record and any loss-driven policy state are those of the
    uninterrupted run at that step."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state["params"].items():
            params[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    for t, loss in enumerate(state["losses"]):
        monitor.lr_for(t)
        monitor.log_loss(t, loss)


def discard(out: Optional[Path]) -> None:
    if out is not None:
        (out / RESUME_FILE).unlink(missing_ok=True)
