"""The stacked per-replica steps against K single torch.optim steps (the readable reference)."""

import pytest
import torch

from lrkit.optim.batched import BatchedOptimizer, adam_step, sgd_step

K, STEPS = 3, 6
SHAPES = [(4, 3), (5,)]


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(K, *s, generator=g) for s in SHAPES]
    grads = [[torch.randn(K, *s, generator=g) for s in SHAPES] for _ in range(STEPS)]
    lrs = [torch.rand(K, generator=g) * 0.1 + 0.01 for _ in range(STEPS)]
    return params, grads, lrs


def _single(make_opt, params, grads, lrs, k):
    ps = [p[k].clone().requires_grad_(True) for p in params]
    opt = make_opt(ps)
    for gs, lr in zip(grads, lrs):
        for group in opt.param_groups:
            group["lr"] = float(lr[k]) * group.get("lr_mult", 1.0)
        for p, g in zip(ps, gs):
            p.grad = g[k].clone()
        opt.step()
    return [p.detach() for p in ps]


CASES = {
    "sgd": (dict(kind="sgd", weight_decays=1e-2), lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=1e-2)),
    "momentum": (dict(kind="momentum", momentum=0.9, weight_decays=5e-4),
                 lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4)),
    "adam": (dict(kind="adam", betas=(0.9, 0.99), eps=1e-6, weight_decays=1e-3),
             lambda ps: torch.optim.Adam(ps, lr=0.1, betas=(0.9, 0.99), eps=1e-6, weight_decay=1e-3)),
}


@pytest.mark.parametrize("name", CASES)
def test_stacked_step_equals_k_single_steps(name):
    opts, make = dict(CASES[name][0]), CASES[name][1]
    params, grads, lrs = _problem()
    stacked = [p.clone() for p in params]
    opt = BatchedOptimizer(opts.pop("kind"), stacked, **opts)
    for gs, lr in zip(grads, lrs):
        opt.step(gs, lr)
    for k in range(K):
        for got, want in zip(stacked, _single(make, params, grads, lrs, k)):
            torch.testing.assert_close(got[k], want, rtol=1e-6, atol=1e-7)


def test_layer_multipliers_follow_caffe_groups():
    params, grads, lrs = _problem(1)
    stacked = [p.clone() for p in params]
    opt = BatchedOptimizer("momentum", stacked, momentum=0.9, weight_decays=[5e-4, 0.0], lr_mults=[1.0, 2.0])
    for gs, lr in zip(grads, lrs):
        opt.step(gs, lr)

    def make(ps):
        return torch.optim.SGD([{"params": [ps[0]], "lr_mult": 1.0, "weight_decay": 5e-4},
                                {"params": [ps[1]], "lr_mult": 2.0, "weight_decay": 0.0}], lr=0.1, momentum=0.9)

    for k in range(K):
        for got, want in zip(stacked, _single(make, params, grads, lrs, k)):
            torch.testing.assert_close(got[k], want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["momentum", "adam"])
def test_frozen_replica_keeps_params_and_state_even_with_nan_grads(kind):
    params, grads, lrs = _problem(2)
    stacked = [p.clone() for p in params]
    opt = BatchedOptimizer(kind, stacked)
    opt.step(grads[0], lrs[0])
    before = [p.clone() for p in stacked]
    nan_grads = [g.clone() for g in grads[1]]
    for g in nan_grads:
        g[1] = float("nan")
    active = torch.tensor([True, False, True])
    opt.step(nan_grads, lrs[1], active=active)
    for p, b in zip(stacked, before):
        assert torch.equal(p[1], b[1])
        assert torch.isfinite(p).all()
        assert not torch.equal(p[0], b[0])
    if kind == "adam":
        assert opt.steps.tolist() == [2.0, 1.0, 2.0]


def test_bad_arguments_name_the_field():
    p = [torch.zeros(2, 3)]
    with pytest.raises(ValueError, match="'kind'"):
        BatchedOptimizer("rmsprop", p)
    with pytest.raises(ValueError, match="'lr_mults'"):
        sgd_step(p, p, torch.ones(2), lr_mults=[1.0, 2.0])
    with pytest.raises(ValueError, match="momentum_buffers"):
        sgd_step(p, p, torch.ones(2), momentum=0.9)
    with pytest.raises(ValueError, match="'weight_decays'"):
        adam_step(p, p, torch.ones(2), exp_avgs=p, exp_avg_sqs=p, steps=torch.zeros(2), weight_decays=[0.1, 0.2])
