"""`lrkit reproduce`: listing, bad input, and a table assembled from stored runs without training."""

import json

import pytest

from lrkit.cli.main import main
from lrkit.reproduce import get_recipe
from tests.reproduce.helpers import record


def test_list_shows_the_tables(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for table in ("table4", "table10", "table11"):
        assert table in out
    assert "26 rows" in out  # Table 11: 13 policies x {momentum, sgd}


def test_bad_input_names_the_problem(capsys):
    assert main(["reproduce", "table99"]) == 2
    assert "unknown table 'table99'" in capsys.readouterr().err
    assert main(["reproduce", "table11", "--profile", "quick", "--only", "TRI(k0=0.01, k1=0.06, l=2000)"]) == 2
    assert "--only names policies not in profile 'quick'" in capsys.readouterr().err
    assert main(["reproduce", "table4", "--device", "cuda:99"]) == 2  # before any row is trained
    assert "lrkit reproduce: device 'cuda:99': " in capsys.readouterr().err


def test_a_table_from_reused_runs_trains_nothing(tmp_path, capsys, monkeypatch):
    """Table 10's full rows read off stored records (what --reuse does with Table 4's results)."""
    import lrkit.train

    monkeypatch.setattr(lrkit.train, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    monkeypatch.delenv("LRKIT_RUN_CACHE", raising=False)
    curves = {"FIX": (0.98, 0.99, 0.991), "NSTEP": (0.98, 0.99, 0.992), "POLY": (0.985, 0.991, 0.991),
              "SIN2": (0.99, 0.992, 0.993), "COS": (0.991, 0.992, 0.993)}
    store = tmp_path / "runs"
    store.mkdir()
    for run in get_recipe("table10").runs("full"):
        cfg = run["config"]
        rec = record(cfg["policy"], top1=curves[cfg["policy"].split("(")[0]])
        rec["config"] = dict(rec["config"], **{k: v for k, v in cfg.items()}, device="cpu", seed=0)
        (store / f"{cfg['policy'][:4]}.json").write_text(json.dumps(rec))
    out = tmp_path / "t10"
    assert main(["reproduce", "table10", "--profile", "full", "--reuse", str(store), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "5 of the runs were reused from the run store" in text
    assert "| `COS(k0=0.01, k1=0.06, l=2000)` | momentum | 500 | 1500 | 3.00× | 6.67× |" in text
    assert json.loads((out / "results.json").read_text())["target"] == 0.991
    assert main(["reproduce", "table10", "--profile", "full", "--stored-only", "--out", str(tmp_path / "none"),
                 "--no-progress"]) == 0  # nothing stored there and nothing trained
    assert capsys.readouterr().out.count("| not run |") == 5


def test_flush_denormal_flag_reaches_the_runs(tmp_path, monkeypatch):
    """``--flush-denormal`` is passed on: as a speed option of ``reproduce``, as a TrainConfig field of ``train``."""
    import lrkit.reproduce
    import lrkit.train
    import lrkit.train.data

    class Seen(Exception):
        pass

    def capture(*a, **k):
        raise Seen(k["speed"] if "speed" in k else a[0])

    monkeypatch.setattr(lrkit.reproduce, "reproduce", capture)
    for flag, speed in ((["--flush-denormal"], {"flush_denormal": True}), ([], {})):
        with pytest.raises(Seen) as seen:  # raised only if reproduce was called
            main(["reproduce", "table4", "--profile", "quick", "--out", str(tmp_path), *flag])
        assert seen.value.args[0] == speed
    monkeypatch.setattr(lrkit.train, "train", capture)
    monkeypatch.setattr(lrkit.train.data, "load_dataset", lambda *a, **k: None)  # lrkit train loads it first
    for flag, on in ((["--flush-denormal"], True), ([], False)):
        with pytest.raises(Seen) as seen:
            main(["train", "--policy", "FIX(k=0.01)", "--iters", "2", *flag])
        assert seen.value.args[0].flush_denormal is on
