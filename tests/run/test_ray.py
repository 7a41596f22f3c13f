"""A Ray trial can be a batch: the trainable trains a list of configs as one batched run and hands back one
record per replica; a failed or stopped batch trial gives one record per config. (Whole Ray searches are
compared with the other executors in tests/tune/test_search.py.)"""

import json
from types import SimpleNamespace

import pytest

pytest.importorskip("ray.tune", reason="Ray Tune is not installed (pip install 'lrkit[ray]')")

from lrkit.run import ray as ray_executor
from tests.tiny_data import write_tiny_npz


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


def task(dataset, **kw):
    return {**dict(dataset=dataset, model="lenet", iters=4, batch_size=20, eval_every=2, eval_batch_size=100,
                   policy="FIX(k=0.01)", threads=1), **kw}


def test_a_batch_trial_reports_and_returns_one_record_per_replica(tiny, monkeypatch):
    from ray import tune

    reports = []
    monkeypatch.setattr(tune, "report", reports.append)
    cfgs = [task(tiny), task(tiny, policy="FIX(k=0.02)")]
    ray_executor._trainable({"trial": {"index": 0, "cfg": cfgs}})
    final = reports[-1]
    assert final["done"] and final["status"] == "complete"
    recs = json.loads(final["record_json"])
    assert [r["policy"] for r in recs] == ["FIX(k=0.01)", "FIX(k=0.02)"]
    assert all(r["environment"]["engine"]["name"] == "batched" for r in recs)
    assert [r["iteration"] for r in reports[:-1]] == [2, 2, 4, 4]  # every replica's evals


def test_a_failed_or_stopped_batch_trial_gives_a_record_per_config(tiny):
    got = {}
    token = "test-token"
    ray_executor._SINKS[token] = got.__setitem__
    try:
        cfgs = [task(tiny), task(tiny, seed=1)]
        deliver = ray_executor._Deliver(token)
        deliver._deliver(SimpleNamespace(config={"trial": {"index": 3, "cfg": cfgs}}, last_result={}), "it raised")
        assert [r["status"] for r in got[3]] == ["failed", "failed"]
        last = {"iteration": 2, "best_top1": 0.5}
        deliver._deliver(SimpleNamespace(config={"trial": {"index": 4, "cfg": cfgs}}, last_result=last), None)
        assert [r["status"] for r in got[4]] == ["stopped", "stopped"]
        assert got[4][0]["summary"]["highest_top1"] == 0.5
    finally:
        ray_executor._SINKS.pop(token)
