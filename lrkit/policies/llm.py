"""LLM fine-tuning schedules (000 Tables V–VI), in the forms Hugging Face users know.

``t`` is the optimizer step (t = 0 is the first step), and each formula equals the LR that
``transformers``' LambdaLR-based schedule applies at step ``t`` (so with warm-up the first step
has LR 0, exactly as there). Warm-up is linear, given either as a step count ``warmup`` or as a
fraction ``warmup_ratio`` of ``total`` (resolved as ⌈ratio·total⌉ steps, as ``TrainingArguments``
does). Differences from transformers, on purpose: after ``total`` the decaying schedules hold their
floor (transformers' cosine would rise again), and ``min_lr`` is given as an absolute LR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from .base import Policy, lr_param, param
from .registry import register


def half_cosine(s, xp):
    """½(1 + cos(πs)): 1 at s = 0, 0 at s = 1."""
    return 0.5 * (1.0 + xp.cos(math.pi * s))


class _WarmupSchedule(Policy):
    family = "llm"

    @property
    def warmup_steps(self) -> int:
        """The linear warm-up length in steps (from ``warmup`` or ``warmup_ratio``)."""
        ratio = getattr(self, "warmup_ratio", None)
        if ratio is not None:
            return int(math.ceil(ratio * self.total))
        return self.warmup

    def _validate(self):
        ratio = getattr(self, "warmup_ratio", None)
        if ratio is not None and self.warmup != 0:
            raise self._error("give the warm-up either as 'warmup' (steps) or as 'warmup_ratio', not both")
        if ratio is not None and getattr(self, "total", None) is None:
            raise self._error("parameter 'warmup_ratio' needs 'total' (the number of training steps)")
        total = getattr(self, "total", None)
        if total is not None and self.warmup_steps > total:
            raise self._error(f"warm-up ({self.warmup_steps} steps) must not exceed 'total' ({total})")
        if getattr(self, "min_lr", 0.0) > self.lr:
            raise self._error(f"parameter 'min_lr' must be <= lr ({self.lr!r}), got {self.min_lr!r}")

    def _warm(self, t, target, xp):
        """Linear warm-up from 0 to ``target``: target·t/max(1, W), used where t < W."""
        return target * t / max(1, self.warmup_steps)

    def _with_warmup(self, t, after, xp):
        w = self.warmup_steps
        if w == 0:
            return after
        return xp.where(t < w, self._warm(t, self.lr, xp), after)

    def _decayed(self, t, f, xp):
        """Warm-up, then min_lr + (lr − min_lr)·f: f = 1 holds the peak LR, f = 0 the floor."""
        return self._with_warmup(t, self.min_lr + (self.lr - self.min_lr) * f, xp)


def _warmup():
    return param("steps", "linear warm-up steps", default=0, time="time")


def _warmup_ratio():
    return param("opt_ratio", "linear warm-up as a fraction of total", default=None)


def _min_lr():
    return lr_param("LR at the end of the decay", default=0.0)


@dataclass(frozen=True, repr=False)
class _Decay(_WarmupSchedule):
    """The fields of a decay from lr to min_lr at T after warm-up (LINEAR, COSINE); ``_left(t, xp)`` is
    the fraction of lr − min_lr still above the floor at t."""

    lr: float = lr_param("peak LR")
    total: float = param("time", "training steps T", time="time")
    warmup: float = _warmup()
    warmup_ratio: Optional[float] = _warmup_ratio()
    min_lr: float = _min_lr()

    def _lr(self, t, xp):
        return self._decayed(t, self._left(t, xp), xp)


@register
@dataclass(frozen=True, repr=False)
class CONSTANT(_WarmupSchedule):
    """Constant LR after an optional linear warm-up: lr·t/W for t < W, then lr.

    Equals transformers' ``get_constant_schedule_with_warmup`` (``get_constant_schedule`` for W = 0).
    """

    name = "CONSTANT"
    lr: float = lr_param("peak LR")
    warmup: float = _warmup()
    warmup_ratio: Optional[float] = _warmup_ratio()
    total: Optional[float] = param("opt_time", "training steps (only for warmup_ratio)", default=None, time="time")

    def _lr(self, t, xp):
        return self._with_warmup(t, xp.full_like(t, self.lr), xp)


@register
@dataclass(frozen=True, repr=False)
class LINEAR(_Decay):
    """Linear decay after warm-up: min_lr + (lr − min_lr)·max(0, (T − t)/max(1, T − W)).

    Equals transformers' ``get_linear_schedule_with_warmup`` for min_lr = 0 (the Alpaca recipe).
    """

    name = "LINEAR"

    def _left(self, t, xp):
        return xp.clip((self.total - t) / max(1, self.total - self.warmup_steps), 0.0, 1.0)


@register
@dataclass(frozen=True, repr=False)
class COSINE(_Decay):
    """Half-cosine decay after warm-up: min_lr + (lr − min_lr)·½(1 + cos(π·s)),
    s = min(1, (t − W)/max(1, T − W)).

    Equals transformers' ``get_cosine_schedule_with_warmup`` (and, with min_lr, the
    ``..._with_min_lr`` variant) on 0 <= t <= T; after T it stays at min_lr.
    """

    name = "COSINE"

    def _left(self, t, xp):
        w = self.warmup_steps
        return half_cosine(xp.clip((t - w) / max(1, self.total - w), 0.0, 1.0), xp)


@register
@dataclass(frozen=True, repr=False)
class WSD(_WarmupSchedule):
    """Warmup–stable–decay: linear warm-up over W steps, lr until the decay starts at T − D,
    then from lr to min_lr over the last D steps with shape f(s), s = (t − (T − D))/D ∈ [0, 1]:
    linear 1 − s, cosine ½(1 + cos πs), sqrt 1 − √s. D is ``decay`` steps or ⌈decay_ratio·T⌉.
    """

    name = "WSD"
    lr: float = lr_param("peak (stable) LR")
    total: float = param("time", "training steps T", time="time")
    warmup: float = _warmup()
    warmup_ratio: Optional[float] = _warmup_ratio()
    decay: Optional[float] = param("opt_steps", "decay steps D", default=None, time="time")
    decay_ratio: Optional[float] = param("opt_ratio", "decay steps as a fraction of T", default=None)
    min_lr: float = _min_lr()
    shape: str = param("choice", "decay shape", default="linear", choices=("linear", "cosine", "sqrt"))

    @property
    def decay_steps(self) -> int:
        if self.decay is not None:
            return self.decay
        return int(math.ceil(self.decay_ratio * self.total))

    def _validate(self):
        super()._validate()
        if (self.decay is None) == (self.decay_ratio is None):
            raise self._error("give the decay length either as 'decay' (steps) or as 'decay_ratio', exactly one")
        if self.warmup_steps + self.decay_steps > self.total:
            raise self._error(
                f"warm-up ({self.warmup_steps}) plus decay ({self.decay_steps}) must not exceed 'total' ({self.total})"
            )

    def _lr(self, t, xp):
        d = self.decay_steps
        start = self.total - d
        s = xp.clip((t - start) / max(1, d), 0.0, 1.0)
        if self.shape == "linear":
            f = 1.0 - s
        elif self.shape == "cosine":
            f = half_cosine(s, xp)
        else:
            f = 1.0 - xp.sqrt(s)
        return self._decayed(t, f, xp)


@register
@dataclass(frozen=True, repr=False)
class INVSQRT(_WarmupSchedule):
    """Inverse square root after warm-up: lr·t/W for t < W, then lr/√((t + τ − W)/τ).

    τ is ``timescale`` (default W, or 10,000 when W = 0), as transformers'
    ``get_inverse_sqrt_schedule``; with τ = W this is the Transformer's lr·√(W/t).
    """

    name = "INVSQRT"
    lr: float = lr_param("peak LR")
    warmup: float = _warmup()
    timescale: Optional[float] = param("opt_time", "decay timescale τ (steps)", default=None, time="time")

    @property
    def tau(self) -> float:
        if self.timescale is not None:
            return self.timescale
        return self.warmup or 10_000

    def _lr(self, t, xp):
        shift = self.tau - self.warmup
        after = self.lr / xp.sqrt(xp.clip((t + shift) / self.tau, 1e-300, None))
        return self._with_warmup(t, after, xp)
