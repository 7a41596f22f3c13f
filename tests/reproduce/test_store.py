"""The run store: what identifies a run, what is reused, where records are read from and written."""

import json

from lrkit.reproduce import RunStore, run_key
from tests.reproduce.helpers import record


def cfg(**kw):
    from lrkit.train import TrainConfig

    return TrainConfig(**kw).to_dict()


def test_run_key_is_what_was_run_not_where():
    base = run_key(cfg(policy="SIN2(k0=0.01, k1=0.06, l=2000)"))
    assert run_key(cfg(policy="SIN2(k0=0.01,k1=0.06,l=2000)", threads=2, data_root="/elsewhere")) == base
    assert run_key(cfg(policy="SIN2(k0=0.01, k1=0.06, l=2000)", flush_denormal=True)) == base  # a CPU speed setting
    assert run_key(cfg(policy="SIN2(l=2000, k1=0.06, k0=0.01)")) == base  # canonical policy spelling
    for change in ({"seed": 1}, {"device": "cuda"}, {"optimizer": "sgd"}, {"iters": 9999},
                   {"policy": "SIN2(k0=0.01, k1=0.06, l=2001)"}, {"weight_decay": 0.0}, {"layer_mults": True},
                   {"normalize": "mean"}, {"eval_samples": 2000}, {"compile": "default"}, {"channels_last": True}):
        assert run_key(cfg(**{"policy": "SIN2(k0=0.01, k1=0.06, l=2000)", **change})) != base, change


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
