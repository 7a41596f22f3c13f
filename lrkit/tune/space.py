"""Search spaces: which trials a grid or random search runs (000 §V, Table IV and Fig. 6).

A trial is one training run: a base policy, an LR coefficient λ (η' = λ·η, the policy scaled; None
means λ = 1) and a seed. Trials are plain data (specs, numbers), so they cross process and cluster
boundaries, and the same definition gives the same trials on every executor.

- :func:`grid_trials`: the Cartesian product of policies × parameter values × λ values × seeds.
- :func:`random_trials`: ``samples`` draws (per policy) of the parameters and λ from ranges, with a
  seeded generator (``numpy.random.default_rng(seed)``): the same seed gives the same trials. λ and
  parameters spanning decades are drawn log-uniformly by default (``scale="log"``).
- :func:`follow_up_trials`: a one-parameter grid around a best point (factors × value; the k1/k0
  ratio of a cyclic policy as the parameter ``ratio``), as in 000 Fig. 6's follow-up.

Parameter names are the policy's own (``k``, ``k0``, ``k1``, ``gamma``, ``l``, …); ``ratio`` sets
``k1 = ratio · k0``. Time parameters are in iterations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

SCALES = ("log", "linear")


@dataclass(frozen=True)
class Trial:
    """One point of a search: ``spec`` is what is trained (``λ·policy`` when λ is set)."""

    policy: str
    lam: float | None = None
    seed: int = 0

    @property
    def spec(self) -> str:
        from lrkit.policies import SCALE, MetricPolicy, parse

        pol = parse(self.policy)
        if self.lam is None or self.lam == 1:
            return str(pol)
        if isinstance(pol, MetricPolicy):  # SCALE does not hand metrics to a state-based policy inside it
            raise ValueError(f"λ = {self.lam} cannot scale the state-based policy {pol.name}: scale its candidate "
                             "policies instead (e.g. ChangeLROnPlateau(policies=[0.5*FIX(k=0.1), ...]))")
        return str(SCALE(lam=self.lam, policy=pol))

    def to_dict(self) -> dict:
        return {"policy": self.policy, "lam": self.lam, "seed": self.seed}


def _set_param(policy, name: str, value):
    """``policy`` with parameter ``name`` set (``ratio``: k1 = ratio·k0)."""
    if name == "ratio":
        if not hasattr(policy, "k0") or not hasattr(policy, "k1"):
            raise ValueError(f"parameter 'ratio' (k1 = ratio·k0) needs a policy with k0 and k1, not {policy.name}")
        k1 = _clean(value * policy.k0)
        both_int = all(isinstance(x, int) and not isinstance(x, bool) for x in (value, policy.k0))
        return policy.replace(k1=int(k1) if both_int or (isinstance(policy.k0, int) and k1.is_integer()) else k1)
    names = [f.name for f in policy.parameters()]
    if name not in names:
        raise ValueError(f"{policy.name} has no parameter '{name}'; allowed: {', '.join(names + ['ratio'])}")
    return policy.replace(**{name: value})


def _clean(x: float) -> float:
    return float(f"{x:.12g}")


def _policies(policies: Sequence[str]):
    from lrkit.policies import parse

    if isinstance(policies, str) or not policies:
        raise ValueError(f"field 'policies' must be a non-empty list of policy specs, got {policies!r}")
    return [parse(p) for p in policies]


def _seeds(seeds) -> list[int]:
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    if not seeds or any(not isinstance(s, int) or isinstance(s, bool) for s in seeds):
        raise ValueError(f"field 'seeds' must be an int or a non-empty list of ints, got {seeds!r}")
    return seeds


def _lams(lams) -> list[float | None]:
    if lams is None:
        return [None]
    lams = list(lams)
    if not lams or any(not isinstance(x, (int, float)) or isinstance(x, bool) or not x > 0 for x in lams):
        raise ValueError(f"field 'lams' must be a non-empty list of numbers > 0 (the LR coefficient λ), got {lams!r}")
    return [float(x) for x in lams]


def grid_trials(policies: Sequence[str], params: Mapping[str, Sequence] | None = None,
                lams: Sequence[float] | None = None, seeds=(0,)) -> list[Trial]:
    """Every combination of a policy, one value per parameter in ``params``, a λ and a seed.

    >>> [t.spec for t in grid_trials(["FIX(k=0.1)"], lams=[0.5, 2])]
    ['0.5*FIX(k=0.1)', '2.0*FIX(k=0.1)']
    """
    import itertools

    pols, seeds, lams = _policies(policies), _seeds(seeds), _lams(lams)
    params = dict(params or {})
    for name, values in params.items():
        if isinstance(values, (str, bytes)) or not list(values):
            raise ValueError(f"parameter '{name}': give a non-empty list of values, got {values!r}")
    trials = []
    for pol in pols:
        for combo in itertools.product(*[list(v) for v in params.values()]):
            p = pol
            for name, value in zip(params, combo):
                p = _set_param(p, name, value)
            for lam in lams:
                for s in seeds:
                    trials.append(Trial(str(p), lam, s))
    return trials


def _draw(rng, lo: float, hi: float, scale: str) -> float:
    if scale == "log":
        return _clean(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return _clean(rng.uniform(lo, hi))


def _check_range(name: str, r) -> tuple[float, float, str]:
    if isinstance(r, Mapping):
        lo, hi, scale = r.get("lo"), r.get("hi"), r.get("scale", "log")
    else:
        r = tuple(r)
        lo, hi, scale = (r + ("log",))[:3] if len(r) in (2, 3) else (None, None, None)
    if scale not in SCALES:
        raise ValueError(f"range of '{name}': scale must be one of {', '.join(SCALES)}, got {scale!r}")
    ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (lo, hi)) and lo < hi
    if not ok or (scale == "log" and lo <= 0):
        raise ValueError(f"range of '{name}' must be (lo, hi[, 'log'|'linear']) with lo < hi"
                         + (" and lo > 0 on a log scale" if scale == "log" else "") + f", got {r!r}")
    return float(lo), float(hi), scale


def random_trials(policies: Sequence[str], ranges: Mapping[str, Sequence] | None = None,
                  lam_range: Sequence | None = None, samples: int = 5, seed: int = 0, seeds=(0,),
                  integer: Sequence[str] = ("l",)) -> list[Trial]:
    """``samples`` random points per policy: each parameter of ``ranges`` and λ (``lam_range``)
    drawn from (lo, hi[, scale]) with ``default_rng(seed)``; every point trained with each seed of
    ``seeds``. Parameters named in ``integer`` are rounded (half cycles and step sizes)."""
    import numpy as np

    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ValueError(f"field 'samples' must be an int >= 1, got {samples!r}")
    pols, seeds = _policies(policies), _seeds(seeds)
    checked = {name: _check_range(name, r) for name, r in dict(ranges or {}).items()}
    lam = _check_range("lambda", lam_range) if lam_range is not None else None
    if not checked and lam is None:
        raise ValueError("random search needs something to draw: 'ranges' of parameters and/or 'lam_range'")
    rng = np.random.default_rng(seed)
    trials = []
    for pol in pols:
        for _ in range(samples):
            p = pol
            for name, (lo, hi, scale) in checked.items():
                v = _draw(rng, lo, hi, scale)
                p = _set_param(p, name, int(round(v)) if name in integer else v)
            lam_v = _draw(rng, *lam) if lam is not None else None
            for s in seeds:
                trials.append(Trial(str(p), lam_v, s))
    return trials


def follow_up_trials(best: Trial | str, param: str, factors: Sequence[float] = (0.5, 0.75, 1.0, 1.5, 2.0),
                     seeds=(0,)) -> list[Trial]:
    """A one-parameter grid around ``best``: ``param`` × each factor (``ratio``: the k1/k0 ratio
    × factor), other parameters and λ unchanged."""
    from lrkit.policies import parse

    best = best if isinstance(best, Trial) else Trial(str(parse(best)))
    pol = parse(best.policy)
    base = pol.k1 / pol.k0 if param == "ratio" and hasattr(pol, "k0") else getattr(pol, param, None)
    if param != "ratio" and param not in [f.name for f in pol.parameters()]:
        raise ValueError(f"{pol.name} has no parameter '{param}'; allowed: "
                         f"{', '.join([f.name for f in pol.parameters()] + ['ratio'])}")
    if not isinstance(base, (int, float)):
        raise ValueError(f"parameter '{param}' of {pol.name} is not a number ({base!r})")
    trials = []
    for f in factors:
        v = _clean(base * f)
        if param in ("l",):
            v = max(1, int(round(v)))
        p = _set_param(pol, param, v)
        for s in _seeds(seeds):
            trials.append(Trial(str(p), best.lam, s))
    seen, out = set(), []
    for t in trials:  # factors that round to the same value give one trial
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out
