from lrkit.recipes.render import Report, cell, render, table_lines


def test_cells_and_tables():
    assert cell(None) == "—" and cell(99.123) == "99.12" and cell(1.5, std=0.25) == "1.50 ± 0.25"
    assert cell(1234, "{:.0f}") == "1234"
    assert table_lines(["a", "b"], [["1", "2"]]) == ["| a | b |", "| --- | --- |", "| 1 | 2 |"]


def test_a_report_is_the_heading_and_its_paragraphs_apart():
    r = Report("T", level=2).add("one", ["x", "y"], "")
    verdict = {"says": "s", "verdict": "holds", "margin": 1.0, "unit": "pp", "how": "best", "clear": None,
               "better": {"group": "a", "row": "A", "value": 2.0, "std": None, "seeds": 1},
               "worse": {"group": "b", "row": "B", "value": 1.0, "std": None, "seeds": 1}}
    r.claims([verdict], note="Claims:")
    assert render(r) == ("## T\n\none\n\nx\ny\n\n\n\nClaims:\n\n"
                         "- **s** (best of each): holds — a `A` 2.00% (1 seed) vs b `B` 1.00% (1 seed), margin +1.00 pp\n")
    assert render(Report("T").claims([])) == "# T\n"  # no claims, no section
