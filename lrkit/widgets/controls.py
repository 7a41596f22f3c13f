"""Parameter controls generated from a policy class's fields (``param(check=..., time=...)`` metadata).

The control fits the parameter's rule: a log slider for an LR, an integer box for a time parameter
(step size ``l``, ``total``, warm-up steps), a text box of integers for NSTEP's milestones, a dropdown
for a choice, a number box otherwise. Values are never validated here: the policy class validates
them, so the panel shows the library's own :class:`~lrkit.policies.PolicyError` message.
"""

from __future__ import annotations

import ast
import dataclasses
import math

from lrkit.policies import REGISTRY, MetricPolicy, Policy, PolicyError

#: the errors an edit can raise: bad spec/value (PolicyError, ValueError), a policy the device
#: schedule cannot compile (ProgramError, a TypeError), an unknown parameter name (TypeError)
EDIT_ERRORS = (PolicyError, ValueError, TypeError)

#: checks whose value is an iteration count (an integer box)
TIME_CHECKS = ("time", "steps")
#: checks whose value may be None (a text box: "None" or a number)
OPTIONAL_CHECKS = ("opt_steps", "opt_ratio", "opt_time")
LR_MIN_EXP, LR_MAX_EXP = -7, 1  # the LR log slider spans 1e-7 .. 10


def editable_families() -> list[str]:
    """Policy names a panel offers: every formula policy except the composite ones (λ and a new
    stage have their own controls; MULTI is what the edits build) and the state-based ones (they
    cannot be replayed from the iteration alone)."""
    out = []
    for cls in REGISTRY.values():
        if issubclass(cls, MetricPolicy) or getattr(cls, "family", "") in ("composite", "state"):
            continue
        out.append(cls.name)
    return out


def unwrap(policy) -> tuple[float, Policy]:
    """``(λ, P)`` of a policy ``λ·P`` (λ = 1 for a policy that is not a SCALE)."""
    from lrkit.policies import SCALE

    lam = 1.0
    while isinstance(policy, SCALE):
        lam *= policy.lam
        policy = policy.policy
    return lam, policy


def default_values(cls, like: Policy | None = None, lr: float = 0.01, iters: int = 1000) -> dict:
    """Starting values for the controls of ``cls``: the same-named values of ``like`` (the running
    policy), else the field's default, else a guess from its rule (the current LR, a quarter of the
    run for a time, …)."""
    like_params = {}
    if isinstance(like, Policy):  # same name and same rule (TRI's l is a step size, NSTEP's milestones)
        like_checks = {f.name: f.metadata.get("check") for f in like.parameters()}
        like_params = {k: v for k, v in like.params().items()
                       if any(f.name == k and f.metadata.get("check") == like_checks[k] for f in cls.parameters())}
    lr = lr if lr and math.isfinite(lr) and lr > 0 else 0.01
    quarter = max(1, iters // 4)
    out = {}
    for f in cls.parameters():
        md = f.metadata
        check = md.get("check")
        if f.name in like_params and check != "policy":
            v = like_params[f.name]
        elif f.default is not dataclasses.MISSING:
            v = f.default
        elif check == "lr":
            v = lr * (5 if f.name in ("k1", "warmup_max_lr") else 1)
        elif check == "gamma":
            v = 0.999 if md.get("time") == "exp_rate" else (1e-4 if md.get("time") == "inv_rate" else 0.5)
        elif check == "milestones":
            v = (quarter * 2, quarter * 3)
        elif check in TIME_CHECKS or check == "opt_time":
            v = iters if f.name in ("total", "total_num_steps", "max_iter") else quarter
        elif check == "pos":
            v = 1.0
        elif check == "ratio":
            v = 0.1
        elif check == "choice":
            v = md["choices"][0]
        else:
            v = None
        out[f.name] = v
    return out


def make_control(field: dataclasses.Field, value):
    """The ipywidget for one policy parameter, holding ``value``."""
    import ipywidgets as W

    md = field.metadata
    check = md.get("check")
    desc = field.name
    tip = f"{md.get('doc', '')} ({check})"
    style = {"description_width": "initial"}
    if check == "lr" and isinstance(value, (int, float)) and value > 0:
        v = min(max(float(value), 10.0 ** LR_MIN_EXP), 10.0 ** LR_MAX_EXP)
        return W.FloatLogSlider(value=v, base=10, min=LR_MIN_EXP, max=LR_MAX_EXP, step=0.01, description=desc,
                                readout_format=".3g", continuous_update=False, tooltip=tip, style=style)
    if check in TIME_CHECKS and isinstance(value, (int, float)) and float(value).is_integer():
        return W.IntText(value=int(value), description=desc, tooltip=tip, style=style, layout=W.Layout(width="220px"))
    if check == "milestones":
        text = ", ".join(str(int(v)) if float(v).is_integer() else str(v) for v in (value or ()))
        return W.Text(value=text, description=desc, placeholder="e.g. 500, 800 (iterations)", tooltip=tip,
                      continuous_update=False, style=style)
    if check == "choice":
        return W.Dropdown(options=list(md["choices"]), value=value, description=desc, tooltip=tip, style=style)
    if check in OPTIONAL_CHECKS or value is None or check not in ("lr", "pos", "nonneg", "gamma", "ratio", "time", "steps"):
        return W.Text(value="None" if value is None else repr(value), description=desc, tooltip=tip,
                      continuous_update=False, style=style)
    return W.FloatText(value=float(value), description=desc, tooltip=tip, style=style, layout=W.Layout(width="220px"))


def read_control(field: dataclasses.Field, control):
    """The parameter value a control holds (text boxes parsed; validation is the policy's)."""
    import ipywidgets as W

    check = field.metadata.get("check")
    v = control.value
    if check == "milestones":
        parts = [p for p in str(v).replace("[", "").replace("]", "").replace(";", ",").split(",") if p.strip()]
        return [_number(p.strip()) for p in parts]
    if isinstance(control, W.Text):
        s = str(v).strip()
        if s in ("", "None", "null"):
            return None
        return _number(s)
    return v


def _number(s: str):
    try:
        v = ast.literal_eval(s)
    except (ValueError, SyntaxError):
        return s  # the policy's check names the bad value
    return v


def set_control(control, value) -> None:
    """Show ``value`` in a control made by :func:`make_control` (used to mirror an applied edit)."""
    import ipywidgets as W

    if isinstance(control, W.FloatLogSlider):
        if isinstance(value, (int, float)) and value > 0:
            control.value = min(max(float(value), control.base ** control.min), control.base ** control.max)
    elif isinstance(control, W.IntText):
        if isinstance(value, (int, float)) and float(value).is_integer():
            control.value = int(value)
    elif isinstance(control, W.Dropdown):
        if value in control.options:
            control.value = value
    elif isinstance(control, W.FloatText):
        if isinstance(value, (int, float)):
            control.value = float(value)
    elif isinstance(control, W.Text):
        if isinstance(value, (list, tuple)):
            control.value = ", ".join(str(int(v)) if float(v).is_integer() else str(v) for v in value)
        else:
            control.value = "None" if value is None else repr(value)
