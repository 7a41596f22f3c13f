"""The table report: iterations to a target, speed-ups, the per-optimizer layout, the plot."""

import pytest

from lrkit.reproduce import iterations_to_target, load_recipe, markdown, summarise
from tests.reproduce.helpers import record, write_recipe


def result(rec, row):
    return {"config": {"policy": rec["policy"], "optimizer": rec["config"]["optimizer"]}, "row": row, "records": [rec]}


def test_iterations_to_target_is_the_first_eval_at_or_above_it():
    rec = record(top1=(0.97, 0.991, 0.989, 0.995))
    assert iterations_to_target(rec, 0.991) == 1000
    assert iterations_to_target(rec, 0.99) == 1000
    assert iterations_to_target(rec, 0.996) is None
    assert iterations_to_target(record(top1=("nan", 0.99)), 0.98) == 1000  # a NaN eval (stored as text) never counts


def test_speedups_against_the_baseline_row_as_in_table10(tmp_path):
    head = 'metric = "iterations_to_target"\ntarget = 0.99'
    rows = ('[[rows]]\npolicy = "FIX(k=0.01)"\nbaseline = true\npaper = { iters_to_target = 10000 }\n'
            '[[rows]]\npolicy = "COS(k0=0.01, k1=0.06, l=2000)"\npaper = { iters_to_target = 1500 }\n'
            '[[rows]]\npolicy = "FIX(k=0.1)"\n')
    r = load_recipe(write_recipe(tmp_path, rows, head=head))
    fix = record("FIX(k=0.01)", top1=(0.9, 0.95, 0.985, 0.991))
    cos = record("COS(k0=0.01, k1=0.06, l=2000)", top1=(0.95, 0.992, 0.99, 0.993))
    dead = record("FIX(k=0.1)", top1=(0.1135, 0.1135, 0.1135, 0.1135))
    results = [result(fix, r.rows[0]), result(cos, r.rows[1]), result(dead, r.rows[2])]
    table = summarise(r, results, "full")
    assert [t["ours_iters_to_target"] for t in table] == [2000, 1000, None]
    assert [t["ours_speedup"] for t in table] == [1.0, 2.0, None]
    assert table[1]["paper_speedup"] == pytest.approx(10000 / 1500)
    assert [t["reached"] for t in table] == ["1/1", "1/1", "0/1"]
    md = markdown(r, table, "full", results)
    assert "Target: test top-1 ≥ 99.00%" in md
    assert "| `COS(k0=0.01, k1=0.06, l=2000)` | momentum | 1000 | 1500 | 2.00× | 6.67× | 99.30 | 1/1 | complete |" in md
    assert "| `FIX(k=0.1)` | momentum | not reached | — | — | — | 11.35 | 0/1 | complete |" in md
    r.rows[2]["paper"] = {"iters_to_target": None}  # a published row: the paper says it never reached the target
    assert "| `FIX(k=0.1)` | momentum | not reached | not reached |" in markdown(r, summarise(r, results, "full"), "full", results)
    assert "3 runs on test cpu (cpu), torch x, 2026-11-23" in md


def test_speedups_over_the_budget_as_in_000_table3(tmp_path):
    # 000 Table III divides the default budget ("Default: 64,000 iters": 64000/33000 = 1.94x); ours divide the
    # iterations the run was given, the paper's the recipe's full budget (here task.iters = 20)
    head = 'metric = "iterations_to_target"\ntarget = 0.99\nspeedup_over = "budget"'
    rows = ('[[rows]]\npolicy = "FIX(k=0.01)"\npaper = { iters_to_target = 20 }\n'
            '[[rows]]\npolicy = "COS(k0=0.01, k1=0.06, l=2000)"\npaper = { iters_to_target = 8 }\n'
            '[[rows]]\npolicy = "FIX(k=0.1)"\npaper = { iters_to_target = 10 }\n')
    r = load_recipe(write_recipe(tmp_path, rows, head=head))
    assert r.speedup_over == "budget"
    fix = record("FIX(k=0.01)", top1=(0.9, 0.95, 0.985, 0.991))  # 4 evals every 500: a 2,000-iteration run
    cos = record("COS(k0=0.01, k1=0.06, l=2000)", top1=(0.95, 0.992, 0.99, 0.993))
    dead = record("FIX(k=0.1)", top1=(0.1135, 0.1135, 0.1135, 0.1135))
    results = [{"config": rec["config"], "row": row, "records": [rec]} for rec, row in zip((fix, cos, dead), r.rows)]
    table = summarise(r, results, "full")
    assert [t["ours_speedup"] for t in table] == [1.0, 2.0, None]  # 2000/2000, 2000/1000, never
    assert [t["paper_speedup"] for t in table] == [1.0, 2.5, 2.0]  # 20/20, 20/8, 20/10: no row is a baseline
    md = markdown(r, table, "full", results)
    assert "Speed-up: the iteration budget (ours: the profile's, paper: its 20) over the row's #iter." in md
    assert "| `COS(k0=0.01, k1=0.06, l=2000)` | momentum | 1000 | 8 | 2.00× | 2.50× |" in md
    # the default names the baseline row in the same line
    r.speedup_over, r.rows[1]["baseline"] = "baseline", True
    table = summarise(r, results, "full")
    assert [t["ours_speedup"] for t in table] == [0.5, 1.0, None]
    assert "Speed-up: the #iter of `COS(k0=0.01, k1=0.06, l=2000)` over the row's #iter." in markdown(r, table, "full", results)


def test_two_optimizers_get_the_side_by_side_layout_of_table11(tmp_path):
    rows = ('[[rows]]\npolicy = "SIN2(k0=0.01, k1=0.06, l=2000)"\noptimizer = "momentum"\ncategory = "cyclic"\n'
            'paper = { highest_top1 = 99.33, iter_at_highest = 4000 }\n'
            '[[rows]]\npolicy = "SIN2(k0=0.01, k1=0.06, l=2000)"\noptimizer = "sgd"\ncategory = "cyclic"\n'
            'paper = { highest_top1 = 98.92, iter_at_highest = 7500 }\n')
    r = load_recipe(write_recipe(tmp_path, rows))
    mom = record("SIN2(k0=0.01, k1=0.06, l=2000)", top1=(0.99, 0.9932, 0.993))
    sgd = record("SIN2(k0=0.01, k1=0.06, l=2000)", optimizer="sgd", top1=(0.98, 0.985, 0.989))
    results = [result(mom, r.rows[0]), result(sgd, r.rows[1])]
    table = summarise(r, results, "full")
    assert [t["ours_iter_at_highest"] for t in table] == [1000, 1500]
    md = markdown(r, table, "full", results)
    assert "| policy | momentum ours (iter) | sgd ours (iter) | momentum paper (iter) | sgd paper (iter) |" in md
    assert "| `SIN2(k0=0.01, k1=0.06, l=2000)` | 99.32 (1000) | 98.90 (1500) | 99.33 (4000) | 98.92 (7500) |" in md
    assert "cyclic/momentum: best 99.32%" in md and "cyclic/sgd: best 98.90%" in md


def test_labels_and_speed_are_reported(tmp_path):
    rows = '[[rows]]\npolicy = "FIX(k=0.01)"\nlabel = "the default"\n[[rows]]\npolicy = "FIX(k=0.1)"\n'
    r = load_recipe(write_recipe(tmp_path, rows))
    a, b = record("FIX(k=0.01)"), record("FIX(k=0.1)")
    a["summary"].update(iterations=1000, wall_time_s=10.0)
    b["summary"].update(iterations=1000, wall_time_s=40.0)
    results = [result(a, r.rows[0]), result(b, r.rows[1])]
    md = markdown(r, summarise(r, results, "short"), "short", results)
    assert "| `FIX(k=0.01)` — the default | momentum |" in md and "| `FIX(k=0.1)` | momentum |" in md
    assert "test cpu: median 62.5 it/s over 2 run(s)" in md
    assert "Short profile: shorter budget" in md


def test_top5_is_shown_where_the_paper_gives_it(tmp_path):
    r = load_recipe(write_recipe(tmp_path, '[[rows]]\npolicy = "FIX(k=0.1)"\npaper = { highest_top1 = 50.5, highest_top5 = 76.51 }\n'))
    rec = record("FIX(k=0.1)")
    rec["summary"]["highest_top5"] = 0.8
    results = [result(rec, r.rows[0])]
    md = markdown(r, summarise(r, results, "full"), "full", results)
    assert "| `FIX(k=0.1)` | 80.00 | 76.51 |" in md


@pytest.mark.parametrize("n", [3, 19])
def test_the_curves_legend_never_covers_a_panel(n):
    """Up to LEGEND_INSIDE_MAX policies the legend sits in the LR panel; more (Table 5's 19 rows) go below both
    panels, so no curve is hidden, and every policy is named once."""
    import matplotlib.pyplot as plt

    from lrkit.reproduce.report import LEGEND_INSIDE_MAX, curves_figure

    results = []
    for i in range(n):
        rec = record(policy=f"FIX(k={0.001 * (i + 1):g})", top1=(0.3, 0.4 + 0.01 * i))
        results.append({"config": rec["config"], "records": [rec]})
    fig = curves_figure(results)
    try:
        fig.canvas.draw()
        lr_ax, acc_ax = fig.axes
        if n <= LEGEND_INSIDE_MAX:
            assert not fig.legends and len(lr_ax.get_legend().get_texts()) == n
        else:
            assert lr_ax.get_legend() is None and len(fig.legends) == 1
            legend = fig.legends[0]
            assert [t.get_text() for t in legend.get_texts()] == [r["config"]["policy"] for r in results]
            box = legend.get_window_extent()
            for ax in (lr_ax, acc_ax):
                panel = ax.get_tightbbox()  # the panel with its tick labels and axis label
                assert not box.overlaps(panel), "the legend covers a panel"
            assert box.y0 >= 0, "the legend runs off the figure"
    finally:
        plt.close(fig)


def _committed(folder, rows):
    """A results folder holding only what compare_budgets reads: the summarised table."""
    import json

    folder.mkdir(parents=True)
    table = [{"policy": p, "optimizer": o, "label": None, "category": "cyclic", "paper_highest_top1": paper,
              "ours_highest_top1": acc, "ours_iter_at_highest": it, "status": status}
             for p, o, acc, it, paper, status in rows]
    (folder / "results.json").write_text(json.dumps({"table": table}))
    return folder


def test_budgets_are_joined_by_policy_and_optimizer(tmp_path):
    from lrkit.reproduce.report import compare_budgets

    short = _committed(tmp_path / "s", [("A", "sgd", 50.0, 100, 80.0, "complete"), ("B", "sgd", 40.0, 200, 70.0, "complete"),
                                        ("A", "adam", 45.0, 100, 60.0, "complete")])
    medium = _committed(tmp_path / "m", [("B", "sgd", 60.0, 700, 70.0, "complete"), ("A", "adam", None, None, 60.0, "diverged")])
    got = compare_budgets({"short": short, "medium": medium, "gone": tmp_path / "nothing"})
    assert [(e["policy"], e["optimizer"]) for e in got] == [("A", "sgd"), ("B", "sgd"), ("A", "adam")]
    assert set(got[0]["by"]) == {"short"} and set(got[1]["by"]) == {"short", "medium"}
    assert got[1]["by"]["medium"]["ours_highest_top1"] == 60.0 and got[2]["paper"] == 60.0


def test_budgets_markdown_shows_each_budget_its_status_and_rank_agreement(tmp_path):
    from lrkit.reproduce.report import budgets_markdown

    paper = [("P1", 90.0), ("P2", 80.0), ("P3", 70.0), ("P4", 60.0)]
    short = _committed(tmp_path / "s", [(p, "momentum", 10.0 + i, 100, acc, "complete") for i, (p, acc) in enumerate(paper)])
    medium = _committed(tmp_path / "m", [(p, "momentum", 50.0 - i, 400, acc, "complete") for i, (p, acc) in enumerate(paper[:3])]
                        + [("P4", "momentum", 30.0, 300, 60.0, "diverged")])
    md = budgets_markdown({"short (100 it)": short, "medium (400 it)": medium, "full": tmp_path / "absent"})
    assert "| policy | short (100 it): ours (iter) | medium (400 it): ours (iter) | paper |" in md
    assert "| `P1` | 10.00 (100) | 50.00 (400) | 90.00 |" in md
    assert "| `P4` | 13.00 (100) | 30.00 (300, then diverged) | 60.00 |" in md
    # short ranks the rows against the paper's order, medium with it
    assert "short (100 it): 4 rows, Spearman's ρ with the paper -1.00" in md
    assert "medium (400 it): 4 rows, Spearman's ρ with the paper 1.00" in md
    assert "No committed results in" in md and "absent" in md
    assert "optimizer" not in md.splitlines()[0]  # one optimizer: no optimizer column


def test_budgets_markdown_only_keeps_the_rows_of_one_budget(tmp_path):
    from lrkit.reproduce.report import budgets_markdown

    short = _committed(tmp_path / "s", [("A", "sgd", 50.0, 100, 80.0, "complete"), ("A", "adam", 40.0, 100, 70.0, "complete"),
                                        ("B", "sgd", 30.0, 100, 60.0, "complete")])
    medium = _committed(tmp_path / "m", [("A", "adam", None, None, 70.0, "diverged")])
    md = budgets_markdown({"short": short, "medium": medium}, only="medium")
    assert md.splitlines()[0] == "| policy | optimizer | short: ours (iter) | medium: ours (iter) | paper |"
    assert "| `A` | adam | 40.00 (100) | diverged | 70.00 |" in md
    assert "`B`" not in md and "| sgd |" not in md
    assert "short: 1 rows" in md and "medium: 0 rows" in md


def test_rank_correlation_gives_ties_their_average_rank():
    from lrkit.reproduce.report import rank_correlation

    assert rank_correlation([1, 1, 2], [1, 2, 3]) == pytest.approx(1.5 / 3 ** 0.5)  # ranks 1.5, 1.5, 3 against 1, 2, 3
    assert rank_correlation([1, 2], [2, 1]) is None
    assert rank_correlation([1, 1, 1], [1, 2, 3]) is None


def test_failed_rows_say_why_below_the_table_each_message_once(tmp_path):
    rows = "".join(f'[[rows]]\npolicy = "{p}"\n' for p in ("FIX(k=0.01)", "FIX(k=0.1)", "FIX(k=0.001)", "FIX(k=0.5)"))
    r = load_recipe(write_recipe(tmp_path, rows))
    gone = "ImportError: load_dataset('svhn') needs torchvision, which is not importable here;\n  the data is not present"
    recs = [record("FIX(k=0.01)"), record("FIX(k=0.1)", status="failed"), record("FIX(k=0.001)", status="failed"),
            record("FIX(k=0.5)", status="failed")]
    for rec in recs[1:]:
        rec.update(message=gone, evals={"iteration": [], "top1": []}, summary={"wall_time_s": 0.0})
    recs[3]["message"] = "RuntimeError: CUDA out of memory"
    results = [result(rec, row) for rec, row in zip(recs, r.rows)]
    md = markdown(r, summarise(r, results, "full"), "full", results)
    assert md.count("Failed — ") == 2
    assert ("Failed — 2 rows (`FIX(k=0.1)`, `FIX(k=0.001)`): ImportError: load_dataset('svhn') needs torchvision, which is "
            "not importable here; the data is not present\n") in md  # one line: white space folded
    assert "Failed — `FIX(k=0.5)`: RuntimeError: CUDA out of memory\n" in md
    assert "Failed" not in markdown(r, summarise(r, results[:1], "full"), "full", results[:1])


def test_a_row_whose_seeds_end_differently_counts_each_ending(tmp_path):
    rows = "".join(f'[[rows]]\npolicy = "{p}"\n' for p in ("FIX(k=0.1)", "FIX(k=0.01)"))
    r = load_recipe(write_recipe(tmp_path, rows))
    edge = [record("FIX(k=0.1)", top1=(0.9, 0.99), seed=s) for s in range(3)]
    for s in (3, 4):  # diverged before the first evaluation: no accuracy to average
        gone = record("FIX(k=0.1)", status="diverged", seed=s)
        gone.update(evals={"iteration": [], "top1": []}, summary={"highest_top1": None, "wall_time_s": 1.0})
        edge.append(gone)
    steady = [record("FIX(k=0.01)", top1=(0.9, 0.98), seed=s) for s in range(2)]
    results = [dict(result(edge[0], r.rows[0]), records=edge), dict(result(steady[0], r.rows[1]), records=steady)]
    table = summarise(r, results, "full")
    assert table[0]["status"] == "complete,diverged" and table[0]["seeds"] == 3
    md = markdown(r, table, "full", results)
    assert "| 99.00 ± 0.00 |" in md and "| complete ×3, diverged ×2 |" in md
    assert "| complete |" in md  # a row whose runs all ended alike keeps the one word
