"""The paper's LR value range test: short ``FIX(k)`` runs on a log grid of k for a few budgets."""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Mapping, Sequence

import numpy as np

from lrkit.run import execute, preflight
from lrkit.train.engine import TrainConfig

from .pick import OpenRangeError, pick_range
from .results import _RUN_COLUMNS, GridRangeResult

#: Default grid budgets as fractions of ``base_cfg.iters``.
DEFAULT_BUDGET_FRACTIONS = (0.1, 0.2, 0.5)


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
