"""lrkit.tune.notebook.SearchView: a search recipe run from a notebook keeps its trials in a database of its own
under its folder, starts that database afresh unless resuming, and reads finished trials back when resuming."""

from pathlib import Path

from lrkit.tune.notebook import SearchView
from tests.tiny_data import write_tiny_npz


def tiny_recipe(tmp_path: Path) -> Path:
    """One grid search of two λ over a 4-class npz set, 10 iterations a trial."""
    data = write_tiny_npz(tmp_path / "tiny.npz")
    path = tmp_path / "tiny.toml"
    path.write_text(f"""id = "tiny"
title = "tiny search"
task = {{ dataset = "{data}", model = "lenet", iters = 10, batch_size = 20, eval_every = 10, eval_batch_size = 100 }}
searches = [{{ name = "grid", method = "grid", policies = ["SIN2(k0=0.01, k1=0.05, l=5)"], lams = [0.5, 1.0] }}]
profiles = {{ full = {{}}, quick = {{}} }}
""")
    return path


def test_a_search_runs_in_its_own_database_and_resumes_from_it(tmp_path, monkeypatch):
    monkeypatch.delenv("LRKIT_DEVICE", raising=False)
    view = SearchView.open(tiny_recipe(tmp_path), "quick", out=tmp_path / "out")
    assert view.device == "cpu" and view.db == f"sqlite:///{tmp_path / 'out'}/lrkit.db"
    text = view.describe()
    assert text.startswith(f"**tiny search** | profile: quick | device: cpu | results in `{tmp_path / 'out'}`")
    assert "| grid | grid | 2 |" in text
    first = view.run(resume=False, workers=1)
    trials = first.results["grid"].trials
    assert len(trials) == 2 and not trials["reused"].any() and (tmp_path / "out" / "lrkit.db").is_file()
    assert (tmp_path / "out" / "comparison.md").is_file()
    assert view.run(resume=True, workers=1).results["grid"].trials["reused"].all()   # read back, not trained
    assert not view.run(resume=False, workers=1).results["grid"].trials["reused"].any()   # the database starts empty


def test_the_device_and_the_folder_default_to_the_environment_and_the_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv("LRKIT_DEVICE", "cuda:1")
    view = SearchView.open(tiny_recipe(tmp_path), "full")
    assert view.device == "cuda:1" and view.recipe.task["device"] == "cuda:1"
    assert view.out == Path(__file__).resolve().parents[2] / "out" / "tiny-full"
    assert "results in `out/tiny-full`" in view.describe()
