import math

import pytest

from lrkit.recipes.claims import check_claims, markdown_lines, matches, validate_claims

ENTRIES = [
    {"name": "A", "value": 99.2, "std": 0.05, "seeds": 5, "kind": "cyclic"},
    {"name": "B", "value": 98.9, "std": 0.3, "seeds": 5, "kind": "cyclic"},
    {"name": "C", "value": 99.0, "std": 0.05, "seeds": 5, "kind": "fixed"},
    {"name": "D", "value": None, "std": None, "seeds": 0, "kind": "composite"},
]


def validate(checks):
    return validate_claims(checks, "recipe r", ("kind",), "kind")


def test_best_of_each_with_margin_seeds_and_welch_standard_error():
    (v,) = check_claims(validate([{"says": "cyclic beats fixed", "better": "cyclic", "worse": "fixed"}]),
                        ENTRIES, select=lambda es, g: [e for e in es if matches(e, {"kind": g} if isinstance(g, str) else g)])
    assert v["verdict"] == "holds" and v["margin"] == pytest.approx(0.2) and v["better"]["row"] == "A"
    assert v["better"]["seeds"] == v["worse"]["seeds"] == 5
    se = math.sqrt(0.05 ** 2 / 5 + 0.05 ** 2 / 5)
    assert v["clear"] == (0.2 / se >= 2) and v["clear"]
    text = "\n".join(markdown_lines([v]))
    assert "**cyclic beats fixed** (best of each): holds (clear)" in text and "(5 seeds)" in text and "+0.20 pp" in text


def test_mean_lower_is_better_open_and_own_standard_errors():
    checks = validate([{"says": "m", "better": {"kind": "cyclic"}, "worse": {"kind": "fixed"}, "how": "mean"},
                       {"says": "o", "better": {"kind": "composite"}, "worse": {"kind": "fixed"}}])
    mean, open_ = check_claims(checks, ENTRIES)
    assert mean["better"]["value"] == pytest.approx(99.05) and mean["clear"] is None and mean["verdict"] == "holds"
    assert open_["verdict"] == "open" and "composite: no result" in "\n".join(markdown_lines([open_]))
    fewer = check_claims(validate([{"says": "sooner", "better": "cyclic", "worse": "fixed"}]),
                         [{"name": "x", "value": 100.0, "kind": "cyclic", "seeds": 1, "std": None},
                          {"name": "y", "value": math.inf, "kind": "fixed", "seeds": 1, "std": None}],
                         higher=False, unit="iterations", select=lambda es, g: [e for e in es if e["kind"] == g])[0]
    assert fewer["verdict"] == "holds" and "never reaches the target" in "\n".join(markdown_lines([fewer]))
    # an entry with its own standard error (an LLM score over items), one seed
    own = check_claims(validate([{"says": "s", "better": {"kind": "a"}, "worse": {"kind": "b"}}]),
                       [{"name": "a", "value": 40.0, "std": None, "seeds": 1, "se": 1.0, "kind": "a"},
                        {"name": "b", "value": 35.0, "std": None, "seeds": 1, "se": 1.0, "kind": "b"}])[0]
    assert own["clear"] is True and own["margin"] == pytest.approx(5.0)


def test_a_known_error_of_the_difference_decides_clear():
    """Two scores of the same items: 2 pp apart with independent errors of 1 pp each is not clear (2/1.41 < 2),
    but with the paired error of their difference (0.5 pp) it is; None falls back to the independent errors."""
    checks = validate([{"says": "s", "better": {"kind": "a"}, "worse": {"kind": "b"}}])
    entries = [{"name": "a", "value": 42.0, "std": None, "seeds": 1, "se": 1.0, "kind": "a"},
               {"name": "b", "value": 40.0, "std": None, "seeds": 1, "se": 1.0, "kind": "b"}]
    assert check_claims(checks, entries)[0]["clear"] is False
    seen = []

    def paired(a, b):
        seen.append((a["name"], b["name"]))
        return 0.5

    v = check_claims(checks, entries, difference_se=paired)[0]
    assert v["clear"] is True and seen == [("a", "b")] and "entry" not in v["better"]
    assert check_claims(checks, entries, difference_se=lambda a, b: None)[0]["clear"] is False


@pytest.mark.parametrize("bad, message", [
    ([{"says": "x", "better": "a"}], "checks\\[0\\] needs field 'worse'"),
    ([{"says": "x", "better": "a", "worse": "b", "how": "max"}], "checks\\[0\\].how must be one of best, mean"),
    ([{"says": "x", "better": {"colour": 1}, "worse": "b"}], r"checks\[0\].better has unknown key\(s\) \['colour'\]; allowed: kind"),
    ([{"says": "x", "better": "a", "worse": "b", "why": 1}], r"checks\[0\] has unknown key\(s\) \['why'\]"),
    ({"says": "x"}, "field 'checks' must be a list"),
])
def test_a_bad_check_names_the_field(bad, message):
    with pytest.raises(ValueError, match=message):
        validate(bad)
