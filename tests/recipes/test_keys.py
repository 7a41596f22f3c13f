import pytest

from lrkit.recipes.keys import RecipeError, check_keys, read_toml, require


def test_an_unknown_key_is_one_line_naming_the_key_the_file_and_the_allowed_keys():
    with pytest.raises(RecipeError) as e:
        check_keys("recipe r.toml", {"id": 1, "colour": 2}, ("id", "title"), "the recipe")
    assert str(e.value) == "recipe r.toml: unknown key 'colour' in the recipe; allowed: id, title"
    assert "\n" not in str(e.value) and isinstance(e.value, ValueError)


def test_a_table_that_is_not_a_table_and_a_missing_key_are_named():
    with pytest.raises(RecipeError, match=r"recipe r.toml: \[task\] must be a table, got 3"):
        check_keys("recipe r.toml", 3, ("iters",), "[task]")
    with pytest.raises(RecipeError, match="recipe r.toml: missing key 'title'"):
        require("recipe r.toml", {"id": "x"}, ("id", "title"))
    check_keys("recipe r.toml", {"id": 1}, ("id",), "the recipe")  # known keys pass


def test_a_toml_syntax_error_names_the_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("id = \n")
    with pytest.raises(RecipeError, match=f"recipe {p}: not valid TOML"):
        read_toml(p)
    (tmp_path / "ok.toml").write_text('id = "x"\n')
    assert read_toml(tmp_path / "ok.toml") == {"id": "x"}
