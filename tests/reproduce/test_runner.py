"""The table runner: results, failures, --only, resume and the shared run store."""

import dataclasses
import json
import os
from pathlib import Path

import pytest

from lrkit.reproduce import reproduce
from lrkit.reproduce.runner import provenance
from tests.reproduce.helpers import write_recipe


def test_reproduce_writes_results_table_and_plots_and_survives_a_failed_row(tmp_path, monkeypatch):
    if not os.environ.get("LRKIT_DATA_DIR"):
        pytest.skip("LRKIT_DATA_DIR is not set: this test trains on the real MNIST (CI sets it)")
    from lrkit.train.data import load_dataset

    ds = load_dataset("mnist")
    ds = dataclasses.replace(ds, x_test=ds.x_test[:500], y_test=ds.y_test[:500])
    rows = ('[[rows]]\npolicy = "FIX(k=0.01)"\ncategory = "fixed"\npaper = { highest_top1 = 99.11 }\n'
            '[[rows]]\npolicy = "SIN2(k0=0.01, k1=0.06, l=4)"\ncategory = "cyclic"\npaper = { highest_top1 = 99.33 }\n'
            '[[rows]]\npolicy = "FIX(k=0.01)"\noptimizer = "adam"\nbatch_size = 0\n')
    write_recipe(tmp_path, rows)
    monkeypatch.setenv("LRKIT_REPRODUCTIONS_DIR", str(tmp_path))
    out = tmp_path / "out"
    doc = reproduce("tiny", profile="quick", repeats=2, out=out, progress=False, data=ds, threads=2)
    table = doc["table"]
    assert [r["status"] for r in table] == ["complete", "complete", "failed"]
    assert table[0]["ours_std"] is not None and table[0]["paper_highest_top1"] == 99.11
    assert table[1]["run_policy"] == "SIN2(k0=0.01, k1=0.06, l=2)"
    assert table[0]["diff"] == pytest.approx(table[0]["ours_highest_top1"] - 99.11)
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["results"]) == 3 and len(saved["results"][0]["records"]) == 2
    assert saved["results"][0]["records"][0]["summary"]["iterations"] == 10
    md = (out / "table.md").read_text()
    assert "| `FIX(k=0.01)` | momentum |" in md and "(ran as SIN2(k0=0.01, k1=0.06, l=2))" in md
    assert (out / "curves.png").stat().st_size > 10_000
    only = reproduce("tiny", profile="quick", out=tmp_path / "only", progress=False, data=ds, only=["SIN2(k0=0.01, k1=0.06, l=4)"])
    assert [r["policy"] for r in only["table"]] == ["SIN2(k0=0.01, k1=0.06, l=4)"]
    with pytest.raises(ValueError, match="--only names policies not in profile"):
        reproduce("tiny", profile="quick", out=tmp_path / "x", progress=False, data=ds, only=["FIX(k=0.5)"])


def test_a_device_this_machine_lacks_fails_before_any_row(tmp_path, monkeypatch):
    write_recipe(tmp_path, '[[rows]]\npolicy = "FIX(k=0.01)"\n')
    monkeypatch.setenv("LRKIT_REPRODUCTIONS_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="device 'cuda:99': "):
        reproduce("tiny", profile="quick", out=tmp_path / "out", progress=False, device="cuda:99")
    assert not (tmp_path / "out").exists()
    doc = reproduce("tiny", profile="quick", out=tmp_path / "shown", progress=False, device="cuda:99", missing="skip")
    assert [r["status"] for r in doc["table"]] == ["not run"]  # showing stored runs needs no device


def test_resume_and_the_run_store_train_nothing_twice(tmp_path, monkeypatch):
    if not os.environ.get("LRKIT_DATA_DIR"):
        pytest.skip("LRKIT_DATA_DIR is not set: this test trains on the real MNIST (CI sets it)")
    import lrkit.train
    from lrkit.train.data import load_dataset

    ds = load_dataset("mnist")
    ds = dataclasses.replace(ds, x_test=ds.x_test[:200], y_test=ds.y_test[:200])
    write_recipe(tmp_path, '[[rows]]\npolicy = "FIX(k=0.01)"\n[[rows]]\npolicy = "SIN2(k0=0.01, k1=0.06, l=4)"\n')
    monkeypatch.setenv("LRKIT_REPRODUCTIONS_DIR", str(tmp_path))
    monkeypatch.delenv("LRKIT_RUN_CACHE", raising=False)
    first = reproduce("tiny", profile="quick", out=tmp_path / "a", progress=False, data=ds, cache=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2

    def no_training(*a, **k):
        raise AssertionError("trained a run that was already done")

    monkeypatch.setattr(lrkit.train, "train", no_training)
    again = reproduce("tiny", profile="quick", out=tmp_path / "a", progress=False, data=ds, resume=True)
    assert [r["status"] for r in again["table"]] == ["complete", "complete"]
    assert [r["reused"] for r in again["table"]] == [0, 0]  # its own earlier runs: resumed, not reused
    assert "reused_from" not in again["results"][0]["records"][0]
    assert again["results"][1]["records"][0]["evals"] == first["results"][1]["records"][0]["evals"]
    assert "were reused from the run store" not in (tmp_path / "a" / "table.md").read_text()
    monkeypatch.setenv("LRKIT_RUN_CACHE", str(tmp_path / "cache"))  # another table, same runs: from the cache
    other = reproduce("tiny", profile="quick", out=tmp_path / "b", progress=False, data=ds)
    source = (tmp_path / "b" / other["results"][0]["records"][0]["reused_from"]).resolve()
    assert source.parent == (tmp_path / "cache").resolve()
    # missing="skip" shows what is stored and trains nothing
    shown = reproduce("tiny", profile="quick", repeats=2, out=tmp_path / "d", progress=False, data=ds, missing="skip")
    assert [len(res["records"]) for res in shown["results"]] == [1, 1]
    assert "not run" not in (tmp_path / "d" / "table.md").read_text()
    none = reproduce("tiny", profile="full", out=tmp_path / "e", progress=False, data=ds, missing="skip")
    assert [r["status"] for r in none["table"]] == ["not run", "not run"]
    assert "| `FIX(k=0.01)` | momentum | — |" in (tmp_path / "e" / "table.md").read_text()
    # a run that is not in the store is trained (and here fails loudly, recorded as failed)
    more = reproduce("tiny", profile="quick", repeats=2, out=tmp_path / "c", progress=False, data=ds)
    assert [[r["status"] for r in res["records"]] for res in more["results"]] == [["complete", "failed"]] * 2
    assert "already done" in more["results"][0]["records"][1]["message"]


def test_a_resumed_table_keeps_its_stored_rows_through_an_interrupt_and_only(tmp_path, monkeypatch):
    """--resume: every write keeps the rows the file held, also those after the row being trained when
    the run is interrupted, and those --only leaves out."""
    if not os.environ.get("LRKIT_DATA_DIR"):
        pytest.skip("LRKIT_DATA_DIR is not set: this test trains on the real MNIST (CI sets it)")
    import lrkit.train
    from lrkit.train.data import load_dataset

    ds = load_dataset("mnist")
    ds = dataclasses.replace(ds, x_test=ds.x_test[:200], y_test=ds.y_test[:200])
    new1, new2, fix, sin2 = "FIX(k=0.02)", "FIX(k=0.03)", "FIX(k=0.01)", "SIN2(k0=0.01, k1=0.06, l=4)"
    write_recipe(tmp_path, "".join(f'[[rows]]\npolicy = "{p}"\n' for p in (new1, new2, fix, sin2)))
    monkeypatch.setenv("LRKIT_REPRODUCTIONS_DIR", str(tmp_path))
    monkeypatch.delenv("LRKIT_RUN_CACHE", raising=False)
    out = tmp_path / "a"
    first = reproduce("tiny", profile="quick", out=out, progress=False, data=ds, only=[fix, sin2])
    assert [r["policy"] for r in first["table"]] == [fix, sin2]

    real_train, calls = lrkit.train.train, []

    def train_once_then_interrupt(*a, **k):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real_train(*a, **k)

    monkeypatch.setattr(lrkit.train, "train", train_once_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        reproduce("tiny", profile="quick", out=out, progress=False, data=ds, resume=True)
    saved = json.loads((out / "results.json").read_text())
    assert [r["policy"] for r in saved["table"]] == [new1, fix, sin2]  # the new row, and the two it held
    assert saved["results"][1]["records"][0]["evals"] == first["results"][0]["records"][0]["evals"]

    trained = []
    monkeypatch.setattr(lrkit.train, "train", lambda cfg, *a, **k: trained.append(cfg.policy) or real_train(cfg, *a, **k))
    again = reproduce("tiny", profile="quick", out=out, progress=False, data=ds, resume=True, only=[new2])
    assert trained == [new2]
    assert [r["policy"] for r in again["table"]] == [new1, new2, fix, sin2]
    assert [r["reused"] for r in again["table"]] == [0, 0, 0, 0]  # all the table's own runs: resumed, not reused


def test_speed_options_reach_the_runs_but_not_their_keys(tmp_path, monkeypatch):
    if not os.environ.get("LRKIT_DATA_DIR"):
        pytest.skip("LRKIT_DATA_DIR is not set: this test trains on the real MNIST (CI sets it)")
    from lrkit.train.data import load_dataset

    ds = load_dataset("mnist")
    ds = dataclasses.replace(ds, x_test=ds.x_test[:100], y_test=ds.y_test[:100])
    write_recipe(tmp_path, '[[rows]]\npolicy = "FIX(k=0.01)"\n')
    monkeypatch.setenv("LRKIT_REPRODUCTIONS_DIR", str(tmp_path))
    monkeypatch.delenv("LRKIT_RUN_CACHE", raising=False)
    doc = reproduce("tiny", profile="quick", out=tmp_path / "a", progress=False, data=ds, speed={"channels_last": True})
    rec = doc["results"][0]["records"][0]
    assert rec["status"] == "complete" and rec["config"]["channels_last"] is True
    assert rec["environment"]["runtime"]["channels_last"] is True
    plain = reproduce("tiny", profile="quick", out=tmp_path / "a", progress=False, data=ds, resume=True, missing="skip")
    assert [r["status"] for r in plain["table"]] == ["complete"]  # channels-last is how, not what, it trained
    from lrkit.train.denormal import set_flush_denormal

    try:
        doc = reproduce("tiny", profile="quick", out=tmp_path / "c", progress=False, data=ds, speed={"flush_denormal": True})
    finally:
        set_flush_denormal(False)  # the mode is per process: leave the other tests as they were
    assert doc["results"][0]["records"][0]["config"]["flush_denormal"] is True
    plain = reproduce("tiny", profile="quick", out=tmp_path / "c", progress=False, data=ds, resume=True, missing="skip")
    assert [r["status"] for r in plain["table"]] == ["complete"]  # flushing subnormals is how, not what, it trained
    with pytest.raises(ValueError, match="speed: unknown option.*allowed: channels_last, compile"):
        reproduce("tiny", profile="quick", out=tmp_path / "b", progress=False, data=ds, speed={"amp": "bf16"})


def test_provenance_names_the_first_source_relative_to_the_table_and_independent_of_the_cwd(tmp_path, monkeypatch):
    results = tmp_path / "results"
    for name in ("table5", "table12", "table10"):
        (results / name).mkdir(parents=True)
        (results / name / "results.json").write_text("{}")
    own = results / "table12" / "results.json"
    assert provenance({}, str(own), results / "table12") is None  # the table's own run names no source
    assert provenance({}, "", results / "table12") == "run store"
    # table12 took the run from table5; table10 reads table12's copy and still names table5
    copied = {"reused_from": provenance({}, str(results / "table5" / "results.json"), results / "table12")}
    assert copied["reused_from"] == os.path.join("..", "table5", "results.json")
    assert provenance(copied, str(own), results / "table10") == os.path.join("..", "table5", "results.json")
    assert provenance(copied, str(own), results / "table12") == os.path.join("..", "table5", "results.json")
    # the same answer whatever the working directory and however the paths are written
    monkeypatch.chdir(tmp_path / "results" / "table10")
    assert provenance(copied, "../table12/results.json", Path("../table12")) == os.path.join("..", "table5", "results.json")
    # a source outside the results folder stays as given; a named source that is gone falls back
    outside = tmp_path / "cache" / "abc.json"
    assert provenance({}, str(outside), results / "table12") == str(outside)
    assert provenance({"reused_from": "../gone/results.json"}, str(own), results / "table10") == os.path.join(
        "..", "table12", "results.json")
    # the table's own run, read back on resume, names no source (it was trained for this table)
    assert provenance({"reused_from": "run store"}, str(own), results / "table12") is None
    assert provenance({"reused_from": "results.json"}, str(own), results / "table12") is None


def test_provenance_of_a_committed_table_made_in_sittings_names_the_sitting_record():
    from lrkit.reproduce import recipes_dir

    committed = recipes_dir()
    record = committed / "sittings" / "table4-full-5seeds" / "abc.json"
    assert provenance({}, str(record), committed / "results" / "table4-full-cpu") == os.path.join(
        "..", "..", "sittings", "table4-full-5seeds", "abc.json")
    # a table made outside the checkout's reproductions/ keeps the path as given
    assert provenance({}, str(record), Path("/elsewhere/out/table4")) == str(record)


def test_a_recipe_reproduces_on_a_registered_model_and_an_imported_data_set(tmp_path, monkeypatch):
    import lrkit
    from lrkit.train import registry
    from tests.train.user_task import make_mlp

    monkeypatch.setattr(registry, "_MODELS", {})
    lrkit.register_model("mlp", make_mlp)
    (tmp_path / "own.toml").write_text(
        'id = "own"\ntitle = "own"\nmetric = "highest_top1"\n'
        '[task]\ndataset = "tests.train.user_task:load_blobs"\nmodel = "mlp"\nnormalize = "none"\n'
        'optimizer = "momentum"\nbatch_size = 32\niters = 40\neval_every = 20\n'
        '[profiles.full]\n[profiles.quick]\n'
        '[[rows]]\npolicy = "FIX(k=0.05)"\ncategory = "fixed"\npaper = { highest_top1 = 99.0 }\n')
    monkeypatch.setenv("LRKIT_REPRODUCTIONS_DIR", str(tmp_path))
    doc = reproduce("own", profile="quick", out=tmp_path / "out", progress=False)
    assert [r["status"] for r in doc["table"]] == ["complete"] and doc["table"][0]["ours_highest_top1"] > 90
