"""The batched engine against single runs of the same tasks (one thread, deterministic), and per-replica
divergence, cost-effective stops, stop requests and live edits."""

import numpy as np
import pytest
import torch

from lrkit.train import TrainConfig, train
from lrkit.train.batched import BatchedRun, family, train_batched, unbatchable
from lrkit.train.data import load_dataset
from tests.tiny_data import write_tiny_npz


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    name = write_tiny_npz(tmp_path_factory.mktemp("tiny") / "tiny.npz", n_train=200, n_test=60)
    return name, load_dataset(name)


def cfg(tiny, **kw):
    base = dict(dataset=tiny[0], policy="FIX(k=0.01)", iters=12, batch_size=20, eval_every=6, eval_batch_size=30,
                threads=1)
    base.update(kw)
    return TrainConfig(**base)


REPLICAS = [dict(policy="SIN2(k0=0.005, k1=0.03, l=4)", seed=0), dict(policy="FIX(k=0.02)", seed=0),
            dict(policy="MULTI(stages=[(0, FIX(k=0.01)), (5, EXP(k=0.02, gamma=0.9))])", seed=3),
            dict(policy="ReduceLROnPlateau(k=0.03, factor=0.5, patience=1)", seed=3)]


# ResNet-32 from its initialisation at LRs of 0.02 and above amplifies float rounding about 30x per iteration
# (the loop reference does the same), so its replicas train at smaller LRs
BN_REPLICAS = [dict(policy="SIN2(k0=0.001, k1=0.004, l=2)", seed=0), dict(policy="FIX(k=0.003)", seed=0),
               dict(policy="ReduceLROnPlateau(k=0.002, factor=0.5, patience=1)", seed=3)]
ADAM_REPLICAS = [dict(policy="SIN2(k0=0.0005, k1=0.002, l=4)", seed=0), dict(policy="FIX(k=0.001)", seed=3),
                 dict(policy="ReduceLROnPlateau(k=0.002, factor=0.5, patience=1)", seed=3)]


def _assert_faithful(batched, singles, loss_rtol=2e-4):
    for b, s in zip(batched, singles):
        assert b.status == s.status == "complete"
        assert b.curves["lr"] == s.curves["lr"]
        # the first two losses (the initialisation and one step at the policy's LR) agree to float rounding
        np.testing.assert_allclose(b.curves["loss"][:2], s.curves["loss"][:2], rtol=1e-5)
        np.testing.assert_allclose(b.curves["loss"], s.curves["loss"], rtol=loss_rtol, atol=1e-5)
        assert b.evals["iteration"] == s.evals["iteration"]
        np.testing.assert_allclose(b.evals["top1"], s.evals["top1"], atol=1 / 60 + 1e-9)
        np.testing.assert_allclose(b.evals["test_loss"], s.evals["test_loss"], rtol=1e-2, atol=1e-4)
        assert set(b.summary) == set(s.summary) and b.config == s.config and b.history == s.history
        assert b.environment["engine"]["name"] == "batched" and b.environment["engine"]["replicas"] == len(batched)


@pytest.mark.parametrize("model,optimizer", [("lenet", "momentum"), ("lenet", "adam"), ("resnet32", "momentum")])
def test_each_replica_equals_its_single_run(tiny, model, optimizer):
    iters, batch = (8, 20) if model == "lenet" else (4, 10)
    replicas = ADAM_REPLICAS if optimizer == "adam" else BN_REPLICAS if model == "resnet32" else REPLICAS
    cfgs = [cfg(tiny, model=model, optimizer=optimizer, iters=iters, eval_every=iters // 2,
                batch_size=batch, **r) for r in replicas]
    singles = [train(c, data=tiny[1], progress=False) for c in cfgs]
    # ResNet-32 multiplies a rounding difference by 30-50 per iteration even at these LRs: a 1e-7 difference
    # after the first step is 1e-4 to 1e-3 by the fourth, by how the CPU's kernels round
    _assert_faithful(train_batched(cfgs, data=tiny[1], progress=False), singles,
                     loss_rtol=1e-3 if model == "resnet32" else 2e-4)


def test_vmap_forward_equals_the_loop_reference_with_batchnorm(tiny):
    cfgs = [cfg(tiny, model="resnet32", iters=3, eval_every=3, batch_size=8, **r) for r in BN_REPLICAS]
    a = BatchedRun(cfgs, data=tiny[1], progress=False, forward="vmap")
    b = BatchedRun(cfgs, data=tiny[1], progress=False, forward="loop")
    ra, rb = a.run(), b.run()
    for x, y in zip(ra, rb):
        np.testing.assert_allclose(x.curves["loss"], y.curves["loss"], rtol=1e-5)
    for n in a.buffers:  # each replica keeps its own BatchNorm running statistics
        torch.testing.assert_close(a.buffers[n], b.buffers[n], rtol=1e-4, atol=1e-6)
    mean = a.buffers["bn1.running_mean"]
    assert not torch.allclose(mean[0], mean[2])  # another seed: another initialisation


def test_family_and_unbatchable_name_what_differs(tiny):
    assert family(cfg(tiny, policy="FIX(k=0.1)", seed=4)) == family(cfg(tiny))
    assert family(cfg(tiny, batch_size=10)) != family(cfg(tiny))
    assert "fused_adam" in unbatchable(cfg(tiny, optimizer="fused_adam"))
    assert unbatchable(cfg(tiny)) is None
    with pytest.raises(ValueError, match="differs from replica 0 in batch_size"):
        BatchedRun([cfg(tiny), cfg(tiny, batch_size=10)], data=tiny[1], progress=False)
    with pytest.raises(ValueError, match="'forward'"):
        BatchedRun([cfg(tiny)], data=tiny[1], progress=False, forward="fast")


def test_a_diverging_replica_is_frozen_and_the_others_go_on(tiny):
    good = [cfg(tiny, **r) for r in REPLICAS[:2]]
    bad = cfg(tiny, policy="FIX(k=80)", seed=0)
    run = BatchedRun([good[0], bad, good[1]], data=tiny[1], progress=False)
    recs = run.run()
    assert recs[1].status == "diverged" and recs[1].message and len(recs[1].curves["loss"]) < 12
    assert [r.status for r in (recs[0], recs[2])] == ["complete", "complete"]
    alone = train_batched(good, data=tiny[1], progress=False)
    for with_bad, without in zip((recs[0], recs[2]), alone):  # no NaN, no other number, reached them
        np.testing.assert_allclose(with_bad.curves["loss"], without.curves["loss"], rtol=1e-6)
        assert with_bad.evals["top1"] == without.evals["top1"]
    assert all(torch.isfinite(p[[0, 2]]).all() for p in run.params.values())


def test_cost_effective_replicas_stop_at_their_own_target(tiny):
    fast = cfg(tiny, policy="FIX(k=0.03)", iters=60, eval_every=4, target_acc=0.9, stop_at_target=True)
    slow = cfg(tiny, policy="FIX(k=0.001)", iters=60, eval_every=4)
    steps = []
    run = BatchedRun([fast, slow], data=tiny[1], progress=False, on_step=steps.append)
    a, b = run.run()
    single = train(fast, data=tiny[1], progress=False)
    assert a.status == "complete" and "target" in a.message
    assert a.summary["iterations_to_target"] == single.summary["iterations_to_target"] < 60
    assert a.summary["iterations"] == single.summary["iterations"]
    assert b.summary["iterations"] == 60 and len(steps) == 60
    both = BatchedRun([fast, fast.__class__(**{**fast.to_dict(), "seed": 1})], data=tiny[1], progress=False)
    both.run()
    assert both.t < 60  # the batch ends when every replica has stopped


def test_a_live_edit_and_a_stop_address_one_replica(tiny):
    cfgs = [cfg(tiny, **r) for r in REPLICAS[:3]]
    run = None

    def on_step(t):
        if t == 3:
            run.monitors[1].set_policy("FIX(k=0.005)")
            run.stop(2)

    run = BatchedRun(cfgs, data=tiny[1], progress=False, on_step=on_step)
    recs = run.run()
    assert recs[1].curves["lr"][4:] == [0.005] * 8 and recs[1].history[-1]["iteration"] == 4
    assert recs[0].curves["lr"] == train(cfgs[0], data=tiny[1], progress=False).curves["lr"]
    assert len(recs[0].history) == 1
    assert recs[2].status == "stopped" and len(recs[2].curves["lr"]) == len(recs[2].curves["loss"]) == 4
