"""Fixed (constant) learning rate: FIX (004 §3.1)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Policy, lr_param
from .registry import register


@register
@dataclass(frozen=True, repr=False)
class FIX(Policy):
    """Fixed LR: η(t) = k for every iteration t.

    >>> FIX(k=0.01)(123)
    0.01
    """

    name = "FIX"
    family = "fixed"
    k: float = lr_param("the constant LR")

    def _lr(self, t, xp):
        return xp.full_like(t, self.k)
