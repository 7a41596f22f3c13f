"""The policy interface: a learning-rate policy is a pure function of the iteration t.

``policy(t)`` gives the LR at iteration ``t`` (``t = 0`` is the first iteration; the unit of ``t``
is one optimizer step unless a docstring says otherwise). Policies hold no counters, so resuming,
plotting and on-device evaluation all give the same numbers. A policy is an immutable dataclass:
its fields are its parameters, ``str(policy)`` is its canonical text spec and ``policy.to_dict()``
its JSON form; :func:`lrkit.policies.parse` reads both back.

Each field carries metadata used by the generic machinery:

* ``check``: how the value is validated (see :data:`CHECKS`);
* ``time``: how it transforms when the unit of ``t`` changes (``"time"``: a duration or an
  iteration index, multiplied by the factor; ``"exp_rate"``: a per-iteration factor γ in γ^t,
  raised to 1/factor; ``"inv_rate"``: γ in (1 + γt), divided by the factor);
* ``doc``: one line for ``lrkit policy list`` and the widgets.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import MISSING, dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

from ._array import evaluate

# --------------------------------------------------------------------------------------------
# Field helpers: every parameter is declared with one of these, so that validation, time-unit
# conversion and documentation are written once.


def param(check: str, doc: str, *, default: Any = MISSING, time: str | None = None, choices=None):
    """Declare a policy parameter.

    ``check`` is one of :data:`CHECKS`; ``time`` one of None, "time", "exp_rate", "inv_rate";
    ``choices`` the allowed strings when ``check == "choice"``.
    """
    md = {"check": check, "doc": doc, "time": time, "choices": tuple(choices) if choices else None}
    return field(default=default, metadata=md)


def lr_param(doc: str = "learning rate", **kw):
    return param("lr", doc, **kw)


#: The allowed-value rule of each check, as shown in error messages.
CHECKS = {
    "lr": "a finite number >= 0",
    "pos": "a finite number > 0",
    "nonneg": "a finite number >= 0",
    "gamma": "a finite number > 0",
    "time": "a finite number > 0 (iterations)",
    "steps": "a finite number >= 0 (iterations)",
    "ratio": "a number in [0, 1]",
    "milestones": "a non-empty list of strictly increasing iteration numbers > 0",
    "choice": "one of the listed strings",
    "opt_steps": "null or a finite number >= 0 (iterations)",
    "opt_ratio": "null or a number in [0, 1]",
    "opt_time": "null or a finite number > 0 (iterations)",
}


def is_number(x: Any) -> bool:
    """A real number (int, float, numpy scalar), not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _normalise_number(x: Any) -> Any:
    """Python int/float from numpy scalars etc.; integral floats of time fields stay as given."""
    if isinstance(x, numbers.Integral):
        return int(x)
    return float(x)


def _as_iteration(x: Any) -> Any:
    """An iteration count: an int when integral, else the float (e.g. after an epoch conversion)."""
    x = _normalise_number(x)
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


class PolicyError(ValueError):
    """A policy spec or parameter is invalid. The message names the policy, parameter and rule."""


def _bad(policy: str, name: str, value: Any, rule: str) -> PolicyError:
    return PolicyError(f"{policy}: parameter '{name}' must be {rule}, got {value!r}")


def check_value(policy: str, name: str, check: str, value: Any, choices=None) -> Any:
    """Validate and normalise one parameter value; raise :class:`PolicyError` naming it."""
    rule = CHECKS[check]
    if check.startswith("opt_"):
        if value is None:
            return None
        check = {"opt_steps": "steps", "opt_ratio": "ratio", "opt_time": "time"}[check]
        rule = CHECKS[check]
    if check == "choice":
        if not isinstance(value, str) or value not in choices:
            raise _bad(policy, name, value, "one of " + ", ".join(repr(c) for c in choices))
        return value
    if check == "milestones":
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
            raise _bad(policy, name, value, rule)
        if not all(is_number(v) and math.isfinite(v) for v in value):
            raise _bad(policy, name, value, rule)
        vals = tuple(_as_iteration(v) for v in value)
        if vals[0] <= 0:
            raise _bad(policy, name, value, rule)
        for a, b in zip(vals, vals[1:]):
            if not b > a:
                raise PolicyError(
                    f"{policy}: parameter '{name}' must be strictly increasing, got {list(vals)!r} ({b!r} after {a!r})"
                )
        return vals
    if not is_number(value) or not math.isfinite(value):
        raise _bad(policy, name, value, rule)
    if check in ("pos", "gamma", "time") and not value > 0:
        raise _bad(policy, name, value, rule)
    if check in ("lr", "nonneg", "steps") and not value >= 0:
        raise _bad(policy, name, value, rule)
    if check == "ratio" and not 0 <= value <= 1:
        raise _bad(policy, name, value, rule)
    if check in ("time", "steps"):
        return _as_iteration(value)
    return _normalise_number(value)


def format_value(v: Any) -> str:
    """Canonical text of a parameter value: shortest round-tripping float repr, ints as ints."""
    if isinstance(v, Policy):
        return str(v)
    if isinstance(v, str):
        return repr(v)
    if v is None:
        return "None"
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if isinstance(v, bool):
        return repr(v)
    if isinstance(v, numbers.Integral):
        return str(int(v))
    return repr(float(v))


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Policy:
    """Base class of every LR policy. Subclasses are frozen dataclasses that define ``_lr``.

    Class attributes:
        name: the spec name (``"SINEXP"``); family: ``"fixed"``, ``"decaying"``, ``"cyclic"``,
        ``"composite"`` or ``"llm"``.
    """

    name: ClassVar[str] = "POLICY"
    family: ClassVar[str] = ""

    # ---- the math --------------------------------------------------------------------------
    def _lr(self, t, xp):  # pragma: no cover - abstract
        """The formula, on an array ``t`` (float64, >= 0) with the array namespace ``xp``."""
        raise NotImplementedError

    def __call__(self, t):
        """LR at iteration ``t`` (int/float, sequence, numpy array or torch tensor)."""
        return evaluate(self._lr, t, self.name)

    # ---- validation ------------------------------------------------------------------------
    def __post_init__(self):
        for f in dataclasses.fields(self):
            md = f.metadata
            if md.get("check") not in CHECKS:  # e.g. nested policies, validated by their class
                continue
            v = check_value(self.name, f.name, md["check"], getattr(self, f.name), md.get("choices"))
            object.__setattr__(self, f.name, v)
        self._validate()

    def _validate(self) -> None:
        """Checks that involve several parameters; raise :class:`PolicyError`."""

    def _error(self, message: str) -> PolicyError:
        return PolicyError(f"{self.name}: {message}")

    # ---- specs -----------------------------------------------------------------------------
    @classmethod
    def parameters(cls) -> list[dataclasses.Field]:
        return [f for f in dataclasses.fields(cls) if f.init]

    def params(self) -> dict[str, Any]:
        """The parameters as a plain dict, in declaration order."""
        return {f.name: getattr(self, f.name) for f in self.parameters()}

    def _spec_items(self) -> list[tuple[str, Any]]:
        """Parameters shown in the canonical spec: required ones, and others off their default."""
        items = []
        for f in self.parameters():
            v = getattr(self, f.name)
            if f.default is not MISSING and v == f.default and type(v) is type(f.default):
                continue
            items.append((f.name, v))
        return items

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={format_value(v)}" for k, v in self._spec_items())
        return f"{self.name}({inner})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"name": NAME, param: value, ...}`` (nested policies as dicts)."""
        out: dict[str, Any] = {"name": self.name}
        for k, v in self._spec_items():
            out[k] = list(v) if isinstance(v, tuple) else (v.to_dict() if isinstance(v, Policy) else v)
        return out

    def replace(self, **changes) -> "Policy":
        """A copy with some parameters changed (validated like a new policy)."""
        return dataclasses.replace(self, **changes)

    # ---- algebra and units -----------------------------------------------------------------
    def __mul__(self, lam):
        from .compose import SCALE

        if not is_number(lam):
            return NotImplemented
        return SCALE(lam=lam, policy=self)

    __rmul__ = __mul__

    def rescale_time(self, factor: float) -> "Policy":
        """The same schedule with ``t`` measured in units ``factor`` times smaller.

        ``p.rescale_time(f)(f * t) == p(t)``: with ``f`` iterations per epoch, a policy written in
        epochs becomes the equivalent policy in iterations (see :func:`lrkit.policies.from_epochs`).
        Durations are multiplied by ``f``, a per-step factor γ of γ^t becomes γ^(1/f), and the
        γ of (1 + γt) becomes γ/f.
        """
        if not (is_number(factor) and factor > 0 and math.isfinite(factor)):
            raise PolicyError(f"{self.name}: time factor must be a finite number > 0, got {factor!r}")
        changes = {}
        for f in self.parameters():
            kind = f.metadata.get("time")
            v = getattr(self, f.name)
            if kind is None or v is None:
                continue
            if kind == "time":
                changes[f.name] = tuple(x * factor for x in v) if isinstance(v, tuple) else v * factor
            elif kind == "exp_rate":
                changes[f.name] = v ** (1.0 / factor)
            elif kind == "inv_rate":
                changes[f.name] = v / factor
        return self.replace(**changes)

    # ---- torch integration -----------------------------------------------------------------
    def scheduler(self, optimizer, last_epoch: int = -1):
        """A ``torch.optim.lr_scheduler.LRScheduler`` that sets ``lr = self(t)`` at step ``t``."""
        from .scheduler import PolicyLR

        return PolicyLR(optimizer, self, last_epoch=last_epoch)


def formula_policy(owner: str, field: str, policy: Any) -> Any:
    """``policy`` unchanged if it is a formula policy; a :class:`PolicyError` if it is state-based.

    Composites (MULTI stages, λ·policy, SHIFT, Change-LR-On-Plateau's candidates) only evaluate the
    policies inside them: they do not hand training metrics on, so a state-based policy nested in one
    would silently keep its starting LR. It must be the whole spec instead.
    """
    if isinstance(policy, MetricPolicy):
        raise PolicyError(f"{owner}: {field} must be a formula policy (fixed, decaying, cyclic, composite, llm), got the "
                          f"state-based {policy.name}: {owner} does not pass training metrics on, so a state-based "
                          "policy must be the whole spec")
    return policy


class MetricPolicy:
    """Interface for state-based policies that read training metrics (e.g. plateau rules).

    The training monitor and :class:`~lrkit.policies.scheduler.PolicyLR` call
    ``observe(t, metrics)`` with the iteration just finished and a mapping of metric names to
    values before asking for the next LR. Such a policy keeps state, so it must also provide
    ``state_dict()`` and ``load_state_dict(state)``; ``__call__(t)`` gives the LR at ``t`` given
    what it has observed so far.
    """

    name: ClassVar[str] = "METRIC"

    def observe(self, t: int, metrics: Mapping[str, float]) -> None:  # pragma: no cover
        raise NotImplementedError

    def state_dict(self) -> dict:  # pragma: no cover
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:  # pragma: no cover
        raise NotImplementedError
