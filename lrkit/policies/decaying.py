"""Decaying learning rates, η(t) = k·g(t) with g decreasing from 1 (004 Table 1).

``t`` is the iteration index (t = 0 is the first iteration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from .base import Policy, lr_param, param
from .registry import register


class _Decaying(Policy):
    family = "decaying"


@register
@dataclass(frozen=True, repr=False)
class STEP(_Decaying):
    """Step decay: η(t) = k·γ^⌊t/l⌋ — the LR is multiplied by γ every l iterations.

    Equals ``torch.optim.lr_scheduler.StepLR(step_size=l, gamma=γ)``.

    >>> STEP(k=0.1, gamma=0.1, l=100)([0, 99, 100, 250]).round(12).tolist()
    [0.1, 0.1, 0.01, 0.001]
    """

    name = "STEP"
    k: float = lr_param("initial LR")
    gamma: float = param("gamma", "factor applied every l iterations")
    l: float = param("time", "step size (iterations)", time="time")

    def _lr(self, t, xp):
        return self.k * self.gamma ** xp.floor(t / self.l)


@register
@dataclass(frozen=True, repr=False)
class NSTEP(_Decaying):
    """Multi-step decay: η(t) = k·γ^i, i = number of milestones l_j with l_j <= t.

    004 Table 1: g(t) = 1 for t < l_0 and γ^i for l_{i-1} <= t < l_i. Equals
    ``torch.optim.lr_scheduler.MultiStepLR(milestones=l, gamma=γ)``.

    >>> NSTEP(k=0.1, gamma=0.1, l=[32000, 48000])([0, 31999, 32000, 48000]).round(12).tolist()
    [0.1, 0.1, 0.01, 0.001]
    """

    name = "NSTEP"
    k: float = lr_param("initial LR")
    gamma: float = param("gamma", "factor applied at each milestone")
    l: Tuple[float, ...] = param("milestones", "milestones l_0 < l_1 < … (iterations)", time="time")

    def _lr(self, t, xp):
        return self.k * self.gamma ** xp.count_le(t, self.l)


@register
@dataclass(frozen=True, repr=False)
class EXP(_Decaying):
    """Exponential decay: η(t) = k·γ^t (γ close to 1, e.g. 0.99994).

    Equals ``torch.optim.lr_scheduler.ExponentialLR(gamma=γ)`` stepped every iteration.
    """

    name = "EXP"
    k: float = lr_param("initial LR")
    gamma: float = param("gamma", "per-iteration factor", time="exp_rate")

    def _lr(self, t, xp):
        return self.k * self.gamma**t


@register
@dataclass(frozen=True, repr=False)
class INV(_Decaying):
    """Inverse-time decay (Caffe's ``inv``): η(t) = k·(1 + γ·t)^(−p).

    004 Table 1 prints g(t) = 1/(1+t)^p while listing γ among INV's parameters; we follow
    Caffe's definition, from which LRBench's policies come, so γ scales t.
    """

    name = "INV"
    k: float = lr_param("initial LR")
    gamma: float = param("gamma", "scale of t", time="inv_rate")
    p: float = param("pos", "power")

    def _lr(self, t, xp):
        return self.k * (1.0 + self.gamma * t) ** (-self.p)


@register
@dataclass(frozen=True, repr=False)
class POLY(_Decaying):
    """Polynomial decay: η(t) = k·(1 − t/max_iter)^p for t < max_iter, and 0 from max_iter on."""

    name = "POLY"
    k: float = lr_param("initial LR")
    p: float = param("pos", "power")
    max_iter: float = param("time", "iteration where the LR reaches 0", time="time")

    def _lr(self, t, xp):
        frac = xp.clip(1.0 - t / self.max_iter, 0.0, None)
        return self.k * frac**self.p
