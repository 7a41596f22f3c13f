"""Training runs are recorded in the database when one is configured: as they happen, through a recorder
the engine is handed (the engine itself never opens a database), or by the execution layer."""

import pytest

from lrkit.db import Database
from lrkit.db.recorder import RunRecorder
from lrkit.train import TrainConfig, train
from tests.tiny_data import write_tiny_npz


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


def cfg(dataset, **kw):
    base = dict(dataset=dataset, model="lenet", iters=20, batch_size=20, eval_every=10, eval_batch_size=100,
                policy="FIX(k=0.01)", threads=1)
    return TrainConfig(**{**base, **kw})


def test_a_run_is_recorded_as_it_happens(tiny, db_url):
    rec = train(cfg(tiny, mopt_every=5), progress=False, db=RunRecorder.open(db_url))
    db = Database(db_url)
    df = db.runs()
    assert len(df) == 1 and df["status"].iloc[0] == "complete" and df["model"].iloc[0] == "lenet"
    assert df["framework"].iloc[0] == "pytorch" and df["iterations"].iloc[0] == 20 and df["batch_size"].iloc[0] == 20
    got = db.get_run(int(df["id"].iloc[0]))
    assert got["curves"]["lr"] == rec.curves["lr"] and got["curves"]["loss"] == pytest.approx(rec.curves["loss"])
    assert got["curves"]["eval_top1"] == rec.evals["top1"]
    assert got["curves"]["mopt_mopt_lr"] == pytest.approx(rec.mopt["mopt_lr"])
    assert got["summary"]["highest_top1"] == rec.summary["highest_top1"]
    assert got["config"]["policy"] == "FIX(k=0.01)" and got["environment"]["torch"]


def test_a_diverged_run_is_recorded_as_diverged(tiny, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("LRKIT_DB_URL", url)  # configured by the environment: the execution layer reads it
    from lrkit.run import execute

    rec = execute([cfg(tiny, policy="FIX(k=50.0)", optimizer="sgd")], progress=False)[0].record
    assert rec["status"] == "diverged"
    df = Database(url).runs()
    assert df["status"].tolist() == ["diverged"] and df["policy"].tolist() == ["FIX(k=50.0)"]


def test_not_recorded_without_a_database_and_a_broken_one_does_not_stop_training(tiny, tmp_path, monkeypatch):
    monkeypatch.delenv("LRKIT_DB_URL", raising=False)
    rec = train(cfg(tiny), progress=False)  # no database: nothing to write, nothing fails
    assert rec.status == "complete"
    with pytest.warns(RuntimeWarning, match="not recorded"):
        rec = train(cfg(tiny), progress=False, db=RunRecorder.open("mysql://nowhere/db"))
    assert rec.status == "complete"
    with pytest.raises(TypeError, match="field 'db' must be None, False or a recorder"):
        train(cfg(tiny), progress=False, db="sqlite:///x.db")  # the engine opens no database: one clear line


def test_live_edits_reach_the_database_and_replay(tiny, db_url):
    from lrkit.train import replay_policy
    from lrkit.train.engine import Run

    run = Run(cfg(tiny), progress=False, db=RunRecorder.open(db_url))
    edits = {5: ("FIX(k=0.02)", False), 12: ("COS(k0=0.001, k1=0.01, l=3)", True)}
    original = run.monitor.lr_for

    def lr_for(t):  # edits arrive from "another thread" just before iterations 5 and 12
        if t in edits:
            run.monitor.set_policy(edits[t][0], restart=edits[t][1])
        return original(t)

    run.monitor.lr_for = lr_for
    rec = run.run()
    got = Database(db_url).get_run(run.run_id)
    history = got["summary"]["extra"]["history"]
    assert [h["iteration"] for h in history] == [0, 5, 12] and history == rec.history
    replay = replay_policy(history)
    assert [replay(t) for t in range(20)] == pytest.approx(got["curves"]["lr"], rel=1e-15)
