"""lrkit.llm.compare: differences between Table V's rows, paired over the items both scored."""

import math

import numpy as np
import pandas as pd
import pytest

from lrkit.llm.compare import (compared_rows, difference_lookup, paired_difference, significant, stage_differences,
                               unpaired_difference)
from lrkit.llm.report import Z95, separated_best


def _items(values, metric="acc_norm", subjects=None):
    return pd.DataFrame({"index": range(len(values)), "subject": subjects if subjects is not None else [None] * len(values),
                         metric: values})


def test_a_paired_difference_is_the_mean_and_error_of_the_per_item_differences():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, 200).astype(float)
    y = x.copy()
    flip = rng.choice(200, 12, replace=False)  # the rows agree on all but 12 items
    y[flip] = 1 - y[flip]
    e = paired_difference(_items(x), _items(y), "arc")
    d = x - y
    assert e["paired"] and e["n"] == 200
    assert e["diff"] == pytest.approx(x.mean() - y.mean())
    assert e["se"] == pytest.approx(d.std(ddof=1) / math.sqrt(200))
    # two rows that agree on most items: the paired error is far below the unpaired one
    u = unpaired_difference(x.mean(), x.std(ddof=1) / math.sqrt(200), y.mean(), y.std(ddof=1) / math.sqrt(200))
    assert e["se"] < u["se"] / 2 and not u["paired"]


def test_items_are_matched_by_subject_and_index_not_by_position():
    a = _items([1.0, 0.0, 1.0, 1.0])
    b = _items([0.0, 1.0, 1.0]).iloc[::-1]  # item 3 missing, the rest reversed
    e = paired_difference(a, b, "hellaswag")
    assert e["n"] == 3 and e["diff"] == pytest.approx(((1 - 0) + (0 - 1) + (1 - 1)) / 3)
    assert paired_difference(a.iloc[:1], b, "arc") is None  # fewer than 2 shared items: no paired error


def test_mmlu_differences_are_means_over_subjects_with_the_scores_error_form():
    subjects = ["s1"] * 4 + ["s2"] * 2
    a = _items([1, 1, 1, 0, 1, 0], metric="acc", subjects=subjects)
    b = _items([1, 0, 0, 0, 0, 0], metric="acc", subjects=subjects)
    e = paired_difference(a, b, "mmlu")
    d1, d2 = np.array([0, 1, 1, 0.0]), np.array([1, 0.0])
    assert e["diff"] == pytest.approx((d1.mean() + d2.mean()) / 2)  # not the item mean, 3/6
    se1, se2 = d1.std(ddof=1) / 2, d2.std(ddof=1) / math.sqrt(2)
    assert e["se"] == pytest.approx(math.sqrt(se1 ** 2 + se2 ** 2) / 2)


def test_stage_differences_pair_where_items_exist_and_fall_back_elsewhere():
    idx = pd.MultiIndex.from_tuples([("base", "baseline"), ("p", "epoch 1"), ("p", "epoch 2"), ("q", "epoch 2")])
    values = pd.DataFrame({"arc": [0.5, 0.55, 0.6, 0.4], "truthfulqa": [0.4, 0.41, 0.42, float("nan")]}, index=idx)
    errors = pd.DataFrame({"arc": [0.02] * 4, "truthfulqa": [0.02] * 4}, index=idx)
    rows = compared_rows(values, "base")
    assert rows == [("base", "baseline"), ("p", "epoch 2"), ("q", "epoch 2")]  # each run's last stage
    x = np.r_[np.ones(60), np.zeros(40)]
    y = np.r_[np.ones(50), np.zeros(50)]
    items = {(("base", "baseline"), "arc"): _items(y), (("p", "epoch 2"), "arc"): _items(x)}
    out = stage_differences(values, errors, items, rows)
    by = {(tuple(e["a"]), tuple(e["b"]), e["task"]): e for e in out}
    paired = by[(("base", "baseline"), ("p", "epoch 2"), "arc")]
    assert paired["paired"] and paired["diff"] == pytest.approx(-0.1) and significant(paired)
    unp = by[(("base", "baseline"), ("q", "epoch 2"), "arc")]
    assert not unp["paired"] and unp["diff"] == pytest.approx(0.1) and unp["se"] == pytest.approx(0.02 * math.sqrt(2))
    assert (("p", "epoch 2"), ("q", "epoch 2"), "truthfulqa") not in by  # a missing score: no entry
    assert len(out) == 3 + 1  # three pairs on arc; on truthfulqa only the pair without q
    lookup = difference_lookup(out)
    rev = lookup[(("p", "epoch 2"), ("base", "baseline"), "arc")]
    assert rev["diff"] == pytest.approx(0.1) and rev["se"] == paired["se"]


def test_the_best_is_separated_by_the_paired_error_where_there_is_one():
    idx = [("p", "e3"), ("q", "e3")]
    wide = pd.DataFrame({"ARC": [0.52, 0.50]}, index=pd.MultiIndex.from_tuples(idx))
    se = pd.DataFrame({"ARC": [0.02, 0.02]}, index=wide.index)
    assert separated_best(wide, se) == {}  # 2 pp apart, unpaired error 2.8 pp
    tight = {(idx[0], idx[1], "ARC"): {"diff": 0.02, "se": 0.005, "paired": True}}
    assert separated_best(wide, se, paired=tight) == {"ARC": idx[0]}
    assert 0.02 > Z95 * 0.005


def test_table5_claims_are_clear_by_the_paired_error_of_the_two_scores():
    """The recipe's ARC claim on two policies' last epochs, 3 pp apart with item errors of 1.9 pp each: not
    clear with independent errors; clear with the paired error the document's differences hold."""
    from lrkit.llm.table5_report import check_claims

    evals = [{"run": label, "stage": "epoch 3", "task": "arc", "metric": "acc_norm", "value": v, "stderr": 0.019}
             for label, v in (("2e-05 (linear)", 0.33), ("6e-05 (linear)", 0.30))]
    doc = {"evals": evals, "tasks": ["arc"], "runs": [{"label": "2e-05 (linear)", "key": "linear-2e-5"},
                                                       {"label": "6e-05 (linear)", "key": "linear-6e-5"}]}
    check = [{"says": "6e-05 (linear) is worse than 2e-05 (linear) on ARC",
              "better": {"run": "linear-2e-5", "task": "arc", "stage": "last"},
              "worse": {"run": "linear-6e-5", "task": "arc", "stage": "last"}}]
    (unpaired,) = check_claims(check, doc)  # no differences stored: computed unpaired from the table
    assert unpaired["verdict"] == "holds" and unpaired["clear"] is False
    doc["differences"] = [{"task": "arc", "a": ["6e-05 (linear)", "epoch 3"], "b": ["2e-05 (linear)", "epoch 3"],
                           "diff": -0.03, "se": 0.01, "n": 600, "paired": True}]
    (paired,) = check_claims(check, doc)
    assert paired["clear"] is True and paired["margin"] == pytest.approx(3.0)
