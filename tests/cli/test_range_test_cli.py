"""``lrkit range-test`` and ``lrkit recommend`` on a tiny npz dataset (a few iterations per run)."""

from __future__ import annotations

import json

import pytest

from lrkit.cli.main import main
from lrkit.policies import parse
from tests.evaluate.test_range_test import make_patch_npz

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return "npz:" + str(make_patch_npz(tmp_path_factory.mktemp("cli") / "patch.npz"))


@pytest.fixture(scope="module")
def grid_json(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("grid")
    rc = main(["range-test", "--dataset", dataset, "--model", "lenet", "--iters", "20", "--batch-size", "32",
               "--ks", "1e-5,1e-2", "1e-1", "1e3", "--budgets", "6", "--out", str(out), "--no-progress"])
    assert rc == 0
    return out


def test_range_test_grid_writes_json_and_png(grid_json, capsys):
    d = json.loads((grid_json / "range_test.json").read_text())
    assert d["method"] == "grid" and d["ks"] == [1e-5, 1e-2, 1e-1, 1e3] and d["budgets"] == [6]
    assert (d["lo"], d["hi"]) == (0.01, 0.1)
    assert d["reduction"] == pytest.approx(91.0)
    assert {r["status"] for r in d["runs"] if r["k"] == 1e3} == {"diverged"}
    assert d["config"]["batch_size"] == 32 and d["config"]["model"] == "lenet"
    png = (grid_json / "range_test.png").read_bytes()
    assert png[:8] == PNG and len(png) > 10_000


def test_range_test_grid_prints_table_and_range(dataset, tmp_path, capsys):
    rc = main(["range-test", "--dataset", dataset, "--model", "lenet", "--batch-size", "32", "--ks", "1e-5", "1e-1",
               "1e3", "--budgets", "4", "--out", str(tmp_path), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "top-1 (%) of FIX(k) by budget" in text and "4 it" in text and "diverged" in text
    assert "good LR range: [0.1, 0.1]" in text and "search space reduced by 100.00%" in text


def test_range_test_sweep_default_out_dir(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc = main(["range-test", "--dataset", dataset, "--model", "lenet", "--method", "sweep", "--batch-size", "32",
               "--num-iter", "30", "--start-lr", "1e-5", "--end-lr", "10", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0 and "steepest" in text and "valley" in text and "good LR range" in text
    out = tmp_path / "range_test_npz-patch_lenet"
    d = json.loads((out / "range_test.json").read_text())
    assert d["method"] == "sweep" and len(d["lrs"]) == 30 and d["lo"] == pytest.approx(d["hi"] / 10)
    assert d["lrs"][0] <= d["suggestions"]["valley"] <= d["lrs"][-1]
    assert (out / "range_test.png").read_bytes()[:8] == PNG


def test_recommend_from_json(grid_json, tmp_path, capsys):
    out = tmp_path / "new" / "pols.json"  # the folder is created
    rc = main(["recommend", "--from", str(grid_json / "range_test.json"), "--iters", "10000", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "starting policies for [0.01, 0.1] and 10000 iterations" in text
    assert "TRI2(k0=0.01, k1=0.1, l=2000)" in text and "SIN2(" in text and "NSTEP(" in text
    pols = json.loads(out.read_text())["policies"]
    assert len(pols) == 6
    for p in pols:
        parse(p["policy"])
    # without --iters: the budget of the range test's config (20 → l = 4)
    assert main(["recommend", "--from", str(grid_json / "range_test.json")]) == 0
    assert "TRI2(k0=0.01, k1=0.1, l=4)" in capsys.readouterr().out


def test_recommend_runs_the_test(dataset, capsys):
    rc = main(["recommend", "--dataset", dataset, "--model", "lenet", "--method", "sweep", "--iters", "1000",
               "--batch-size", "32", "--num-iter", "30", "--start-lr", "1e-5", "--end-lr", "10", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0 and "valley" in text and "starting policies for" in text and "l=200)" in text


@pytest.mark.parametrize("argv,needle", [
    (["range-test", "--dataset", "mnistt", "--model", "lenet"], "--dataset must be one of mnist, cifar10"),
    (["range-test", "--dataset", "npz:/nonexistent/x.npz", "--model", "lenet"], "--dataset 'npz:/nonexistent/x.npz'"),
    (["range-test", "--dataset", "{ds}", "--model", "lenet5"], "--model must be one of lenet, cnn3, resnet32, resnet18"),
    (["range-test", "--dataset", "{ds}", "--model", "lenet", "--method", "random"], "--method must be one of grid, sweep"),
    (["range-test", "--dataset", "{ds}", "--model", "lenet", "--budgets", "0"], "--budgets must be integers > 0"),
    (["range-test", "--dataset", "{ds}", "--model", "lenet", "--budgets", "10,-5"], "--budgets must be integers > 0"),
    (["range-test", "--dataset", "{ds}", "--model", "lenet", "--budgets", "2.5"], "--budgets must be integers > 0"),
    (["range-test", "--dataset", "{ds}", "--model", "lenet", "--ks", "0"], "--ks must be LRs > 0"),
    (["range-test", "--dataset", "{ds}", "--model", "lenet", "--ks", "1e-3", "-0.01"], "--ks must be LRs > 0"),
    (["range-test", "--dataset", "{ds}", "--model", "lenet", "--ks", "1e-3,-1e-2"], "--ks must be LRs > 0"),
    (["range-test", "--dataset", "{ds}", "--model", "lenet", "--ks", "abc"], "--ks must be LRs > 0"),
    (["range-test", "--dataset", "{ds}", "--model", "lenet", "--iters", "0"], "--iters must be > 0"),
    (["range-test", "--dataset", "{ds}", "--model", "lenet", "--optimizer", "rmsprop"],
     "--optimizer must be one of sgd, momentum, adam"),
    (["range-test", "--dataset", "{ds}", "--model", "lenet", "--method", "sweep", "--end-lr", "1e-9"], "--end-lr > --start-lr"),
    (["range-test", "--dataset", "{ds}", "--model", "lenet", "--device", "cuda:99"], "device 'cuda:99': "),
    (["range-test", "--dataset", "{ds}", "--model", "lenet", "--device", "gpu"], "device 'gpu' is not a torch device string"),
    (["recommend", "--model", "lenet"], "--dataset is required: one of mnist"),
    (["recommend", "--from", "/nonexistent/range_test.json"], "--from '/nonexistent/range_test.json': no such file"),
    (["recommend", "--from", "{bad}"], "not a range-test result: 'method' must be 'grid' or 'sweep'"),
    (["recommend", "--dataset", "{ds}", "--model", "lenet", "--method", "bayes"], "--method must be one of grid, sweep"),
])
def test_bad_input_exits_2_with_a_clear_message(argv, needle, dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lo": 1}))
    argv = [a.replace("{ds}", dataset).replace("{bad}", str(bad)) for a in argv]
    assert main(argv + ["--no-progress"]) == 2
    cap = capsys.readouterr()
    assert needle in cap.err and "Traceback" not in cap.err + cap.out
    assert cap.err.startswith("lrkit " + argv[0] + ": ")
    assert not list(tmp_path.glob("range_test_*"))


def test_recommend_searches_the_database_first(dataset, tmp_path, capsys):
    """004 §4.1: stored policies for the task are the recommendation; the range test runs only
    when the database has nothing close enough (here: a distant task, the same model on MNIST)."""
    from lrkit.db import Database

    url = f"sqlite:///{tmp_path / 'r.db'}"
    Database(url).add_result({"dataset": dataset, "model": "lenet", "optimizer": "momentum"}, "FIX(k=0.02)",
                             {"highest_top1": 0.97})
    rc = main(["recommend", "--db", url, "--dataset", dataset, "--model", "lenet", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0 and "(exact task)" in text and "FIX(k=0.02)" in text and "starting policies for" not in text
    other = f"sqlite:///{tmp_path / 'other.db'}"  # only the papers' tables: lenet results are on MNIST
    rc = main(["recommend", "--db", other, "--dataset", dataset, "--model", "lenet", "--method", "sweep", "--iters",
               "1000", "--batch-size", "32", "--num-iter", "30", "--start-lr", "1e-5", "--end-lr", "10", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0 and "(model)" in text and "running the range test as well" in text and "starting policies for" in text
