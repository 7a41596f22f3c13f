"""``lrkit tune grid|random`` on a tiny dataset: outputs, database, resume, bad input."""

import json

import pytest

from lrkit.cli.main import main
from tests.tiny_data import write_tiny_npz


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


def common(tiny, tmp_path):
    return ["--dataset", tiny, "--model", "lenet", "--iters", "10", "--batch-size", "20", "--eval-every", "5",
            "--db", f"sqlite:///{tmp_path / 't.db'}", "--no-progress"]


def test_grid_writes_outputs_and_resumes(tiny, tmp_path, capsys):
    argv = ["tune", "grid", "--policies", "FIX(k=0.01)", "SIN2(k0=0.001, k1=0.02, l=5)", "--lambda", "0.5,1",
            *common(tiny, tmp_path), "--out", str(tmp_path / "out"), "--name", "g"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "g: 4 trials (highest_acc) on the local executor" in out and "| rank |" in out
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(doc["trials"]) == 4 and (tmp_path / "out" / "heatmap.png").exists()
    assert main(argv) == 0
    assert "4 of 4 trials were already in the database" in capsys.readouterr().out


def test_random_with_parameter_ranges_and_the_cost_objective(tiny, tmp_path, capsys):
    argv = ["tune", "random", "--policies", "SIN2(k0=0.001, k1=0.02, l=5)", "--param-range", "l=2:8:linear",
            "--lambda-range", "0.5:2", "--samples", "2", "--target-acc", "0.5", "--objective", "cost",
            *common(tiny, tmp_path), "--out", str(tmp_path / "r")]
    assert main(argv) == 0
    doc = json.loads((tmp_path / "r" / "results.json").read_text())
    assert doc["search"]["objective"] == "cost" and all(t["iterations_to_target"] for t in doc["trials"])


@pytest.mark.parametrize("extra,needle", [
    (["grid", "--policies", "FIX(k=0.01)", "--param", "q=1,2"], "FIX has no parameter 'q'; allowed: k, ratio"),
    (["grid", "--policies", "FIX(k=0.01)", "--lambda", "a,b"], "--lambda must be comma-separated numbers"),
    (["grid", "--policies", "FIX(k=0.01)", "--executor", "slurm"], "--executor must be one of local, ray"),
    (["grid", "--policies", "FIX(k=0.01)", "--objective", "cost"], "objective 'cost' needs field 'target_acc'"),
    (["random", "--policies", "FIX(k=0.01)", "--lambda-range", "0.1"], "--lambda-range must look like LO:HI"),
    (["grid", "--policies", "FIX(kk=0.01)"], "FIX"),
    (["grid", "--policies", "FIX(k=0.01)", "--device", "cuda:99"], "device 'cuda:99': "),  # before any trial
])
def test_bad_input_exits_2_naming_the_option(tiny, tmp_path, capsys, extra, needle):
    assert main(["tune", *extra, *common(tiny, tmp_path)]) == 2
    assert needle in capsys.readouterr().err


def test_the_ray_executor_without_ray_is_one_line_naming_the_extra(tiny, tmp_path, capsys, monkeypatch):
    import sys

    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError, as where it is absent
    assert main(["tune", "grid", "--policies", "FIX(k=0.01)", "--executor", "ray", *common(tiny, tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'lrkit[ray]'" in err[0] and "Traceback" not in err[0]


def test_a_missing_optional_dependency_is_named_with_its_extra():
    from lrkit.cli.main import missing_extra

    try:
        raise ImportError("No module named 'peft'", name="peft")
    except ImportError as e:
        assert missing_extra(e) == "lrkit: this needs peft, which is not installed: pip install 'lrkit[llm]'"
    assert missing_extra(ImportError("No module named 'numpyy'", name="numpyy")) is None


def test_grid_over_your_own_model_and_data_named_by_import_path_lands_in_the_database_ranked(tmp_path, capsys):
    from lrkit.db import Database
    from lrkit.evaluate.ranking import top_k

    mlp, blobs = "tests.train.user_task:make_mlp", "tests.train.user_task:load_blobs"
    url = f"sqlite:///{tmp_path / 't.db'}"
    argv = ["tune", "grid", "--model", mlp, "--dataset", blobs, "--normalize", "none", "--policies", "FIX(k=0.05)",
            "FIX(k=1e-6)", "--iters", "40", "--batch-size", "32", "--eval-every", "20", "--db", url, "--no-progress",
            "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    assert "grid-load_blobs-make_mlp: 2 trials (highest_acc) on the local executor" in capsys.readouterr().out
    ranking = top_k(Database(url), blobs, mlp, k=5)
    assert ranking.specs() == ["FIX(k=0.05)", "FIX(k=1e-06)"]  # a step of 1e-6 learns nothing in 40 iterations
    assert ranking.table["mean_top1"].iloc[0] > 0.9
