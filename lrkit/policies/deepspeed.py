"""DeepSpeed's warm-up schedules: WarmupLR, WarmupDecayLR and WarmupCosineLR (000 Table VI).

Parameter names and defaults are DeepSpeed's (``deepspeed.runtime.lr_schedules``), so a
``ds_config.json`` scheduler block maps one to one. Our ``t`` equals DeepSpeed's
``last_batch_iteration`` (t = 0 after the scheduler's first step), and, as in DeepSpeed, the
warm-up length is max(2, warmup_num_steps). Warm-up is 'log' — log(t + 1)/log(W) — or 'linear' — t/W.
WarmupCosineLR is written with an explicit ``lr`` (DeepSpeed reads it from the optimizer); it reaches
its floor at t = total_num_steps − 1 and holds it from there on, as DeepSpeed 0.19 does. One
difference: DeepSpeed 0.19 refuses ``warmup_num_steps=0``, which is accepted here (and, like 1, made 2).
Equality with DeepSpeed, every step: tests/policies/test_llm_libraries.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .base import Policy, lr_param, param
from .registry import register


def ds_warmup_gamma(t, warmup_num_steps, warmup_type, xp):
    """DeepSpeed's warm-up fraction in [0, 1) for t < W (W = max(2, warmup_num_steps))."""
    w = max(2, warmup_num_steps)
    if warmup_type == "log":
        return xp.log(t + 1.0) / math.log(w)
    return t / w


class _DeepSpeed(Policy):
    family = "llm"

    @property
    def W(self) -> float:
        return max(2, self.warmup_num_steps)


def _wtype():
    return param("choice", "warm-up curve", default="log", choices=("log", "linear"))


def _wsteps():
    return param("steps", "warm-up steps (DeepSpeed uses at least 2)", default=1000, time="time")


class _MinMaxWarmup(_DeepSpeed):
    def _after(self, t, xp):  # γ for t >= W
        return xp.full_like(t, 1.0)

    def _lr(self, t, xp):
        g = xp.where(t < self.W, ds_warmup_gamma(t, self.warmup_num_steps, self.warmup_type, xp), self._after(t, xp))
        return self.warmup_min_lr + (self.warmup_max_lr - self.warmup_min_lr) * g


@register
@dataclass(frozen=True, repr=False)
class WarmupLR(_MinMaxWarmup):
    """min + (max − min)·γ(t), γ = warm-up fraction for t < W, then 1 (the LR stays at max)."""

    name = "WarmupLR"
    warmup_max_lr: float = lr_param("LR after warm-up")
    warmup_min_lr: float = lr_param("LR at t = 0", default=0.0)
    warmup_num_steps: float = _wsteps()
    warmup_type: str = _wtype()


@register
@dataclass(frozen=True, repr=False)
class WarmupDecayLR(_MinMaxWarmup):
    """WarmupLR, then linear decay: γ = max(0, (T − t)/max(1, T − W)) for t >= W."""

    name = "WarmupDecayLR"
    total_num_steps: float = param("time", "training steps T", time="time")
    warmup_max_lr: float = lr_param("LR after warm-up")
    warmup_min_lr: float = lr_param("LR at t = 0", default=0.0)
    warmup_num_steps: float = _wsteps()
    warmup_type: str = _wtype()

    def _after(self, t, xp):
        return xp.clip((self.total_num_steps - t) / max(1.0, self.total_num_steps - self.W), 0.0, None)


@register
@dataclass(frozen=True, repr=False)
class WarmupCosineLR(_DeepSpeed):
    """lr·r(t): r = wmin + γ(t)·(1 − wmin) in warm-up, then
    max(0, cmin + (1 − cmin)·½(1 + cos(π·min(1, (t − W + 1)/(T − W))))): the floor from t = T − 1 on.
    """

    name = "WarmupCosineLR"
    lr: float = lr_param("the optimizer's base LR")
    total_num_steps: float = param("time", "training steps T", time="time")
    warmup_min_ratio: float = param("ratio", "LR ratio at t = 0", default=0.0)
    warmup_num_steps: float = _wsteps()
    cos_min_ratio: float = param("ratio", "LR ratio at the end", default=0.0001)
    warmup_type: str = _wtype()

    def _validate(self):
        if not self.total_num_steps > self.W:
            raise self._error(
                f"parameter 'total_num_steps' must be > the warm-up length max(2, warmup_num_steps) = {self.W}, "
                f"got {self.total_num_steps!r}"
            )

    def _lr(self, t, xp):
        g = ds_warmup_gamma(t, self.warmup_num_steps, self.warmup_type, xp)
        warm = self.warmup_min_ratio + g * (1.0 - self.warmup_min_ratio)
        s = xp.clip((t - self.W + 1.0) / (self.total_num_steps - self.W), 0.0, 1.0)
        cos = xp.clip(self.cos_min_ratio + (1.0 - self.cos_min_ratio) * 0.5 * (1.0 + xp.cos(math.pi * s)), 0.0, None)
        return self.lr * xp.where(t < self.W, warm, cos)
