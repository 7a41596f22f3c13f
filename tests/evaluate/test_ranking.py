"""Top-K ranking from the database: metrics, aggregation over seeds, fallback to similar tasks."""

import pytest

from lrkit.db import Database
from lrkit.evaluate.metrics import cost, iterations_to_target, lambda_drop, mean_std, robust_score, utility
from lrkit.evaluate.ranking import LEVELS, pool, top_k

T = {"dataset": "cifar10", "model": "cnn3", "optimizer": "momentum", "framework": "pytorch", "batch_size": 100,
     "iterations": 1000}


@pytest.fixture
def db(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    for seed, (a, b, c) in enumerate([(0.80, 0.78, 0.70), (0.82, 0.77, 0.71), (0.81, 0.79, 0.72)]):
        db.add_result(T, "TRI2(k0=0.001, k1=0.006, l=200)", {"highest_top1": a, "iterations_to_target": 600,
                                                                 "target_acc": 0.75, "final_top1": a - 0.01}, seed=seed)
        db.add_result(T, "NSTEP(k=0.001, gamma=0.1, l=[600, 800])", {"highest_top1": b, "final_top1": b,
                                                                      "iterations_to_target": 900, "target_acc": 0.75}, seed=seed)
        db.add_result(T, "FIX(k=0.001)", {"highest_top1": c, "final_top1": c}, seed=seed)
    db.add_result(T, "FIX(k=1.0)", {"highest_top1": None}, status="diverged")
    db.add_result(T, "COS(k0=0.001, k1=0.006, l=200)", {"highest_top1": 0.95}, status="failed")  # not usable
    db.add_result({**T, "optimizer": "sgd"}, "TRI2(k0=0.001, k1=0.006, l=200)", {"highest_top1": 0.6})
    return db


def test_metrics_are_computed_from_a_record():
    rec = {"evals": {"iteration": [100, 200, 300], "top1": [0.5, 0.9, 0.9], "top5": [0.8, 0.99, 0.98]},
           "summary": {"wall_time_s": 30.0, "iterations": 300}}
    assert utility(rec) == {"highest_top1": 0.9, "highest_top1_iteration": 200, "final_top1": 0.9,
                            "highest_top5": 0.99, "final_top5": 0.98}
    assert cost(rec, 0.85) == {"iterations_to_target": 200, "wall_time_to_target_s": 20.0}
    assert cost(rec, 0.95)["iterations_to_target"] is None
    with pytest.raises(ValueError, match="target must be a fraction"):
        iterations_to_target([1], [0.5], 99.1)
    m, s, n = mean_std([0.8, 0.82, 0.81, None, float("nan")])
    assert n == 3 and m == pytest.approx(0.81) and s == pytest.approx(0.01)
    assert lambda_drop(0.9, {0.1: 0.5, 10: None}) == {"drops": {0.1: pytest.approx(0.4), 10.0: None},
                                                      "worst": pytest.approx(0.4)}
    assert robust_score(0.9, None) is None and robust_score(0.9, 0.1) == pytest.approx(0.8)


def test_pool_combines_published_means_and_seeds():
    # two groups: 5 runs at 0.90 ± 0.01 and 1 run at 0.96 -> the pooled mean and sample std of the 6
    n, m, s = pool([(5, 0.90, 0.01), (1, 0.96, 0.0)])
    xs_var = (4 * 0.01**2 + 5 * (0.90 - m) ** 2 + (0.96 - m) ** 2) / 5
    assert n == 6 and m == pytest.approx(0.91) and s == pytest.approx(xs_var**0.5)
    assert pool([(3, 0.9, None)])[2] is None and pool([(1, 0.9, 0.0)]) == (1, 0.9, None)


def test_top_k_by_each_metric(db):
    r = top_k(db, "cifar10", "cnn3", k=3, optimizer="momentum")
    assert r.level == LEVELS[0] and r.specs() == ["TRI2(k0=0.001, k1=0.006, l=200)", "NSTEP(k=0.001, gamma=0.1, l=[600, 800])",
                                                  "FIX(k=0.001)"]
    row = r.table.iloc[0]
    assert row["runs"] == 3 and row["mean_top1"] == pytest.approx(0.81) and row["std_top1"] == pytest.approx(0.01)
    assert "COS" not in " ".join(top_k(db, "cifar10", "cnn3", k=10).specs())  # failed runs do not count
    diverged = top_k(db, "cifar10", "cnn3", k=10).table.set_index("policy").loc["FIX(k=1.0)"]
    assert diverged["mean_top1"] == 0.0 and diverged["diverged"] == 1
    fast = top_k(db, "cifar10", "cnn3", metric="iters_to_target", target_acc=0.75)
    assert fast.specs() == ["TRI2(k0=0.001, k1=0.006, l=200)", "NSTEP(k=0.001, gamma=0.1, l=[600, 800])"]
    assert top_k(db, "cifar10", "cnn3", metric="iters_to_target", target_acc=0.9).level is None
    robust = top_k(db, "cifar10", "cnn3", metric="robustness", optimizer="momentum")
    assert robust.table["score"].iloc[0] == pytest.approx(robust.table["mean_top1"].iloc[0] - robust.table["std_top1"].iloc[0])
    assert top_k(db, "cifar10", "cnn3", metric="final_acc", optimizer="momentum").specs()[0].startswith("TRI2")
    # each policy once, with its best task entry (TRI2 with momentum, not with SGD)
    everything = top_k(db, "cifar10", "cnn3", k=20)
    assert everything.specs().count("TRI2(k0=0.001, k1=0.006, l=200)") == 1


def test_fallback_order_is_reported(db):
    db.add_result({"dataset": "mnist", "model": "lenet"}, "SIN2(k0=0.01, k1=0.06, l=2000)", {"highest_top1": 0.99})
    r = top_k(db, "cifar10", "cnn3", optimizer="adam")  # no adam runs: same dataset and model
    assert r.level == "dataset+model" and "no usable runs for cifar10/cnn3, optimizer=adam" in r.message
    assert top_k(db, "cifar10", "resnet32").level == "dataset"
    assert top_k(db, "imagenet", "lenet").level == "model"
    svhn = top_k(db, "svhn", "alexnet")  # SVHN and CIFAR-10 share the 32x32x3 format (004 §5.2)
    assert svhn.level == "data format" and svhn.specs()[0].startswith("TRI2")
    none = top_k(db, "imdb", "bert")
    assert none.level is None and len(none) == 0 and "no usable runs" in none.message


def test_bad_requests_name_the_field(db):
    with pytest.raises(ValueError, match="metric 'speed' is not known; allowed: highest_acc"):
        top_k(db, "mnist", "lenet", metric="speed")
    with pytest.raises(ValueError, match="field 'k' must be an int >= 1"):
        top_k(db, "cifar10", "cnn3", k=0)
    with pytest.raises(ValueError, match="field 'target_acc' must be a fraction"):
        top_k(db, "cifar10", "cnn3", target_acc=80)


def test_published_results_answer_on_a_fresh_install(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert db.import_published() > 100 and db.import_published() == 0  # idempotent
    r = top_k(db, "mnist", "lenet", optimizer="momentum", k=5)
    assert r.level == LEVELS[0] and all(s.split("(")[0] in {"SIN", "SIN2", "COS", "TRI", "TRI2", "TRIEXP", "SINEXP"}
                                        for s in r.specs())  # 004 Table 4: the cyclic policies lead
    assert r.table["mean_top1"].iloc[0] == pytest.approx(0.9933)  # SIN2, 99.33 ± 0.02
    fast = top_k(db, "mnist", "lenet", metric="iters_to_target", target_acc=0.991, optimizer="momentum")
    assert fast.specs()[0] == "COS(k0=0.01, k1=0.06, l=2000)" and fast.table["iterations_to_target"].iloc[0] == 1500
