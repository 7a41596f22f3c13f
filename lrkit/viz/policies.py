"""Draw one or many LR policies over an iteration range."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


def _as_list(policies) -> list:
    from lrkit.policies import parse

    if isinstance(policies, (str, dict)) or not isinstance(policies, Iterable):
        policies = [policies]
    return [parse(p) for p in policies]


def policy_frame(policies, iters: int, points: int | None = 2000, labels: Sequence[str] | None = None):
    """A tidy ``pandas.DataFrame`` (iteration, lr, policy) of each policy on t = 0 … iters − 1.

    ``points`` caps how many iterations are sampled per policy (evenly, always including the
    first and last); ``None`` samples every iteration.
    """
    import pandas as pd

    if not isinstance(iters, int) or iters <= 0:
        raise ValueError(f"iters must be an int > 0, got {iters!r}")
    pols = _as_list(policies)
    labels = list(labels) if labels is not None else [str(p) for p in pols]
    if len(labels) != len(pols):
        raise ValueError(f"got {len(labels)} labels for {len(pols)} policies")
    if points is None or points >= iters:
        t = np.arange(iters, dtype=np.int64)
    else:
        t = np.unique(np.linspace(0, iters - 1, points).round().astype(np.int64))
    frames = [pd.DataFrame({"iteration": t, "lr": p(t), "policy": lab}) for p, lab in zip(pols, labels)]
    return pd.concat(frames, ignore_index=True)


def plot_policies(policies, iters: int, ax=None, labels=None, log_y: bool = False, points: int | None = 2000,
                  title: str | None = None):
    """Plot LR against iteration for each policy with seaborn; returns the matplotlib Axes."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = policy_frame(policies, iters, points=points, labels=labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    sns.lineplot(data=df, x="iteration", y="lr", hue="policy", ax=ax, linewidth=1.2)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("iteration t")
    ax.set_ylabel("learning rate")
    if title:
        ax.set_title(title)
    legend = ax.get_legend()
    if legend is not None:
        legend.set_title(None)
        for text in legend.get_texts():
            text.set_fontsize(7)
    return ax
