"""What the M-opt LR measured during a run says about its applied LR (004 §4.2, Formula 7).

A run trained with ``TrainConfig.mopt_every = M`` records, for t = 0, M, 2M, … (iterations),
η* = η_{t+1} · ‖Θ_{t+1} − Θ_t‖₁ / ‖2Θ_{t+1} − Θ_t − Θ_{t+2}‖₁ beside the applied η_{t+1}
(``record.mopt``). :func:`mopt_summary` reduces them to the ratio η*/η: below 1 the applied LR is
above the M-opt estimate (it suggests a smaller LR), above 1 it is below (a larger LR).
"""

from __future__ import annotations

import math

import numpy as np


def _number(v) -> float:
    """A recorded number; non-finite values come back from JSON as strings ("nan", "inf")."""
    return float("nan") if v is None else float(v)


def mopt_measurements(record) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(iteration t, applied η_{t+1}, η*) of a :class:`~lrkit.train.RunRecord` or its JSON dict, as
    float arrays (iterations as int64); empty for records without M-opt measurements."""
    m = (record.get("mopt") if isinstance(record, dict) else getattr(record, "mopt", None)) or {}
    t = np.asarray(m.get("iteration", []), dtype=np.int64)
    lr = np.asarray([_number(v) for v in m.get("lr", [])], dtype=np.float64)
    eta = np.asarray([_number(v) for v in m.get("mopt_lr", [])], dtype=np.float64)
    if not (len(t) == len(lr) == len(eta)):
        raise ValueError(f"record 'mopt': iteration, lr and mopt_lr differ in length ({len(t)}, {len(lr)}, {len(eta)})")
    return t, lr, eta


def mopt_summary(record) -> dict:
    """The M-opt LR against the applied LR over a run.

    ratio_i = η*_i / η_{t_i+1} over the measurements with η > 0 and η* not NaN (η* = inf, two equal
    updates, counts as "any larger LR"). Returns ``measurements`` (all), ``used`` (in the ratios),
    ``median_ratio``, ``fraction_applied_above`` (share of ratios < 1), ``median_mopt_lr``,
    ``applied`` ("above" when the median ratio < 1, "below" when > 1, "equal", or None without data)
    and ``suggests`` ("smaller", "larger" or None): the LR the M-opt estimate points to.
    """
    _, lr, eta = mopt_measurements(record)
    ok = (lr > 0) & ~np.isnan(eta)
    ratios = eta[ok] / lr[ok]
    out = {"measurements": len(eta), "used": int(ok.sum()), "median_ratio": None, "fraction_applied_above": None,
           "median_mopt_lr": None, "applied": None, "suggests": None}
    if not len(ratios):
        return out
    med = float(np.median(ratios))
    out.update(median_ratio=med, fraction_applied_above=float(np.mean(ratios < 1)),
               median_mopt_lr=float(np.median(eta[ok])))
    if math.isnan(med):  # inf/inf cannot happen (η finite), but stay total
        return out
    out["applied"] = "above" if med < 1 else "below" if med > 1 else "equal"
    out["suggests"] = {"above": "smaller", "below": "larger", "equal": None}[out["applied"]]
    return out
