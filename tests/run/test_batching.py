"""Grouping a plan's runs into batches, the automatic choice of engine, and batched units through execute."""

import numpy as np
import pytest

from lrkit.run import execute, run_key
from lrkit.run.batching import (
    AUTO_MIN_ITERS,
    check_batch,
    families,
    plan_units,
    split,
    time_engines,
)
from tests.tiny_data import write_tiny_npz


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


def task(dataset, **kw):
    return {**dict(dataset=dataset, model="lenet", iters=8, batch_size=20, eval_every=4, eval_batch_size=100,
                   policy="SIN2(k0=0.001, k1=0.05, l=3)", threads=1), **kw}


def test_families_split_and_bad_sizes(tiny):
    plan = [task(tiny, policy="FIX(k=0.01)"), task(tiny, batch_size=10), task(tiny, seed=2),
            task(tiny, optimizer="fused_adam"), task(tiny, policy="FIX(k=0.02)", batch_size=10)]
    assert families(plan) == [[0, 2], [1, 4], [3]]
    assert split(list(range(7)), 3) == [[0, 1], [2, 3, 4], [5, 6]]
    assert split([0, 1], 64) == [[0, 1]]
    assert check_batch(None) == "auto" and check_batch(4) == 4
    for bad in (0, -1, "big", 2.5, True):
        with pytest.raises(ValueError, match="field 'batch'"):
            check_batch(bad)


def _timer(batched, single):
    calls = []

    def timer(cfgs, data):
        calls.append(len(cfgs))
        return {"single_its_per_s": single, "batched_its_per_s": batched, "replicas": len(cfgs)}

    return timer, calls


def test_auto_mode_batches_only_when_the_probe_says_it_is_faster(tiny):
    plan = [task(tiny, iters=AUTO_MIN_ITERS, seed=s) for s in range(3)]
    fast, calls = _timer(batched=300.0, single=100.0)
    units = plan_units(plan, "auto", timer=fast)
    assert [(u.indices, u.batched) for u in units] == [([0, 1, 2], True)] and calls == [3]
    assert units[0].choice["engine"] == "batched" and units[0].choice["mode"] == "auto"
    slow, _ = _timer(batched=104.0, single=100.0)  # within the margin: the single runs
    assert [(u.indices, u.batched) for u in plan_units(plan, None, timer=slow)] == [([0], False), ([1], False), ([2], False)]
    short = [task(tiny, seed=s) for s in range(3)]
    never, calls = _timer(batched=1e9, single=1.0)
    units = plan_units(short, "auto", timer=never)
    assert not any(u.batched for u in units) and calls == [] and "shorter" in units[0].choice["reason"]


def test_forced_sizes_and_one_disables(tiny):
    plan = [task(tiny, seed=s) for s in range(5)]
    assert [u.indices for u in plan_units(plan, 2)] == [[0, 1], [2], [3, 4]]  # sizes as even as they can be
    assert [u.batched for u in plan_units(plan, 2)] == [True, False, True]
    assert all(not u.batched and len(u.indices) == 1 for u in plan_units(plan, 1))


def test_a_batched_plan_gives_the_single_runs_records(tiny):
    plan = [task(tiny, policy="FIX(k=0.01)"), task(tiny, policy="SIN2(k0=0.001, k1=0.05, l=3)", seed=1),
            task(tiny, policy="FIX(k=0.02)", batch_size=10)]
    batched = execute(plan, batch=4, db=False, progress=False)
    single = execute(plan, batch=1, db=False, progress=False)
    for b, s in zip(batched, single):
        assert run_key(b.record["config"]) == run_key(s.record["config"])
        np.testing.assert_allclose(b.record["curves"]["loss"], s.record["curves"]["loss"], rtol=1e-4)
        assert b.record["curves"]["lr"] == s.record["curves"]["lr"]
        assert set(b.record) == set(s.record) and set(b.record["summary"]) == set(s.record["summary"])
        assert s.record["environment"]["engine"] == {"name": "single", "choice": {"mode": "forced", "batch": 1}}
    engines = [b.record["environment"]["engine"] for b in batched]
    assert [e["name"] for e in engines] == ["batched", "batched", "single"]  # the third is alone in its family
    assert engines[0]["batch"] == engines[1]["batch"] and engines[0]["replicas"] == 2


def test_the_probe_times_both_engines(tiny):
    timing = time_engines([task(tiny, seed=s) for s in range(2)])
    assert timing["replicas"] == 2 and timing["single_its_per_s"] > 0 and timing["batched_its_per_s"] > 0
