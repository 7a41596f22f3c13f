"""Accuracy against the training budget: a table's rows at each committed profile, beside the paper's.

The CPU profiles shorten every time parameter by one factor (``time_scale``), so one row at several
profiles is the same LR curve on longer and longer budgets. Plotting each row's highest test top-1
against its budget (log scale) shows whether our numbers climb toward the paper's, drawn as a star at
the paper's budget.
"""

from __future__ import annotations

import json
from pathlib import Path

from lrkit.recipes.figures import finish_figure

COLUMNS = ["run", "profile", "iterations", "top-1 (%)", "source"]


def budget_frame(folders: dict, paper_iters: int | None = None):
    """Long-form frame of a table's rows over budgets, from committed ``results.json`` files.

    ``folders`` maps a profile name (e.g. ``"medium (3,200 it)"``) to a results folder; a folder
    without ``results.json`` is left out. One line per (row, profile) whose run evaluated at least
    once: ``run`` (the row's label, else its policy as the paper writes it, plus ``[optimizer]`` when
    the rows differ in it), ``profile``, ``iterations`` (the run's budget), ``top-1 (%)`` (its highest
    test top-1) and ``source`` = "ours". With ``paper_iters`` (the paper's budget) each row that has a
    published highest top-1 adds a line with ``profile`` "paper" and ``source`` "paper".
    """
    import pandas as pd

    lines, paper = [], {}
    docs = [(name, json.loads((Path(f) / "results.json").read_text()))
            for name, f in folders.items() if (Path(f) / "results.json").is_file()]
    many_opts = len({r["optimizer"] for _, doc in docs for r in doc["table"]}) > 1
    for name, doc in docs:
        for row, res in zip(doc["table"], doc["results"]):
            run = row.get("label") or row["policy"]
            run = f"{run} [{row['optimizer']}]" if many_opts else run
            if row.get("paper_highest_top1") is not None:
                paper.setdefault(run, row["paper_highest_top1"])
            if row.get("ours_highest_top1") is not None:
                lines.append({"run": run, "profile": name, "iterations": res["config"]["iters"],
                              "top-1 (%)": row["ours_highest_top1"], "source": "ours"})
    if paper_iters is not None:
        ran = {line["run"] for line in lines}
        lines += [{"run": run, "profile": "paper", "iterations": paper_iters, "top-1 (%)": top1, "source": "paper"}
                  for run, top1 in paper.items() if run in ran]
    return pd.DataFrame(lines, columns=COLUMNS)


def plot_budgets(folders: dict, paper_iters: int | None = None, ax=None, path=None, title: str | None = None):
    """Each row's highest test top-1 against its budget (iterations, log scale): our profiles as a line
    with dots, the paper's number as a star of the same colour at ``paper_iters``, dotted from our
    longest run. Rows without any run of ours are left out. Returns the figure; with ``path`` also
    saves it there."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import NullFormatter

    frame = budget_frame(folders, paper_iters)
    ours = frame[frame["source"] == "ours"]
    if ours.empty:
        raise ValueError(f"plot_budgets: no run of ours in {', '.join(str(f) for f in folders.values())}")
    runs = list(dict.fromkeys(ours["run"]))
    palette = dict(zip(runs, sns.color_palette("tab10" if len(runs) <= 10 else "tab20", len(runs))))
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 4.8))
    else:
        fig = ax.figure
    sns.lineplot(ours, x="iterations", y="top-1 (%)", hue="run", hue_order=runs, palette=palette, marker="o", ax=ax,
                 linewidth=1.2)
    theirs = frame[frame["source"] == "paper"]
    for run, part in theirs.groupby("run", sort=False):
        last = ours[ours["run"] == run].sort_values("iterations").iloc[-1]  # our longest run, dotted to the paper's
        ax.plot([last["iterations"], *part["iterations"]], [last["top-1 (%)"], *part["top-1 (%)"]], ":",
                color=palette[run], linewidth=0.8)
        ax.scatter(part["iterations"], part["top-1 (%)"], marker="*", s=120, color=palette[run], zorder=3)
    ax.set_xscale("log")
    ticks = sorted(set(frame["iterations"]))  # the budgets themselves, written out (no 10^k minor labels)
    ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("iterations (the run's budget)" + ("; ★ the paper's" if not theirs.empty else ""))
    ax.set_ylabel("highest test top-1 (%)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return finish_figure(fig, title, path, title_ax=ax)
