"""The run store: what identifies a run, what is reused, where records are read from and written."""

import json

import pytest

from lrkit.run import RunStore, run_key
from tests.reproduce.helpers import record


def cfg(**kw):
    from lrkit.train import TrainConfig

    return TrainConfig(**kw).to_dict()


def test_run_key_is_the_task_not_the_runtime():
    base = run_key(cfg(policy="SIN2(k0=0.01, k1=0.06, l=2000)"))
    assert run_key(cfg(policy="SIN2(l=2000, k1=0.06, k0=0.01)")) == base  # canonical policy spelling
    for runtime in ({"threads": 2}, {"data_root": "/elsewhere"}, {"flush_denormal": True}, {"device": "cuda"},
                    {"compile": "default"}, {"channels_last": True}, {"mopt_every": 10}):
        assert run_key(cfg(**{"policy": "SIN2(k0=0.01, k1=0.06, l=2000)", **runtime})) == base, runtime
    for change in ({"seed": 1}, {"optimizer": "sgd"}, {"iters": 9999}, {"batch_size": 64}, {"eval_every": 250},
                   {"policy": "SIN2(k0=0.01, k1=0.06, l=2001)"}, {"weight_decay": 0.0}, {"layer_mults": True},
                   {"normalize": "mean"}, {"eval_samples": 2000}, {"augment": "crop_flip"}, {"dataset": "cifar10"}):
        assert run_key(cfg(**{"policy": "SIN2(k0=0.01, k1=0.06, l=2000)", **change})) != base, change


def test_task_runtime_and_observers_partition_the_config():
    from dataclasses import fields

    from lrkit.train import TrainConfig
    from lrkit.train.config import OBSERVER_FIELDS, RUNTIME_FIELDS, task_fields

    names = [f.name for f in fields(TrainConfig)]
    parts = list(task_fields()) + list(RUNTIME_FIELDS) + list(OBSERVER_FIELDS)
    assert sorted(parts) == sorted(names) and len(parts) == len(set(parts))
    c = TrainConfig(policy="FIX(k=0.1)", device="cpu", threads=3, mopt_every=5, seed=4)
    assert c.runtime.threads == 3 and c.observers.mopt_every == 5 and c.task.to_dict()["seed"] == 4
    assert "threads" not in c.task.to_dict() and "device" not in c.task.to_dict()


def test_fields_added_later_keep_the_keys_of_stored_runs():
    stored = cfg(policy="FIX(k=0.01)")
    stored.pop("layer_mults")  # a record written before the fields existed
    stored.pop("eval_samples")
    stored.pop("compile")
    stored.pop("flush_denormal")
    assert run_key(stored) == run_key(cfg(policy="FIX(k=0.01)", layer_mults=False, eval_samples=None, compile=None))


def test_reads_run_records_results_files_and_folders(tmp_path):
    a, b = record("FIX(k=0.01)"), record("FIX(k=0.02)")
    failed, stopped = record("FIX(k=0.03)", status="failed"), record("FIX(k=0.04)", status="stopped")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "a.json").write_text(json.dumps(a))
    (tmp_path / "runs" / "junk.json").write_text("{not json")
    (tmp_path / "runs" / "other.json").write_text(json.dumps({"hello": 1}))
    doc = {"recipe": "t", "results": [{"records": [b, failed]}, {"records": [stopped]}]}
    (tmp_path / "results.json").write_text(json.dumps(doc))
    store = RunStore([tmp_path / "runs", tmp_path / "results.json", tmp_path / "missing"])
    assert len(store) == 2
    assert store.get(a["config"])["policy"] == "FIX(k=0.01)"
    assert store.where(b["config"]).endswith("results.json")
    assert store.get(failed["config"]) is None and store.get(stopped["config"]) is None  # these are run again


def test_cache_folder_is_written_and_read_back(tmp_path):
    store = RunStore(cache=tmp_path / "cache")
    rec = record("COS(k0=0.01, k1=0.06, l=2000)")
    assert store.add(rec) and not store.add(record("FIX(k=0.5)", status="failed"))
    files = list((tmp_path / "cache").glob("*.json"))
    assert [f.stem for f in files] == [run_key(rec["config"])]
    again = RunStore(cache=tmp_path / "cache")
    assert again.get(rec["config"])["evals"] == rec["evals"]


def test_a_run_of_another_numerics_version_is_not_reused_unless_asked(monkeypatch):
    import lrkit.numerics
    import lrkit.run.store

    rec = record("FIX(k=0.01)")  # made by version 1 (no version named)
    store = RunStore()
    store.add(rec, write=False)
    assert store.get(rec["config"]) is not None
    monkeypatch.setattr(lrkit.numerics, "NUMERICS_VERSION", 2)
    monkeypatch.setattr(lrkit.run.store, "NUMERICS_VERSION", 2)
    found = store.find(rec["config"])
    assert found.record is None and found.stale == (1,)
    old = store.find(rec["config"], other_numerics=True)
    assert old.record is rec and old.other_numerics
    newer = dict(rec, environment={"numerics_version": 2})
    store.add(newer, write=False)
    assert store.find(rec["config"]).record is newer


@pytest.mark.parametrize("version", [1, 2])
def test_the_key_names_the_numerics_version_except_the_first(version):
    c = cfg(policy="FIX(k=0.01)")
    assert (run_key(c, version) == run_key(c, 1)) == (version == 1)
