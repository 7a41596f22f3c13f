"""The LR value range test (004 §4.1, Fig. 4), the one-run LR sweep (Smith 2017), and starting policies.

Two ways to find the range of good LR values ``[lo, hi]`` (``k`` is a learning rate; budgets
and ``num_iter`` are iterations, i.e. optimizer steps; accuracies are fractions in [0, 1]):

* :func:`range_test_grid` — the paper's test: short runs at FIXED LRs ``FIX(k)`` on a base-10
  log grid of ``k``, for a few short training budgets; top-1 accuracy vs log k, one curve per
  budget (:meth:`GridRangeResult.plot` draws Fig. 4); :func:`pick_range` reads the range off
  the curves. The CNN3/CIFAR-10 example gives [0.0005, 0.006], a search-space reduction of
  (1 − (hi − lo))·100 % of [0, 1] (:func:`search_space_reduction`).
* :func:`lr_sweep` / :func:`range_test_sweep` — the "LR finder": one run in which the LR grows
  exponentially from ``start_lr`` to ``end_lr``; the smoothed training loss vs LR gives the
  suggestions "steepest" and "valley" (fastai) and a range (:attr:`SweepResult.lo`/``hi``).
  Model, optimizer (and, when it can, the batch stream and torch RNG) are restored afterwards.

:func:`recommend_policies` turns a range into a few starting policies (FIX, TRI2, SIN2, COS, NSTEP,
EXP) the way the paper's Tables 4–6 build their policies from the good LR values.

>>> pick_range([1e-4, 1e-3, 1e-2, 1e-1], {100: [0.5, 0.9, 0.92, 0.1]})
(0.001, 0.01)
>>> round(search_space_reduction(0.00005, 0.006), 3)   # the paper's 99.4 % for CIFAR-10
99.405
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import warnings
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from lrkit.run import execute, preflight
from lrkit.train.engine import Run, TrainConfig, train_step

__all__ = [
    "DEFAULT_BUDGET_FRACTIONS",
    "GridRangeResult",
    "OpenRangeError",
    "SweepResult",
    "default_ks",
    "load_result",
    "lr_sweep",
    "pick_range",
    "range_test_grid",
    "range_test_sweep",
    "recommend_policies",
    "search_space_reduction",
    "sweep_suggestions",
]

#: Default grid budgets as fractions of ``base_cfg.iters``.
DEFAULT_BUDGET_FRACTIONS = (0.1, 0.2, 0.5)

# --------------------------------------------------------------------------------------------
# Small pure functions


def default_ks(start_exp: int = -5, stop_exp: int = 0, per_decade: int = 3) -> list[float]:
    """The default grid of LRs ``k``: 10^start_exp … 10^stop_exp, ``per_decade`` points per decade,
    equally spaced in log10 k, rounded to 3 significant digits (1e-05, 2.15e-05, 4.64e-05, 1e-04, …).

    >>> default_ks(-2, 0)
    [0.01, 0.0215, 0.0464, 0.1, 0.215, 0.464, 1.0]
    """
    if per_decade < 1 or stop_exp < start_exp:
        raise ValueError(f"default_ks: need per_decade >= 1 and stop_exp >= start_exp, got {per_decade}, "
                         f"{start_exp}..{stop_exp}")
    n = (stop_exp - start_exp) * per_decade
    return [float(f"{10 ** (start_exp + i / per_decade):.3g}") for i in range(n + 1)]


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


# --------------------------------------------------------------------------------------------
# The grid range test (the paper's)


def _nan_to_none(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (np.floating,)):
        return _nan_to_none(float(v))
    if isinstance(v, np.integer):
        return int(v)
    return v


@dataclass
class GridRangeResult:
    """The result of :func:`range_test_grid`.

    ``runs``: a pandas DataFrame, one row per run: ``k`` (LR), ``budget`` (iterations), ``seed``,
    ``top1`` (fraction; chance level for a diverged run without an eval, NaN for a failed run),
    ``status`` (complete | diverged | failed), ``iterations`` (run), ``wall_s``, ``message``.
    ``lo``/``hi``: the range from :func:`pick_range` (None when none was found: see ``error``);
    ``note``: set when the range is open-ended (the grid did not bracket it). ``best_k``: the k
    with the highest mean top-1 on the longest usable budget, among the ks inside [lo, hi] when
    there is a range. ``reduction``: :func:`search_space_reduction` (percent).
    """

    runs: Any  # pandas.DataFrame
    ks: list[float]
    budgets: list[int]
    lo: float | None = None
    hi: float | None = None
    best_k: float | None = None
    chance: float = 0.0
    rule: dict = field(default_factory=dict)
    note: str = ""
    error: str = ""
    config: dict = field(default_factory=dict)
    method: str = "grid"

    @property
    def reduction(self) -> float | None:
        return None if self.lo is None or self.hi is None else search_space_reduction(self.lo, self.hi)

    @property
    def df(self):
        """The runs table (alias of ``runs``)."""
        return self.runs

    def acc_by_budget(self) -> dict[int, list[float]]:
        """Mean top-1 over seeds per budget, one value per k of ``ks`` (NaN where every run failed)."""
        df = self.runs
        out = {}
        for b in self.budgets:
            sub = df[df["budget"] == b]
            means = sub.groupby("k")["top1"].mean()
            out[b] = [float(means.get(k, np.nan)) for k in self.ks]
        return out

    def table(self):
        """A DataFrame indexed by k, one column per budget: mean top-1 in percent, or "diverged"
        / "failed" when every run at that point ended so (diverged runs sit at chance level)."""
        import pandas as pd

        rows = []
        for k in self.ks:
            row = {"k": k}
            for b in self.budgets:
                sub = self.runs[(self.runs["k"] == k) & (self.runs["budget"] == b)]
                if len(sub) and (sub["status"] == "failed").all():
                    row[f"{b} it"] = "failed"
                elif len(sub) and (sub["status"] == "diverged").all():
                    row[f"{b} it"] = "diverged"
                else:
                    row[f"{b} it"] = f"{100 * sub['top1'].mean():.2f}" if len(sub) else ""
            rows.append(row)
        return pd.DataFrame(rows).set_index("k")

    def plot(self, ax=None, title: str | None = None):
        """Fig. 4: top-1 (%) vs k on a log axis, one line per budget, diverged points as ×, the
        range [lo, hi] as two red dashed vertical lines. Returns the matplotlib Axes."""
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        colors = sns.color_palette("viridis", max(1, len(self.budgets)))
        acc = self.acc_by_budget()
        for color, b in zip(colors, self.budgets):
            y = 100 * np.asarray(acc[b])
            ax.plot(self.ks, y, marker="o", ms=4, color=color, label=f"{b} iterations")
            sub = self.runs[(self.runs["budget"] == b) & (self.runs["status"] == "diverged")]
            if len(sub):
                ax.scatter(sub["k"], 100 * sub["top1"], marker="x", color=color, zorder=3)
        ax.set_xscale("log")
        for v in (self.lo, self.hi):
            if v is not None:
                ax.axvline(v, color="red", linestyle="--", linewidth=1.2)
        ax.set_xlabel("fixed LR k (log scale)")
        ax.set_ylabel("top-1 accuracy (%)")
        if title is None:
            title = f"Top-1 vs k (FIX, {self.config.get('model', '?')}, {self.config.get('dataset', '?')})"
            if self.lo is not None:
                title += f": [{self.lo:g}, {self.hi:g}]"
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, title="budget", title_fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
        return ax

    def to_dict(self) -> dict:
        """A JSON-safe dict (NaN → None); :meth:`from_dict` reads it back."""
        runs = [{k: _nan_to_none(v) for k, v in r.items()} for r in self.runs.to_dict("records")]
        return {"method": "grid", "ks": list(self.ks), "budgets": list(self.budgets), "lo": self.lo, "hi": self.hi,
                "best_k": self.best_k, "reduction": self.reduction, "chance": self.chance, "rule": dict(self.rule),
                "note": self.note, "error": self.error, "config": dict(self.config), "runs": runs}

    @classmethod
    def from_dict(cls, d: Mapping) -> "GridRangeResult":
        import pandas as pd

        runs = pd.DataFrame(list(d.get("runs", [])), columns=_RUN_COLUMNS)
        runs["top1"] = runs["top1"].astype(float)
        return cls(runs=runs, ks=[float(k) for k in d["ks"]], budgets=[int(b) for b in d["budgets"]], lo=d.get("lo"),
                   hi=d.get("hi"), best_k=d.get("best_k"), chance=float(d.get("chance", 0.0)), rule=dict(d.get("rule", {})),
                   note=d.get("note", ""), error=d.get("error", ""), config=dict(d.get("config", {})))


_RUN_COLUMNS = ["k", "budget", "seed", "top1", "status", "iterations", "wall_s", "message"]


def _check_ks(ks) -> list[float]:
    try:
        out = [float(k) for k in ks]
    except (TypeError, ValueError):
        raise ValueError(f"ks must be LRs > 0 (numbers), got {ks!r}") from None
    if not out or any(not math.isfinite(k) or k <= 0 for k in out):
        raise ValueError(f"ks must be a non-empty list of finite LRs > 0, got {list(ks)}")
    return sorted(set(out))


def _check_budgets(budgets) -> list[int]:
    try:
        out = [int(b) for b in budgets]
    except (TypeError, ValueError):
        raise ValueError(f"budgets must be positive integers (iterations), got {budgets!r}") from None
    if not out or any(b <= 0 or b != float(bb) for b, bb in zip(out, budgets)):
        raise ValueError(f"budgets must be a non-empty list of integers > 0 (iterations), got {list(budgets)}")
    return sorted(set(out))


def range_test_grid(base_cfg: TrainConfig | dict, ks: Sequence[float] | None = None,
                    budgets: Sequence[int] | None = None, repeats: int = 1, data=None, progress: bool = True,
                    batch="auto", **rule) -> GridRangeResult:
    """The paper's LR value range test: one short ``FIX(k)`` run per (k, budget, seed).

    ``ks``: LRs (default :func:`default_ks`: 10^-5 … 10^0, 3 per decade); ``budgets``: training
    budgets in iterations (default ``DEFAULT_BUDGET_FRACTIONS`` × ``base_cfg.iters``, at least 1);
    ``repeats``: seeds ``base_cfg.seed + r`` for r < repeats. Every run is ``train()`` of
    ``base_cfg`` with ``policy=FIX(k)``, ``iters=budget`` and one eval at the end (no target). The
    dataset is loaded once and shared. A diverged run is recorded as "diverged" with top-1 = its
    last eval, else the chance level 1/num_classes; a run that raises is recorded as "failed"
    (top-1 NaN, the message kept) — the sweep always goes on. ``rule``: keyword arguments of
    :func:`pick_range` (``drop``, ``stable``, ``open_ok``); an open-ended range is kept with a
    warning (``note``), and when no range exists ``lo``/``hi`` are None and ``error`` says why.
    ``batch``: ``"auto"``, a batch size, or 1 — how runs of one task family train together (:func:`lrkit.run.execute`).
    """
    import pandas as pd

    cfg = TrainConfig.from_dict(base_cfg) if isinstance(base_cfg, Mapping) else base_cfg
    ks = _check_ks(default_ks() if ks is None else ks)
    if budgets is None:
        budgets = [max(1, int(round(f * cfg.iters))) for f in DEFAULT_BUDGET_FRACTIONS]
    budgets = _check_budgets(budgets)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    unknown = sorted(set(rule) - {"drop", "stable", "open_ok"})
    if unknown:
        raise ValueError(f"range_test_grid: unknown rule argument(s) {unknown}; allowed: drop, stable, open_ok")
    loaded = preflight([cfg.to_dict()], load=data is None)  # the device and data, before any run
    data = data if data is not None else next(iter(loaded.values()))
    chance = 1.0 / data.num_classes

    plan = [dataclasses.replace(cfg, policy=f"FIX(k={k!r})", iters=b, eval_every=b, seed=cfg.seed + r, target_acc=None,
                                stop_at_target=False) for b in budgets for k in ks for r in range(repeats)]
    outcomes = execute(plan, data=data, db=False, progress=progress, desc="range test", batch=batch)
    rows = []
    for (b, k, r), o in zip(((b, k, r) for b in budgets for k in ks for r in range(repeats)), outcomes):
        rec = o.record
        row = {"k": k, "budget": b, "seed": cfg.seed + r, "top1": float("nan"), "status": "failed", "iterations": 0,
               "wall_s": float((rec.get("summary") or {}).get("wall_time_s") or 0.0), "message": rec.get("message") or ""}
        if rec["status"] != "failed":  # a failed run never loses the others: it stays a NaN point
            top1 = rec["summary"].get("highest_top1")
            if rec["status"] == "diverged":
                evals = (rec.get("evals") or {}).get("top1") or []
                top1 = evals[-1] if evals else chance
            row.update(status="diverged" if rec["status"] == "diverged" else "complete",
                       top1=float("nan") if top1 is None else float(top1),
                       iterations=int(rec["summary"].get("iterations") or 0))
        rows.append(row)
    runs = pd.DataFrame(rows, columns=_RUN_COLUMNS)
    config = cfg.to_dict()
    res = GridRangeResult(runs=runs, ks=ks, budgets=budgets, chance=chance, rule=dict(rule), config=config)
    acc = res.acc_by_budget()
    try:
        res.lo, res.hi = pick_range(ks, acc, chance=chance, **rule)
    except OpenRangeError as e:
        res.lo, res.hi, res.note = e.lo, e.hi, str(e)
        warnings.warn(f"range test: open-ended range — {e}", stacklevel=2)
    except ValueError as e:
        res.error = str(e)
    # best_k: the longest usable budget's best k (inside the range when there is one)
    for b in sorted(budgets, reverse=True):
        a = np.asarray(acc[b], dtype=float)
        inside = np.array([res.lo is None or res.lo <= k <= res.hi for k in ks])
        a = np.where(inside & np.isfinite(a), a, -np.inf)
        if np.isfinite(a).any() and a.max() > chance:
            res.best_k = float(ks[int(np.argmax(a))])
            break
    return res


# --------------------------------------------------------------------------------------------
# The one-run LR sweep ("LR finder")


def _valley_index(losses: np.ndarray) -> int:
    """fastai's ``valley`` (fastai ≥ 2.4): the middle of the longest descending stretch.

    ``lds[i]`` = the length of the longest strictly decreasing subsequence of ``losses`` ending at
    i; ``end`` = the first i with the largest ``lds``, ``start = max(0, end − lds[end])`` (as fastai), and
    the suggestion is index ``start + ⌊(end − start)/3⌋ + ⌊(end − start)/6⌋`` (about the middle,
    a little past it when the stretch is short). Unlike fastai's loop, ``start`` uses the final
    ``lds[end]``.
    """
    n = len(losses)
    lds = np.ones(n, dtype=int)
    for i in range(1, n):
        higher = losses[:i] > losses[i]
        if higher.any():
            lds[i] = lds[:i][higher].max() + 1
    end = int(np.argmax(lds))
    start = max(0, end - int(lds[end]))
    span = end - start
    return min(n - 1, start + span // 3 + span // 6)


def sweep_suggestions(lrs: Sequence[float], smoothed: Sequence[float], num_iter: int | None = None) -> dict:
    """Suggested LRs from a sweep's smoothed loss curve (pure function).

    Points used: as fastai, the first ``num_iter // 10`` points (the planned length; noisy start)
    and the last 5 (a blow-up) are dropped, unless fewer than 5 points would remain (then all are
    used); non-finite points are dropped. With fewer than 3 points, both are None.

    * ``"steepest"``: the LR at the most negative gradient of the smoothed loss w.r.t. log10 LR
      (``numpy.gradient``, central differences) — Smith's "LR where the loss falls fastest".
    * ``"valley"``: :func:`_valley_index` on the smoothed losses (fastai's default suggestion).
    * ``"min_loss"``: the LR at the smallest smoothed loss (for reference: too large to train at).
    """
    lr = np.asarray(lrs, dtype=float)
    sm = np.asarray(smoothed, dtype=float)
    ok = np.isfinite(lr) & np.isfinite(sm) & (lr > 0)
    lr, sm = lr[ok], sm[ok]
    s0 = (num_iter if num_iter is not None else len(lr)) // 10
    if len(lr) - 5 - s0 >= 5:
        lr, sm = lr[s0:len(lr) - 5], sm[s0:len(sm) - 5]
    if len(lr) < 3:
        return {"steepest": None, "valley": None, "min_loss": None}
    grad = np.gradient(sm, np.log10(lr))
    return {"steepest": float(lr[int(np.argmin(grad))]), "valley": float(lr[_valley_index(sm)]),
            "min_loss": float(lr[int(np.argmin(sm))])}


@dataclass
class SweepResult:
    """The result of :func:`lr_sweep`: per sweep iteration i, ``lrs[i]`` (the LR of step i),
    ``losses[i]`` (training loss of batch i, computed before step i) and ``smoothed[i]`` (the
    bias-corrected exponential moving average). ``suggestions``: :func:`sweep_suggestions`.
    ``stopped_early``: the sweep stopped on divergence (``stop_reason`` says why).

    The range: ``hi`` = the valley suggestion (fastai's recommended LR: inside the long descent,
    before the loss bottoms out and blows up), ``lo = hi / 10`` (one decade below; Smith 2017's
    CLR bounds are a factor 3–4 apart, the one-cycle policy starts 10–25× below the maximum). When
    there is no valley (too few points), the steepest point is used; None when neither exists.
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestions: dict = field(default_factory=dict)
    stopped_early: bool = False
    stop_reason: str = ""
    params: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    method: str = "sweep"

    @property
    def hi(self) -> float | None:
        v = self.suggestions.get("valley")
        return v if v is not None else self.suggestions.get("steepest")

    @property
    def lo(self) -> float | None:
        return None if self.hi is None else self.hi / 10

    @property
    def best_k(self) -> float | None:
        """A single fixed LR from the sweep: the geometric middle of [lo, hi]."""
        return None if self.hi is None else math.sqrt(self.lo * self.hi)

    @property
    def reduction(self) -> float | None:
        return None if self.hi is None else search_space_reduction(self.lo, self.hi)

    def plot(self, ax=None, title: str | None = None):
        """Training loss vs LR (log x): raw loss faint, smoothed loss, the suggestions marked, the
        range [lo, hi] as red dashed lines. Returns the matplotlib Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        ax.plot(self.lrs, self.losses, color="0.7", linewidth=0.8, label="loss")
        ax.plot(self.lrs, self.smoothed, color="C0", linewidth=1.5, label="smoothed loss")
        lr, sm = np.asarray(self.lrs), np.asarray(self.smoothed)
        for (name, marker, color) in (("steepest", "v", "C2"), ("valley", "o", "C3")):
            v = self.suggestions.get(name)
            if v is not None and len(lr):
                i = int(np.argmin(np.abs(np.log(lr) - math.log(v))))
                ax.scatter([v], [sm[i]], marker=marker, s=60, color=color, zorder=3, label=f"{name}: {v:.3g}")
        for v in (self.lo, self.hi):
            if v is not None:
                ax.axvline(v, color="red", linestyle="--", linewidth=1.0)
        ax.set_xscale("log")
        if len(sm) and np.isfinite(sm).any():
            top = np.nanmax(sm[: max(1, len(sm) // 5)]) if len(sm) > 5 else np.nanmax(sm)
            low = np.nanmin(sm)
            ax.set_ylim(low - 0.1 * (top - low + 1e-12), top + 0.5 * (top - low + 1e-12))
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("training loss")
        ax.set_title(title or ("LR sweep" + (" (stopped on divergence)" if self.stopped_early else "")), fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
        return ax

    def to_dict(self) -> dict:
        """A JSON-safe dict; :meth:`from_dict` reads it back."""
        return {"method": "sweep", "lrs": list(self.lrs), "losses": list(self.losses), "smoothed": list(self.smoothed),
                "suggestions": dict(self.suggestions), "stopped_early": self.stopped_early,
                "stop_reason": self.stop_reason, "lo": self.lo, "hi": self.hi, "best_k": self.best_k,
                "reduction": self.reduction, "params": dict(self.params), "config": dict(self.config)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "SweepResult":
        return cls(lrs=list(d["lrs"]), losses=list(d["losses"]), smoothed=list(d["smoothed"]),
                   suggestions=dict(d.get("suggestions", {})), stopped_early=bool(d.get("stopped_early", False)),
                   stop_reason=d.get("stop_reason", ""), params=dict(d.get("params", {})),
                   config=dict(d.get("config", {})))


def _batch_source(batches) -> Callable[[], Any]:
    """``batches.next`` if it has one, else a function cycling over the iterable (re-iterating it
    when exhausted; a one-shot iterator raises StopIteration once consumed)."""
    nxt = getattr(batches, "next", None)
    if callable(nxt):
        return nxt
    it = iter(batches)

    def next_batch():
        nonlocal it
        try:
            return next(it)
        except StopIteration:
            again = iter(batches)
            if again is it:
                raise
            it = again
            return next(it)

    return next_batch


def lr_sweep(model: torch.nn.Module, optimizer, batches, loss_fn: Callable = F.cross_entropy,
             start_lr: float = 1e-7, end_lr: float = 10.0, num_iter: int = 100, smooth: float = 0.05,
             diverge_th: float = 5.0, progress: bool = True) -> SweepResult:
    """One training run in which the LR grows exponentially (Smith 2017's LR range test / the LR finder).

    Step i (0 ≤ i < num_iter) uses ``lr_i = start_lr · (end_lr/start_lr)^(i/(num_iter−1))`` (so the
    last step uses ``end_lr``) on every param group; the loss of batch i is computed before step i.
    Smoothing (bias-corrected EMA, as fastai): ``avg_i = (1 − smooth)·avg_{i−1} + smooth·loss_i``,
    ``avg_{−1} = 0``, ``smoothed_i = avg_i / (1 − (1 − smooth)^(i+1))``. The sweep stops early when
    the loss is not finite (that point is not recorded) or ``smoothed_i > diverge_th × min_{j≤i}
    smoothed_j`` (recorded; the check needs a positive minimum). ``batches``: an object with
    ``.next() → (x, y)`` or an iterable of ``(x, y)`` (moved to the model's device).

    Afterwards — also on an exception — the model's and optimizer's ``state_dict``s, the model's
    train/eval mode, the torch RNG state(s) and, if ``batches`` has ``state_dict``/``load_state_dict``,
    the batch stream are restored exactly: the sweep leaves no trace on training.
    """
    from tqdm.auto import tqdm

    from lrkit.train.monitor import set_lr

    if not (isinstance(start_lr, (int, float)) and math.isfinite(start_lr) and start_lr > 0):
        raise ValueError(f"lr_sweep: start_lr must be a finite LR > 0, got {start_lr!r}")
    if not (isinstance(end_lr, (int, float)) and math.isfinite(end_lr) and end_lr > start_lr):
        raise ValueError(f"lr_sweep: end_lr must be a finite LR > start_lr ({start_lr!r}), got {end_lr!r}")
    if isinstance(num_iter, bool) or not isinstance(num_iter, int) or num_iter < 2:
        raise ValueError(f"lr_sweep: num_iter must be an int >= 2 (iterations), got {num_iter!r}")
    if not (isinstance(smooth, (int, float)) and 0 < smooth <= 1):
        raise ValueError(f"lr_sweep: smooth must be in (0, 1] (weight of the newest loss), got {smooth!r}")
    if not (isinstance(diverge_th, (int, float)) and diverge_th > 1):
        raise ValueError(f"lr_sweep: diverge_th must be > 1, got {diverge_th!r}")

    params = next(iter(model.parameters()), None)
    device = params.device if params is not None else torch.device("cpu")
    model_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt_state = copy.deepcopy(optimizer.state_dict())
    was_training = model.training
    rng_cpu = torch.get_rng_state()
    rng_cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    has_stream_state = callable(getattr(batches, "state_dict", None)) and callable(getattr(batches, "load_state_dict", None))
    stream_state = copy.deepcopy(batches.state_dict()) if has_stream_state else None
    next_batch = _batch_source(batches)

    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    stopped_early, reason = False, ""
    beta = 1.0 - smooth
    avg, best = 0.0, math.inf
    ratio = end_lr / start_lr
    bar = tqdm(total=num_iter, desc="LR sweep", disable=not progress, leave=False)
    try:
        model.train()
        for i in range(num_iter):
            lr = start_lr * ratio ** (i / (num_iter - 1))
            set_lr(optimizer, lr)
            try:
                x, y = next_batch()
            except StopIteration:
                reason = f"ran out of batches after {i} iterations"
                break
            if torch.is_tensor(x):
                x = x.to(device)
            if torch.is_tensor(y):
                y = y.to(device)
            v = float(train_step(model, optimizer, x, y, loss_fn).item())
            bar.update(1)
            if not math.isfinite(v):
                stopped_early, reason = True, f"loss became {v} at lr={lr:.4g} (iteration {i})"
                break
            avg = beta * avg + smooth * v
            s = avg / (1.0 - beta ** (i + 1))
            lrs.append(lr)
            losses.append(v)
            smoothed.append(s)
            best = min(best, s)
            bar.set_postfix(lr=f"{lr:.3g}", loss=f"{s:.3f}", refresh=False)
            if best > 0 and s > diverge_th * best:
                stopped_early = True
                reason = f"smoothed loss {s:.4g} > {diverge_th:g} × best {best:.4g} at lr={lr:.4g} (iteration {i})"
                break
    finally:
        bar.close()
        model.load_state_dict(model_state)
        optimizer.load_state_dict(opt_state)
        model.train(was_training)
        torch.set_rng_state(rng_cpu)
        if rng_cuda is not None:
            torch.cuda.set_rng_state_all(rng_cuda)
        if has_stream_state:
            batches.load_state_dict(stream_state)
    return SweepResult(lrs=lrs, losses=losses, smoothed=smoothed,
                       suggestions=sweep_suggestions(lrs, smoothed, num_iter), stopped_early=stopped_early,
                       stop_reason=reason,
                       params=dict(start_lr=start_lr, end_lr=end_lr, num_iter=num_iter, smooth=smooth,
                                   diverge_th=diverge_th))


def range_test_sweep(base_cfg: TrainConfig | dict, data=None, **kw) -> SweepResult:
    """:func:`lr_sweep` on the model, optimizer (``base_cfg.optimizer``, momentum, weight decay)
    and training batches of ``Run(base_cfg)``; ``kw`` go to :func:`lr_sweep`."""
    cfg = TrainConfig.from_dict(base_cfg) if isinstance(base_cfg, Mapping) else base_cfg
    run = Run(cfg, data=data, progress=False)
    res = lr_sweep(run.model, run.optimizer, run.train_batches, **kw)
    res.config = cfg.to_dict()
    return res


def load_result(src: str | Path | Mapping) -> GridRangeResult | SweepResult:
    """A range-test result from its :meth:`to_dict` form or a JSON file (``range_test.json``).
    Raises ValueError for an unknown ``method`` (allowed: grid, sweep)."""
    d = src if isinstance(src, Mapping) else json.loads(Path(src).read_text())
    method = d.get("method") if isinstance(d, Mapping) else None
    if method == "grid":
        return GridRangeResult.from_dict(d)
    if method == "sweep":
        return SweepResult.from_dict(d)
    raise ValueError(f"not a range-test result: 'method' must be 'grid' or 'sweep', got {method!r}")


# --------------------------------------------------------------------------------------------
# From a range to starting policies


def _round_sig(x: float, sig: int, mode: str) -> float:
    """``x`` rounded to ``sig`` significant digits: mode "up" (never below x), "down" (never above)
    or "nearest"."""
    d = Decimal(repr(float(x)))
    if d == 0:
        return 0.0
    exp = d.adjusted() - sig + 1
    rounding = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "nearest": ROUND_HALF_EVEN}[mode]
    return float(d.quantize(Decimal(1).scaleb(exp), rounding=rounding))


def recommend_policies(lo: float, hi: float, iters: int, *, l: int | None = None) -> list[dict]:
    """A few starting LR policies built from a good LR range ``[lo, hi]`` and a budget of ``iters``
    iterations, each ``{"policy": spec, "family": ..., "why": text}``; every LR a policy takes during
    iterations 0 … iters−1 lies in [lo, hi]. ``lo`` is rounded up and ``hi`` down to 3 significant
    digits (more when needed to keep lo < hi); γ values are rounded up (4 and 12 digits).

    The choices, following 004:

    1. ``FIX(k = √(lo·hi))`` — the paper picks the fixed LR "from a small set of good LR values"
       in the range (§4.1); the geometric middle because the range is read on a log-k axis (Fig. 4).
    2. ``TRI2``, 3. ``SIN2`` and 4. ``COS`` with ``k0 = lo, k1 = hi`` — the paper's cyclic policies
       take their bounds from the range (Table 5: CNN3/CIFAR-10, k0 = 0.00005, k1 = 0.006 from
       Fig. 4). SIN2 was the most accurate on MNIST (99.33 %, Table 4) and COS the cheapest to the
       target (1,500 iterations, Table 10); TRI2 and SIN2 reached ResNet-32's target fastest
       (Table 10). Half cycle ``l = round(iters/5)`` (at least 1) unless given: Table 4 uses
       l = 2,000 for MNIST's 10,000 iterations — 2.5 cycles; COS then ends at a trough (t = 5l),
       TRI2/SIN2 have their last trough at t = 4l = 0.8·iters.
    5. ``NSTEP(k = hi, l = [iters/2, 3·iters/4])`` — the milestones of the paper's ResNet-32 NSTEP
       (32,000 and 48,000 of 64,000, Table 6); ``γ = √(lo/hi)`` (rounded up) so the last stage is
       at lo (the paper's γ = 0.1 would leave the range whenever hi/lo < 100).
    6. ``EXP(k = hi, γ = (lo/hi)^(1/iters))`` (rounded up) — Table 1's EXP with γ close to 1, set
       so the LR decays from hi to lo over the budget.

    When ``lo == hi`` only the FIX policy is returned (there is no range to cycle or decay over).
    Raises ValueError naming the argument for ``lo``/``hi`` not finite and > 0, ``lo > hi``, or
    ``iters``/``l`` not an int > 0.
    """
    from lrkit.policies import parse

    for name, v in (("lo", lo), ("hi", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"recommend_policies: {name} must be a finite LR > 0, got {v!r}")
    if lo > hi:
        raise ValueError(f"recommend_policies: lo must be <= hi, got lo={lo!r}, hi={hi!r}")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"recommend_policies: iters must be an int > 0 (iterations), got {iters!r}")
    if l is not None and (isinstance(l, bool) or not isinstance(l, int) or l < 1):
        raise ValueError(f"recommend_policies: l must be an int > 0 (half cycle, iterations), got {l!r}")

    lo_r, hi_r = float(lo), float(hi)
    if lo < hi:
        for sig in range(3, 18):  # the shortest rounding that keeps lo_r < hi_r (exact values at worst)
            a, b = _round_sig(lo, sig, "up"), _round_sig(hi, sig, "down")
            if a < b:
                lo_r, hi_r = a, b
                break
    mid = min(max(_round_sig(math.sqrt(lo_r * hi_r), 3, "nearest"), lo_r), hi_r)

    def item(spec: str, why: str) -> dict:
        pol = parse(spec)
        return {"policy": str(pol), "family": pol.family, "why": why}

    out = [item(f"FIX(k={mid!r})", "fixed LR at the geometric middle of the good range (004 §4.1: pick the fixed "
                                     "LR from the good values; the range is read on a log-k axis, Fig. 4)")]
    if lo_r == hi_r:
        out[0]["why"] = "the good range is a single LR: a fixed LR there (004 §4.1)"
        return out
    half = l if l is not None else max(1, int(round(iters / 5)))
    ms = sorted({max(1, int(round(f * iters))) for f in (0.5, 0.75)})
    g_step = _round_sig((lo_r / hi_r) ** (1.0 / len(ms)), 4, "up")
    g_exp = _round_sig((lo_r / hi_r) ** (1.0 / iters), 12, "up")
    ms_txt = "[" + ", ".join(str(m) for m in ms) + "]"
    rng = f"k0=lo={lo_r!r}, k1=hi={hi_r!r}, half cycle l={half} (iters/5 as l=2000 for 10,000 on MNIST, Table 4)"
    out += [
        item(f"TRI2(k0={lo_r!r}, k1={hi_r!r}, l={half})",
             f"triangular CLR halving its amplitude every cycle; {rng}; reached ResNet-32's target fastest (Table 10)"),
        item(f"SIN2(k0={lo_r!r}, k1={hi_r!r}, l={half})",
             f"sine CLR halving every cycle; {rng}; the most accurate policy on MNIST (99.33 %, Table 4)"),
        item(f"COS(k0={lo_r!r}, k1={hi_r!r}, l={half})",
             f"cosine CLR starting at hi; {rng}; cheapest to MNIST's target (1,500 iterations, Table 10)"),
        item(f"NSTEP(k={hi_r!r}, gamma={g_step!r}, l={ms_txt})",
             f"step decay from hi at 1/2 and 3/4 of the budget (ResNet-32's 32,000/48,000 of 64,000, Table 6); "
             f"gamma = (lo/hi)^(1/{len(ms)}) so the last stage is at lo"),
        item(f"EXP(k={hi_r!r}, gamma={g_exp!r})",
             "exponential decay from hi, gamma close to 1 (Table 1) chosen so the LR reaches lo at the end of the budget"),
    ]
    return out
