"""The committed result tables (``reproductions/results/``) are what their recipes say today: the rows of the
profile, in its order, each run with the config the recipe gives it (so a recipe edited after its runs, or a
run committed for another set-up, fails here), every run finished, and the paper's numbers as transcribed."""

import json
from pathlib import Path

import pytest

from lrkit.reproduce import get_recipe, row_key, run_key

RESULTS = Path(__file__).resolve().parents[2] / "reproductions" / "results"
# every folder that holds a reproduced table (the LLM fine-tuning table has its own format and tests)
TABLES = sorted(p for p in RESULTS.iterdir() if (p / "results.json").is_file()
                and "recipe" in json.loads((p / "results.json").read_text()))


def test_the_committed_tables_are_found():
    assert len(TABLES) >= 14 and (RESULTS / "table5-short-cpu") in TABLES


@pytest.mark.parametrize("folder", TABLES, ids=lambda p: p.name)
def test_a_committed_table_matches_its_recipe(folder):
    doc = json.loads((folder / "results.json").read_text())
    recipe = get_recipe(doc["recipe"])
    assert folder.name.startswith(f"{doc['recipe']}-{doc['profile']}-")
    assert (folder / "table.md").is_file()
    runs = recipe.runs(doc["profile"])
    assert [r["row"] for r in doc["table"]] == [row_key(run["row"]) for run in runs]
    assert doc["target"] == recipe.target_for(doc["profile"])
    by_row = {row_key(res["row"]): res for res in doc["results"]}
    for line, run in zip(doc["table"], runs):
        assert set(line["status"].split(",")) <= {"complete", "diverged"}, line["row"]
        assert line["paper_highest_top1"] == run["row"].get("paper", {}).get("highest_top1"), line["row"]
        records = by_row[line["row"]]["records"]
        assert records
        for rec in records:
            cfg = rec["config"]
            wanted = dict(run["config"], device=cfg["device"], seed=cfg["seed"],
                          **{k: cfg[k] for k in ("channels_last", "compile", "flush_denormal") if k in cfg})
            assert run_key(cfg) == run_key(wanted), f"{line['row']}: the committed run is not the recipe's run"


@pytest.mark.parametrize("folder", TABLES, ids=lambda p: p.name)
def test_a_reused_run_names_a_committed_source(folder):
    """``reused_from`` is relative to the table's folder and names a committed file that holds the run: another
    table's results.json, or the run's own record where the table was made in sittings
    (``reproductions/sittings/``); an absolute path would name the machine the table was made on."""
    doc = json.loads((folder / "results.json").read_text())
    held: dict[Path, set[str]] = {}  # each source file's run keys, read once (a results.json can be tens of MB)
    for res in doc["results"]:
        for rec in res["records"]:
            source = rec.get("reused_from")
            if source is None:
                continue
            assert not Path(source).is_absolute(), f"{folder.name}: reused_from {source!r} is absolute"
            path = (folder / source).resolve()
            assert path.is_file() and RESULTS.parent.resolve() in path.parents, f"{folder.name}: {source!r} is not committed"
            if path not in held:
                stored = json.loads(path.read_text())
                held[path] = ({run_key(r["config"]) for x in stored["results"] for r in x["records"]}
                              if "results" in stored else {run_key(stored["config"])})
            assert run_key(rec["config"]) in held[path], f"{folder.name}: {source!r} does not hold the run"


@pytest.mark.parametrize("folder", TABLES, ids=lambda p: p.name)
def test_a_committed_table_is_what_the_code_renders_from_its_runs(folder):
    """table.md and the table in results.json are rendered again from the committed runs by today's code and
    recipe, and must come out the same: a recipe or renderer changed after a table was written fails here
    (regenerate with ``python -m lrkit.reproduce.render reproductions/results``)."""
    from lrkit.reproduce import markdown, summarise

    doc = json.loads((folder / "results.json").read_text())
    recipe = get_recipe(doc["recipe"])
    table = summarise(recipe, doc["results"], doc["profile"])
    assert json.loads(json.dumps(table)) == doc["table"], f"{folder.name}: results.json's table is stale"
    assert markdown(recipe, table, doc["profile"], doc["results"]) == (folder / "table.md").read_text(), \
        f"{folder.name}: table.md is stale"


# every folder that holds an LLM fine-tuning table (lrkit.llm.table5): results.json and table5.md
LLM_TABLES = sorted(p for p in RESULTS.iterdir() if (p / "table5.md").is_file() and (p / "results.json").is_file())


def test_the_committed_llm_tables_are_found():
    assert (RESULTS / "table5-cpu-small") in LLM_TABLES and (RESULTS / "table5-cpu") in LLM_TABLES


@pytest.mark.parametrize("folder", LLM_TABLES, ids=lambda p: p.name)
def test_a_committed_llm_table_is_what_the_code_renders_from_its_document(folder):
    """table5.md is rendered again from results.json with today's recipe's claims, and must come out the same
    (regenerate with ``lrkit llm table5 --redraw --out FOLDER``)."""
    from lrkit.llm.table5 import current_checks, markdown

    doc = json.loads((folder / "results.json").read_text())
    assert markdown(doc, checks=current_checks(doc)) == (folder / "table5.md").read_text(), f"{folder.name}: table5.md is stale"

