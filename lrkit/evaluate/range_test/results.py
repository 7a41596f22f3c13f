"""The two range-test results (grid and sweep), their JSON form, and :func:`load_result`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from lrkit.train.jsonsafe import json_safe

from .pick import search_space_reduction

_RUN_COLUMNS = ["k", "budget", "seed", "top1", "status", "iterations", "wall_s", "message"]


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
        """Fig. 4 (:func:`lrkit.evaluate.range_test.plot.plot_grid`); returns the matplotlib Axes."""
        from .plot import plot_grid

        return plot_grid(self, ax, title)

    def to_dict(self) -> dict:
        """A JSON-safe dict (NaN → None); :meth:`from_dict` reads it back."""
        runs = json_safe(self.runs.to_dict("records"), nonfinite="null")
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
        """Training loss vs LR (:func:`lrkit.evaluate.range_test.plot.plot_sweep`); returns the matplotlib Axes."""
        from .plot import plot_sweep

        return plot_sweep(self, ax, title)

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
