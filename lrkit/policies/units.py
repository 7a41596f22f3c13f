"""Time units. Iterations (optimizer steps) are the base unit of every policy; these helpers
convert schedules written in epochs, in one place (as timm's scheduler factory does)."""

from __future__ import annotations

import math

from .base import Policy, PolicyError
from .spec import parse


def iterations_per_epoch(num_samples: int, batch_size: int, drop_last: bool = False) -> int:
    """Optimizer steps in one pass over ``num_samples`` with batches of ``batch_size``."""
    if not isinstance(num_samples, int) or num_samples <= 0:
        raise PolicyError(f"num_samples must be an int > 0, got {num_samples!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise PolicyError(f"batch_size must be an int > 0, got {batch_size!r}")
    return num_samples // batch_size if drop_last else math.ceil(num_samples / batch_size)


def epochs_to_iterations(epochs: float, iters_per_epoch: float) -> int:
    """Iterations in ``epochs`` epochs (rounded to the nearest iteration)."""
    if not (epochs >= 0 and iters_per_epoch > 0):
        raise PolicyError(f"need epochs >= 0 and iters_per_epoch > 0, got {epochs!r}, {iters_per_epoch!r}")
    return int(round(epochs * iters_per_epoch))


def from_epochs(policy, iters_per_epoch: float) -> Policy:
    """The iteration-based policy equal to ``policy`` written with t in epochs.

    Stage starts, step sizes, half-cycles, milestones, warm-up and totals are multiplied by
    ``iters_per_epoch``; per-step decay factors are adjusted so that
    ``from_epochs(p, n)(e * n) == p(e)`` for every epoch e (e.g. Table 9's composite by epochs).
    """
    return parse(policy).rescale_time(iters_per_epoch)
