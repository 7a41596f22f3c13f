"""State-based policies that read training metrics: Reduce-LR-On-Plateau and Change-LR-On-Plateau.

Unlike every other family these keep state (what they have observed), so they implement
:class:`~lrkit.policies.base.MetricPolicy`: the monitor (or :class:`PolicyLR`) calls
``observe(t, metrics)`` after iteration ``t`` with a mapping such as ``{"loss": 0.31}`` (training
loss, every iteration) or ``{"test_loss": …, "test_top1": …}`` (every eval interval); a policy
reads only its ``monitor`` key and ignores observations without it. ``p(t)`` is the LR at ``t``
given what was observed so far. Their parameters are frozen and form a spec like any policy's
(``parse(str(p))`` gives a fresh policy with the same settings); ``state_dict()`` holds the rest.

A state-based policy must be the whole spec: MULTI stages, λ·p, SHIFT and Change-LR-On-Plateau's
candidates only evaluate what they hold and never pass metrics on, so they refuse one (a
:class:`PolicyError` naming the field) rather than let it sit at its starting LR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Tuple

from .base import MetricPolicy, Policy, PolicyError, format_value, formula_policy, lr_param, param
from .registry import register


class _Stateful(MetricPolicy, Policy):
    family = "state"

    def __post_init__(self):
        Policy.__post_init__(self)
        object.__setattr__(self, "_state", self.initial_state())

    def initial_state(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict:
        return dict(self._state)

    def load_state_dict(self, state: Mapping) -> None:
        self._state.update(state)

    def reset(self) -> None:
        object.__setattr__(self, "_state", self.initial_state())

    def _value(self, metrics: Mapping[str, float]) -> float | None:
        v = metrics.get(self.monitor)
        if v is None:
            return None
        v = float(v)
        return v if math.isfinite(v) else None

    def _better(self, current: float, best: float, delta: float) -> bool:
        if self.mode == "min":
            return current < best - delta
        return current > best + delta


@register
@dataclass(frozen=True, repr=False, eq=True)
class ReduceLROnPlateau(_Stateful):
    """Keras' ReduceLROnPlateau: start at k; when ``monitor`` has not improved by more than
    ``min_delta`` for ``patience`` observations, multiply the LR by ``factor`` (not below
    ``min_lr``) and wait ``cooldown`` observations before counting again.
    """

    name = "ReduceLROnPlateau"
    k: float = lr_param("initial LR")
    factor: float = param("ratio", "multiplier applied on a plateau (< 1)", default=0.1)
    patience: float = param("steps", "observations without improvement before reducing", default=10)
    min_delta: float = param("nonneg", "smallest change that counts as improvement", default=0.0001)
    cooldown: float = param("steps", "observations to wait after a reduction", default=0)
    min_lr: float = lr_param("lower bound of the LR", default=0.0)
    monitor: str = param("choice", "metric to watch", default="loss",
                         choices=("loss", "test_loss", "test_top1"))
    mode: str = param("choice", "improvement direction", default="min", choices=("min", "max"))

    def _validate(self):
        if not self.factor < 1:
            raise self._error(f"parameter 'factor' must be < 1, got {self.factor!r}")

    def initial_state(self):
        return {"lr": self.k, "best": math.inf if self.mode == "min" else -math.inf, "wait": 0, "cooldown": 0}

    def observe(self, t, metrics):
        cur = self._value(metrics)
        if cur is None:
            return
        s = self._state
        if s["cooldown"] > 0:
            s["cooldown"] -= 1
            s["wait"] = 0
        if self._better(cur, s["best"], self.min_delta):
            s["best"] = cur
            s["wait"] = 0
        elif s["cooldown"] == 0:
            s["wait"] += 1
            if s["wait"] >= self.patience:
                if s["lr"] > self.min_lr:
                    s["lr"] = max(s["lr"] * self.factor, self.min_lr)
                    s["cooldown"] = self.cooldown
                s["wait"] = 0

    def _lr(self, t, xp):
        return xp.full_like(t, self._state["lr"])


@register
@dataclass(frozen=True, repr=False, eq=True)
class ChangeLROnPlateau(_Stateful):
    """004 Algorithm 1: switch between LR functions P = [p¹, …, pⁿ] (p¹ >= … >= pⁿ) on plateaus.

    The LR is p^i(t) with the global t. Trapped on a plateau = the ``monitor`` metric has not
    improved on its best by more than ``threshold`` for ``patience`` consecutive observations.
    Then the action is "increase" (i − 1, a larger LR function) before iteration ``switch_at``
    and "decrease" (i + 1) from it on; i stays within [0, n − 1]. After an action the plateau
    count restarts. Each switch is kept in ``state_dict()["switches"]`` as (t, i).
    """

    name = "ChangeLROnPlateau"
    policies: Tuple[Policy, ...] = param("policies", "LR functions, largest first")
    start: float = param("steps", "index i of the starting function (0-based)", default=0)
    switch_at: float = param("steps", "iteration from which plateaus decrease the LR", default=0, time="time")
    patience: float = param("steps", "observations without improvement that make a plateau", default=5)
    threshold: float = param("nonneg", "improvement that counts (e.g. 0.05 of the training loss)", default=0.05)
    monitor: str = param("choice", "metric to watch", default="loss", choices=("loss", "test_loss", "test_top1"))
    mode: str = param("choice", "improvement direction", default="min", choices=("min", "max"))

    def __post_init__(self):
        from .spec import parse

        pols = self.policies
        if isinstance(pols, (str, bytes)) or not hasattr(pols, "__iter__"):
            raise PolicyError(f"{self.name}: parameter 'policies' must be a list of policies, got {pols!r}")
        object.__setattr__(self, "policies", tuple(formula_policy(self.name, f"policies[{i}]", parse(p))
                                                   for i, p in enumerate(pols)))
        if not self.policies:
            raise PolicyError(f"{self.name}: parameter 'policies' must hold at least one policy")
        _Stateful.__post_init__(self)
        if not 0 <= self.start < len(self.policies) or int(self.start) != self.start:
            raise PolicyError(f"{self.name}: parameter 'start' must be an index in 0..{len(self.policies) - 1}, got {self.start!r}")

    def initial_state(self):
        return {"i": int(self.start), "best": math.inf if self.mode == "min" else -math.inf, "wait": 0, "switches": []}

    @property
    def index(self) -> int:
        return self._state["i"]

    def observe(self, t, metrics):
        cur = self._value(metrics)
        if cur is None:
            return
        s = self._state
        if self._better(cur, s["best"], self.threshold):
            s["best"], s["wait"] = cur, 0
            return
        s["wait"] += 1
        if s["wait"] < self.patience:
            return
        step = -1 if t + 1 < self.switch_at else 1
        new = min(max(s["i"] + step, 0), len(self.policies) - 1)
        if new != s["i"]:
            s["i"] = new
            s["switches"] = list(s["switches"]) + [(int(t) + 1, new)]
        s["wait"] = 0
        s["best"] = cur

    def _lr(self, t, xp):
        return self.policies[self._state["i"]]._lr(t, xp)

    def rescale_time(self, factor):
        scaled = super().rescale_time(factor)
        return scaled.replace(policies=[p.rescale_time(factor) for p in self.policies])

    def to_dict(self):
        d = super().to_dict()
        d["policies"] = [p.to_dict() for p in self.policies]
        return d

    def __str__(self):
        items = []
        for k, v in self._spec_items():
            items.append(f"{k}=[{', '.join(str(p) for p in v)}]" if k == "policies" else f"{k}={format_value(v)}")
        return f"{self.name}({', '.join(items)})"
