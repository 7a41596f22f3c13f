"""Accuracy against the budget: a table's rows at each committed profile beside the paper's."""

import json

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from lrkit.viz import budget_frame, plot_budgets  # noqa: E402


def folder(tmp_path, name, iters, rows):
    """A results folder as lrkit reproduce writes it: ``table`` and ``results`` in the same row order."""
    d = tmp_path / name
    d.mkdir()
    table = [{"policy": p, "optimizer": o, "label": label, "ours_highest_top1": ours, "paper_highest_top1": paper}
             for p, o, label, ours, paper in rows]
    (d / "results.json").write_text(json.dumps({"table": table, "results": [{"config": {"iters": iters}}] * len(rows)}))
    return d


def test_frame_has_a_line_per_row_and_profile_and_the_papers_point(tmp_path):
    short = folder(tmp_path, "short", 800, [("FIX(k=0.1)", "momentum", None, 47.7, 86.08),
                                            ("MULTI({...})", "momentum", "Composite", 11.5, 92.91),
                                            ("COS(k0=0, k1=1, l=2)", "momentum", None, None, 76.77)])  # diverged
    medium = folder(tmp_path, "medium", 3200, [("FIX(k=0.1)", "momentum", None, 74.6, 86.08),
                                               ("MULTI({...})", "momentum", "Composite", 75.3, 92.91)])
    folders = {"short (800 it)": short, "medium (3,200 it)": medium, "large": tmp_path / "absent"}
    df = budget_frame(folders, paper_iters=64000)
    ours = df[df["source"] == "ours"]
    assert ours[["run", "iterations", "top-1 (%)"]].values.tolist() == [
        ["FIX(k=0.1)", 800, 47.7], ["Composite", 800, 11.5], ["FIX(k=0.1)", 3200, 74.6], ["Composite", 3200, 75.3]]
    assert set(ours["profile"]) == {"short (800 it)", "medium (3,200 it)"}  # a folder without results.json is left out
    paper = df[df["source"] == "paper"]  # only rows with a run of ours: COS never evaluated above nothing
    assert paper[["run", "iterations", "top-1 (%)"]].values.tolist() == [["FIX(k=0.1)", 64000, 86.08],
                                                                         ["Composite", 64000, 92.91]]
    assert budget_frame(folders)["source"].unique().tolist() == ["ours"]  # no paper_iters: no paper points
    fig = plot_budgets(folders, paper_iters=64000, path=tmp_path / "budgets.png", title="Table 3")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() == "Table 3" and (tmp_path / "budgets.png").stat().st_size > 10_000
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["FIX(k=0.1)", "Composite"]
    assert len(ax.collections) >= 2  # the two stars
    assert [t.get_text() for t in ax.get_xticklabels()] == ["800", "3,200", "64,000"]  # the budgets, written out


def test_rows_differing_in_optimizer_are_told_apart(tmp_path):
    d = folder(tmp_path, "m", 7000, [("FIX(k=0.1)", "momentum", None, 60.0, 70.0), ("FIX(k=0.1)", "adam", None, 10.0, 10.0)])
    assert budget_frame({"medium": d})["run"].tolist() == ["FIX(k=0.1) [momentum]", "FIX(k=0.1) [adam]"]


def test_nothing_to_plot_says_where_it_looked(tmp_path):
    d = folder(tmp_path, "m", 800, [("FIX(k=0.1)", "momentum", None, None, 86.08)])
    with pytest.raises(ValueError, match="no run of ours in .*m"):
        plot_budgets({"short": d}, paper_iters=64000)
