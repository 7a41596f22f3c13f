"""lrkit.reproduce.notebook: where a table notebook reads its rows (committed runs as they are; anything else in
out/, never under the committed results) and the checks it prints, on rows made up for each case."""

import json
import shutil
from pathlib import Path

import pytest

from lrkit.reproduce.notebook import (TableView, best_by_category, best_lines, cnn3_points, optimizer_order,
                                      optimizer_points, resnet32_points, runs_with_curves, target_lines)

COMMITTED = Path(__file__).resolve().parents[2] / "reproductions" / "results"


def row(policy, category="fixed", ours=None, paper=None, label=None, optimizer="momentum", status=None, **kw):
    """A row as results.json's ``table`` holds it (the fields the checks read)."""
    return {"policy": policy, "category": category, "ours_highest_top1": ours, "paper_highest_top1": paper,
            "label": label, "optimizer": optimizer, "status": status or ("not run" if ours is None else "complete"),
            "ours_iters_to_target": kw.get("iters"), "paper_iters_to_target": kw.get("paper_iters"),
            "paper_not_reached": kw.get("paper_not_reached", False), "baseline": kw.get("baseline", False)}


def files(folder: Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def mnist_here(tmp_path, monkeypatch):
    """A data folder where MNIST counts as present (the view only looks; nothing here is trained)."""
    (tmp_path / "data" / "MNIST").mkdir(parents=True)
    monkeypatch.setenv("LRKIT_DATA_DIR", str(tmp_path / "data"))


def test_an_unknown_profile_is_one_line_naming_the_allowed_ones():
    with pytest.raises(ValueError, match=r"table4: profile must be one of .*full.*, got 'medium'"):
        TableView.open("table4", "medium")


def test_a_committed_profile_is_read_as_it_is_and_nothing_is_written(tmp_path, mnist_here):
    results = tmp_path / "results"
    shutil.copytree(COMMITTED / "table4-full-cpu", results / "table4-full-cpu")
    before = files(results)
    view = TableView.open("table4", "full", results=results, out=tmp_path / "out")
    doc = view.rows()
    assert doc["folder"] == str(results / "table4-full-cpu")
    assert doc["table"] == json.loads((results / "table4-full-cpu" / "results.json").read_text())["table"]
    assert doc["plots"] == [str(results / "table4-full-cpu" / "curves.png")]
    assert view.markdown(doc) == (results / "table4-full-cpu" / "table.md").read_text()
    assert len(runs_with_curves(doc)) == len(doc["table"])
    assert files(results) == before and not (tmp_path / "out").exists()
    assert f"results in {results / 'table4-full-cpu'}" in view.describe().splitlines()[0]


def test_show_prints_where_the_table_comes_from_and_returns_its_rows(tmp_path, mnist_here, capsys):
    results = tmp_path / "results"
    shutil.copytree(COMMITTED / "table4-full-cpu", results / "table4-full-cpu")
    view = TableView.open("table4", "full", results=results, out=tmp_path / "out", device="cpu")
    doc = view.show()
    printed = capsys.readouterr().out
    assert printed.startswith(view.describe()) and len(doc["table"]) == 16
    assert TableView.open("table4", "full", device="cuda:1").folder().name == "table4-full-cuda"


def test_a_profile_without_committed_runs_is_made_in_out_listing_rows_not_run(tmp_path, mnist_here):
    results = tmp_path / "results"
    results.mkdir()
    view = TableView.open("table4", "quick", results=results, out=tmp_path / "out")
    doc = view.rows(train_missing=False)  # nothing stored, nothing trained
    assert doc["folder"] == str(tmp_path / "out" / "table4-quick")
    assert doc["table"] and all(r["status"] == "not run" for r in doc["table"])
    assert "| " in view.markdown(doc) and not runs_with_curves(doc)
    assert not list(results.iterdir())
    # every row shows the paper's number (none is ours), which is all a view that trains nothing can show
    assert not doc["trained_here"] and view.summary(doc)[-1].endswith(": True")
    assert view.summary({**doc, "trained_here": True})[-1].endswith(": False")  # a row to train here has no run


def test_without_the_data_the_view_shows_the_papers_whole_table(tmp_path, monkeypatch):
    monkeypatch.setenv("LRKIT_DATA_DIR", str(tmp_path / "empty"))
    view = TableView.open("table8", "full", results=tmp_path / "results", out=tmp_path / "out")
    assert "data not present" in view.describe()
    doc = view.rows(train_missing=True)  # there is nothing to train on: still the paper's table
    assert doc["folder"] == str(tmp_path / "out" / "table8-paper") and not doc["trained_here"]
    assert view.markdown(doc).startswith("**svhn: data not present")
    assert view.summary(doc)[-1].endswith(": True")


def test_other_committed_profiles_are_shown_or_said_to_be_missing(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(COMMITTED / "table6-medium-cpu", results / "table6-medium-cpu")
    view = TableView.open("table6", "short", results=results, out=tmp_path / "out")
    assert view.committed_markdown("medium") == (results / "table6-medium-cpu" / "table.md").read_text()
    assert view.committed_markdown("large").startswith("No large-profile result is committed here")
    assert view.committed("large") is None and len(view.committed("medium")["table"]) == 16
    assert view.folders({"m": "medium"}) == {"m": results / "table6-medium-cpu"}
    text = view.budgets_markdown({"medium (3,200 it)": "medium", "large (6,400 it)": "large"})
    assert "medium (3,200 it): ours (iter)" in text and "No committed results in" in text


def test_best_per_category_and_whether_a_non_fixed_policy_beats_the_best_fixed_lr():
    table = [row("FIX(k=0.1)", "fixed", 80.0, 86.0), row("FIX(k=0.01)", "fixed", 82.0, 85.0),
             row("NSTEP", "decaying", 81.0, 92.0), row("TRI2", "cyclic", None, 91.0)]
    assert {c: r["policy"] for c, r in best_by_category(table).items()} == {"fixed": "FIX(k=0.01)", "decaying": "NSTEP"}
    lines = best_lines(table)
    assert lines[0].startswith("best fixed      ours  82.00%  paper 85.0%")
    assert lines[-1] == "a decaying/cyclic/composite policy beats the best fixed LR here: False"
    table[2]["ours_highest_top1"] = 83.0
    assert best_lines(table)[-1].endswith(": True")


def test_iterations_to_the_target_and_whether_a_cyclic_policy_is_sooner():
    table = [row("FIX", "fixed", 90, iters=None, paper_not_reached=True), row("TRI2", "cyclic", 95, iters=2000, paper_iters=20000),
             row("SIN2", "cyclic", status="not run")]
    lines = target_lines(table)
    assert "ours  not reached  paper not reached" in lines[0] and "ours         2000  paper 20000" in lines[1]
    assert "ours      not run" in lines[2]
    assert lines[-1] == "a cyclic policy reaches the target sooner than every fixed LR here: True"
    table[0]["ours_iters_to_target"] = 1000
    assert target_lines(table)[-1].endswith(": False")


def test_resnet32_points_name_the_papers_claims():
    table = [row("FIX(k=0.1)", "fixed", 70, 86), row("NSTEP(k=0.1)", "decaying", 75, 92.5), row("TRI2(k0=0)", "cyclic", 60, 92),
             row("SIN2(k0=0)", "cyclic", 62, 91.9), row("TRI(k0=0)", "cyclic", 50, 76), row("MULTI(x)", "composite", 76, 92.9)]
    lines = resnet32_points(table)
    assert "ours minus our best fixed LR (70.00%), paper: all four over +6.3 points: NSTEP +5.00" in lines
    assert any(line.startswith("TRI2/SIN2 (TRI2 60.00, SIN2 62.00) above TRI/SIN/COS (TRI 50.00)") and line.endswith("True")
               for line in lines)
    assert "MULTI the best row here (paper: 92.91%, the best of Table I): True" in lines
    assert lines[-1].startswith("rank correlation of our rows with the paper's (Spearman, 6 rows): ")


def test_cnn3_points_compare_lrbench_with_smiths_rows():
    table = [row("FIX", "fixed", 70, 75), row("SINEXP", "cyclic", 80, 82.16), row("TRI2", "cyclic", 78, 81),
             row("TRI2(k0=0.001)", "cyclic", 74, 79, label="TRI2-S")]
    lines = cnn3_points(table)
    assert "decaying/cyclic rows above our best fixed LR (70.00%): 3 of 3 (paper: all of them)" in lines
    assert "our best row: SINEXP 80.00% (paper's best: SINEXP 82.16%)" in lines
    assert any(line.startswith("LRBench's cyclic rows: mean 79.00%, min 78.00%; Smith's -S rows: mean 74.00%") for line in lines)


def test_optimizers_are_ordered_per_policy_and_the_falls_are_found():
    table = [row("FIX", "fixed", 60, 70, optimizer="momentum"), row("FIX", "fixed", 65, 60, optimizer="sgd"),
             row("POLY", "decaying", 12, 10, optimizer="adam"), row("POLY", "decaying", 70, 75, optimizer="momentum")]
    assert optimizer_order(table) == [
        f"FIX     optimizers by top-1, ours: {'sgd > momentum':<24} paper: momentum > sgd",
        f"POLY    optimizers by top-1, ours: {'momentum > adam':<24} paper: momentum > adam",
        "Momentum the best optimizer for 1 of 2 policies here (paper: 2 of 2)"]
    falls = {"config": {"optimizer": "adam"}, "row": {"policy": "POLY"}, "records": [{"evals": {"top1": [0.1, 0.5, 0.12]}}]}
    lines = optimizer_points({"table": table, "results": [falls]})
    assert "rows that stay near chance (< 15%) — ours: [('adam', 'POLY')] | paper: [('adam', 'POLY')]" in lines
    assert "adam + POLY: ours peaks at 50.00% and ends at 12.00% (falls 38.0 points)" in lines
