"""FIX, STEP, NSTEP, EXP, INV, POLY: exact values, equality with torch's schedulers, monotonicity."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lrkit.policies import EXP, FIX, INV, NSTEP, POLY, STEP, parse


def torch_lrs(make_sched, n, lr):
    """The LR torch applies at iterations 0 … n−1 (read before each optimizer step)."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make_sched(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def test_fix():
    assert FIX(k=0.01)(0) == 0.01 and FIX(k=0.01)(10**9) == 0.01


def test_step_exact():
    p = STEP(k=0.1, gamma=0.5, l=100)
    assert p(0) == 0.1 and p(99) == 0.1 and p(100) == 0.05 and p(199) == 0.05 and p(200) == 0.025
    assert math.isclose(p(1050), 0.1 * 0.5**10)


def test_nstep_exact():
    p = NSTEP(k=0.05, gamma=0.5, l=[120, 130])  # 004 Fig. 1's NSTEP
    assert p(119) == 0.05 and p(120) == 0.025 and p(129) == 0.025 and p(130) == 0.0125 and p(10**6) == 0.0125


def test_exp_inv_poly_exact():
    assert math.isclose(EXP(k=0.1, gamma=0.99994)(64000), 0.1 * 0.99994**64000, rel_tol=1e-13)
    assert math.isclose(INV(k=0.01, gamma=1e-4, p=0.75)(10000), 0.01 * 2.0**-0.75, rel_tol=1e-14)
    p = POLY(k=0.1, p=2, max_iter=1000)
    assert p(0) == 0.1 and math.isclose(p(500), 0.025) and p(1000) == 0.0 and p(5000) == 0.0
    assert math.isclose(POLY(k=0.1, p=1.2, max_iter=64000)(16000), 0.1 * 0.75**1.2, rel_tol=1e-14)


N = 3000


@pytest.mark.parametrize("k,gamma,l", [(0.1, 0.1, 500), (0.01, 0.5, 7), (1.0, 0.9, 1)])
def test_step_equals_torch_steplr(k, gamma, l):
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=l, gamma=gamma), N, k)
    np.testing.assert_allclose(STEP(k=k, gamma=gamma, l=l)(np.arange(N)), ref, rtol=1e-12)


@pytest.mark.parametrize("k,gamma,ms", [(0.1, 0.1, [1000, 2000]), (0.05, 0.5, [120, 130, 2999])])
def test_nstep_equals_torch_multisteplr(k, gamma, ms):
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=ms, gamma=gamma), N, k)
    np.testing.assert_allclose(NSTEP(k=k, gamma=gamma, l=ms)(np.arange(N)), ref, rtol=1e-12)


@pytest.mark.parametrize("k,gamma", [(0.1, 0.99994), (0.01, 0.999)])
def test_exp_equals_torch_exponentiallr(k, gamma):
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=gamma), N, k)
    # torch multiplies by γ each step (accumulating rounding); we compute γ^t directly
    np.testing.assert_allclose(EXP(k=k, gamma=gamma)(np.arange(N)), ref, rtol=1e-11)


pos = st.floats(1e-6, 10.0)
ts = st.lists(st.integers(0, 200_000), min_size=2, max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.builds(STEP, k=pos, gamma=st.floats(1e-3, 1.0), l=st.integers(1, 5000)),
        st.builds(
            NSTEP, k=pos, gamma=st.floats(1e-3, 1.0),
            l=st.lists(st.integers(1, 100_000), min_size=1, max_size=5, unique=True).map(sorted),
        ),
        st.builds(EXP, k=pos, gamma=st.floats(0.9, 1.0)),
        st.builds(INV, k=pos, gamma=st.floats(1e-6, 1.0), p=st.floats(0.01, 3.0)),
        st.builds(POLY, k=pos, p=st.floats(0.01, 5.0), max_iter=st.integers(1, 200_000)),
    ),
    ts,
)
def test_decaying_policies_never_increase(p, t):
    t = np.sort(np.array(t))
    v = p(t)
    assert np.all(np.diff(v) <= 1e-15 * v[:-1]), (str(p), t, v)
    assert v[0] <= p.k


@settings(max_examples=100, deadline=None)
@given(st.builds(STEP, k=pos, gamma=st.floats(1e-3, 1.0), l=st.integers(1, 5000)))
def test_step_round_trips(p):
    assert parse(str(p)) == p
