"""Reading the good LR range off accuracy-vs-k curves (004 §4.1, Fig. 4), and the search-space reduction."""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import numpy as np


def search_space_reduction(lo: float, hi: float) -> float:
    """The paper's search-space reduction in percent: (1 − (hi − lo)) · 100, i.e. the share of the
    LR domain [0, 1] that the range [lo, hi] removes (004 §4.1: 99.4 % for [0.00005, 0.006])."""
    return (1.0 - (hi - lo)) * 100.0


class OpenRangeError(ValueError):
    """The grid does not bracket the range: the good stretch reaches the smallest or the largest
    tested ``k`` (no rise or no fall-off observed). ``lo``/``hi`` hold the open-ended range found."""

    def __init__(self, message: str, lo: float, hi: float):
        super().__init__(message)
        self.lo, self.hi = lo, hi


def _curve_range(ks: np.ndarray, acc: np.ndarray, drop: float, stable: float) -> tuple[int, int, float]:
    """Indices (m, j) of the good stretch of one finite curve and its peak accuracy (see pick_range)."""
    a_max = float(np.max(acc))
    p = int(np.argmax(acc))  # the first index of the maximum
    j = p
    while j + 1 < len(acc) and acc[j + 1] >= a_max - drop:
        j += 1
    m = p
    while m - 1 >= 0 and acc[m - 1] >= a_max - stable:
        m -= 1
    return m, j, a_max


def pick_range(ks: Sequence[float], acc_by_budget: Mapping[Any, Sequence[float]] | Sequence[float],
               drop: float = 0.05, stable: float = 0.05, chance: float = 0.0,
               open_ok: bool = False) -> tuple[float, float]:
    """The good LR range ``(lo, hi)`` read off accuracy-vs-k curves (004 §4.1, Fig. 4).

    Inputs: ``ks`` the tested fixed LRs (any order, > 0); ``acc_by_budget`` maps each budget
    (iterations) to its top-1 accuracies (fractions), one per k — or is a single curve. NaN (or
    None) marks a missing point (a failed run) and is dropped from that curve. Diverged runs
    should be given at chance level (:func:`range_test_grid` does), so they count as a fall-off.
    ``drop``, ``stable`` and ``chance`` are accuracies (fractions, absolute points).

    Rule, per budget (points sorted by k, missing ones dropped):

    * ``a_max`` = the highest accuracy, at ``k_peak`` (the smallest k reaching it). A budget with
      ``a_max <= chance + drop`` learned nothing usable and is ignored.
    * ``hi`` = the largest k such that every point from ``k_peak`` up to it has accuracy
      ``>= a_max − drop``: the last k before the accuracy falls off ("the accuracy drops much
      faster after k = 0.006").
    * ``lo`` = the smallest k such that every point from it up to ``k_peak`` has accuracy
      ``>= a_max − stable``: where the accuracy increase has stabilised.

    Budgets are combined conservatively: ``lo = max`` of the per-budget ``lo`` and ``hi = min`` of
    the per-budget ``hi`` (the range is good for every budget tested; the paper observes that all
    budgets show the same pattern). If the budgets disagree so much that ``lo > hi``, the rule is
    applied once to the mean curve (mean accuracy over the usable budgets at each k) instead.

    Raises ValueError (naming the argument) for bad input and when no budget learned anything
    (e.g. every run diverged); :class:`OpenRangeError` (a ValueError carrying the open ``lo``/``hi``)
    when the range touches the smallest or largest k tested — the grid does not bracket it
    (e.g. a monotone curve) — unless ``open_ok=True``, which returns that range.

    >>> ks = [1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 3e-3, 6e-3, 1e-2, 5e-2, 1e-1]
    >>> pick_range(ks, [.35, .55, .68, .78, .80, .81, .79, .70, .35, .10])   # Fig. 4's shape
    (0.0005, 0.006)
    """
    ks_arr = np.asarray(ks, dtype=float)
    if ks_arr.ndim != 1 or ks_arr.size == 0:
        raise ValueError(f"pick_range: ks must be a non-empty 1-D sequence of LRs, got {ks!r}")
    if not np.all(np.isfinite(ks_arr)) or np.any(ks_arr <= 0):
        raise ValueError(f"pick_range: ks must be finite LRs > 0, got {list(ks)}")
    if len(set(ks_arr.tolist())) != ks_arr.size:
        raise ValueError(f"pick_range: ks must be distinct, got {list(ks)}")
    for name, v in (("drop", drop), ("stable", stable)):
        if not (isinstance(v, (int, float)) and 0 <= v < 1):
            raise ValueError(f"pick_range: {name} must be an accuracy difference in [0, 1), got {v!r}")
    if not isinstance(acc_by_budget, Mapping):
        acc_by_budget = {"curve": acc_by_budget}
    if not acc_by_budget:
        raise ValueError("pick_range: acc_by_budget is empty; give {budget: [accuracy per k]}")
    order = np.argsort(ks_arr)
    ks_s = ks_arr[order]
    curves = {}
    for b, acc in acc_by_budget.items():
        a = np.array([np.nan if v is None else float(v) for v in acc], dtype=float)
        if a.shape != ks_arr.shape:
            raise ValueError(f"pick_range: budget {b!r} has {a.size} accuracies for {ks_arr.size} ks")
        curves[b] = a[order]

    usable = {b: a for b, a in curves.items() if np.any(np.isfinite(a)) and np.nanmax(a) > chance + drop}
    if not usable:
        raise ValueError(
            f"pick_range: no budget trained above chance level ({chance:.4g} + drop {drop:g}) at any k — "
            "every run diverged, failed, or learned nothing; try smaller ks or a longer budget")

    def one(a: np.ndarray) -> tuple[float, float, bool, bool]:
        ok = np.isfinite(a)
        k, acc = ks_s[ok], a[ok]
        m, j, _ = _curve_range(k, acc, drop, stable)
        return float(k[m]), float(k[j]), m == 0, j == len(k) - 1

    per = {b: one(a) for b, a in usable.items()}
    lo = max(r[0] for r in per.values())
    hi = min(r[1] for r in per.values())
    open_lo = all(r[2] for r in per.values())
    open_hi = all(r[3] for r in per.values())
    if lo > hi:  # budgets disagree: fall back to the mean curve
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(np.vstack(list(usable.values())), axis=0)
        lo, hi, open_lo, open_hi = one(mean)
    if (open_lo or open_hi) and not open_ok:
        parts = []
        if open_lo:
            parts.append(f"the accuracy is already near its best at the smallest k tested ({ks_s[0]:g}): "
                         "add smaller ks")
        if open_hi:
            parts.append(f"no fall-off is observed up to the largest k tested ({ks_s[-1]:g}): add larger ks")
        raise OpenRangeError(f"pick_range: the ks do not bracket the good range [{lo:g}, {hi:g}]; "
                             + "; ".join(parts) + " (or pass open_ok=True)", lo, hi)
    return lo, hi
