"""State-based policies: Keras' Reduce-LR-On-Plateau and 004's Change-LR-On-Plateau (Algorithm 1).

ReduceLROnPlateau follows Keras' semantics; it is tested against torch's ``ReduceLROnPlateau``, the
real library here, through the stated mapping between the two (Keras is not a test dependency: its
``on_epoch_end`` is transcribed below, citing keras/src/callbacks/reduce_lr_on_plateau.py)."""

import numpy as np
import pytest
import torch

from lrkit.policies import ChangeLROnPlateau, MetricPolicy, PolicyError, PolicyLR, ReduceLROnPlateau, parse


def keras_reference(losses, lr, factor, patience, min_delta, cooldown, min_lr):
    """Keras ReduceLROnPlateau.on_epoch_end (mode "min"), transcribed: the LR after each observation."""
    best, wait, cd, out = np.inf, 0, 0, []
    for cur in losses:
        if cd > 0:
            cd -= 1
            wait = 0
        if cur < best - min_delta:
            best, wait = cur, 0
        elif cd == 0:
            wait += 1
            if wait >= patience:
                if lr > min_lr:
                    lr = max(lr * factor, min_lr)
                    cd = cooldown
                wait = 0
        out.append(lr)
    return out


def torch_plateau_lrs(values, lr, factor, patience, min_delta, cooldown, min_lr, mode):
    """torch.optim.lr_scheduler.ReduceLROnPlateau with Keras' settings mapped onto torch's:
    ``threshold_mode="abs"`` (Keras' min_delta is absolute), ``eps=0`` (Keras reduces whenever
    lr > min_lr), torch ``patience = p - 1`` (Keras reduces when wait >= patience, torch when
    num_bad_epochs > patience) and torch ``cooldown = max(c - 1, 0)`` (Keras counts the observation
    on which its cooldown reaches 0, torch does not; so Keras' cooldown 1 acts as 0)."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode=mode, factor=factor, patience=patience - 1, threshold=min_delta, threshold_mode="abs",
        cooldown=max(cooldown - 1, 0), min_lr=min_lr, eps=0.0)
    out = []
    for v in values:
        sched.step(v)
        out.append(opt.param_groups[0]["lr"])
    return out


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("patience,cooldown,min_lr", [(1, 0, 0.0), (3, 0, 0.0), (2, 1, 1e-4), (2, 2, 1e-4), (4, 3, 0.0),
                                                      (1, 0, 0.002), (1, 5, 0.0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_reduce_on_plateau_equals_torch(mode, patience, cooldown, min_lr, seed):
    rng = np.random.default_rng(seed)
    trend = np.maximum(2.0 - 0.05 * np.arange(120), 0.5) + rng.normal(0, 0.03, 120)
    values = list(trend if mode == "min" else -trend)
    monitor = "loss" if mode == "min" else "test_top1"
    p = ReduceLROnPlateau(k=0.01, factor=0.5, patience=patience, min_delta=0.01, cooldown=cooldown, min_lr=min_lr,
                          monitor=monitor, mode=mode)
    got = []
    for t, v in enumerate(values):
        p.observe(t, {monitor: v})
        got.append(p(t + 1))
    assert got == pytest.approx(torch_plateau_lrs(values, 0.01, 0.5, patience, 0.01, cooldown, min_lr, mode), rel=1e-15)
    assert min(got) < 0.01 / 4  # several reductions on the flat tail


@pytest.mark.parametrize("patience,cooldown,min_lr", [(3, 0, 0.0), (2, 2, 1e-4), (1, 0, 0.002)])
def test_reduce_on_plateau_matches_keras(patience, cooldown, min_lr):
    rng = np.random.default_rng(0)
    losses = list(np.maximum(2.0 - 0.05 * np.arange(60), 0.5) + rng.normal(0, 0.02, 60))
    p = ReduceLROnPlateau(k=0.01, factor=0.5, patience=patience, min_delta=0.01, cooldown=cooldown, min_lr=min_lr)
    got = []
    for t, v in enumerate(losses):
        p.observe(t, {"loss": v, "test_top1": 0.5})
        got.append(p(t + 1))
    assert got == pytest.approx(keras_reference(losses, 0.01, 0.5, patience, 0.01, cooldown, min_lr), rel=1e-15)
    assert min(got) < 0.01  # it did reduce on the flat tail


def test_observations_without_the_monitored_key_are_ignored():
    p = ReduceLROnPlateau(k=0.1, patience=1, monitor="test_loss")
    for t in range(10):
        p.observe(t, {"loss": 5.0})
    assert p(10) == 0.1
    p.observe(10, {"test_loss": 1.0})
    p.observe(11, {"test_loss": 1.0})
    assert p(12) == pytest.approx(0.01)


def test_change_on_plateau_increases_early_and_decreases_late():
    pols = [parse("FIX(k=0.1)"), parse("SIN2(k0=0.01, k1=0.06, l=10)"), parse("FIX(k=0.001)")]
    p = ChangeLROnPlateau(policies=pols, start=1, switch_at=50, patience=3, threshold=0.05)
    assert p.index == 1 and p(7) == pols[1](7)
    for t in range(10):  # improving fast: no action
        p.observe(t, {"loss": 2.0 - 0.1 * t})
    assert p.index == 1
    for t in range(10, 13):  # plateau before switch_at: "increase" -> i = 0
        p.observe(t, {"loss": 1.1})
    assert p.index == 0 and p(13) == 0.1
    for t in range(13, 16):  # still trapped, already the largest: stays at 0
        p.observe(t, {"loss": 1.1})
    assert p.index == 0
    for t in range(60, 63):  # plateau after switch_at: "decrease"
        p.observe(t, {"loss": 1.1})
    assert p.index == 1 and p(63) == pols[1](63)  # the function is evaluated at the global t
    for t in range(63, 69):
        p.observe(t, {"loss": 1.1})
    assert p.index == 2
    assert p.state_dict()["switches"] == [(13, 0), (63, 1), (66, 2)]


def test_spec_round_trip_gives_a_fresh_policy_and_state_is_checkpointed():
    p = parse("ChangeLROnPlateau(policies=[FIX(k=0.05), FIX(k=0.01)], start=1, switch_at=100, patience=1)")
    assert isinstance(p, MetricPolicy) and parse(str(p)) == p and parse(p.to_dict()) == p
    p.observe(0, {"loss": 1.0})
    p.observe(1, {"loss": 1.0})
    assert p.index == 0
    q = parse(str(p))
    assert q.index == 1  # specs carry settings, not state
    q.load_state_dict(p.state_dict())
    assert q.index == 0


def test_scheduler_feeds_metrics_and_resumes():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = PolicyLR(opt, parse("ReduceLROnPlateau(k=0.1, factor=0.5, patience=2)"))
    for loss in [1.0, 0.5, 0.5, 0.5, 0.5]:
        opt.step()
        sched.step(metrics={"loss": loss})
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    state = sched.state_dict()
    opt2 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched2 = PolicyLR(opt2, parse("ReduceLROnPlateau(k=0.1, factor=0.5, patience=2)"))
    sched2.load_state_dict(state)
    for s, o in ((sched, opt), (sched2, opt2)):  # the resumed copy continues exactly as the original
        o.step()
        s.step(metrics={"loss": 0.5})
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(0.025)


@pytest.mark.parametrize("spec,match", [
    ("ReduceLROnPlateau(k=0.1, factor=1.5)", "'factor' must be"),
    ("ReduceLROnPlateau(k=0.1, monitor='acc')", "'monitor' must be one of 'loss', 'test_loss', 'test_top1'"),
    ("ChangeLROnPlateau(policies=[FIX(k=0.1)], start=3)", "'start' must be an index in 0..0"),
    ("ChangeLROnPlateau(policies=[])", "at least one policy"),
])
def test_errors(spec, match):
    with pytest.raises(PolicyError, match=match):
        parse(spec)
