import pytest

from lrkit.recipes.published import published_rows, published_scores, published_table


def test_published_rows_carry_the_papers_numbers_in_percent():
    rows = published_rows("004_table04")
    assert rows and all("policy" in r and "paper" in r for r in rows)
    fix = next(r for r in rows if r["policy"].replace(" ", "") == "FIX(k=0.01)")
    assert fix["paper"]["highest_top1"] == pytest.approx(99.11)


def test_per_epoch_scores_of_table_v_and_its_baseline():
    tasks = ["arc", "hellaswag", "mmlu", "truthfulqa"]
    p = published_scores("000_table5", tasks)
    assert p["baseline"] == [0.5119, 0.7776, 0.3414, 0.3407]
    assert p["rows"]["2e-05 (linear)"][2] == [0.5282, 0.7821, 0.4110, 0.4018]  # epoch 3
    assert all(len(v) == 3 for v in p["rows"].values())


def test_an_unknown_table_lists_the_tables():
    assert published_table("000_table4.json") == published_table("000_table4")
    with pytest.raises(ValueError, match=r"field 'published' must name a table of lrkit/db/published \(000_table1, "):
        published_table("table99")
