import pytest

from lrkit.llm.recipe import LLMRecipe
from lrkit.llm.recipe import load_recipe as load_llm
from lrkit.recipes import Recipe
from lrkit.reproduce import get_recipe
from lrkit.tune.recipe import SearchRecipe, load_search_recipe


def test_every_family_is_a_recipe_with_profiles_plan_and_claims():
    table = get_recipe("table4")
    search = load_search_recipe("000-table-iv", "quick")[1]
    llm = load_llm()
    for r, cls in ((table, Recipe), (search, SearchRecipe), (llm, LLMRecipe)):
        assert isinstance(r, Recipe) and isinstance(r, cls)
        assert r.get_profile("quick").time_scale <= 1 and r.checks and r.plan("quick")
    assert table.get_profile("quick").time_scale == 0.1 and table.plan("quick") == table.runs("quick")
    assert search.get_profile("quick").time_scale == 0.01 and [s.name for s in search.plan("quick")] == [
        "000-table-iv-grid", "000-table-iv-random"]
    assert [run["row"]["key"] for run in llm.plan("quick")] == ["linear-6e-5", "fixed"]
    assert llm.plan("quick")[0]["config"]["epochs"] == 2
    with pytest.raises(ValueError, match="field 'profile' must be one of"):
        table.get_profile("medium")


def test_the_llm_recipe_takes_the_papers_scores_from_the_published_table_and_rejects_unknown_keys(tmp_path):
    from lrkit.llm.recipe import recipe_path

    llm = load_llm()
    assert llm["rows"][2]["paper"][2] == [0.5247, 0.7797, 0.4194, 0.4036] and llm["paper_baseline"]["scores"][0] == 0.5119
    text = recipe_path().read_text()
    bad = tmp_path / "t.toml"
    bad.write_text(text.replace("[profiles.quick]\n", "[profiles.quick]\nepoch = 2\n"))
    with pytest.raises(ValueError, match=rf"recipe {bad}: unknown key 'epoch' in \[profiles.quick\]; allowed: rows, "):
        load_llm(bad)
    bad.write_text(text.replace('key = "fixed"', 'key = "fixed"\nlr = 1'))
    with pytest.raises(ValueError, match=r"unknown key 'lr' in rows\[3\]; allowed: label, key, policy, paper"):
        load_llm(bad)
    bad.write_text(text.replace('worse = { run = "baseline", task = "mmlu" }', 'worse = { run = "base", task = "mmlu" }'))
    with pytest.raises(ValueError, match=r"checks\[0\].worse: field 'run' must name rows"):
        load_llm(bad)


def test_a_table_recipe_rejects_an_unknown_key(tmp_path):
    from lrkit.reproduce import load_recipe

    p = tmp_path / "t.toml"
    p.write_text('id = "t"\ntitle = "t"\nrow = 1\n[task]\ndataset = "mnist"\n[profiles.full]\n[[rows]]\npolicy = "FIX(k=0.1)"\n')
    with pytest.raises(ValueError, match=rf"recipe {p}: unknown key 'row' in the recipe; allowed: id, title, source, "):
        load_recipe(p)
    p.write_text('id = "t"\ntitle = "t"\n[task]\ndataset = "mnist"\nlr = 1\n[profiles.full]\n[[rows]]\npolicy = "FIX(k=0.1)"\n')
    with pytest.raises(ValueError, match=r"unknown key 'lr' in \[task\]; allowed: dataset, model"):
        load_recipe(p)
    p.write_text('id = "t"\ntitle = "t"\n[task]\ndataset = "mnist"\n[profiles.full]\n[[rows]]\npolicy = "FIX(k=0.1)"\n'
                 'paper = { top1 = 99 }\n')
    with pytest.raises(ValueError, match=r"unknown key 'top1' in rows\[0\].paper; allowed: highest_top1"):
        load_recipe(p)
