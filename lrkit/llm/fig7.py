"""000 Fig. 7: LR per optimizer step (left) and training loss, 5-point rolling mean (right), drawn where
the Table V runner saves it (``fig7.png``); :mod:`lrkit.viz` re-exports it."""

from __future__ import annotations

# The paper's colours: fixed purple, cosine green, linear 2e-5 red, linear 6e-5 blue.
FIG7_COLORS = {"fixed": "tab:purple", "cosine": "tab:green", "linear-2e-5": "tab:red", "linear-6e-5": "tab:blue"}


def fig7_frame(runs, window: int = 5):
    """Tidy rows (run, step, lr, loss, loss_smooth) from ``{label: record}`` (RunRecord or its dict);
    ``loss_smooth`` is the trailing ``window``-point rolling mean (min_periods=1)."""
    import pandas as pd

    frames = []
    for label, rec in runs.items():
        curves = rec["curves"] if isinstance(rec, dict) else rec.curves
        df = pd.DataFrame({"step": range(len(curves["lr"])), "lr": curves["lr"],
                           "loss": pd.to_numeric(pd.Series(curves["loss"][:len(curves["lr"])]), errors="coerce")})
        df["loss_smooth"] = df["loss"].rolling(window, min_periods=1).mean()
        df.insert(0, "run", label)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_fig7(runs, *, window: int = 5, steps_per_epoch: int | None = None, colors=None, path=None, title=None):
    """Fig. 7 for ``{label: record}``: LR (left) and ``window``-point rolling-mean training loss (right),
    epoch boundaries dotted when ``steps_per_epoch`` is given. Returns the figure (saved to ``path``)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = fig7_frame(runs, window)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    palette = colors or None
    sns.lineplot(df, x="step", y="lr", hue="run", palette=palette, ax=axes[0], linewidth=1.4)
    sns.lineplot(df, x="step", y="loss_smooth", hue="run", palette=palette, ax=axes[1], linewidth=1.2, legend=False)
    axes[0].set_title("(a) learning rate per step")
    axes[0].set_ylabel("learning rate")
    axes[0].ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    axes[1].set_title(f"(b) training loss ({window}-point rolling mean)")
    axes[1].set_ylabel("training loss")
    if steps_per_epoch:
        last = int(df["step"].max()) + 1 if len(df) else 0
        for ax in axes:
            for b in range(steps_per_epoch, last, steps_per_epoch):
                ax.axvline(b - 0.5, color="0.6", linestyle=":", linewidth=1)
    for ax in axes:
        ax.set_xlabel("optimizer step")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
