"""The execution layer: one task gives the same record on every executor; the preflight, failed runs,
reuse and database recording are the layer's, whatever plans the runs."""

import pytest

from lrkit.run import InProcess, ProcessPool, RunStore, execute, failed_record, make_executor
from tests.tiny_data import write_tiny_npz


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


def task(dataset, **kw):
    return {**dict(dataset=dataset, model="lenet", iters=8, batch_size=20, eval_every=4, eval_batch_size=100,
                   policy="SIN2(k0=0.001, k1=0.05, l=3)", threads=1), **kw}


def same_run(a: dict, b: dict) -> None:
    assert a["status"] == b["status"] == "complete"
    assert a["curves"]["loss"] == b["curves"]["loss"] and a["curves"]["lr"] == b["curves"]["lr"]
    assert a["evals"] == b["evals"] and a["summary"]["highest_top1"] == b["summary"]["highest_top1"]
    assert a["config"] == b["config"]


def test_one_task_gives_the_same_record_in_process_and_in_a_process_pool(tiny):
    plan = [task(tiny, seed=0), task(tiny, seed=1)]
    here = execute(plan, executor=InProcess(), db=False, progress=False)
    pool = execute(plan, executor=ProcessPool(2), db=False, progress=False)
    for a, b in zip(here, pool):
        same_run(a.record, b.record)
    assert here[0].record["curves"]["loss"] != here[1].record["curves"]["loss"]  # the seeds differ
    # Ray Tune, the third executor, is compared with these in tests/tune/test_search.py (it needs a Ray cluster)


def test_the_preflight_fails_before_any_run(tiny, tmp_path, monkeypatch):
    import lrkit.train

    monkeypatch.setattr(lrkit.train, "train", lambda *a, **k: pytest.fail("a run trained"))
    with pytest.raises(ValueError, match="device 'cuda:99': "):
        execute([task(tiny), task(tiny, device="cuda:99")], db=False, progress=False)
    with pytest.raises(FileNotFoundError):
        execute([task(f"npz:{tmp_path / 'absent.npz'}")], db=False, progress=False)
    with pytest.raises(ValueError, match="unknown dataset name"):
        execute([task("nonesuch")], executor=ProcessPool(2), db=False, progress=False)


def test_failed_and_invalid_runs_are_recorded_and_the_plan_goes_on(tiny, tmp_path, monkeypatch):
    import lrkit.train

    real = lrkit.train.train

    def flaky(cfg, *a, **k):
        if cfg.seed == 1:
            raise RuntimeError("out of memory (simulated)")
        return real(cfg, *a, **k)

    monkeypatch.setattr(lrkit.train, "train", flaky)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    got = execute([task(tiny, seed=0), task(tiny, seed=1), task(tiny, batch_size=0)], db=url, source="t", progress=False)
    assert [o.record["status"] for o in got] == ["complete", "failed", "failed"]
    assert got[1].record["message"] == "RuntimeError: out of memory (simulated)"
    assert "batch_size" in got[2].record["message"]
    want = failed_record(got[1].config, "x")
    assert set(got[1].record) == set(want)  # one failed-record format
    from lrkit.db import Database

    runs = Database(url).runs(source="t")
    assert sorted(runs["status"]) == ["complete", "failed"] and got[0].run_id in set(runs["id"])


def test_the_store_and_the_database_keep_runs_from_training_twice(tiny, tmp_path, monkeypatch):
    import lrkit.train

    store = RunStore(cache=tmp_path / "cache")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    first = execute([task(tiny)], store=store, db=url, source="s", progress=False)
    assert not first[0].reused and len(list((tmp_path / "cache").glob("*.json"))) == 1
    monkeypatch.setattr(lrkit.train, "train", lambda *a, **k: pytest.fail("trained twice"))
    again = execute([task(tiny, threads=2, channels_last=True)], store=RunStore(cache=tmp_path / "cache"), db=False,
                    progress=False)  # another runtime, the same task: reused
    assert again[0].reused and again[0].record["curves"] == first[0].record["curves"]
    by_label = execute([task(tiny)], db=url, source="s", resume_db=True, progress=False)
    assert by_label[0].reused and by_label[0].run_id == first[0].run_id
    assert by_label[0].record["summary"]["highest_top1"] == first[0].record["summary"]["highest_top1"]
    skipped = execute([task(tiny, seed=5)], missing="skip", db=False, progress=False)
    assert skipped[0].record is None


def test_outcomes_come_as_they_finish_and_in_plan_order(tiny):
    seen = []
    got = execute([task(tiny, seed=s) for s in range(3)], db=False, progress=False,
                  on_outcome=lambda i, o: seen.append((i, o.record["config"]["seed"])))
    assert seen == [(0, 0), (1, 1), (2, 2)] and [o.config["seed"] for o in got] == [0, 1, 2]


def test_make_executor_names_the_allowed_values():
    assert isinstance(make_executor("local"), InProcess) and isinstance(make_executor("local", 3), ProcessPool)
    with pytest.raises(ValueError, match="executor must be one of local, ray, got 'slurm'"):
        make_executor("slurm")
    with pytest.raises(ValueError, match="'workers' must be an int >= 1"):
        make_executor("local", 0)


def test_a_model_and_data_set_passed_to_the_planner_are_trained_by_name():
    import numpy as np
    import torch

    from lrkit.train import registry

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    data = (x[:90], y[:90], x[90:], y[90:])

    def mlp(num_classes, input_shape):
        return torch.nn.Sequential(torch.nn.Linear(input_shape[0], 16), torch.nn.ReLU(), torch.nn.Linear(16, num_classes))

    try:
        got = execute([dict(dataset="halfspace", model="tiny-mlp", normalize="none", iters=30, batch_size=30, eval_every=30,
                            eval_batch_size=30, policy="FIX(k=0.1)", threads=1)],
                      models={"tiny-mlp": mlp}, datasets={"halfspace": data}, db=False, progress=False)
        assert got[0].record["status"] == "complete" and got[0].record["summary"]["highest_top1"] > 0.5
    finally:
        registry.unregister_model("tiny-mlp")
        registry.unregister_dataset("halfspace")
