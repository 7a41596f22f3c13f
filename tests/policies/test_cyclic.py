"""Cyclic policies (004 Table 2): exact values, torch CyclicLR equality, bounds, continuity."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lrkit.policies import COS, COS2, COSEXP, SIN, SIN2, SINEXP, TRI, TRI2, TRIEXP, parse

from .test_decaying import torch_lrs

N = 9000


def cyclic_ref(mode, k0, k1, l, gamma=1.0):
    lo, hi = min(k0, k1), max(k0, k1)
    return torch_lrs(
        lambda o: torch.optim.lr_scheduler.CyclicLR(
            o, base_lr=lo, max_lr=hi, step_size_up=l, step_size_down=l, mode=mode, gamma=gamma, cycle_momentum=False
        ),
        N,
        lo,
    )


@pytest.mark.parametrize("k0,k1,l", [(0.0001, 0.9, 2000), (0.06, 0.01, 777), (0.1, 0.5, 1)])
def test_tri_equals_cycliclr_triangular(k0, k1, l):
    np.testing.assert_allclose(TRI(k0=k0, k1=k1, l=l)(np.arange(N)), cyclic_ref("triangular", k0, k1, l), rtol=1e-12)


@pytest.mark.parametrize("k0,k1,l", [(0.01, 0.06, 2000), (0.9, 0.0001, 333)])
def test_tri2_equals_cycliclr_triangular2(k0, k1, l):
    np.testing.assert_allclose(TRI2(k0=k0, k1=k1, l=l)(np.arange(N)), cyclic_ref("triangular2", k0, k1, l), rtol=1e-12)


@pytest.mark.parametrize("k0,k1,gamma,l", [(0.0001, 0.9, 0.99994, 2000), (0.01, 0.06, 0.999, 250)])
def test_triexp_equals_cycliclr_exp_range(k0, k1, gamma, l):
    ref = cyclic_ref("exp_range", k0, k1, l, gamma)
    np.testing.assert_allclose(TRIEXP(k0=k0, k1=k1, gamma=gamma, l=l)(np.arange(N)), ref, rtol=1e-12)


def test_tri_equals_the_papers_arcsin_formula():
    """TRI(t) = (2/π)|arcsin(sin(πt/(2l)))| (004 Table 2), evaluated here literally."""
    t = np.arange(0, 20000, 3, dtype=np.float64)
    for l in (1, 7, 1500, 2000):
        g = (2 / np.pi) * np.abs(np.arcsin(np.sin(np.pi * t / (2 * l))))
        np.testing.assert_allclose(TRI(k0=0.0, k1=1.0, l=l)(t), g, rtol=0, atol=1e-7)
        # away from the peaks the arcsin form is accurate, and the two agree closely
        away = np.abs(np.mod(t / l, 2) - 1) > 0.01
        np.testing.assert_allclose(TRI(k0=0.0, k1=1.0, l=l)(t[away]), g[away], rtol=0, atol=1e-11)


def test_exact_values():
    assert TRI(k0=0.01, k1=0.06, l=2000)([0, 1000, 2000, 3000, 4000]).tolist() == pytest.approx(
        [0.01, 0.035, 0.06, 0.035, 0.01], rel=1e-14
    )
    assert SIN(k0=0.01, k1=0.06, l=2000)(1000) == pytest.approx(0.01 + 0.05 * math.sin(math.pi / 4), rel=1e-14)
    assert SIN(k0=0.01, k1=0.06, l=2000)(2000) == pytest.approx(0.06, rel=1e-15)
    # COS starts at the top (Table 2), bottom at l, top again at 2l
    c = COS(k0=0.01, k1=0.06, l=1000)
    assert c(0) == pytest.approx(0.06) and c(1000) == pytest.approx(0.01) and c(2000) == pytest.approx(0.06)
    assert c(500) == pytest.approx(0.035)
    # 2-variants: amplitude halves per cycle
    assert TRI2(k0=0.01, k1=0.06, l=2000)(6000) == pytest.approx(0.01 + 0.05 / 2, rel=1e-14)
    assert TRI2(k0=0.01, k1=0.06, l=2000)(10000) == pytest.approx(0.01 + 0.05 / 4, rel=1e-14)
    assert SIN2(k0=0.01, k1=0.06, l=2000)(6000) == pytest.approx(0.01 + 0.05 / 2, rel=1e-14)
    c2 = COS2(k0=0.01, k1=0.06, l=1000)
    assert c2(0) == pytest.approx(0.06) and c2(1000) == pytest.approx(0.01)
    assert c2(2000) == pytest.approx(0.01 + 0.05 / 2) and c2(4000) == pytest.approx(0.01 + 0.05 / 4)
    # EXP variants: amplitude × γ^t with the global t
    g = 0.99994
    assert SINEXP(k0=1e-4, k1=0.9, gamma=g, l=2000)(6000) == pytest.approx(1e-4 + (0.9 - 1e-4) * g**6000, rel=1e-12)
    assert TRIEXP(k0=1e-4, k1=0.9, gamma=g, l=2000)(2000) == pytest.approx(1e-4 + (0.9 - 1e-4) * g**2000, rel=1e-12)
    assert COSEXP(k0=0.01, k1=0.06, gamma=0.999, l=1000)(2000) == pytest.approx(0.01 + 0.05 * 0.999**2000, rel=1e-12)


CLASSES = [TRI, TRI2, TRIEXP, SIN, SIN2, SINEXP, COS, COS2, COSEXP]


def _cyclic(cls, k0, k1, l, gamma):
    if "gamma" in cls.__dataclass_fields__:
        return cls(k0=k0, k1=k1, gamma=gamma, l=l)
    return cls(k0=k0, k1=k1, l=l)


lrs = st.floats(0.0, 5.0)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CLASSES), lrs, lrs, st.integers(1, 5000), st.floats(0.5, 1.0),
       st.lists(st.integers(0, 100_000), min_size=1, max_size=50))
def test_cyclic_values_stay_within_bounds(cls, k0, k1, l, gamma, t):
    v = _cyclic(cls, k0, k1, l, gamma)(np.array(t))
    lo, hi = min(k0, k1), max(k0, k1)
    assert np.all(v >= lo - 1e-12 * max(hi, 1)) and np.all(v <= hi + 1e-12 * max(hi, 1))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([TRI2, SIN2, COS2]), lrs, lrs, st.integers(2, 3000), st.integers(1, 10))
def test_two_variants_are_continuous_at_halvings(cls, k0, k1, l, n):
    """Across each halving point the LR moves by no more than the wave itself moves in one step."""
    p = _cyclic(cls, k0, k1, l, None)
    shift = l if cls is COS2 else 0
    h = 2 * l * n - shift  # halving at 2ln (TRI2/SIN2) or 2ln − l (COS2)
    before, at = p(h - 1), p(h)
    amp = abs(k0 - k1)
    # one step of the wave near a trough moves g by at most π/(2l) (sine) or 1/l (triangle)
    assert abs(at - before) <= amp * (math.pi / (2 * l)) * 1.0001 + 1e-15
    assert at == pytest.approx(min(k0, k1), abs=1e-12 * max(amp, 1))  # halvings happen at troughs
    # and the cycle after the halving peaks at half the previous peak height
    peak_before, peak_after = p(h - l), p(h + l)
    assert peak_after - min(k0, k1) == pytest.approx((peak_before - min(k0, k1)) / 2, abs=1e-12 * max(amp, 1))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(CLASSES), lrs, lrs, st.integers(1, 5000), st.floats(0.5, 1.0))
def test_cyclic_round_trips(cls, k0, k1, l, gamma):
    p = _cyclic(cls, k0, k1, l, gamma)
    assert parse(str(p)) == p and parse(p.to_dict()) == p
