"""The range tests' plots (matplotlib, seaborn): Fig. 4 for the grid, loss vs LR for the sweep.

Imported only when a result is drawn; the results' ``plot`` methods call these.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .results import GridRangeResult, SweepResult


def plot_grid(res: "GridRangeResult", ax=None, title: str | None = None):
    """Fig. 4: top-1 (%) vs k on a log axis, one line per budget, diverged points as ×, the
    range [lo, hi] as two red dashed vertical lines. Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    colors = sns.color_palette("viridis", max(1, len(res.budgets)))
    acc = res.acc_by_budget()
    for color, b in zip(colors, res.budgets):
        y = 100 * np.asarray(acc[b])
        ax.plot(res.ks, y, marker="o", ms=4, color=color, label=f"{b} iterations")
        sub = res.runs[(res.runs["budget"] == b) & (res.runs["status"] == "diverged")]
        if len(sub):
            ax.scatter(sub["k"], 100 * sub["top1"], marker="x", color=color, zorder=3)
    ax.set_xscale("log")
    for v in (res.lo, res.hi):
        if v is not None:
            ax.axvline(v, color="red", linestyle="--", linewidth=1.2)
    ax.set_xlabel("fixed LR k (log scale)")
    ax.set_ylabel("top-1 accuracy (%)")
    if title is None:
        title = f"Top-1 vs k (FIX, {res.config.get('model', '?')}, {res.config.get('dataset', '?')})"
        if res.lo is not None:
            title += f": [{res.lo:g}, {res.hi:g}]"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, title="budget", title_fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return ax


def plot_sweep(res: "SweepResult", ax=None, title: str | None = None):
    """Training loss vs LR (log x): raw loss faint, smoothed loss, the suggestions marked, the
    range [lo, hi] as red dashed lines. Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    ax.plot(res.lrs, res.losses, color="0.7", linewidth=0.8, label="loss")
    ax.plot(res.lrs, res.smoothed, color="C0", linewidth=1.5, label="smoothed loss")
    lr, sm = np.asarray(res.lrs), np.asarray(res.smoothed)
    for (name, marker, color) in (("steepest", "v", "C2"), ("valley", "o", "C3")):
        v = res.suggestions.get(name)
        if v is not None and len(lr):
            i = int(np.argmin(np.abs(np.log(lr) - math.log(v))))
            ax.scatter([v], [sm[i]], marker=marker, s=60, color=color, zorder=3, label=f"{name}: {v:.3g}")
    for v in (res.lo, res.hi):
        if v is not None:
            ax.axvline(v, color="red", linestyle="--", linewidth=1.0)
    ax.set_xscale("log")
    if len(sm) and np.isfinite(sm).any():
        top = np.nanmax(sm[: max(1, len(sm) // 5)]) if len(sm) > 5 else np.nanmax(sm)
        low = np.nanmin(sm)
        ax.set_ylim(low - 0.1 * (top - low + 1e-12), top + 0.5 * (top - low + 1e-12))
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(title or ("LR sweep" + (" (stopped on divergence)" if res.stopped_early else "")), fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return ax
