"""Plots of a search recipe's run (000 Fig. 6's heat map, Table IV's grid vs random, a follow-up sweep)."""

from __future__ import annotations

import pandas as pd

from .recipe_compare import RecipeRun, repeat_best
from .search_recipe import _name

def plot_policy_lambda(run: RecipeRun, search: str = "grid", ax=None, title: str | None = None):
    """000 Fig. 6: the search's policies (by name) x λ, cells = mean highest top-1 (%); a cell whose
    runs all diverged before a test reads "diverged" (every cell of the grid is shown)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    s = run.results[search].summary()
    names = s["policy"].map(_name)
    if names.nunique() == s["policy"].nunique():
        s = s.assign(policy=names)
    s = s.assign(top1=s["mean_top1"].astype(float) * 100)
    table = s.pivot_table(index="policy", columns="lam", values="top1", aggfunc="mean", sort=False, dropna=False)
    table = table.reindex(index=list(dict.fromkeys(s["policy"])), columns=sorted(set(s["lam"])))
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 1.1 * table.shape[1], 1.2 + 0.45 * table.shape[0]))
    sns.heatmap(table.astype(float), annot=True, fmt=".2f", cmap="viridis", ax=ax, cbar_kws={"label": "top-1 (%)"},
                mask=table.isna())
    for i, pol in enumerate(table.index):
        for j, lam in enumerate(table.columns):
            if pd.isna(table.loc[pol, lam]):
                ax.text(j + 0.5, i + 0.5, "diverged", ha="center", va="center", fontsize=8, color="0.4")
    ax.set_xticks([j + 0.5 for j in range(table.shape[1])], [f"{x:g}" for x in table.columns])
    ax.set_yticks([i + 0.5 for i in range(table.shape[0])], list(table.index), rotation=0)
    ax.set_xlabel("λ (LR coefficient)")
    ax.set_ylabel("")
    ax.set_title(title or f"{run.recipe.id}: {search} ({run.recipe.profile} profile)")
    return ax


def plot_grid_vs_random(run: RecipeRun, searches=("grid", "random"), axes=None):
    """000 Table IV: left, every trial's highest top-1 against λ (diverged trials as x at the
    bottom), the best of each repeat ringed; right, best-per-repeat mean ± std, ours and the paper's."""
    import matplotlib.pyplot as plt
    import numpy as np

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    else:
        fig = axes[0].figure
    ax, bx = axes
    colors = dict(zip(searches, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    accs = pd.concat([run.results[n].trials["highest_top1"].astype(float) for n in searches]).dropna() * 100
    floor = (accs.min() - 0.5) if len(accs) else 0
    for n in searches:
        t = run.results[n].trials
        ok = t.dropna(subset=["highest_top1"])
        ax.scatter(ok["lam"], ok["highest_top1"].astype(float) * 100, color=colors[n], alpha=0.7, label=f"{n} trials")
        bad = t[t["highest_top1"].isna()]
        if len(bad):
            ax.scatter(bad["lam"], [floor] * len(bad), color=colors[n], marker="x", label=f"{n}: diverged")
        best = repeat_best(run.results[n]).dropna(subset=["highest_top1"])
        ax.scatter(best["lam"], best["highest_top1"] * 100, facecolors="none", edgecolors=colors[n], s=160,
                   label=f"{n}: best of a repeat")
    ax.set_xscale("log")
    ax.set_xlabel("λ (LR coefficient)")
    ax.set_ylabel("highest test top-1 (%)")
    ax.set_title(f"trials ({run.recipe.profile} profile)")
    ax.legend(fontsize=7)
    table = run.comparison
    x = np.arange(len(searches))
    for j, n in enumerate(searches):
        r = table[(table["search"] == n) & table["statistic"].str.startswith("best trial")]
        if r.empty:
            continue
        r = r.iloc[0]
        if pd.notna(r["ours_top1"]):
            bx.errorbar(j - 0.1, r["ours_top1"], yerr=r["ours_std"] if pd.notna(r["ours_std"]) else 0, fmt="o", color=colors[n], capsize=4,
                        label="ours" if j == 0 else None)
        if pd.notna(r["paper_top1"]):
            bx.errorbar(j + 0.1, r["paper_top1"], yerr=r["paper_std"] if pd.notna(r["paper_std"]) else 0, fmt="s", color="k", capsize=4,
                        label="paper" if j == 0 else None)
    bx.set_xticks(x, list(searches))
    bx.set_xlim(-0.6, len(searches) - 0.4)
    bx.set_ylabel("best per repeat: mean ± std (%)")
    bx.set_title("grid vs random search")
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_follow_up(run: RecipeRun, search: str = "ratio", ax=None):
    """A follow-up grid (000's k1/k0 sweep): ours (the mean highest top-1 of each value; the
    starting point read from the search it follows up when the profile skips it) and the paper's."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    spec = run.recipe.searches[search]
    t = run.comparison[(run.comparison["search"] == search) & run.comparison["value"].notna()].sort_values("value")
    ours = t[t["ours_top1"].notna()]
    ax.plot(ours["value"], ours["ours_top1"], "o-", label=f"ours ({run.recipe.profile})")
    paper = t[t["paper_top1"].notna()]
    if len(paper):
        ax.plot(paper["value"], paper["paper_top1"], "s--", color="k", label="paper")
    ax.set_xlabel("k1/k0" if spec["param"] == "ratio" else spec["param"])
    ax.set_ylabel("highest test top-1 (%)")
    ax.set_title(f"follow-up: {spec['policy']}, λ = {run.results[search].search.trials[0].lam:g}")
    ax.legend(fontsize=7)
    return ax
