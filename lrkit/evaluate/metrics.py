"""The evaluation metrics of LR policies (004 §4, §5): utility, cost and robustness.

Small pure functions over run records (``RunRecord`` or its dict) and lists of numbers.
Accuracies are fractions in [0, 1]; iterations count optimizer steps; times are seconds.

- utility: highest and final top-1 / top-5 accuracy of a run (:func:`utility`);
- cost: iterations — and wall time — until the test top-1 first reaches a target (:func:`cost`);
  the eval schedule limits the resolution (an eval every 500 iterations reports multiples of 500);
- robustness: mean ± std of a metric over repeated seeds (:func:`mean_std`), and the accuracy drop
  when the policy is scaled by λ (η' = λ·η, 000 §V) for λ ∈ :data:`LAMBDAS` (:func:`lambda_drop`).
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

from lrkit.train.jsonsafe import read_number

LAMBDAS = (0.1, 0.5, 5.0, 10.0)


def _rec(record) -> Mapping:
    if isinstance(record, Mapping):
        return record
    return {"evals": record.evals, "summary": record.summary, "curves": record.curves, "status": record.status}


def utility(record) -> dict:
    """``{"highest_top1", "highest_top1_iteration", "final_top1", "highest_top5", "final_top5"}`` of a run,
    from its evals (None where the run has none)."""
    ev = _rec(record).get("evals") or {}
    it, top1, top5 = ev.get("iteration") or [], [read_number(v) for v in ev.get("top1") or []], ev.get("top5") or []
    out = {"highest_top1": None, "highest_top1_iteration": None, "final_top1": None, "highest_top5": None,
           "final_top5": None}
    finite = [(a, i) for a, i in zip(top1, it) if a is not None and math.isfinite(a)]
    if finite:
        best = max(finite, key=lambda p: (p[0], -p[1]))  # the first eval that reached the highest value
        out.update(highest_top1=best[0], highest_top1_iteration=int(best[1]), final_top1=top1[-1])
    t5 = [read_number(v) for v in top5 if v is not None]
    if t5:
        out.update(highest_top5=max(t5), final_top5=read_number(top5[-1]))
    return out


def iterations_to_target(iterations: Iterable[int], top1: Iterable[float], target: float) -> int | None:
    """The first eval iteration whose top-1 ≥ ``target`` (None if never); a missing or non-finite
    eval (None, or NaN stored as text) never counts."""
    if not 0 < target <= 1:
        raise ValueError(f"target must be a fraction in (0, 1], got {target!r}")
    for it, a in zip(iterations, top1):
        if a is not None and math.isfinite(read_number(a)) and read_number(a) >= target:
            return int(it)
    return None


def cost(record, target: float) -> dict:
    """``{"iterations_to_target", "wall_time_to_target_s"}``: the first eval reaching ``target``, and the
    wall time to it estimated as ``wall_time_s · iterations_to_target / iterations`` (runs record
    their total wall time, not per eval; training time per iteration is close to constant)."""
    rec = _rec(record)
    ev = rec.get("evals") or {}
    n = iterations_to_target(ev.get("iteration") or [], ev.get("top1") or [], target)
    summ = rec.get("summary") or {}
    wall, iters = summ.get("wall_time_s"), summ.get("iterations")
    wt = None if n is None or not wall or not iters else float(wall) * n / float(iters)
    return {"iterations_to_target": n, "wall_time_to_target_s": wt}


def mean_std(values: Iterable[float | None]) -> tuple[float | None, float | None, int]:
    """(mean, sample std (ddof = 1; None for one value), n) of the finite values."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not xs:
        return None, None, 0
    m = sum(xs) / len(xs)
    if len(xs) == 1:
        return m, None, 1
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)), len(xs)


def lambda_drop(base: float, scaled: Mapping[float, float | None]) -> dict:
    """The accuracy drop ``base − acc(λ)`` for each λ (None where λ's accuracy is unknown), and
    ``worst`` (the largest drop) — how far a policy falls when its LR is off by λ."""
    drops = {float(lam): (None if a is None else float(base) - float(a)) for lam, a in scaled.items()}
    known = [d for d in drops.values() if d is not None]
    return {"drops": drops, "worst": max(known) if known else None}


def robust_score(mean: float | None, std: float | None) -> float | None:
    """The robustness ranking score: mean − std (a lower bound of the accuracy one can expect from
    another seed). None without a spread (a single run with no published std)."""
    if mean is None or std is None:
        return None
    return mean - std
