"""Searches: trial generation, the local executor, the database as the record and for resuming,
the cost objective, and the Ray executor giving the same numbers as the local one."""

import json
import os

import pytest

from lrkit.db import Database
from lrkit.tune import Search, follow_up_trials, grid_trials, random_trials, run_search
from tests.tiny_data import write_tiny_npz


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_npz(tmp_path_factory.mktemp("data") / "tiny.npz", test_label_noise=0.1)


def base(dataset, **kw):
    return {**dict(dataset=dataset, model="lenet", iters=10, batch_size=20, eval_every=5, eval_batch_size=100), **kw}


def test_grid_trials_are_the_product():
    t = grid_trials(["TRIEXP(k0=1, k1=3, gamma=0.99, l=5)"], {"ratio": [2, 3], "l": [5, 10]}, lams=[0.01, 0.1],
                    seeds=[0, 1])
    assert len(t) == 2 * 2 * 2 * 2
    assert {x.policy for x in t} == {f"TRIEXP(k0=1, k1={r}, gamma=0.99, l={l})" for r in (2, 3) for l in (5, 10)}
    assert t[0].spec == "0.01*TRIEXP(k0=1, k1=2, gamma=0.99, l=5)" and grid_trials(["FIX(k=0.1)"])[0].spec == "FIX(k=0.1)"
    with pytest.raises(ValueError, match="FIX has no parameter 'k1'; allowed: k, ratio"):
        grid_trials(["FIX(k=0.1)"], {"k1": [1]})
    with pytest.raises(ValueError, match="field 'lams' must be a non-empty list of numbers > 0"):
        grid_trials(["FIX(k=0.1)"], lams=[0.1, -1])
    with pytest.raises(ValueError, match="field 'policies' must be a non-empty list"):
        grid_trials("FIX(k=0.1)")


def test_random_trials_are_seeded_and_inside_the_ranges():
    a = random_trials(["TRIEXP(k0=1, k1=3, gamma=0.99, l=5)"], {"l": (2, 20, "linear")}, lam_range=(0.001, 0.1),
                      samples=5, seed=7)
    b = random_trials(["TRIEXP(k0=1, k1=3, gamma=0.99, l=5)"], {"l": (2, 20, "linear")}, lam_range=(0.001, 0.1),
                      samples=5, seed=7)
    c = random_trials(["TRIEXP(k0=1, k1=3, gamma=0.99, l=5)"], lam_range=(0.001, 0.1), samples=5, seed=8)
    assert a == b and [x.lam for x in a] != [x.lam for x in c]
    assert all(0.001 <= x.lam <= 0.1 for x in a) and len({x.lam for x in a}) == 5
    assert all(isinstance(eval(x.policy.split("l=")[1].rstrip(")")), int) for x in a)
    lin = random_trials(["FIX(k=0.1)"], lam_range=(0.001, 0.1, "linear"), samples=200, seed=0)
    log = random_trials(["FIX(k=0.1)"], lam_range=(0.001, 0.1), samples=200, seed=0)
    assert sum(x.lam < 0.01 for x in log) > 60 > sum(x.lam < 0.01 for x in lin)  # log-uniform: ~half below 0.01
    with pytest.raises(ValueError, match="needs something to draw"):
        random_trials(["FIX(k=0.1)"])
    with pytest.raises(ValueError, match="range of 'lambda' must be"):
        random_trials(["FIX(k=0.1)"], lam_range=(0.1, 0.01))


def test_follow_up_grid_around_the_best_point():
    t = follow_up_trials("TRIEXP(k0=1, k1=3, gamma=0.99, l=5)", "ratio", factors=(2 / 3, 1, 4 / 3))
    assert [x.policy for x in t] == [f"TRIEXP(k0=1, k1={k}, gamma=0.99, l=5)" for k in (2, 3, 4)]
    assert [x.policy for x in follow_up_trials("SIN2(k0=0.01, k1=0.06, l=2000)", "l", (0.5, 1))] == \
        ["SIN2(k0=0.01, k1=0.06, l=1000)", "SIN2(k0=0.01, k1=0.06, l=2000)"]


def test_local_search_records_every_trial_and_resumes(tiny, tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}"
    trials = grid_trials(["FIX(k=0.05)", "FIX(k=100.0)"], lams=[0.001, 1.0])
    first = run_search(Search(base(tiny), trials[:2], name="s"), db=url, progress=False)  # "interrupted" half-way
    assert first.trials["reused"].tolist() == [False, False]
    full = run_search(Search(base(tiny), trials, name="s"), db=url, progress=False)
    assert full.trials["reused"].tolist() == [True, True, False, False] and "2 of 4" in full.notes[0]
    assert full.trials["status"].tolist()[:3] == ["complete", "complete", "complete"]
    assert full.trials["status"].iloc[3] == "diverged"  # FIX(k=100) diverges: recorded, the search went on
    runs = Database(url).runs(source="tune:s")
    assert len(runs) == 4 and runs["label"].str.startswith("trial:").all()
    again = run_search(Search(base(tiny), trials, name="s"), db=url, progress=False)
    assert again.trials["reused"].all()
    assert again.trials["highest_top1"].fillna(-1).tolist() == full.trials["highest_top1"].fillna(-1).tolist()
    top = full.top_k(2)
    assert top["spec"].tolist()[0] in {"0.001*FIX(k=0.05)", "FIX(k=0.05)", "0.001*FIX(k=100.0)"}
    out = full.save(tmp_path / "out")
    assert (out / "heatmap.png").stat().st_size > 1000 and "| rank |" in (out / "table.md").read_text()
    from lrkit.tune import load_result

    assert load_result(out / "results.json").summary()["runs"].tolist() == full.summary()["runs"].tolist()


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tiny, tmp_path, monkeypatch):
    import lrkit.train as train_mod

    real = train_mod.train

    def flaky(cfg, *a, **kw):
        if "0.07" in cfg.policy:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(cfg, *a, **kw)

    monkeypatch.setattr(train_mod, "train", flaky)
    res = run_search(Search(base(tiny), grid_trials(["FIX(k=0.05)", "FIX(k=0.07)"]), name="f"),
                     db=f"sqlite:///{tmp_path / 'f.db'}", progress=False)
    assert res.trials["status"].tolist() == ["complete", "failed"]
    assert "out of memory" in res.trials["message"].iloc[1]
    assert Database(f"sqlite:///{tmp_path / 'f.db'}").runs()["status"].tolist() == ["complete", "failed"]


def test_cost_objective_stops_each_trial_at_the_target(tiny, tmp_path):
    s = Search(base(tiny, iters=20), grid_trials(["FIX(k=0.05)", "FIX(k=0.0001)"]), objective="cost", target_acc=0.6,
               name="c")
    res = run_search(s, db=f"sqlite:///{tmp_path / 'c.db'}", progress=False)
    fast = res.trials.iloc[0]
    assert fast["iterations_to_target"] == 5 and fast["iterations"] == 5  # stopped at the target
    assert res.top_k(2)["policy"].tolist() == ["FIX(k=0.05)", "FIX(k=0.0001)"]
    with pytest.raises(ValueError, match="objective 'cost' needs field 'target_acc'"):
        Search(base(tiny), grid_trials(["FIX(k=0.05)"]), objective="cost")


def test_bad_search_input_names_the_field(tiny):
    with pytest.raises(ValueError, match="field 'objective' must be one of highest_acc, cost"):
        Search(base(tiny), grid_trials(["FIX(k=0.05)"]), objective="speed")
    with pytest.raises(ValueError, match="field 'executor' must be one of local, ray"):
        run_search(Search(base(tiny), grid_trials(["FIX(k=0.05)"])), "slurm")
    with pytest.raises(ValueError, match="field 'optimizer' must be one of sgd, momentum, adam"):
        Search(base(tiny, optimizer="rmsprop"), grid_trials(["FIX(k=0.05)"]))


@pytest.mark.parametrize("dataset,error,match", [
    ("mnistx", ValueError, "unknown dataset name 'mnistx'; allowed: mnist, cifar10, npz:<path>, svhn, imagenet"),
    ("npz:/nonexistent/x.npz", FileNotFoundError, "npz dataset not found"),
])
def test_a_dataset_that_does_not_load_stops_the_search_before_any_trial(dataset, error, match, tmp_path, monkeypatch):
    import lrkit.train as train_mod

    monkeypatch.setattr(train_mod, "train", lambda *a, **k: pytest.fail("a trial ran"))
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with pytest.raises(error, match=match):
        run_search(Search(base(dataset), grid_trials(["FIX(k=0.05)", "FIX(k=0.07)"]), name="d"), db=url, progress=False)
    assert len(Database(url).runs()) == 0  # no trial was recorded as failed


def test_the_heatmap_of_a_search_whose_trials_all_failed_says_so(tiny, tmp_path, monkeypatch):
    import lrkit.train as train_mod

    def broken(*a, **k):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(train_mod, "train", broken)
    res = run_search(Search(base(tiny), grid_trials(["FIX(k=0.05)", "FIX(k=0.07)"]), name="x"),
                     db=f"sqlite:///{tmp_path / 'x.db'}", progress=False)
    assert res.trials["status"].tolist() == ["failed", "failed"]
    out = res.save(tmp_path / "out")  # results.json, table.md and the heat map: nothing raises
    assert (out / "heatmap.png").stat().st_size > 1000 and len(json.loads((out / "results.json").read_text())["trials"]) == 2
    from matplotlib.figure import Figure

    ax = res.heatmap(ax=Figure().subplots())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["FIX(k=0.05)", "FIX(k=0.07)"]
    assert "no trial has a mean_top1 (all failed)" in [t.get_text() for t in ax.texts]


def test_the_ray_executor_gives_the_local_numbers(tiny, tmp_path):
    try:
        import ray
    except ImportError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Ray Tune is not installed here ({e}); CI installs it with the test extra")
    trials = grid_trials(["FIX(k=0.05)", "SIN2(k0=0.001, k1=0.05, l=3)"], lams=[0.5])
    local = run_search(Search(base(tiny), trials, name="local"), db=f"sqlite:///{tmp_path / 'l.db'}", progress=False)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    try:
        remote = run_search(Search(base(tiny), trials, name="ray"), "ray", db=url, progress=False,
                            ray_options=dict(num_cpus=2))
        # ASHA early stopping: trials it stops are recorded as 'stopped' with what they reported
        many = grid_trials(["FIX(k=0.05)", "FIX(k=0.0001)", "FIX(k=0.00001)", "FIX(k=0.01)"])
        asha = run_search(Search(base(tiny, iters=20), many, name="asha"), "ray", db=url, progress=False,
                          ray_options=dict(asha=True, max_concurrent=1))
    finally:
        ray.shutdown()
    assert set(asha.trials["status"]) == {"complete", "stopped"} and len(Database(url).runs(source="tune:asha")) == 4
    stopped = asha.trials[asha.trials["status"] == "stopped"]
    assert stopped["message"].str.contains("stopped early by ASHA").all() and stopped["highest_top1"].notna().all()
    assert remote.trials["status"].tolist() == ["complete", "complete"] and remote.executor == "ray"
    assert remote.trials["highest_top1"].tolist() == local.trials["highest_top1"].tolist()
    la, ra = Database(f"sqlite:///{tmp_path / 'l.db'}"), Database(url)
    for i in range(2):  # the same seeds give the same training, loss for loss
        assert ra.get_run(int(remote.trials["run_id"].iloc[i]))["curves"]["loss"] == \
            la.get_run(int(local.trials["run_id"].iloc[i]))["curves"]["loss"]


def test_lambda_cannot_scale_a_state_based_policy():
    t = grid_trials(["ChangeLROnPlateau(policies=[FIX(k=0.1), FIX(k=0.01)])"], lams=[0.5])[0]
    with pytest.raises(ValueError, match="cannot scale the state-based policy ChangeLROnPlateau"):
        t.spec


def test_a_process_pool_gives_the_same_numbers(tiny, tmp_path):
    trials = grid_trials(["FIX(k=0.05)", "FIX(k=0.01)"])
    one = run_search(Search(base(tiny), trials, name="one"), db=f"sqlite:///{tmp_path / 'a.db'}", progress=False)
    pool = run_search(Search(base(tiny), trials, name="pool"), workers=2, db=f"sqlite:///{tmp_path / 'b.db'}",
                      progress=False)
    assert pool.trials["status"].tolist() == ["complete", "complete"]
    a, b = Database(f"sqlite:///{tmp_path / 'a.db'}"), Database(f"sqlite:///{tmp_path / 'b.db'}")
    for i in range(2):
        assert a.get_run(int(one.trials["run_id"].iloc[i]))["curves"]["loss"] == \
            b.get_run(int(pool.trials["run_id"].iloc[i]))["curves"]["loss"]


def test_spawned_workers_resolve_a_model_and_data_named_by_import_path(tmp_path):
    cfg = dict(dataset="tests.train.user_task:load_blobs", model="tests.train.user_task:make_mlp", normalize="none",
               iters=20, batch_size=32, eval_every=20)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    pool = run_search(Search(cfg, grid_trials(["FIX(k=0.05)"]), name="own"), workers=2, db=url, progress=False)
    assert pool.trials["status"].tolist() == ["complete"]  # one trial: one spawned process, which imports the names
    env = Database(url).get_run(int(pool.trials["run_id"].iloc[0]))["environment"]
    assert env["model"]["object"] == "tests.train.user_task:make_mlp" and env["dataset"]["sizes"]["train"] == 240
