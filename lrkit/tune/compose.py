"""Multi-policy composition for tuning (004 §4.1 Algorithm 1, §5.2 Tables 7–9).

Every function returns plain, canonical spec strings (``str(parse(spec))``), so composed policies
are ordinary search trials: :func:`composition_trials` turns them into
:class:`~lrkit.tune.space.Trial` objects for :func:`~lrkit.tune.search.run_search`.

- :func:`compose_multi`: the Cartesian product of candidate policies per stage, as MULTI specs.
- :func:`heterogeneous`: one MULTI from given stage policies (Table 9: FIX → SINEXP → FIX → FIX).
- :func:`homogeneous`: one LR function in every stage, its LR parameters × decay^i in stage i
  (optionally its time parameters × a factor and its function changed per stage — Table 7's
  TRI → TRI2 → TRI2 composite).
- :func:`plateau_compositions`: Change-LR-On-Plateau (Algorithm 1) specs over candidate LR
  functions ordered p¹ ≥ p² ≥ … (checked numerically), one per combination of its settings.
- :func:`composition_trials`: trials (spec × λ × seed).

Rules shared by all functions:

* Stage boundaries are iteration numbers: ints >= 0, the first 0, strictly increasing, one per
  stage. Stage i of a MULTI sees its LOCAL time t − boundaries[i] (see
  :class:`lrkit.policies.MULTI`): a stage behaves as in a fresh run wherever it is placed.
* Computed LR and time values are rounded to 12 significant digits (0.001·0.1 gives 0.0001,
  not 0.00010000000000000002), so specs are short and stable.
* State-based policies (ReduceLROnPlateau, ChangeLROnPlateau) must be the whole trained policy:
  MULTI, SCALE (λ) and SHIFT do not pass metrics on, so one nested inside them would never leave
  its starting LR. The policy library refuses such nestings (PolicyError); to apply λ to a
  Change-LR-On-Plateau composition, scale its candidate functions
  (``plateau_compositions([f"{lam}*{c}" for c in candidates])``).
* Errors are ``ValueError`` naming the field (``'boundaries'``, ``'stage_candidates'[1][0]``, …)
  and the allowed values.
"""

from __future__ import annotations

import itertools
import math
import numbers
from typing import Any, Sequence

from .space import Trial, _clean, _lams, _seeds

#: Iterations on which :func:`plateau_compositions` compares candidates when no ``iters`` is given.
DEFAULT_HORIZON = 10_000
#: Accepted values of ``orders`` in :func:`plateau_compositions`.
ORDERS = ("descending", "given", "pointwise")
#: :func:`compose_multi` refuses to build more MULTI specs than this (raise ``max_combinations``).
MAX_COMBINATIONS = 10_000


# ---- helpers ------------------------------------------------------------------------------------


def _int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _listish(x: Any) -> bool:
    return not isinstance(x, (str, bytes)) and hasattr(x, "__iter__") and not hasattr(x, "items")


def _parse(spec: Any, field: str):
    """``parse(spec)`` with errors naming ``field``."""
    from lrkit.policies import Policy, PolicyError, parse

    if not isinstance(spec, (str, dict, Policy)):
        raise ValueError(f"field {field} must be a policy spec string, got {spec!r}")
    try:
        return parse(spec)
    except PolicyError as e:
        raise ValueError(f"field {field}: {e}") from None


def _stage_policy(spec: Any, field: str):
    """A policy usable as a MULTI stage: parsed, with no state-based policy in it."""
    from lrkit.policies import MetricPolicy

    pol = _parse(spec, field)
    if isinstance(pol, MetricPolicy):  # (the policy library refuses one nested in a composite)
        raise ValueError(f"field {field}: {pol.name} is state-based and cannot be a MULTI stage (MULTI does not "
                         f"pass metrics on); allowed: formula policies (fixed, decaying, cyclic, composite, llm)")
    return pol


def check_boundaries(boundaries: Any, stages: int | None = None) -> list[int]:
    """Stage start iterations: ints >= 0, the first 0, strictly increasing, ``stages`` of them."""
    rule = "a list of ints >= 0 starting at 0 and strictly increasing"
    if stages is not None:
        rule += f", one per stage ({stages} stage{'s' if stages != 1 else ''})"
    if not _listish(boundaries):
        raise ValueError(f"field 'boundaries' must be {rule}, got {boundaries!r}")
    b = list(boundaries)
    if not b or any(not _int(x) or x < 0 for x in b):
        raise ValueError(f"field 'boundaries' must be {rule}, got {b!r}")
    b = [int(x) for x in b]
    if stages is not None and len(b) != stages:
        raise ValueError(f"field 'boundaries' must be {rule}, got {len(b)} boundaries: {b!r}")
    if b[0] != 0:
        raise ValueError(f"field 'boundaries' must be {rule}: the first stage starts at 0, got {b!r}")
    for x, y in zip(b, b[1:]):
        if not y > x:
            raise ValueError(f"field 'boundaries' must be {rule}: {y} after {x} in {b!r}")
    return b


def _multi_spec(policies: Sequence, boundaries: Sequence[int]) -> str:
    from lrkit.policies import MULTI

    return str(MULTI(stages=list(zip(boundaries, policies))))


# ---- MULTI compositions -------------------------------------------------------------------------


def compose_multi(stage_candidates: Sequence[Sequence[str]], boundaries: Sequence[int], *,
                  max_combinations: int = MAX_COMBINATIONS) -> list[str]:
    """Every MULTI choosing one candidate per stage: stage i starts at ``boundaries[i]``.

    Rules: ``stage_candidates[i]`` is a non-empty list of specs (a single spec string counts as
    a one-candidate stage); candidates are parsed (canonical form) and de-duplicated within their
    stage, keeping the first; the result is the Cartesian product in stage order, the last stage
    varying fastest (``itertools.product``), as canonical MULTI specs, with no duplicates.
    ``boundaries``: see :func:`check_boundaries`; ``len(boundaries) == len(stage_candidates)``.
    More than ``max_combinations`` specs is an error (a search that size is rarely meant).

    >>> compose_multi([["FIX(k=0.1)"], ["FIX(k=0.01)", "SIN2(k0=0.01, k1=0.05, l=500)"]], [0, 1000])
    ['MULTI({0: FIX(k=0.1), 1000: FIX(k=0.01)})', 'MULTI({0: FIX(k=0.1), 1000: SIN2(k0=0.01, k1=0.05, l=500)})']
    """
    if not _listish(stage_candidates) or not list(stage_candidates):
        raise ValueError("field 'stage_candidates' must be a non-empty list of stages, each a non-empty list of "
                         f"policy specs, got {stage_candidates!r}")
    stages = []
    for i, cands in enumerate(stage_candidates):
        if isinstance(cands, str):
            cands = [cands]
        if not _listish(cands) or not list(cands):
            raise ValueError(f"field 'stage_candidates'[{i}] must be a non-empty list of policy specs, got {cands!r}")
        seen: dict[str, Any] = {}
        for j, spec in enumerate(cands):
            pol = _stage_policy(spec, f"'stage_candidates'[{i}][{j}]")
            seen.setdefault(str(pol), pol)
        stages.append(list(seen.values()))
    b = check_boundaries(boundaries, len(stages))
    if not _int(max_combinations) or max_combinations < 1:
        raise ValueError(f"field 'max_combinations' must be an int >= 1, got {max_combinations!r}")
    total = math.prod(len(s) for s in stages)
    if total > max_combinations:
        raise ValueError(f"field 'stage_candidates' gives {total} combinations ({' x '.join(str(len(s)) for s in stages)}),"
                         f" more than max_combinations={max_combinations}")
    out = dict.fromkeys(_multi_spec(combo, b) for combo in itertools.product(*stages))
    return list(out)


def heterogeneous(stages: Sequence[str], boundaries: Sequence[int]) -> str:
    """One MULTI of the given stage policies, stage i from ``boundaries[i]`` (004 Table 9 style).

    The stages may be any formula policies, repeated or not (Table 9: FIX, SINEXP, FIX, FIX);
    the rules are :func:`compose_multi`'s with one candidate per stage.

    >>> heterogeneous(["FIX(k=0.1)", "SINEXP(k0=0.1, k1=0.6, gamma=0.999987, l=75075)", "FIX(k=0.01)",
    ...                "FIX(k=0.001)"], [0, 25025, 175175, 250250])  # doctest: +NORMALIZE_WHITESPACE
    'MULTI({0: FIX(k=0.1), 25025: SINEXP(k0=0.1, k1=0.6, gamma=0.999987, l=75075), 175175: FIX(k=0.01),
    250250: FIX(k=0.001)})'
    """
    if not _listish(stages) or not list(stages):
        raise ValueError(f"field 'stages' must be a non-empty list of policy specs, got {stages!r}")
    pols = [_stage_policy(s, f"'stages'[{i}]") for i, s in enumerate(stages)]
    return _multi_spec(pols, check_boundaries(boundaries, len(pols)))


def _factors(values: Any, n: int, field: str) -> list[float]:
    rule = f"a list of {n} finite numbers > 0 (one per stage)"
    if not _listish(values):
        raise ValueError(f"field '{field}' must be {rule}, got {values!r}")
    vals = list(values)
    if len(vals) != n or any(not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v) or not v > 0
                             for v in vals):
        raise ValueError(f"field '{field}' must be {rule}, got {vals!r}")
    return [float(v) for v in vals]


def _scaled(value: Any, factor: float) -> Any:
    if isinstance(value, tuple):
        return tuple(_scaled(v, factor) for v in value)
    if value is None or factor == 1:
        return value
    return _clean(value * factor)


def homogeneous(family_spec: str, boundaries: Sequence[int], decay: float = 0.1,
                l_factors: Sequence[float] | None = None, families: Sequence[str] | None = None) -> str:
    """A homogeneous composite: the policy ``family_spec`` in every stage, its LR parameters
    multiplied by ``decay**i`` in stage i (stage i starts at ``boundaries[i]``, local time).

    Rules:

    * LR parameters are those declared as learning rates (``lr_param``: k, k0, k1, lr, min_lr,
      warmup_max_lr, …); ratios, γ, powers and choices are kept. ``decay`` is a finite number > 0
      (< 1 gives decreasing LR ranges, as in 004 Table 7 and 000 Table I).
    * ``l_factors`` (optional, one per stage): time parameters — durations and iteration indices
      such as the half-cycle/step size ``l``, NSTEP milestones, ``total`` — are multiplied by
      ``l_factors[i]`` in stage i. Default: unchanged.
    * ``families`` (optional, one per stage): the policy name used in stage i, taking the same
      parameters (e.g. TRI → TRI2; TRI → TRIEXP fails, TRIEXP needs γ). Strictly the paper calls
      a composite of one LR function homogeneous and one mixing functions (Table 7's TRI, TRI2,
      TRI2) heterogeneous; this option derives such a composite by the same decay rule.
    * ``family_spec`` must be one formula policy (not MULTI/SCALE/SHIFT and not state-based).
    * Values are rounded to 12 significant digits.

    004 Table 7's composite, exactly:

    >>> homogeneous("TRI(k0=0.001, k1=0.005, l=2000)", [0, 60000, 65000], decay=0.1,
    ...             l_factors=[1, 0.5, 0.25], families=["TRI", "TRI2", "TRI2"])  # doctest: +NORMALIZE_WHITESPACE
    'MULTI({0: TRI(k0=0.001, k1=0.005, l=2000), 60000: TRI2(k0=0.0001, k1=0.0005, l=1000),
    65000: TRI2(k0=1e-05, k1=5e-05, l=500)})'
    """
    from lrkit.policies import PolicyError, build, lookup

    base = _stage_policy(family_spec, "'family_spec'")
    if base.family in ("composite", "state"):
        raise ValueError(f"field 'family_spec' must be one LR function (a fixed, decaying, cyclic or llm policy), got "
                         f"{base.name} ({base})")
    b = check_boundaries(boundaries)
    n = len(b)
    if not isinstance(decay, numbers.Real) or isinstance(decay, bool) or not math.isfinite(decay) or not decay > 0:
        raise ValueError(f"field 'decay' must be a finite number > 0 (the LR factor between stages), got {decay!r}")
    lf = [1.0] * n if l_factors is None else _factors(l_factors, n, "l_factors")
    if families is None:
        names = [base.name] * n
    else:
        if not _listish(families) or len(list(families)) != n:
            raise ValueError(f"field 'families' must be a list of {n} policy names (one per stage), got {families!r}")
        names = []
        for i, name in enumerate(families):
            try:
                names.append(lookup(name).name)
            except PolicyError as e:
                raise ValueError(f"field 'families'[{i}]: {e}") from None
    stages = []
    for i in range(n):
        params = {}
        for f in base.parameters():
            v = getattr(base, f.name)
            if f.metadata.get("check") == "lr":
                v = _scaled(v, decay**i)
            elif f.metadata.get("time") == "time":
                v = _scaled(v, lf[i])
            params[f.name] = v
        try:
            stages.append(build(names[i], params))
        except PolicyError as e:
            raise ValueError(f"field 'families'[{i}]: {names[i]} cannot take {base.name}'s parameters "
                             f"({', '.join(params)}): {e}") from None
    return _multi_spec(stages, b)


# ---- Change-LR-On-Plateau compositions ----------------------------------------------------------


def _values(x: Any, field: str) -> list:
    vals = list(x) if _listish(x) else [x]
    if not vals:
        raise ValueError(f"field '{field}' must be a value or a non-empty list of values, got {x!r}")
    return vals


def plateau_compositions(candidates: Sequence[str], *, orders: str = "descending", patience=(5,), threshold=(0.05,),
                         switch_at=None, iters: int | None = None, start=0, monitor: str = "loss",
                         mode: str | None = None, horizon: int | None = None) -> list[str]:
    """Change-LR-On-Plateau (004 Algorithm 1) specs over ``candidates`` (LR functions).

    Algorithm 1 needs the functions ordered p¹(t) ≥ p²(t) ≥ … ≥ pⁿ(t): on a plateau "increase"
    moves to i − 1 and "decrease" to i + 1. The candidates are evaluated on t = 0 … T − 1 with
    T = ``horizon`` (default ``iters``, else :data:`DEFAULT_HORIZON`), at the global t as
    ChangeLROnPlateau evaluates them, and ``orders`` says what is done with them:

    * ``"descending"`` (default): sorted by mean LR over the horizon, largest first (stable: ties
      keep the given order).
    * ``"given"``: kept as given; the mean LRs must not increase (error otherwise).
    * ``"pointwise"``: kept as given; p^j(t) ≥ p^{j+1}(t) must hold at every t of the horizon
      (the paper's condition; cyclic functions whose ranges overlap fail it).

    At least 2 distinct candidates (canonical specs) are needed; state-based ones are refused.
    ``start`` (the index of the starting function in the final order, default 0 = the largest),
    ``switch_at`` (the iteration from which plateaus decrease the LR; default ``iters // 2``, so
    give ``switch_at`` or ``iters``), ``patience`` and ``threshold`` each take a value or a list:
    one spec per combination, in the order (start, switch_at, patience, threshold) with the last
    varying fastest, de-duplicated. ``monitor``: ``"loss"`` (training loss, every iteration),
    ``"test_loss"`` or ``"test_top1"``; ``mode`` defaults to ``"max"`` for ``test_top1`` and
    ``"min"`` otherwise.

    >>> plateau_compositions(["FIX(k=0.001)", "FIX(k=0.005)"], iters=1000)
    ['ChangeLROnPlateau(policies=[FIX(k=0.005), FIX(k=0.001)], switch_at=500)']
    """
    import numpy as np

    from lrkit.policies import ChangeLROnPlateau, MetricPolicy, PolicyError

    if orders not in ORDERS:
        raise ValueError(f"field 'orders' must be one of {', '.join(map(repr, ORDERS))}, got {orders!r}")
    if not _listish(candidates):
        raise ValueError(f"field 'candidates' must be a list of at least 2 policy specs, got {candidates!r}")
    pols = []
    for j, spec in enumerate(candidates):
        pol = _parse(spec, f"'candidates'[{j}]")
        if isinstance(pol, MetricPolicy):
            raise ValueError(f"field 'candidates'[{j}]: {pol.name} is state-based; Change-LR-On-Plateau switches "
                             "between formula policies (fixed, decaying, cyclic, composite, llm)")
        if any(str(pol) == str(p) for p in pols):
            raise ValueError(f"field 'candidates'[{j}]: {pol} is given twice; the candidates must be distinct")
        pols.append(pol)
    if len(pols) < 2:
        raise ValueError(f"field 'candidates' must hold at least 2 distinct policy specs (Algorithm 1 switches "
                         f"between them), got {len(pols)}")
    if iters is not None and (not _int(iters) or iters < 1):
        raise ValueError(f"field 'iters' must be an int >= 1 (the training iterations), got {iters!r}")
    T = horizon if horizon is not None else (iters if iters is not None else DEFAULT_HORIZON)
    if not _int(T) or T < 1:
        raise ValueError(f"field 'horizon' must be an int >= 1 (iterations to compare the candidates on), got {T!r}")
    t = np.arange(int(T), dtype=np.float64)
    curves = [np.asarray(p(t), dtype=np.float64) for p in pols]
    means = [float(c.mean()) for c in curves]
    tol = 1e-12
    if orders == "descending":
        order = sorted(range(len(pols)), key=lambda j: -means[j])
        pols = [pols[j] for j in order]
    elif orders == "given":
        for j in range(len(pols) - 1):
            if means[j + 1] > means[j] * (1 + tol):
                raise ValueError(f"field 'candidates' must be in descending order (p1 >= p2 >= ...) by mean LR over "
                                 f"t < {T} with orders='given': candidate {j + 1} ({pols[j + 1]}, mean {means[j + 1]:.6g}) "
                                 f"> candidate {j} ({pols[j]}, mean {means[j]:.6g}); use orders='descending' to sort")
    else:
        for j in range(len(pols) - 1):
            over = np.nonzero(curves[j + 1] > curves[j] * (1 + tol))[0]
            if len(over):
                k = int(over[0])
                raise ValueError(f"field 'candidates' must be in descending order pointwise (p{j + 1}(t) >= p{j + 2}(t) "
                                 f"for every t < {T}) with orders='pointwise': at t={k}, candidate {j + 1} "
                                 f"({pols[j + 1]}) = {curves[j + 1][k]:.6g} > candidate {j} ({pols[j]}) = "
                                 f"{curves[j][k]:.6g}")
    if switch_at is None:
        if iters is None:
            raise ValueError("field 'switch_at' is needed (the iteration from which plateaus decrease the LR): give "
                             "'switch_at', or 'iters' for the default iters // 2")
        switch_at = iters // 2
    if mode is None:
        mode = "max" if monitor == "test_top1" else "min"
    out = {}
    for s, sw, pa, th in itertools.product(_values(start, "start"), _values(switch_at, "switch_at"),
                                           _values(patience, "patience"), _values(threshold, "threshold")):
        try:
            p = ChangeLROnPlateau(policies=pols, start=s, switch_at=sw, patience=pa, threshold=th, monitor=monitor,
                                  mode=mode)
        except PolicyError as e:
            raise ValueError(f"plateau_compositions: {e}") from None
        out.setdefault(str(p), None)
    return list(out)


# ---- trials ---------------------------------------------------------------------------------------


def composition_trials(specs: Sequence[str], lams: Sequence[float] | None = None, seeds=(0,)) -> list[Trial]:
    """Search trials for ``run_search``: one per spec × λ × seed (seeds varying fastest).

    Specs are parsed and stored in canonical form, duplicates dropped (first kept). ``lams``:
    None (λ = 1) or numbers > 0; ``seeds``: an int or a list of ints. A state-based spec (e.g. a
    :func:`plateau_compositions` spec) takes no λ other than 1 — SCALE would hide it from the
    metrics — and state-based policies nested in MULTI/SCALE/SHIFT are refused (see the module
    rules).

    >>> [t.spec for t in composition_trials(["MULTI({0: FIX(k=0.1), 100: FIX(k=0.01)})"], lams=[0.5])]
    ['0.5*MULTI({0: FIX(k=0.1), 100: FIX(k=0.01)})']
    """
    from lrkit.policies import MetricPolicy

    if not _listish(specs) or not list(specs):
        raise ValueError(f"field 'specs' must be a non-empty list of policy specs, got {specs!r}")
    lams, seeds = _lams(lams), _seeds(seeds)
    pols: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        pol = _parse(spec, f"'specs'[{i}]")
        if isinstance(pol, MetricPolicy) and any(lam not in (None, 1.0) for lam in lams):
            raise ValueError(f"field 'lams' must be None (λ = 1) for the state-based spec 'specs'[{i}] ({pol.name}): "
                             "λ·policy would hide it from the metrics; scale its candidate functions instead")
        pols.setdefault(str(pol), pol)
    return [Trial(spec, lam, s) for spec in pols for lam in lams for s in seeds]
