"""Composite policies: MULTI (stages, 004 §3.2 and 000 Table I), the λ coefficient (SCALE) and
a time offset (SHIFT).

MULTI joins policies in time, as optax's ``join_schedules`` does: stage i starts at iteration
``start_i`` and sees its own local time ``t − start_i``, so a stage written for a fresh run behaves
the same wherever it is placed. Stages are homogeneous (TRI, TRI, TRI) or heterogeneous
(FIX, SINEXP, FIX, FIX) and may be MULTI policies themselves.

SCALE is LRBench++'s LR coefficient (000, "LR Tuning by Grid Search"): η'(t) = λ·η(t).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping, Tuple

from .base import Policy, PolicyError, _as_iteration, format_value, formula_policy, param
from .registry import register


def _normalise_stages(stages: Any) -> tuple:
    if isinstance(stages, Mapping):
        stages = list(stages.items())
    if isinstance(stages, (str, bytes)) or not hasattr(stages, "__iter__"):
        raise PolicyError(f"MULTI: parameter 'stages' must be a list of (start iteration, policy) pairs, got {stages!r}")
    out = []
    for i, item in enumerate(stages):
        if isinstance(item, Mapping) and set(item) == {"start", "policy"}:
            item = (item["start"], item["policy"])
        try:
            start, pol = item
        except (TypeError, ValueError):
            raise PolicyError(f"MULTI: stage {i} must be a (start iteration, policy) pair, got {item!r}") from None
        if not isinstance(start, numbers.Real) or isinstance(start, bool) or not math.isfinite(start) or start < 0:
            raise PolicyError(f"MULTI: stage {i} start must be an iteration number >= 0, got {start!r}")
        if isinstance(pol, (str, Mapping)):
            from .spec import parse

            pol = parse(pol)
        if not isinstance(pol, Policy):
            raise PolicyError(f"MULTI: stage {i} policy must be a policy or a spec, got {pol!r}")
        formula_policy("MULTI", f"stage {i} policy", pol)
        out.append((_as_iteration(start), pol))
    return tuple(out)


@register
@dataclass(frozen=True, repr=False)
class MULTI(Policy):
    """Stages of policies: η(t) = p_i(t − s_i) for s_i <= t < s_{i+1} (the last stage runs on).

    ``stages`` is a list of ``(start, policy)`` pairs (or a ``{start: policy}`` dict) with
    ``start`` in iterations, the first at 0 and the rest strictly increasing. Spec form::

        MULTI({0: TRI(k0=0.1, k1=0.5, l=1500), 30000: TRI(k0=0.01, k1=0.05, l=1000),
               60000: TRI(k0=0.001, k1=0.005, l=500)})
    """

    name = "MULTI"
    family = "composite"
    stages: Tuple[Tuple[float, Policy], ...] = param("stages", "(start iteration, policy) pairs")

    def __post_init__(self):
        object.__setattr__(self, "stages", _normalise_stages(self.stages))
        super().__post_init__()

    def _validate(self):
        if not self.stages:
            raise self._error("parameter 'stages' must hold at least one (start, policy) pair, got none")
        if self.stages[0][0] != 0:
            raise self._error(f"the first stage must start at iteration 0, got {self.stages[0][0]!r}")
        starts = [s for s, _ in self.stages]
        for a, b in zip(starts, starts[1:]):
            if not b > a:
                raise self._error(f"stage starts must be strictly increasing (stages out of order), got {starts!r}")

    def _lr(self, t, xp):
        out = None
        for start, pol in self.stages:
            local = xp.clip(t - start, 0.0, None)
            val = pol._lr(local, xp)
            out = val if out is None else xp.where(t >= start, val, out)
        return out

    def __str__(self):
        inner = ", ".join(f"{format_value(s)}: {p}" for s, p in self.stages)
        return f"MULTI({{{inner}}})"

    def to_dict(self):
        return {"name": self.name, "stages": [{"start": s, "policy": p.to_dict()} for s, p in self.stages]}

    def rescale_time(self, factor):
        scaled = super().rescale_time(factor)  # validates factor; stages are not declared as times
        return MULTI(stages=[(s * factor, p.rescale_time(factor)) for s, p in scaled.stages])


@register
@dataclass(frozen=True, repr=False)
class SCALE(Policy):
    """LR coefficient: η'(t) = λ·η(t) for any policy η. Spec form ``0.1*TRI(...)``."""

    name = "SCALE"
    family = "composite"
    lam: float = param("pos", "the coefficient λ")
    policy: Policy = param("policy", "the scaled policy")

    def __post_init__(self):
        pol = self.policy
        if isinstance(pol, (str, Mapping)):
            from .spec import parse

            object.__setattr__(self, "policy", parse(pol))
        elif not isinstance(pol, Policy):
            raise PolicyError(f"{self.name}: parameter 'policy' must be a policy or a spec, got {pol!r}")
        formula_policy(self.name, "parameter 'policy'", self.policy)
        Policy.__post_init__(self)

    def _lr(self, t, xp):
        return self.lam * self.policy._lr(t, xp)

    def __str__(self):
        inner = str(self.policy)
        if isinstance(self.policy, SCALE):
            inner = f"({inner})"
        return f"{format_value(self.lam)}*{inner}"

    def to_dict(self):
        return {"name": self.name, "lam": self.lam, "policy": self.policy.to_dict()}

    def rescale_time(self, factor):
        super().rescale_time(factor)
        return SCALE(lam=self.lam, policy=self.policy.rescale_time(factor))


@register
@dataclass(frozen=True, repr=False)
class SHIFT(Policy):
    """Time offset: η'(t) = η(t + offset).

    Inside a MULTI stage starting at s, ``SHIFT(offset=s, policy=P)`` follows P at the global
    iteration — how a run whose policy was edited live is replayed as one policy.
    """

    name = "SHIFT"
    family = "composite"
    offset: float = param("steps", "iterations added to t", time="time")
    policy: Policy = param("policy", "the shifted policy")

    __post_init__ = SCALE.__post_init__

    def _lr(self, t, xp):
        return self.policy._lr(t + self.offset, xp)

    def to_dict(self):
        return {"name": self.name, "offset": self.offset, "policy": self.policy.to_dict()}

    def rescale_time(self, factor):
        shifted = super().rescale_time(factor)
        return SHIFT(offset=shifted.offset, policy=self.policy.rescale_time(factor))
