"""Cyclic learning rates (004 Table 2): η(t) = |k0 − k1|·g(t) + min(k0, k1).

``l`` is the half-cycle length in iterations (one cycle is 2l iterations) and ``t`` the iteration
index. The waves g(t) ∈ [0, 1]:

* TRI: (2/π)|arcsin(sin(πt/(2l)))| — 0 at t = 0, 1 at t = l. We evaluate the identical
  triangle wave 1 − |(t/l mod 2) − 1|, which is exact in floating point (the arcsin form loses
  up to ~1e-13 near the peaks); ``tests/policies/test_cyclic.py`` checks the two agree.
* SIN: |sin(πt/(2l))| — 0 at t = 0, 1 at t = l.
* COS: ½(1 + cos(πt/l)) — 1 at t = 0 (starts at the top, as in Table 2), 0 at t = l.

Variants multiply g(t) by a decay:

* "2" (TRI2, SIN2, COS2): the amplitude halves once per cycle, at the troughs, so the curve stays
  continuous: 2^−⌊t/(2l)⌋ for TRI2/SIN2 (troughs at 0, 2l, 4l, …) and 2^−⌊(t+l)/(2l)⌋ for COS2
  (troughs at l, 3l, …). The paper prints 1/2^⌊log(t/(2l))⌋ for TRI2, which would halve at
  t = 2l, 20l, 200l, …; its text ("reduces the LR boundary every 2l iterations") and Smith's
  triangular2, which LRBench wraps, halve every cycle — we follow the text.
* "EXP" (TRIEXP, SINEXP, COSEXP): γ^t with the global t. The paper's Table 2 prints γ^l, but
  its γ = 0.99994 over 64,000 iterations only makes sense per iteration, as in Smith's
  exp_range: TRIEXP equals ``torch.optim.lr_scheduler.CyclicLR(mode="exp_range")``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, ClassVar

from .base import Policy, lr_param, param
from .registry import register


# ---- pure wave functions ---------------------------------------------------------------------


def tri_wave(t, l, xp):
    """Triangle wave in [0, 1]: 0 at t = 0, 2l, …; 1 at t = l, 3l, …"""
    return 1.0 - xp.abs(xp.mod(t / l, 2.0) - 1.0)


def sin_wave(t, l, xp):
    """|sin(πt/(2l))|: 0 at t = 0, 2l, …; 1 at t = l, 3l, …"""
    return xp.abs(xp.sin(math.pi * t / (2.0 * l)))


def cos_wave(t, l, xp):
    """½(1 + cos(πt/l)): 1 at t = 0, 2l, …; 0 at t = l, 3l, …"""
    return 0.5 * (1.0 + xp.cos(math.pi * t / l))


def halvings(t, l, shift, xp):
    """Number of completed halvings ⌊(t + shift·l)/(2l)⌋ (shift 0: TRI/SIN troughs, 1: COS)."""
    return xp.floor((t + shift * l) / (2.0 * l))


# ---- classes -----------------------------------------------------------------------------------
# Every class takes its fields from one of two bases, in the order of its spec: k0, k1, l (TRI, TRI2,
# SIN, …) or k0, k1, gamma, l (TRIEXP, SINEXP, COSEXP).


def _half_cycle():
    return param("time", "half-cycle length (iterations)", time="time")


@dataclass(frozen=True, repr=False)
class _Cyclic(Policy):
    family = "cyclic"
    wave: ClassVar[Callable] = staticmethod(tri_wave)
    variant: ClassVar[str] = ""  # "", "2" or "EXP"
    halving_shift: ClassVar[float] = 0.0
    k0: float = lr_param("first LR bound (the LR at t = 0 for TRI/SIN is min(k0, k1))")
    k1: float = lr_param("second LR bound")

    def _decay(self, t, xp):
        if self.variant == "2":
            return 0.5 ** halvings(t, self.l, self.halving_shift, xp)
        if self.variant == "EXP":
            return self.gamma**t
        return 1.0

    def _lr(self, t, xp):
        lo = min(self.k0, self.k1)
        return abs(self.k0 - self.k1) * (self.wave(t, self.l, xp) * self._decay(t, xp)) + lo


@dataclass(frozen=True, repr=False)
class _Cycles(_Cyclic):
    """k0, k1, l: a constant amplitude, or (variant "2") one halved every cycle."""

    l: float = _half_cycle()


@dataclass(frozen=True, repr=False)
class _ExpCycles(_Cyclic):
    """k0, k1, gamma, l: the amplitude decays as γ^t."""

    variant = "EXP"
    gamma: float = param("gamma", "per-iteration amplitude decay γ in γ^t", time="exp_rate")
    l: float = _half_cycle()


@register
@dataclass(frozen=True, repr=False)
class TRI(_Cycles):
    """Triangular CLR: η(t) = |k0 − k1|·TRI(t) + min(k0, k1); equals CyclicLR(mode="triangular")."""

    name = "TRI"


@register
@dataclass(frozen=True, repr=False)
class TRI2(_Cycles):
    """TRI with the amplitude halved every cycle: |k0 − k1|·2^−⌊t/(2l)⌋·TRI(t) + min(k0, k1).

    Equals ``CyclicLR(mode="triangular2", step_size_up=l, step_size_down=l)``.
    """

    name = "TRI2"
    variant = "2"


@register
@dataclass(frozen=True, repr=False)
class TRIEXP(_ExpCycles):
    """TRI with exponentially decaying amplitude: |k0 − k1|·γ^t·TRI(t) + min(k0, k1).

    Equals ``CyclicLR(mode="exp_range", gamma=γ, step_size_up=l, step_size_down=l)``.
    """

    name = "TRIEXP"


@register
@dataclass(frozen=True, repr=False)
class SIN(_Cycles):
    """Sine CLR: η(t) = |k0 − k1|·|sin(πt/(2l))| + min(k0, k1)."""

    name = "SIN"
    wave = staticmethod(sin_wave)


@register
@dataclass(frozen=True, repr=False)
class SIN2(_Cycles):
    """SIN with the amplitude halved every cycle (at the troughs t = 2l, 4l, …)."""

    name = "SIN2"
    wave = staticmethod(sin_wave)
    variant = "2"


@register
@dataclass(frozen=True, repr=False)
class SINEXP(_ExpCycles):
    """SIN with amplitude γ^t: |k0 − k1|·γ^t·|sin(πt/(2l))| + min(k0, k1)."""

    name = "SINEXP"
    wave = staticmethod(sin_wave)


@register
@dataclass(frozen=True, repr=False)
class COS(_Cycles):
    """Cosine CLR (SGDR-like warm restarts, continuous): |k0 − k1|·½(1 + cos(πt/l)) + min(k0, k1)."""

    name = "COS"
    wave = staticmethod(cos_wave)


@register
@dataclass(frozen=True, repr=False)
class COS2(_Cycles):
    """COS with the amplitude halved at each trough (t = l, 3l, …): factor 2^−⌊(t+l)/(2l)⌋."""

    name = "COS2"
    wave = staticmethod(cos_wave)
    variant = "2"
    halving_shift = 1.0


@register
@dataclass(frozen=True, repr=False)
class COSEXP(_ExpCycles):
    """COS with amplitude γ^t: |k0 − k1|·γ^t·½(1 + cos(πt/l)) + min(k0, k1)."""

    name = "COSEXP"
    wave = staticmethod(cos_wave)
