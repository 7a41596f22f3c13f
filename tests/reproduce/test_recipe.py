"""Recipes: the paper's numbers, profiles, row selection and validation."""

import pytest

from lrkit.policies import parse
from lrkit.reproduce import get_recipe, list_recipes, load_recipe, row_key
from tests.reproduce.helpers import write_recipe


def test_table4_recipe_matches_the_paper():
    r = get_recipe("table4")
    assert r.task["model"] == "lenet" and r.task["iters"] == 10000 and r.task["batch_size"] == 100
    assert len(r.rows) == 16
    paper = {str(parse(row["policy"])): row["paper"]["highest_top1"] for row in r.rows}
    assert paper["SIN2(k0=0.01, k1=0.06, l=2000)"] == 99.33 and paper["FIX(k=0.1)"] == 11.35
    full = r.runs("full")
    assert [x["config"]["policy"] for x in full] == [str(parse(row["policy"])) for row in r.rows]


def test_table10_recipe_matches_the_paper():
    r = get_recipe("table10")
    assert r.metric == "iterations_to_target" and r.target == 0.991 and r.target_for("full") == 0.991
    assert r.target_for("quick") < 0.991
    paper = {str(parse(row["policy"])): row["paper"]["iters_to_target"] for row in r.rows}
    assert paper == {"FIX(k=0.01)": 10000, "NSTEP(k=0.01, gamma=0.9, l=[5000, 7000, 8000, 9000])": 10000,
                     "POLY(k=0.01, p=1.2, max_iter=10000)": 7000, "SIN2(k0=0.01, k1=0.06, l=2000)": 3500,
                     "COS(k0=0.01, k1=0.06, l=2000)": 1500}
    assert [row["policy"] for row in r.rows if row.get("baseline")] == ["FIX(k=0.01)"]
    # the same runs as Table 4's rows (only the reading differs), so the run store can share them
    t4 = {x["config"]["policy"]: x["config"] for x in get_recipe("table4").runs("full")}
    for x in r.runs("full"):
        if x["config"]["policy"] in t4:
            assert x["config"] == t4[x["config"]["policy"]]


def test_table11_recipe_has_both_optimizers_for_the_13_policies():
    r = get_recipe("table11")
    assert len(r.rows) == 26
    keys = [row_key(row) for row in r.rows]
    assert len(set(keys)) == 26
    assert {row["optimizer"] for row in r.rows} == {"momentum", "sgd"}
    sin2 = {row["optimizer"]: row["paper"] for row in r.rows if row["policy"].startswith("SIN2")}
    assert sin2["momentum"] == {"highest_top1": 99.33, "std": 0.02, "iter_at_highest": 4000}
    assert sin2["sgd"] == {"highest_top1": 98.92, "iter_at_highest": 7500}
    quick = r.runs("quick")
    assert [(x["config"]["policy"], x["config"]["optimizer"]) for x in quick] == [
        ("FIX(k=0.01)", "momentum"), ("FIX(k=0.01)", "sgd"),
        ("SIN2(k0=0.01, k1=0.06, l=200)", "momentum"), ("SIN2(k0=0.01, k1=0.06, l=200)", "sgd")]
    t4 = {x["config"]["policy"]: x["config"] for x in get_recipe("table4").runs("quick")}
    assert quick[0]["config"] == t4["FIX(k=0.01)"]


def test_quick_profile_compresses_time():
    quick = {str(parse(x["row"]["policy"])): x["config"] for x in get_recipe("table4").runs("quick")}
    sin2 = quick["SIN2(k0=0.01, k1=0.06, l=2000)"]
    assert sin2["iters"] == 1000 and sin2["eval_every"] == 500 and parse(sin2["policy"]) == parse("SIN2(k0=0.01, k1=0.06, l=200)")
    nstep = parse(quick["NSTEP(k=0.01, gamma=0.9, l=[5000, 7000, 8000, 9000, 9500])"]["policy"])
    assert nstep.l == (500, 700, 800, 900, 950)
    with pytest.raises(ValueError, match="field 'profile' must be one of"):
        get_recipe("table4").runs("medium")
    assert "target" not in get_recipe("table10").runs("quick")[0]["config"]  # a reading, not a TrainConfig field


def test_only_selects_every_row_of_a_policy():
    r = get_recipe("table11")
    runs = r.runs("full", only=["COS(k0=0.01, k1=0.06, l=2000)", "FIX(k=0.01)"])
    assert [(x["config"]["policy"][:3], x["config"]["optimizer"]) for x in runs] == [
        ("COS", "momentum"), ("COS", "sgd"), ("FIX", "momentum"), ("FIX", "sgd")]
    with pytest.raises(ValueError, match=r"--only names policies not in profile 'quick': \['TRI"):
        r.runs("quick", only=["TRI(k0=0.01, k1=0.06, l=2000)"])


def test_unknown_table():
    with pytest.raises(ValueError, match="unknown table 'table99'; available: .*table4"):
        get_recipe("table99")
    assert {"table4", "table10", "table11"} <= set(list_recipes())


def test_bad_recipe(tmp_path):
    write_recipe(tmp_path, '[[rows]]\npolicy = "SIN2(k0=0.1)"')
    with pytest.raises(ValueError, match="SIN2: missing parameter"):
        load_recipe(tmp_path / "t.toml")


@pytest.mark.parametrize("head, rows, message", [
    ('metric = "accuracy"', '[[rows]]\npolicy = "FIX(k=0.1)"', "field 'metric' must be one of highest_top1, iterations_to_target"),
    ('metric = "iterations_to_target"', '[[rows]]\npolicy = "FIX(k=0.1)"', "needs field 'target'"),
    ('metric = "iterations_to_target"\ntarget = 99.1', '[[rows]]\npolicy = "FIX(k=0.1)"', r"field 'target' must be a fraction in \(0, 1\]"),
    ('', '[[rows]]\npolicy = "FIX(k=0.1)"\n[[rows]]\npolicy = "FIX(k = 0.1)"', r"rows repeat \(policy, optimizer\)"),
    ('', '[[rows]]\npolicy = "FIX(k=0.1)"\nbaseline = true\n[[rows]]\npolicy = "FIX(k=0.2)"\nbaseline = true',
     "at most one row may have 'baseline = true'"),
    ('speedup_over = "fastest"', '[[rows]]\npolicy = "FIX(k=0.1)"', "field 'speedup_over' must be one of baseline, budget, got 'fastest'"),
    ('speedup_over = "budget"\nbaseline_policy = "FIX(k=0.1)"', '[[rows]]\npolicy = "FIX(k=0.1)"',
     "field 'baseline_policy' goes with speedup_over = 'baseline'"),
])
def test_recipe_validation_names_the_field(tmp_path, head, rows, message):
    with pytest.raises(ValueError, match=message):
        load_recipe(write_recipe(tmp_path, rows, head=head))


def test_same_policy_with_two_optimizers_is_two_rows(tmp_path):
    r = load_recipe(write_recipe(tmp_path, '[[rows]]\npolicy = "FIX(k=0.1)"\n[[rows]]\npolicy = "FIX(k=0.1)"\noptimizer = "sgd"'))
    assert [row_key(x) for x in r.rows] == ["FIX(k=0.1)", "FIX(k=0.1) [sgd]"]
    assert [x["config"]["optimizer"] for x in r.runs("full")] == ["momentum", "sgd"]


def test_published_rows_are_the_transcribed_table():
    """A recipe with ``published`` takes its rows and the paper's numbers from lrkit/db/published."""
    import json

    from lrkit.db.published import PUBLISHED_DIR

    r = get_recipe("table5")
    src = json.loads((PUBLISHED_DIR / "004_table05.json").read_text())["rows"]
    assert [row["policy"] for row in r.rows] == [s["policy"] for s in src] and len(r.rows) == 19
    sinexp = next(row for row in r.rows if row["policy"].startswith("SINEXP"))
    assert sinexp["paper"] == {"highest_top1": 82.16, "std": 0.08}
    assert next(row for row in r.rows if row.get("label") == "TRI-S")["policy"] == "TRI(k0=0.001, k1=0.006, l=2000)"
    # Table 12: one row per (policy, optimizer); rows of other optimizers carry an override
    t12 = get_recipe("table12")
    assert len(t12.rows) == 39 and {row.get("optimizer", "momentum") for row in t12.rows} == {"momentum", "sgd", "adam"}
    fix = {row.get("optimizer", "momentum"): row["paper"] for row in t12.rows if row["policy"] == "FIX(k=0.001)"}
    assert fix["momentum"] == {"highest_top1": 78.62, "iter_at_highest": 45000} and fix["sgd"]["highest_top1"] == 75.26
    # Table 10's CIFAR-10 / CNN3 rows only, with Caffe's NSTEP as the speed-up baseline
    t10 = get_recipe("table10_cifar10")
    assert {row["paper"]["target"] for row in t10.rows} == {0.8} and len(t10.rows) == 8
    assert [row["policy"] for row in t10.rows if row.get("baseline")] == ["NSTEP(k=0.001, gamma=0.1, l=[60000, 65000])"]
    assert next(row for row in t10.rows if row["policy"].startswith("SINEXP"))["paper"]["iters_to_target"] == 12000
    assert all(row["paper"]["iters_to_target"] is None for row in t10.rows if row["category"] == "fixed")
    # Table 6's STEP/EXP rows are read by their printed parameters; the printed names stay as labels
    t6 = {row.get("label"): row["policy"] for row in get_recipe("table6").rows}
    assert t6["STEP"] == "EXP(k=0.1, gamma=0.99994)" and t6["EXP"] == "STEP(k=0.1, gamma=0.85, l=5000)"


def test_cifar_tables_share_runs():
    """Table 10 (CIFAR) and Table 12's Momentum column are Table 5's runs (Table 7 too: its M-opt probe does not
    change what is trained); Tables 3, 6 and 000 I share ResNet-32's."""
    from lrkit.reproduce import run_key

    for profile in ("quick", "short", "full"):
        t5 = {x["config"]["policy"]: x["config"] for x in get_recipe("table5").runs(profile)}
        for name in ("table10_cifar10", "table12", "table7"):
            for x in get_recipe(name).runs(profile):
                if x["config"]["policy"] in t5 and x["config"]["optimizer"] == "momentum":
                    assert run_key(x["config"]) == run_key(t5[x["config"]["policy"]]), (name, profile)
    r6 = {x["config"]["policy"]: x["config"] for x in get_recipe("table6").runs("full")}
    q6 = get_recipe("table6").runs("quick")[0]["config"]
    assert get_recipe("table10_resnet32").runs("quick")[0]["config"] == q6 == get_recipe("table3").runs("quick")[0]["config"]
    for name in ("table3", "000_table1", "table10_resnet32"):
        shared = [x for x in get_recipe(name).runs("full") if x["config"]["policy"] in r6]
        assert shared and all(x["config"] == r6[x["config"]["policy"]] for x in shared)
    # the committed ResNet-32 short runs: Table 6 shares three rows with Table 3; 000 I has no run of its own
    s3 = {run_key(x["config"]) for x in get_recipe("table3").runs("short")}
    s6 = {run_key(x["config"]) for x in get_recipe("table6").runs("short")}
    assert len(s6) == 16 and len(s3 & s6) == 3  # FIX(k=0.1), NSTEP, SINEXP
    short1 = {run_key(x["config"]) for x in get_recipe("000_table1").runs("short")}
    assert len(short1) == 15 and short1 <= s3 | s6 and short1 - s6 == s3 - s6  # + MULTI, Table 3's composite
    short10 = {run_key(x["config"]) for x in get_recipe("table10_resnet32").runs("short")}
    assert len(short10) == 8 and short10 <= s6  # Table 10's ResNet-32 rows: Table 6's short runs, nothing new
    # the medium runs (3,200 iterations): Table 10's ResNet-32 rows and 000 I train nothing of their own either
    m3 = {run_key(x["config"]) for x in get_recipe("table3").runs("medium")}
    m6 = {run_key(x["config"]) for x in get_recipe("table6").runs("medium")}
    assert len(m6) == 16 and len(m3 & m6) == 3  # every row; FIX(k=0.1), NSTEP, SINEXP are Table 3's
    medium10 = {run_key(x["config"]) for x in get_recipe("table10_resnet32").runs("medium")}
    assert len(medium10) == 8 and medium10 <= m6 and get_recipe("table10_resnet32").target_for("medium") == 0.70
    medium1 = {run_key(x["config"]) for x in get_recipe("000_table1").runs("medium")}
    assert len(medium1) == 15 and medium1 <= m3 | m6 and medium1 - m6 == m3 - m6  # + MULTI, Table 3's composite
    # 000 Table III's CIFAR rows are Table 10's ResNet-32 rows (its four and the four fixed LRs the text names)
    for profile, table6 in (("short", s6), ("medium", m6)):
        t3 = {run_key(x["config"]) for x in get_recipe("000_table3_cifar10").runs(profile)}
        t10 = {run_key(x["config"]) for x in get_recipe("table10_resnet32").runs(profile)}
        assert len(t3) == 8 and t3 == t10 and t3 <= table6
    assert get_recipe("000_table3_cifar10").runs("quick")[0]["config"] == q6


@pytest.mark.parametrize("name", ["000_table3", "000_table3_cifar10"])
def test_000_table3_speedups_are_over_the_default_budget(name):
    # the printed speed-ups are the group's default budget over the row's #iter (10,000 for MNIST, 64,000 for CIFAR-10)
    r = get_recipe(name)
    assert r.speedup_over == "budget" and not any(row.get("baseline") for row in r.rows)
    printed = [row for row in r.rows if row["paper"].get("speedup")]
    assert len(printed) == 4
    for row in printed:
        assert r.task["iters"] / row["paper"]["iters_to_target"] == pytest.approx(row["paper"]["speedup"], abs=0.006)


def test_published_field_errors(tmp_path):
    with pytest.raises(ValueError, match="field 'published' must name a table of lrkit/db/published"):
        load_recipe(write_recipe(tmp_path, "", head='published = "004_table99"'))
    with pytest.raises(ValueError, match="field 'baseline_policy' names no row"):
        load_recipe(write_recipe(tmp_path, "", head='published = "004_table05"\nbaseline_policy = "FIX(k=0.5)"'))


def test_a_recipe_may_add_profiles():
    r = get_recipe("table5")
    short = r.runs("short")
    assert [x["config"]["iters"] for x in short] == [1750] * 19  # every row of Table 5
    nstep = next(x for x in short if x["row"]["policy"].startswith("NSTEP"))
    assert parse(nstep["config"]["policy"]) == parse("NSTEP(k=0.001, gamma=0.1, l=[1500, 1625])")
    assert all(x["config"]["layer_mults"] and x["config"]["normalize"] == "mean" for x in short)


def test_table3_large_profile_scales_every_time_parameter_by_a_tenth():
    runs = {x["row"]["policy"].split("(")[0]: x["config"] for x in get_recipe("table3").runs("large")}
    assert sorted(runs) == ["FIX", "MULTI", "NSTEP", "SINEXP"]
    assert all(c["iters"] == 6400 and c["eval_every"] == 400 and c["channels_last"] for c in runs.values())
    assert parse(runs["NSTEP"]["policy"]) == parse("NSTEP(k=0.1, gamma=0.1, l=[3200, 4800])")
    assert parse(runs["MULTI"]["policy"]) == parse(
        "MULTI({0: TRI(k0=0.1, k1=0.5, l=150), 3000: TRI(k0=0.01, k1=0.05, l=100), 6000: TRI(k0=0.001, k1=0.005, l=50)})")
    sinexp = parse(runs["SINEXP"]["policy"])  # gamma^t keeps its decay over the run: gamma' = gamma^10
    assert sinexp.l == 200 and sinexp.gamma == pytest.approx(0.99994**10, rel=1e-12)
    assert runs["FIX"]["policy"] == "FIX(k=0.1)"


def test_table6_large_profile_shares_table3s_large_runs_and_downstream_tables_read_them():
    """Table 6's large rows are Table 3's large budget (so FIX, NSTEP and SINEXP are the same runs), and the
    tables that read Table 6's runs (Table 10's ResNet-32 rows, 000 Tables I and III) have the same budget."""
    key = lambda c: (c["policy"], c["iters"], c["eval_every"], c["channels_last"])
    t3 = {key(x["config"]) for x in get_recipe("table3").runs("large")}
    t6 = {x["row"]["policy"]: x["config"] for x in get_recipe("table6").runs("large")}
    assert parse(t6["POLY(k=0.1, p=1.2, max_iter=64000)"]["policy"]) == parse("POLY(k=0.1, p=1.2, max_iter=6400)")
    assert parse(t6["TRI2(k0=0.0001, k1=0.9, l=2000)"]["policy"]) == parse("TRI2(k0=0.0001, k1=0.9, l=200)")
    assert key(t6["FIX(k=0.1)"]) in t3  # Table 3's large FIX(k=0.1) run serves Table 6's row
    six = {key(x["config"]) for x in get_recipe("table6").runs("large")}
    assert len(six & t3) == 3  # FIX(k=0.1), NSTEP, SINEXP
    for table, target in (("table10_resnet32", 0.80), ("000_table3_cifar10", 0.80), ("000_table1", None)):
        runs = get_recipe(table).runs("large")
        assert {key(x["config"]) for x in runs} <= six | t3, table
        if target is not None:
            assert get_recipe(table).target_for("large") == target
