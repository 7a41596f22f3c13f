"""PolicyLR: a real torch LRScheduler driven by policies."""

import io

import numpy as np
import pytest
import torch
from torch.optim.lr_scheduler import LRScheduler

from lrkit.policies import MetricPolicy, PolicyError, PolicyLR, parse

SPEC = "SIN2(k0=0.01, k1=0.06, l=20)"


def make_model():
    torch.manual_seed(0)
    return torch.nn.Linear(4, 2)


def train(opt, sched, n, record):
    for _ in range(n):
        record.append([g["lr"] if not torch.is_tensor(g["lr"]) else g["lr"].item() for g in opt.param_groups])
        opt.zero_grad()
        loss = sum(p.sum() for g in opt.param_groups for p in g["params"])
        loss.backward()
        opt.step()
        sched.step()


def test_is_a_torch_scheduler_and_follows_the_policy():
    p = parse(SPEC)
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=123.0, momentum=0.9)
    sched = p.scheduler(opt)
    assert isinstance(sched, LRScheduler)
    assert sched.get_last_lr() == [p(0)]
    lrs = []
    train(opt, sched, 100, lrs)
    np.testing.assert_array_equal(np.array(lrs)[:, 0], p(np.arange(100)))
    assert sched.get_last_lr() == [p(100)]
    assert sched.last_epoch == 100


def test_one_policy_per_param_group():
    model = make_model()
    opt = torch.optim.SGD([{"params": [model.weight]}, {"params": [model.bias]}], lr=1.0)
    pols = [parse("FIX(k=0.1)"), parse("STEP(k=1.0, gamma=0.5, l=3)")]
    sched = PolicyLR(opt, pols)
    lrs = []
    train(opt, sched, 10, lrs)
    lrs = np.array(lrs)
    np.testing.assert_array_equal(lrs[:, 0], 0.1)
    np.testing.assert_array_equal(lrs[:, 1], pols[1](np.arange(10)))
    with pytest.raises(PolicyError, match="got 3 policies for 2 param groups"):
        PolicyLR(opt, pols + pols[:1])


def test_resume_from_checkpoint_continues_the_identical_sequence(tmp_path):
    p = parse("MULTI({0: TRI2(k0=0.001, k1=0.01, l=7), 30: 0.5*COS(k0=0.001, k1=0.004, l=5)})")
    # uninterrupted reference
    ref_model = make_model()
    opt = torch.optim.Adam(ref_model.parameters(), lr=1.0)
    sched = p.scheduler(opt)
    ref = []
    train(opt, sched, 60, ref)

    # interrupted at 25, saved through torch.save, resumed into fresh objects
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1.0)
    sched = p.scheduler(opt)
    got = []
    train(opt, sched, 25, got)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)  # the state holds only plain types (specs, not objects)
    assert ckpt["sched"]["policies"] == [str(p)]
    model2 = make_model()
    opt2 = torch.optim.Adam(model2.parameters(), lr=1.0)
    sched2 = PolicyLR(opt2, "FIX(k=1.0)")  # the checkpoint's policy replaces this one
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    assert sched2.policies == [p]
    train(opt2, sched2, 35, got)
    np.testing.assert_array_equal(np.array(got), np.array(ref))
    for a, b in zip(ref_model.parameters(), model2.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert sched2.last_epoch == 60


CUDA = torch.cuda.is_available()
KINDS = ["fused", "single_tensor", pytest.param("capturable", marks=pytest.mark.skipif(
    not CUDA, reason="no GPU visible: torch's capturable Adam needs CUDA"))]


@pytest.mark.parametrize("kind", KINDS)
def test_tensor_lr_is_updated_in_place(kind):
    p = parse("TRIEXP(k0=0.001, k1=0.01, gamma=0.99, l=5)")
    model = make_model()
    lr = torch.tensor(0.5)
    if kind == "capturable":
        model = model.cuda()
        lr = lr.cuda()
        opt = torch.optim.Adam(model.parameters(), lr=lr, capturable=True)
    elif kind == "fused":
        opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=False)
    lr_obj = opt.param_groups[0]["lr"]
    assert torch.is_tensor(lr_obj)
    sched = p.scheduler(opt)
    lrs = []
    train(opt, sched, 30, lrs)
    assert opt.param_groups[0]["lr"] is lr_obj  # same tensor, filled in place
    np.testing.assert_allclose(np.array(lrs)[:, 0], p(np.arange(30)), rtol=1e-6)  # float32 tensor
    assert torch.is_tensor(sched.get_last_lr()[0])


def test_set_policy_takes_effect_at_the_next_step():
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = PolicyLR(opt, "FIX(k=0.1)")
    lrs = []
    train(opt, sched, 5, lrs)
    sched.set_policy("EXP(k=0.2, gamma=0.5)")
    assert opt.param_groups[0]["lr"] == 0.1  # unchanged until the next step
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2 * 0.5**6)


class HalveOnPlateau(MetricPolicy):
    """A toy state-based policy: halves its LR whenever the observed loss does not improve."""

    name = "TOY"

    def __init__(self, k):
        self.k, self.best = k, float("inf")

    def observe(self, t, metrics):
        if metrics["loss"] >= self.best:
            self.k /= 2
        self.best = min(self.best, metrics["loss"])

    def __call__(self, t):
        return self.k

    def state_dict(self):
        return {"k": self.k, "best": self.best}

    def load_state_dict(self, s):
        self.k, self.best = s["k"], s["best"]


def test_metric_policies_receive_metrics_and_checkpoint_their_state():
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    pol = HalveOnPlateau(0.1)
    sched = PolicyLR(opt, pol)
    for loss in [3.0, 2.0, 2.5, 1.0, 1.0]:
        opt.step()
        sched.step(metrics={"loss": loss})
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025)
    state = sched.state_dict()
    pol2 = HalveOnPlateau(0.1)
    sched2 = PolicyLR(torch.optim.SGD(make_model().parameters(), lr=1.0), pol2)
    sched2.load_state_dict(state)
    assert pol2.k == pytest.approx(0.025) and pol2.best == 1.0
