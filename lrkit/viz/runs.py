"""004 Fig. 2's form for any table's runs: the LR per iteration, and test top-1 and top-5 per evaluation."""

from __future__ import annotations

from lrkit.recipes.figures import finish_figure


def runs_frame(results: list[dict]):
    """Long-form frames ``(lr, evals)`` of the first record of each row of a ``results.json`` document's
    ``results``: lr has iteration, lr, run; evals has iteration, metric ("top-1" | "top-5"), accuracy (%), run.
    A run is labelled by its row's label (e.g. "Advanced Composite LR") or its policy as run."""
    import pandas as pd

    lr, ev = [], []
    for res in results:
        if not res.get("records"):
            continue
        rec = res["records"][0]
        name = res["row"].get("label") or rec.get("policy") or res["config"]["policy"]
        lrs = rec["curves"]["lr"]
        step = max(1, len(lrs) // 1000)
        lr += [{"iteration": i, "lr": v, "run": name} for i, v in enumerate(lrs) if i % step == 0]
        for key, metric in (("top1", "top-1"), ("top5", "top-5")):
            for it, a in zip(rec["evals"]["iteration"], rec["evals"].get(key) or []):
                if isinstance(a, (int, float)):
                    ev.append({"iteration": it, "metric": metric, "accuracy (%)": 100 * a, "run": name})
    return pd.DataFrame(lr, columns=["iteration", "lr", "run"]), pd.DataFrame(ev, columns=["iteration", "metric", "accuracy (%)", "run"])


def plot_lr_and_accuracy(results: list[dict], path=None, title: str | None = None):
    """Three panels as 004 Fig. 2: LR (log scale), test top-1 and test top-5 against the iteration, one line
    per run. Returns the figure; with ``path`` also saves it there."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    lr, ev = runs_frame(results)
    if lr.empty and ev.empty:
        raise ValueError("plot_lr_and_accuracy: 'results' holds no finished run to plot")
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    if not lr.empty:
        sns.lineplot(lr, x="iteration", y="lr", hue="run", ax=axes[0], linewidth=1)
        axes[0].set_yscale("log")
        axes[0].legend(fontsize=6)
    axes[0].set_title("learning rate")
    for ax, metric in zip(axes[1:], ("top-1", "top-5")):
        part = ev[ev["metric"] == metric]
        if not part.empty:
            sns.lineplot(part, x="iteration", y="accuracy (%)", hue="run", marker="o", markersize=3, ax=ax, linewidth=1,
                         legend=False)
        ax.set_title(f"test {metric} accuracy")
    return finish_figure(fig, title, path)
