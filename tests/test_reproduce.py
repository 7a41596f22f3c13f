"""Recipes and the table runner."""

import dataclasses
import json
import os
import textwrap

import pytest

from lrkit.policies import parse
from lrkit.reproduce import get_recipe, list_recipes, load_recipe, reproduce


def test_table4_recipe_matches_the_paper():
    r = get_recipe("table4")
    assert r.task["model"] == "lenet" and r.task["iters"] == 10000 and r.task["batch_size"] == 100
    assert len(r.rows) == 16
    paper = {str(parse(row["policy"])): row["paper"]["highest_top1"] for row in r.rows}
    assert paper["SIN2(k0=0.01, k1=0.06, l=2000)"] == 99.33 and paper["FIX(k=0.1)"] == 11.35
    full = r.runs("full")
    assert [x["config"]["policy"] for x in full] == [str(parse(row["policy"])) for row in r.rows]


def test_quick_profile_compresses_time():
    quick = {str(parse(x["row"]["policy"])): x["config"] for x in get_recipe("table4").runs("quick")}
    sin2 = quick["SIN2(k0=0.01, k1=0.06, l=2000)"]
    assert sin2["iters"] == 1000 and sin2["eval_every"] == 500 and parse(sin2["policy"]) == parse("SIN2(k0=0.01, k1=0.06, l=200)")
    nstep = parse(quick["NSTEP(k=0.01, gamma=0.9, l=[5000, 7000, 8000, 9000, 9500])"]["policy"])
    assert nstep.l == (500, 700, 800, 900, 950)
    with pytest.raises(ValueError, match="profile must be one of"):
        get_recipe("table4").runs("medium")


def test_unknown_table():
    with pytest.raises(ValueError, match="unknown table 'table99'; available: .*table4"):
        get_recipe("table99")
    assert "table4" in list_recipes()


def write_recipe(tmp_path, rows):
    (tmp_path / "t.toml").write_text(textwrap.dedent(f'''
        id = "tiny"
        title = "tiny"
        [task]
        dataset = "mnist"
        model = "lenet"
        optimizer = "momentum"
        batch_size = 50
        iters = 20
        eval_every = 10
        [profiles.full]
        time_scale = 1.0
        [profiles.quick]
        time_scale = 0.5
        eval_every = 5
        {rows}
    '''))


def test_bad_recipe(tmp_path):
    write_recipe(tmp_path, '[[rows]]\npolicy = "SIN2(k0=0.1)"')
    with pytest.raises(ValueError, match="SIN2: missing parameter"):
        load_recipe(tmp_path / "t.toml")


def test_reproduce_writes_results_table_and_plots_and_survives_a_failed_row(tmp_path, monkeypatch):
    if not os.environ.get("LRKIT_DATA_DIR"):
        pytest.skip("LRKIT_DATA_DIR is not set: this test trains on the real MNIST (CI sets it)")
    from lrkit.train.data import load_dataset

    ds = load_dataset("mnist")
    ds = dataclasses.replace(ds, x_test=ds.x_test[:500], y_test=ds.y_test[:500])
    rows = ('[[rows]]\npolicy = "FIX(k=0.01)"\ncategory = "fixed"\npaper = { highest_top1 = 99.11 }\n'
            '[[rows]]\npolicy = "SIN2(k0=0.01, k1=0.06, l=4)"\ncategory = "cyclic"\npaper = { highest_top1 = 99.33 }\n'
            '[[rows]]\npolicy = "FIX(k=0.01)"\noptimizer = "adam"\nbatch_size = 0\n')
    write_recipe(tmp_path, rows)
    monkeypatch.setenv("LRKIT_REPRODUCTIONS_DIR", str(tmp_path))
    out = tmp_path / "out"
    doc = reproduce("tiny", profile="quick", repeats=2, out=out, progress=False, data=ds, threads=2)
    table = doc["table"]
    assert [r["status"] for r in table] == ["complete", "complete", "failed"]
    assert table[0]["ours_std"] is not None and table[0]["paper_highest_top1"] == 99.11
    assert table[1]["run_policy"] == "SIN2(k0=0.01, k1=0.06, l=2)"
    assert table[0]["diff"] == pytest.approx(table[0]["ours_highest_top1"] - 99.11)
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["results"]) == 3 and len(saved["results"][0]["records"]) == 2
    assert saved["results"][0]["records"][0]["summary"]["iterations"] == 10
    md = (out / "table.md").read_text()
    assert "| `FIX(k=0.01)` | momentum |" in md and "(ran as SIN2(k0=0.01, k1=0.06, l=2))" in md
    assert (out / "curves.png").stat().st_size > 10_000
    only = reproduce("tiny", profile="quick", out=tmp_path / "only", progress=False, data=ds, only=["SIN2(k0=0.01, k1=0.06, l=4)"])
    assert [r["policy"] for r in only["table"]] == ["SIN2(k0=0.01, k1=0.06, l=4)"]
    with pytest.raises(ValueError, match="--only names policies not in profile"):
        reproduce("tiny", profile="quick", out=tmp_path / "x", progress=False, data=ds, only=["FIX(k=0.5)"])
