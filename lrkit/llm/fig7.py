"""000 Fig. 7: LR per optimizer step (a) and training loss, 5-point rolling mean (b); with scores given,
(c) each run's Table V scores at its last epoch beside the baseline's, with their 95% intervals. Drawn where
the Table V runner saves it (``fig7.png``); :mod:`lrkit.viz` re-exports it."""

from __future__ import annotations

from lrkit.recipes.figures import finish_figure

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


def plot_fig7(runs, *, window: int = 5, steps_per_epoch: int | None = None, colors=None, path=None, title=None,
              scores=None, baseline: str = "Pre-trained LLM"):
    """Fig. 7 for ``{label: record}``: LR (a) and ``window``-point rolling-mean training loss (b), epoch
    boundaries dotted when ``steps_per_epoch`` is given. ``scores`` (tidy rows run, stage, task, value,
    stderr: Table V's number per task, e.g. :func:`lrkit.llm.report.table5_scores` input) adds (c): each
    run's scores at its last stage and the ``baseline`` run's, with 95% intervals. Returns the figure
    (saved to ``path``)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = fig7_frame(runs, window)
    if scores is None:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    else:
        fig, axes = plt.subplots(1, 3, figsize=(17, 4.4), gridspec_kw={"width_ratios": [1, 1, 0.8]})
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
        for ax in axes[:2]:
            for b in range(steps_per_epoch, last, steps_per_epoch):
                ax.axvline(b - 0.5, color="0.6", linestyle=":", linewidth=1)
    for ax in axes[:2]:
        ax.set_xlabel("optimizer step")
    if scores is not None:
        _plot_scores(axes[2], scores, list(runs), colors, baseline)
    return finish_figure(fig, title, path)


def _plot_scores(ax, scores, labels, colors, baseline):
    """(c): per task, the baseline's and each run's last-stage score, ± 1.96 standard errors."""
    import numpy as np

    from lrkit.llm.report import TASK_NAMES, Z95

    tasks = [t for t in TASK_NAMES if t in set(scores["task"])]
    order = [baseline] + labels
    width = 0.8 / len(order)
    for j, run in enumerate(order):
        rows = scores[scores["run"] == run]
        if not len(rows):
            continue
        last = rows[rows["stage"] == rows["stage"].iloc[-1]].set_index("task")
        x = np.arange(len(tasks)) - 0.4 + width * (j + 0.5)
        y = [last["value"].get(t, np.nan) for t in tasks]
        se = last["stderr"].astype(float)  # JSON keeps a missing error (fewer than 2 items) as None
        e = [Z95 * se.get(t, np.nan) for t in tasks]
        color = "0.5" if run == baseline else (colors or {}).get(run)
        ax.errorbar(x, y, yerr=e, fmt="o", capsize=3, color=color, label=f"{run} ({rows['stage'].iloc[-1]})")
    ax.set_xticks(range(len(tasks)), [TASK_NAMES[t] for t in tasks])
    ax.set_ylabel("score (95% interval)")
    ax.set_ylim(max(0.0, ax.get_ylim()[0]), min(1.0, ax.get_ylim()[1]))
    ax.set_title("(c) Table V scores at the last epoch")
    ax.legend(fontsize=7, loc="best")
