"""The heat map of a search: policies × λ (000 Fig. 6), drawn from :meth:`SearchResult.summary`."""

from __future__ import annotations


def plot_heatmap(summary, value: str = "mean_top1", ax=None, title: str | None = None, fmt: str = ".4f"):
    """Rows: policies; columns: λ; cells: ``value`` (e.g. the mean highest top-1 over the seeds).
    ``summary``: :meth:`lrkit.tune.SearchResult.summary` (columns policy, lam, ``value``)."""
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns

    if value not in summary.columns:
        raise ValueError(f"plot_heatmap: field 'value' must be a column of the summary ({', '.join(summary.columns)}), "
                         f"got {value!r}")
    # dropna=False: a policy whose trials all failed keeps its (empty) row
    table = summary.pivot_table(index="policy", columns="lam", values=value, aggfunc="mean", sort=False, dropna=False)
    table = table.reindex(sorted(table.columns), axis=1).astype(float)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 1.1 * max(1, table.shape[1]), 1.2 + 0.45 * max(1, table.shape[0])))
    empty = not np.isfinite(table.to_numpy()).any()  # every trial failed: the grid, blank, and a note saying so
    blank = {"vmin": 0.0, "vmax": 1.0, "cbar": False} if empty else {"cbar_kws": {"label": value}}
    sns.heatmap(table, annot=True, fmt=fmt, cmap="viridis", ax=ax, **blank)
    if empty:
        ax.text(0.5, 0.5, f"no trial has a {value} (all failed)", transform=ax.transAxes, ha="center", va="center")
    ax.set_xlabel("λ (LR coefficient)")
    ax.set_ylabel("")
    ax.set_xticklabels([f"{float(t.get_text()):g}" for t in ax.get_xticklabels()])
    if title:
        ax.set_title(title)
    return ax
