"""Three-phase verification (004 §4.2) on a tiny task: each phase can end it."""

import pytest

from lrkit.db import Database
from lrkit.evaluate.verify import verify
from lrkit.train import TrainConfig
from tests.tiny_data import write_tiny_npz


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_npz(tmp_path_factory.mktemp("data") / "tiny.npz", test_label_noise=0.2)  # top-1 <= ~0.8


def cfg(dataset, policy, **kw):
    return TrainConfig(**{**dict(dataset=dataset, model="lenet", iters=30, batch_size=20, eval_every=10,
                                 eval_batch_size=100, policy=policy, threads=1), **kw})


def test_phase_1_verifies_a_policy_that_reaches_the_target(tiny, tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'v.db'}")
    v = verify(cfg(tiny, "FIX(k=0.05)"), 0.5, db=db, mopt_every=5)
    assert v.outcome == "verified" and v.phase1["reached"] and not v.phase2
    assert v.mopt["measurements"] >= 5 and "Phase 1" in v.report()
    runs = db.runs(dataset=tiny)
    assert runs["policy"].tolist() == ["FIX(k=0.05)"] and runs["status"].tolist() == ["complete"]


def test_phase_2_recommends_a_better_stored_policy(tiny, tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'v.db'}")
    task = {"dataset": tiny, "model": "lenet", "optimizer": "momentum", "iterations": 60}
    db.add_result(task, "FIX(k=0.05)", {"highest_top1": 0.99}, source="stored")
    db.add_result(task, "STEP(k=0.05, gamma=0.5, l=40)", {"highest_top1": 0.98}, source="stored")
    v = verify(cfg(tiny, "FIX(k=1e-06)"), 0.95, db=db, n=2)  # barely moves: misses an unreachable target
    assert v.outcome == "replaced" and v.recommended in {"FIX(k=0.05)", "STEP(k=0.05, gamma=0.5, l=20)"}
    # the stored STEP ran on a 60-iteration budget: its step size is rescaled to this run's 30
    assert {c["policy"] for c in v.phase2} == {"FIX(k=0.05)", "STEP(k=0.05, gamma=0.5, l=20)"}
    assert "beats FIX(k=1e-06)" in v.message and "Phase 2" in v.report()
    assert len(db.runs(dataset=tiny, source="lrkit")) == 3  # every run trained here is recorded


def test_phase_3_runs_the_range_test_when_the_policy_stays_the_winner(tiny, tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'v.db'}")
    task = {"dataset": tiny, "model": "lenet", "optimizer": "momentum", "iterations": 30}
    db.add_result(task, "FIX(k=1e-06)", {"highest_top1": 0.3})
    v = verify(cfg(tiny, "FIX(k=0.05)"), 0.95, db=db, n=1, range_ks=[1e-4, 1e-3, 1e-2, 5e-2, 1e2],
               range_budgets=[20])
    assert v.outcome == "range-tested" and v.range["hi"] is not None and v.range["hi"] < 1e2
    assert v.candidates and all("policy" in c and "why" in c for c in v.candidates)
    assert "Phase 3" in v.report()


def test_bad_input_names_the_field(tiny, tmp_path):
    with pytest.raises(ValueError, match="field 'target_acc' must be a fraction"):
        verify(cfg(tiny, "FIX(k=0.05)"), 99.1, db=f"sqlite:///{tmp_path / 'v.db'}")
    with pytest.raises(ValueError, match="field 'n' must be an int >= 1"):
        verify(cfg(tiny, "FIX(k=0.05)"), 0.9, db=f"sqlite:///{tmp_path / 'v.db'}", n=0)


def test_evaluate_policy_reports_utility_cost_and_robustness(tiny, tmp_path):
    from lrkit.evaluate.evaluator import evaluate_policy
    from lrkit.evaluate.ranking import top_k

    url = f"sqlite:///{tmp_path / 'e.db'}"
    out = evaluate_policy(cfg(tiny, "FIX(k=0.05)", iters=20), seeds=(0, 1), lams=(0.001, 40.0), target_acc=0.5, db=url,
                          progress=False)
    u, c, r = out["utility"], out["cost"], out["robustness"]
    assert out["runs"] == 4 and u["highest_top1"]["n"] == 2 and u["highest_top1"]["std"] is not None
    assert c["reached"] == 2 and c["iterations_to_target"] in (10, 15, 20) and c["wall_time_to_target_s"] > 0
    drops = r["lambda"]["drops"]
    assert drops[0.001] > 0.2 and r["lambda"]["worst"] == max(d for d in drops.values() if d is not None)
    assert r["robust_score"] == pytest.approx(u["highest_top1"]["mean"] - u["highest_top1"]["std"])
    ranked = top_k(Database(url), tiny, "lenet", metric="robustness")
    assert ranked.specs()[0] == "FIX(k=0.05)" and ranked.table["runs"].iloc[0] == 2
    with pytest.raises(ValueError, match="field 'seeds'"):
        evaluate_policy(cfg(tiny, "FIX(k=0.05)"), seeds=())


def test_phase_2_trains_the_candidates_in_parallel_processes(tiny, tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    task = {"dataset": tiny, "model": "lenet", "optimizer": "momentum", "iterations": 30}
    db.add_result(task, "FIX(k=0.05)", {"highest_top1": 0.99}, source="stored")
    db.add_result(task, "FIX(k=0.02)", {"highest_top1": 0.98}, source="stored")
    v = verify(cfg(tiny, "FIX(k=1e-06)"), 0.95, db=db, n=2, workers=2)
    assert v.outcome == "replaced" and {c["policy"] for c in v.phase2} == {"FIX(k=0.05)", "FIX(k=0.02)"}
    assert all(c["status"] == "complete" for c in v.phase2)
    assert len(db.runs(dataset=tiny, source="lrkit")) == 3  # the workers recorded their runs too
