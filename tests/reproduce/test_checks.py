"""The paper's claims checked on our values: verdicts, margins, seeds, and the recipe keys that state them."""

import math

import pytest

from lrkit.reproduce.checks import check_claims, markdown_lines, validate_checks


def row(policy, category, acc, std=None, seeds=1, its=None, optimizer="momentum"):
    return {"policy": policy, "category": category, "ours_highest_top1": acc, "ours_std": std, "seeds": seeds,
            "ours_iters_to_target": its, "optimizer": optimizer}


TABLE = [row("FIX(k=0.1)", "fixed", 98.0, 0.1, 5), row("FIX(k=0.01)", "fixed", 99.0, 0.1, 5),
         row("SIN(k0=0.01, k1=0.06, l=2000)", "cyclic", 99.4, 0.1, 5), row("TRI(k0=0.01, k1=0.06, l=2000)", "cyclic", 98.2, 0.1, 5),
         row("NSTEP(k=0.01, gamma=0.9, l=[5000])", "decaying", 99.02, 0.2, 5)]


def test_best_against_best_with_the_margin_seeds_and_standard_errors():
    checks = validate_checks([{"says": "cyclic beats fixed", "better": "cyclic", "worse": "fixed"},
                              {"says": "decaying beats fixed", "better": "decaying", "worse": "fixed"},
                              {"says": "fixed beats cyclic", "better": "fixed", "worse": "cyclic"}], "t")
    v = check_claims(checks, TABLE, "highest_top1")
    assert [x["verdict"] for x in v] == ["holds", "holds", "fails"]
    assert v[0]["margin"] == pytest.approx(0.4) and v[0]["better"]["row"].startswith("SIN") and v[0]["worse"]["seeds"] == 5
    assert v[0]["clear"] is True  # 0.4 pp over a standard error of 0.063
    assert v[1]["clear"] is False  # 0.02 pp is within the noise of 5 seeds
    text = "\n".join(markdown_lines(v))
    assert "**cyclic beats fixed** (best of each): holds (clear)" in text and "margin +0.40 pp" in text
    assert "(5 seeds)" in text


def test_the_mean_of_each_group_and_a_group_without_results():
    v = check_claims(validate_checks([{"says": "m", "better": "cyclic", "worse": "fixed", "how": "mean"},
                                      {"says": "open", "better": "composite", "worse": "fixed"}], "t"),
                     TABLE, "highest_top1")
    assert v[0]["margin"] == pytest.approx((99.4 + 98.2) / 2 - (98.0 + 99.0) / 2) and v[0]["verdict"] == "holds"
    assert v[1]["verdict"] == "open" and "composite: no result" in "\n".join(markdown_lines(v))


def test_iterations_to_target_fewer_is_better_and_never_counts_as_never():
    table = [row("COS(k0=0.01, k1=0.06, l=2000)", "cyclic", 99.3, its=2000), row("FIX(k=0.01)", "fixed", 99.1, its=9500),
             row("FIX(k=0.1)", "fixed", 98.9, its=None)]
    sooner = {"says": "cyclic sooner", "better": "cyclic", "worse": "fixed"}
    v = check_claims(validate_checks([sooner], "t"), table, "iterations_to_target")[0]
    assert v["verdict"] == "holds" and v["margin"] == 7500 and v["worse"]["row"] == "FIX(k=0.01)"
    never = [row("COS(k0=0.01, k1=0.06, l=2000)", "cyclic", 98.0, its=None), row("FIX(k=0.01)", "fixed", 99.1, its=9500)]
    v = check_claims(validate_checks([sooner], "t"), never, "iterations_to_target")[0]
    assert v["verdict"] == "fails" and math.isinf(v["better"]["value"])


def test_groups_by_optimizer_or_by_policies():
    table = [row("FIX(k=0.01)", "fixed", 99.0), row("FIX(k=0.01)", "fixed", 98.5, optimizer="sgd")]
    v = check_claims(validate_checks([{"says": "momentum beats sgd", "better": {"optimizer": "momentum"},
                                       "worse": {"optimizer": "sgd", "policies": ["FIX(k=0.01)"]}}], "t"), table,
                     "highest_top1")
    assert v[0]["verdict"] == "holds" and v[0]["margin"] == pytest.approx(0.5)


@pytest.mark.parametrize("bad,needle", [
    ([{"says": "x", "better": "a"}], "checks[0] needs field 'worse'"),
    ([{"says": "x", "better": "a", "worse": "b", "by": 1}], "unknown key(s) ['by']"),
    ([{"says": "x", "better": "a", "worse": "b", "how": "median"}], "how must be one of best, mean"),
    ([{"says": "x", "better": {"kind": "a"}, "worse": "b"}], "better has unknown key(s) ['kind']"),
    ({"says": "x"}, "field 'checks' must be a list"),
])
def test_a_recipe_check_with_a_bad_key_is_one_line_naming_it(bad, needle):
    with pytest.raises(ValueError, match=None) as e:
        validate_checks(bad, "recipe t.toml")
    assert needle in str(e.value) and str(e.value).startswith("recipe t.toml")


def test_the_recipes_that_state_claims_check_them():
    from lrkit.reproduce import get_recipe

    for name in ("table4", "table5", "table6", "000_table1", "table10", "table11"):
        assert get_recipe(name).checks, name
