"""Search recipes (reproductions/search/*.toml): loading, validation, the profiles' trials, the paper's
numbers against lrkit/db/published/, the comparison with the paper; one tiny end-to-end run."""

import json
import math

import pandas as pd
import pytest

from lrkit.db.published import PUBLISHED_DIR
from lrkit.policies import parse
from lrkit.tune.recipe import (compare, list_search_recipes, load_search_recipe, repeat_best, run_search_recipe,
                               search_recipes_dir)
from lrkit.tune.search import RESULT_COLUMNS, SearchResult
from tests.tiny_data import write_tiny_npz

TRIEXP = "TRIEXP(k0=1, k1=3, gamma=0.999896879644406, l=3000)"
QUICK_TRIEXP = parse(TRIEXP).rescale_time(0.01)


def published_rows():
    return json.loads((PUBLISHED_DIR / "000_table4.json").read_text())["rows"]


def test_recipes_are_named_by_id_stem_or_path():
    ids = list_search_recipes()
    assert set(ids) >= {"000-table-iv", "000-fig6"}
    assert ids["000-table-iv"].name == "000_table4_lambda_search.toml"
    for name in ("000-table-iv", "000_table4_lambda_search", str(search_recipes_dir() / "000_table4_lambda_search.toml")):
        assert load_search_recipe(name)[1].id == "000-table-iv"
    with pytest.raises(ValueError, match=r"unknown search recipe 'table-v'; available: .*000-fig6 \(000_fig6_policy_lambda\)"):
        load_search_recipe("table-v")


def test_search_recipes_stay_out_of_the_table_recipes():
    from lrkit.reproduce import list_recipes

    assert not {"000-table-iv", "000-fig6"} & set(list_recipes())  # lrkit reproduce would read them as tables


def test_table_iv_full_profile_is_the_papers_set_up():
    searches, r = load_search_recipe("000-table-iv", "full")
    grid, rand = searches
    assert (grid.name, rand.name) == ("000-table-iv-grid", "000-table-iv-random")
    assert r.task == dict(dataset="mnist", model="lenet", optimizer="momentum", batch_size=100, iters=12000,
                          eval_every=600, weight_decay=0.0005, normalize="scale")
    rows = published_rows()
    assert {t.policy for t in grid.trials + rand.trials} == {str(parse(rows[0]["policy"]))} == {TRIEXP}
    assert sorted({t.lam for t in grid.trials}) == rows[0]["lambda"]
    assert len(grid.trials) == 25 and sorted({t.seed for t in grid.trials}) == [0, 1, 2, 3, 4]
    assert len(rand.trials) == 25 and len({t.lam for t in rand.trials}) == 25  # each repeat draws its own λ
    assert all(0.001 <= t.lam <= 0.1 for t in rand.trials)
    assert [t.seed for t in rand.trials] == [s for s in range(5) for _ in range(5)]
    paper = {(p["search"], p.get("lam")): p for p in r.paper}
    assert paper["grid", None]["highest_top1"] / 100 == pytest.approx(rows[0]["highest_top1"])
    assert paper["grid", None]["std"] / 100 == pytest.approx(rows[0]["highest_top1_std"])
    assert paper["random", None]["highest_top1"] / 100 == pytest.approx(rows[1]["highest_top1"])
    assert paper["random", None]["std"] / 100 == pytest.approx(rows[1]["highest_top1_std"])
    assert paper["grid", 0.05]["highest_top1"] / 100 == pytest.approx(rows[2]["highest_top1"])


def test_table_iv_quick_profile_trials():
    searches, r = load_search_recipe("000-table-iv", "quick")
    grid, rand = searches
    assert r.task["iters"] == 120 and r.task["eval_every"] == 120 and r.time_scale == 0.01
    assert [(t.policy, t.lam, t.seed) for t in grid.trials] == [
        (str(QUICK_TRIEXP), lam, s) for lam in (0.01, 0.05) for s in (0, 1)]
    assert QUICK_TRIEXP.l == 30 and QUICK_TRIEXP.gamma == pytest.approx(0.94 ** (1 / 6))
    assert [t.seed for t in rand.trials] == [0, 0, 1, 1] and all(0.001 <= t.lam <= 0.1 for t in rand.trials)
    full_rand = load_search_recipe("000-table-iv", "full")[0][1]
    # repeat r draws with seed + r: the quick draws are the first draws of the full profile's repeats
    first_two = [[t.lam for t in full_rand.trials if t.seed == s][:2] for s in (0, 1)]
    assert [t.lam for t in rand.trials] == first_two[0] + first_two[1]
    assert all(c["iters"] == 120 and c["threads"] == 1 for c in grid.configs())
    assert "| grid | grid | 4 | TRIEXP | 0.01, 0.05 | 2 |" in r.describe(searches)


def test_fig6_profiles():
    searches, r = load_search_recipe("000-fig6", "full")
    grid, ratio = searches
    assert [parse(p).name for p in r.searches["grid"]["policies"]] == ["NSTEP", "POLY", "SIN2", "SINEXP", "TRIEXP"]
    assert len(grid.trials) == 25 and {t.seed for t in grid.trials} == {0}
    assert [t.policy for t in ratio.trials] == [TRIEXP.replace("k1=3", f"k1={k}") for k in (2, 3, 4, 5, 6)]
    assert {t.lam for t in ratio.trials} == {0.05} and r.points["ratio"] == [2, 3, 4, 5, 6]
    sweep = {p["value"]: p["highest_top1"] for p in r.paper if p["search"] == "ratio"}
    for row in published_rows()[2:]:
        assert sweep[parse(row["policy"]).policy.k1] / 100 == pytest.approx(row["highest_top1"])
    searches, r = load_search_recipe("000-fig6", "quick", device="cuda")
    grid, ratio = searches
    assert [(parse(t.policy).name, t.lam) for t in grid.trials] == [
        (n, lam) for n in ("SIN2", "TRIEXP") for lam in (0.001, 0.01, 0.05)]
    assert [parse(t.policy).k1 for t in ratio.trials] == [2, 4] and parse(ratio.trials[0].policy).l == 30
    assert grid.base["device"] == "cuda" and grid.base["iters"] == 120


MINI = """id = "mini"
title = "mini"
[task]
dataset = "mnist"
iters = 100
eval_every = 50
[[searches]]
name = "grid"
method = "grid"
policies = ["FIX(k=0.1)", "SIN2(k0=1, k1=3, l=40)"]
lams = [0.1, 0.2]
[[searches]]
name = "up"
method = "follow_up"
of = "grid"
policy = "SIN2"
lam = 0.1
param = "ratio"
values = [2, 4]
[[paper]]
search = "grid"
highest_top1 = 99.0
[profiles.full]
[profiles.quick]
time_scale = 0.5
"""


def write(tmp_path, text):
    p = tmp_path / "mini.toml"
    p.write_text(text)
    return p


def test_the_mini_recipe_loads(tmp_path):
    searches, r = load_search_recipe(write(tmp_path, MINI), "quick")
    assert r.task["iters"] == 50 and r.task["eval_every"] == 25
    assert [t.policy for t in searches[1].trials] == ["SIN2(k0=1, k1=2, l=20)", "SIN2(k0=1, k1=4, l=20)"]


@pytest.mark.parametrize("edit, message", [
    (("title = \"mini\"", "title = \"mini\"\ncolour = 1"),
     "unknown key 'colour' in the recipe; allowed: id, title, source, published, claim, objective, target_acc, task"),
    (("iters = 100", "iters = 100\npolicy = \"FIX(k=1)\""), "unknown key 'policy' in \\[task\\]; allowed: .*batch_size"),
    (("lams = [0.1, 0.2]", "lams = [0.1, 0.2]\nsamples = 3"),
     r"unknown key 'samples' in searches\[0\] \(method grid\); allowed: name, method, policies, params, lams, repeats"),
    (("method = \"grid\"", "method = \"bayes\""), "field 'method' must be one of grid, random, follow_up, got 'bayes'"),
    (("time_scale = 0.5", "time_scale = 0.5\nfoo = 1"), r"unknown key 'foo' in \[profiles.quick\]; allowed: time_scale"),
    (("time_scale = 0.5", "time_scale = 0.5\nsearches.grid = { samples = 2 }"),
     r"unknown key 'samples' in \[profiles.quick.searches.grid\]; allowed: lams, params, only, repeats"),
    (("time_scale = 0.5", "time_scale = 0.5\nsearches.grdi = { lams = [1] }"),
     r"unknown key 'grdi' in \[profiles.quick.searches\]; allowed: grid, up"),
    (("[profiles.full]", "[profiles.medium]"), r"unknown key 'medium' in \[profiles\]; allowed: quick, full"),
    (("time_scale = 0.5", "time_scale = 0.5\nsearches.grid = { only = [\"TRI\"] }"),
     r"'only' names policies not in the search: \['TRI'\]; allowed: FIX, SIN2"),
    (("policy = \"SIN2\"", "policy = \"COS\""), "search 'grid' has 0 policies named 'COS'; allowed: FIX, SIN2"),
    (("lam = 0.1\n", "lam = \"max\"\n"), "field 'lam' must be a number > 0 or \"best\""),
    (("highest_top1 = 99.0", "above = 99.0\nbelow = 99.5"), "give exactly one number of highest_top1, above, below"),
    (("search = \"grid\"", "search = \"grid\"\nlamda = 0.1"), r"unknown key 'lamda' in paper\[0\]"),
    (("search = \"grid\"", "search = \"random\""), "field 'search' must name a search"),
    (("lams = [0.1, 0.2]", "lams = [0.1, 0.2]\nrepeats = 0"), "field 'repeats' of search 'grid' must be an int >= 1"),
    (("[\"FIX(k=0.1)\", ", "[\"FIX(k=-1)\", "), "search 'grid': FIX"),
    (("time_scale = 0.5", "time_scale = 5"), r"field 'time_scale' of \[profiles.quick\] must be a number in \(0, 1\]"),
    (("[profiles.full]\n", ""), "missing profile\\(s\\) full"),
    (("[profiles.full]", '[[checks]]\nsays = "s"\nbetter = "grid"\nworse = "random"\n[profiles.full]'),
     r"checks\[0\].worse: field 'search' must name a search \(grid, up\), got 'random'"),
    (("[profiles.full]", '[[checks]]\nsays = "s"\nbetter = {search = "grid", lamda = 1}\nworse = "up"\n[profiles.full]'),
     r"checks\[0\].better has unknown key\(s\) \['lamda'\]; allowed: lam, policy, search, value"),
])
def test_validation_names_the_key(tmp_path, edit, message):
    old, new = edit
    assert old in MINI
    with pytest.raises(ValueError, match=message):
        load_search_recipe(write(tmp_path, MINI.replace(old, new, 1)), "quick")


def test_task_fields_are_checked_by_trainconfig(tmp_path):
    with pytest.raises(ValueError, match="field 'optimizer' must be one of sgd, momentum, adam"):
        load_search_recipe(write(tmp_path, MINI.replace("iters = 100", "iters = 100\noptimizer = \"lion\"")), "quick")


def fake_result(search, accs, status=None):
    rows = []
    for i, (t, a) in enumerate(zip(search.trials, accs)):
        st = (status or {}).get(i, "complete")
        rows.append({c: None for c in RESULT_COLUMNS} | {"trial": i, "policy": t.policy, "lam": t.lam, "seed": t.seed,
                                                         "spec": t.spec, "status": st, "highest_top1": a})
    return SearchResult(search, pd.DataFrame(rows, columns=RESULT_COLUMNS))


def test_comparison_takes_the_best_trial_of_each_repeat_and_checks_bounds():
    searches, r = load_search_recipe("000-table-iv", "quick")
    grid = fake_result(searches[0], [0.97, 0.98, 0.99, 0.985])  # (λ, seed): (0.01, 0), (0.01, 1), (0.05, 0), (0.05, 1)
    rand = fake_result(searches[1], [None, 0.96, 0.95, None], status={0: "diverged", 3: "diverged"})
    best = repeat_best(grid)
    assert best["lam"].tolist() == [0.05, 0.05] and best["highest_top1"].tolist() == [0.99, 0.985]
    table = compare(r, {"grid": grid, "random": rand}).set_index("label")
    g = table.loc["Grid Search: λ ∈ {0.001, 0.005, 0.01, 0.05, 0.1}"]
    assert g["ours_top1"] == pytest.approx(98.75) and g["ours_std"] == pytest.approx(math.sqrt(0.125))
    assert g["difference"] == pytest.approx(98.75 - 99.30) and g["paper"] == "99.30 ± 0.04 (n=5)"
    rr = table.loc["Random Search: λ random from [0.001, 0.1]"]
    assert rr["ours_top1"] == pytest.approx(95.5) and rr["diverged"] == 2 and "all 2 trials" in rr["ours"]
    cell = table.loc["TRIEXP with λ = 0.05 (text beside Table IV, Fig. 6; one run)"]
    assert cell["ours_top1"] == pytest.approx(98.75) and cell["n"] == 2

    searches, r = load_search_recipe("000-fig6", "quick")
    grid = fake_result(searches[0], [0.95, 0.995, 0.99, 0.9, 0.992, 0.9936])
    up = fake_result(searches[1], [0.9926, 0.991])
    t = compare(r, {"grid": grid, "ratio": up}).set_index("label")
    assert t.loc["SIN2, λ = 0.01: over 99.25%", "holds"] is True
    assert t.loc["SIN2, λ = 0.001: misses 99.10%", "holds"] is True
    assert t.loc["TRIEXP, λ = 0.01: misses 99.10%", "holds"] is False
    assert t.loc["TRIEXP, λ = 0.05: the highest accuracy", "ours_top1"] == pytest.approx(99.36)
    three = t.loc["TRIEXP λ = 0.05, k1/k0 = 3"]  # not in the quick follow-up: it is the grid's cell
    assert three["ours_top1"] == pytest.approx(99.36) and three["from"] == "grid cell"
    assert t.loc["TRIEXP λ = 0.05, k1/k0 = 2", "ours_top1"] == pytest.approx(99.26)
    assert t.loc["TRIEXP λ = 0.05, k1/k0 = 5", "ours"] == "not in this profile"


def test_run_search_recipe_end_to_end(tmp_path):
    """A tiny recipe (4-class npz data, 10 iterations): grid, random, and a follow-up at the grid's best λ."""
    data = write_tiny_npz(tmp_path / "tiny.npz")
    text = f"""id = "tiny"
title = "tiny"
[task]
dataset = "{data}"
model = "lenet"
iters = 20
batch_size = 20
eval_every = 10
eval_batch_size = 100
[[searches]]
name = "grid"
method = "grid"
policies = ["SIN2(k0=0.01, k1=0.05, l=10)"]
lams = [0.001, 1.0]
[[searches]]
name = "random"
method = "random"
policies = ["SIN2(k0=0.01, k1=0.05, l=10)"]
lam_range = [0.5, 1.5, "linear"]
samples = 2
[[searches]]
name = "up"
method = "follow_up"
of = "grid"
policy = "SIN2"
lam = "best"
param = "ratio"
values = [2, 5]
[[paper]]
search = "grid"
highest_top1 = 99.0
std = 0.1
[[paper]]
search = "grid"
label = "cell"
policy = "SIN2"
lam = 1.0
above = 50
[[paper]]
search = "up"
value = 5
highest_top1 = 99.0
[[checks]]
says = "grid beats random"
better = "grid"
worse = "random"
[[checks]]
says = "λ = 1 beats λ = 0.001"
better = {{ search = "grid", policy = "SIN2", lam = 1.0 }}
worse = {{ search = "grid", policy = "SIN2", lam = 0.001 }}
[profiles.full]
[profiles.quick]
time_scale = 0.5
repeats = 2
"""
    p = tmp_path / "tiny.toml"
    p.write_text(text)
    searches, recipe = load_search_recipe(p, "quick")
    assert [s.name for s in searches] == ["tiny-grid", "tiny-random"] and recipe.deferred == ["up"]
    out = tmp_path / "out"
    run = run_search_recipe(p, "quick", db=f"sqlite:///{tmp_path / 'db.sqlite'}", out=out, progress=False)
    assert list(run.results) == ["grid", "random", "up"]
    assert all(len(r.trials) == 4 and r.trials["status"].isin(["complete", "diverged"]).all()
               for r in run.results.values())
    grid_best = run.results["grid"].top_k(1)["lam"].iloc[0]
    assert {t.lam for t in run.results["up"].search.trials} == {grid_best}
    assert {parse(t.policy).k1 for t in run.results["up"].search.trials} == {0.02, 0.05}
    assert parse(run.results["grid"].search.trials[0].policy).l == 5  # time x0.5
    assert run.comparison["label"].tolist() == ["grid", "cell", "up"]
    assert (out / "tiny-grid" / "results.json").exists() and (out / "tiny-up" / "heatmap.png").exists()
    md = (out / "comparison.md").read_text()
    assert "| grid | best trial per repeat, mean ± std over repeats | 99.00 ± 0.10 |" in md and "Top-2" in md
    assert json.loads((out / "comparison.json").read_text())["comparison"][1]["label"] == "cell"
    # the claims are checked on the trials: a search as a whole (best trial per repeat, 2 repeats) and one cell
    whole, cell = run.verdicts
    assert whole["better"]["seeds"] == whole["worse"]["seeds"] == 2 and whole["verdict"] in ("holds", "fails")
    assert cell["better"]["row"] == "SIN2 λ=1" and cell["worse"]["row"] == "SIN2 λ=0.001"
    assert cell["better"]["seeds"] == 2 and "**λ = 1 beats λ = 0.001** (best of each)" in md
    assert json.loads((out / "comparison.json").read_text())["claims"][0]["says"] == "grid beats random"
    again = run_search_recipe(p, "quick", db=f"sqlite:///{tmp_path / 'db.sqlite'}", progress=False)
    assert all(r.trials["reused"].all() for r in again.results.values())  # resumed from the database
    from matplotlib.figure import Figure

    from lrkit.tune.recipe import plot_follow_up, plot_grid_vs_random, plot_policy_lambda

    plot_grid_vs_random(run, axes=Figure().subplots(1, 2))
    assert plot_follow_up(run, "up", ax=Figure().subplots()).get_xlabel() == "k1/k0"
    assert plot_policy_lambda(run, ax=Figure().subplots()).get_title().startswith("tiny: grid")



def test_the_heat_map_shows_every_cell_even_a_column_that_diverged():
    from matplotlib.figure import Figure

    from lrkit.tune.recipe import RecipeRun, plot_follow_up, plot_policy_lambda

    searches, r = load_search_recipe("000-fig6", "quick")
    grid = fake_result(searches[0], [0.95, 0.97, None, 0.9, 0.96, None], status={2: "diverged", 5: "diverged"})
    up = fake_result(searches[1], [0.97, None], status={1: "diverged"})
    results = {"grid": grid, "ratio": up}
    run = RecipeRun(r, results, compare(r, results), "")
    ax = plot_policy_lambda(run, ax=Figure().subplots())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.001", "0.01", "0.05"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["SIN2", "TRIEXP"]
    assert sum(t.get_text() == "diverged" for t in ax.texts) == 2
    assert run.comparison.set_index("label").loc["TRIEXP, λ = 0.05: the highest accuracy", "ours"] == "diverged"
    plot_follow_up(run, ax=Figure().subplots())


def test_a_paper_point_at_another_lambda_is_not_matched():
    searches, r = load_search_recipe("000-fig6", "quick")
    r.paper = [dict(p, lam=0.01) if p["search"] == "ratio" else p for p in r.paper]
    results = {"grid": fake_result(searches[0], [0.95, 0.995, 0.99, 0.9, 0.992, 0.9936]),
               "ratio": fake_result(searches[1], [0.9926, 0.991])}
    t = compare(r, results).set_index("label")
    assert (t.loc[[f"TRIEXP λ = 0.05, k1/k0 = {v}" for v in (2, 3, 4)], "ours"] == "not in this profile").all()


def test_a_recipe_names_its_own_model_and_data_by_import_path(tmp_path):
    text = """id = "own"
title = "an MLP on Gaussian blobs (tests/train/user_task.py)"
[task]
dataset = "tests.train.user_task:load_blobs"
model = "tests.train.user_task:make_mlp"
normalize = "none"
iters = 40
batch_size = 32
eval_every = 20
[[searches]]
name = "grid"
method = "grid"
policies = ["FIX(k=0.05)", "TRI(k0=0.01, k1=0.1, l=10)"]
[profiles.full]
[profiles.quick]
"""
    p = tmp_path / "own.toml"
    p.write_text(text)
    run = run_search_recipe(p, "quick", db=f"sqlite:///{tmp_path / 'db.sqlite'}", progress=False)
    trials = run.results["grid"].trials
    assert list(trials["status"]) == ["complete", "complete"] and (trials["highest_top1"] > 0.9).all()
