"""LLM fine-tuning schedules (CONSTANT, LINEAR, COSINE, WSD, INVSQRT) and DeepSpeed's warm-up
schedules (WarmupLR, WarmupDecayLR, WarmupCosineLR): exact values, WSD's phases, errors, specs, the
array/scalar paths and the torch scheduler. Their equality with the real ``transformers`` and
DeepSpeed schedulers, every step, is in :mod:`tests.policies.test_llm_libraries`.
"""

import json
import math

import numpy as np
import pytest
import torch

from lrkit.policies import (
    CONSTANT,
    COSINE,
    INVSQRT,
    LINEAR,
    WSD,
    PolicyError,
    WarmupCosineLR,
    WarmupDecayLR,
    WarmupLR,
    parse,
)

REL = 1e-12
ABS = 1e-15


# ---- 1. exact values (the equality with transformers and DeepSpeed: test_llm_libraries.py) ------


def test_invsqrt_exact_values():
    p = INVSQRT(lr=1e-3, warmup=400)
    assert p(0) == 0.0
    assert p(200) == pytest.approx(0.5e-3, rel=REL)
    assert p(400) == pytest.approx(1e-3, rel=REL)
    assert p(1600) == pytest.approx(0.5e-3, rel=REL)  # lr·√(W/t)
    q = INVSQRT(lr=1.0)  # τ = 10,000 when W = 0
    assert q.tau == 10_000
    assert q(0) == 1.0 and q(30_000) == pytest.approx(0.5, rel=REL)


def test_warmup_lr_default_is_log_over_1000_steps():
    p = WarmupLR(warmup_max_lr=1.0)
    assert p.warmup_type == "log" and p.warmup_num_steps == 1000 and p.warmup_min_lr == 0.0
    assert p(0) == 0.0
    assert p(99) == pytest.approx(math.log(100) / math.log(1000), rel=REL)  # = 2/3
    assert p(999) == pytest.approx(1.0, rel=REL) and p(1000) == 1.0


def test_warmup_cosine_lr_defaults_and_exact_values():
    p = WarmupCosineLR(lr=1.0, total_num_steps=2000)
    assert (p.warmup_num_steps, p.warmup_min_ratio, p.cos_min_ratio, p.warmup_type) == (1000, 0.0, 0.0001, "log")
    assert p(0) == 0.0
    assert p(999) == pytest.approx(math.log(1000) / math.log(1000), rel=REL)
    assert p(1000) == pytest.approx(0.0001 + 0.9999 * 0.5 * (1 + math.cos(math.pi / 1000)), rel=REL)
    assert p(1499) == pytest.approx(0.0001 + 0.9999 * 0.5, rel=REL)  # real step 500 of 1000: cos(π/2) = 0
    assert p(1999) == pytest.approx(0.0001, rel=REL)


def test_warmup_num_steps_one_is_clamped_to_two():
    for wtype in ("log", "linear"):
        a = WarmupLR(warmup_max_lr=1.0, warmup_num_steps=1, warmup_type=wtype)
        b = WarmupLR(warmup_max_lr=1.0, warmup_num_steps=2, warmup_type=wtype)
        assert a.W == 2 and a.warmup_num_steps == 1
        ts = np.arange(10)
        assert np.array_equal(a(ts), b(ts))
        assert a(0) == 0.0 and a(2) == 1.0
    assert WarmupLR(warmup_max_lr=1.0, warmup_num_steps=1, warmup_type="linear")(1) == 0.5
    assert WarmupLR(warmup_max_lr=1.0, warmup_num_steps=1, warmup_type="log")(1) == pytest.approx(1.0, rel=REL)


# ---- 3. WSD -------------------------------------------------------------------------------------

# WSD(lr=1, total=1000, warmup=100, decay=200, min_lr=0.1): warm-up to t = 100, stable to 800, decay to 1000.
WSD_KW = dict(lr=1.0, total=1000, warmup=100, decay=200, min_lr=0.1)
WSD_COMMON = {0: 0.0, 1: 0.01, 50: 0.5, 99: 0.99, 100: 1.0, 101: 1.0, 500: 1.0, 799: 1.0, 800: 1.0, 1000: 0.1, 1001: 0.1, 5000: 0.1}
WSD_SHAPES = {
    "linear": {850: 0.775, 900: 0.55, 950: 0.325, 999: 0.1 + 0.9 * 0.005},
    "cosine": {
        850: 0.1 + 0.9 * 0.5 * (1 + math.sqrt(0.5)),
        900: 0.55,
        950: 0.1 + 0.9 * 0.5 * (1 - math.sqrt(0.5)),
        999: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.995)),
    },
    "sqrt": {850: 0.55, 900: 0.1 + 0.9 * (1 - math.sqrt(0.5)), 950: 0.1 + 0.9 * (1 - math.sqrt(0.75)), 999: 0.1 + 0.9 * (1 - math.sqrt(0.995))},
}


@pytest.mark.parametrize("shape", ["linear", "cosine", "sqrt"])
def test_wsd_exact_values(shape):
    p = WSD(shape=shape, **WSD_KW)
    assert p.decay_steps == 200 and p.warmup_steps == 100
    expected = {**WSD_COMMON, **WSD_SHAPES[shape]}
    ts = sorted(expected)
    for t in ts:
        assert p(t) == pytest.approx(expected[t], rel=REL, abs=ABS), (shape, t)
    np.testing.assert_allclose(p(np.array(ts)), [expected[t] for t in ts], rtol=REL, atol=ABS)


@pytest.mark.parametrize("shape", ["linear", "cosine", "sqrt"])
def test_wsd_is_monotone_in_each_phase(shape):
    v = WSD(shape=shape, **WSD_KW)(np.arange(1101))
    assert np.all(np.diff(v[:101]) > 0)  # warm-up 0 → lr
    assert np.all(v[100:801] == 1.0)  # stable
    assert np.all(np.diff(v[800:1001]) < 0)  # decay lr → min_lr
    assert np.all(v[1000:] == pytest.approx(0.1, rel=REL))


@pytest.mark.parametrize("shape", ["linear", "cosine", "sqrt"])
def test_wsd_without_warmup_and_min_lr(shape):
    p = WSD(lr=3e-4, total=100, decay_ratio=0.1, shape=shape)  # D = 10, decay from t = 90
    assert p(0) == 3e-4 and p(90) == 3e-4
    assert p(95) == pytest.approx(3e-4 * {"linear": 0.5, "cosine": 0.5, "sqrt": 1 - math.sqrt(0.5)}[shape], rel=REL, abs=ABS)
    assert p(100) == pytest.approx(0.0, abs=ABS) and p(150) == pytest.approx(0.0, abs=ABS)


@pytest.mark.parametrize("shape", ["linear", "cosine", "sqrt"])
@pytest.mark.parametrize(
    "total,warm_steps,warm_ratio,decay,decay_ratio",
    [(1000, 100, 0.1, 200, 0.2), (400, 0, None, 100, 0.25), (200, 30, 0.15, 50, 0.25), (1218, 122, 0.1, 61, 0.05)],
)
def test_wsd_steps_and_ratios_are_equivalent(shape, total, warm_steps, warm_ratio, decay, decay_ratio):
    assert math.ceil(decay_ratio * total) == decay
    a = WSD(lr=1e-3, total=total, warmup=warm_steps, decay=decay, min_lr=1e-5, shape=shape)
    wkw = {"warmup_ratio": warm_ratio} if warm_ratio is not None else {}
    b = WSD(lr=1e-3, total=total, decay_ratio=decay_ratio, min_lr=1e-5, shape=shape, **wkw)
    assert (a.warmup_steps, a.decay_steps) == (b.warmup_steps, b.decay_steps) == (warm_steps, decay)
    ts = np.arange(total + 20)
    assert np.array_equal(a(ts), b(ts))
    assert a != b  # different specs, same values


def test_wsd_decay_ratio_is_rounded_up():
    p = WSD(lr=1.0, total=1000, decay_ratio=0.1234)  # ⌈123.4⌉ = 124
    assert p.decay_steps == 124
    assert p(876) == 1.0 and p(877) < 1.0
    assert p(938) == pytest.approx(0.5, rel=REL)


# ---- 4. errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: LINEAR(lr=1e-3, total=100, warmup=5, warmup_ratio=0.1), r"'warmup'.*'warmup_ratio'.*not both"),
        (lambda: COSINE(lr=1e-3, total=100, warmup=1, warmup_ratio=0.0), r"'warmup'.*'warmup_ratio'"),
        (lambda: CONSTANT(lr=1e-3, warmup=5, warmup_ratio=0.1, total=100), r"'warmup'.*'warmup_ratio'"),
        (lambda: CONSTANT(lr=1e-3, warmup_ratio=0.1), r"'warmup_ratio' needs 'total'"),
        (lambda: LINEAR(lr=1e-3, total=100, warmup=101), r"warm-up \(101 steps\) must not exceed 'total' \(100\)"),
        (lambda: COSINE(lr=1e-3, total=10, warmup=11), r"must not exceed 'total'"),
        (lambda: CONSTANT(lr=1e-3, total=10, warmup=20), r"must not exceed 'total'"),
        (lambda: COSINE(lr=1e-3, total=100, min_lr=2e-3), r"'min_lr' must be <= lr"),
        (lambda: LINEAR(lr=1e-3, total=100, min_lr=0.1), r"'min_lr' must be <= lr"),
        (lambda: WSD(lr=1e-3, total=100, decay=10, min_lr=0.01), r"'min_lr' must be <= lr"),
        (lambda: WSD(lr=1e-3, total=100), r"'decay'.*'decay_ratio'"),
        (lambda: WSD(lr=1e-3, total=100, decay=10, decay_ratio=0.1), r"'decay'.*'decay_ratio'"),
        (lambda: WSD(lr=1e-3, total=100, warmup=60, decay=41), r"warm-up \(60\) plus decay \(41\) must not exceed 'total' \(100\)"),
        (lambda: WSD(lr=1e-3, total=100, warmup_ratio=0.5, decay_ratio=0.51), r"warm-up \(50\) plus decay \(51\)"),
        (lambda: WSD(lr=1e-3, total=100, decay=10, shape="1-sqrt"), r"'shape'.*'linear', 'cosine', 'sqrt'"),
        (lambda: WarmupLR(warmup_max_lr=1e-3, warmup_type="exp"), r"'warmup_type' must be one of 'log', 'linear'"),
        (lambda: WarmupDecayLR(total_num_steps=100, warmup_max_lr=1e-3, warmup_type="cosine"), r"'warmup_type'.*'log', 'linear'"),
        (lambda: WarmupCosineLR(lr=1e-3, total_num_steps=100, warmup_num_steps=10, warmup_type="LOG"), r"'warmup_type'.*'log', 'linear'"),
        (lambda: LINEAR(lr=-1e-3, total=100), r"'lr' must be a finite number >= 0"),
        (lambda: CONSTANT(lr=-1.0), r"'lr' must be a finite number >= 0"),
        (lambda: INVSQRT(lr=-1.0), r"'lr' must be a finite number >= 0"),
        (lambda: WSD(lr=-1.0, total=100, decay=10), r"'lr' must be"),
        (lambda: COSINE(lr=1e-3, total=100, min_lr=-1e-5), r"'min_lr' must be a finite number >= 0"),
        (lambda: WarmupLR(warmup_max_lr=-1e-3), r"'warmup_max_lr' must be a finite number >= 0"),
        (lambda: WarmupLR(warmup_max_lr=1e-3, warmup_min_lr=-1e-3), r"'warmup_min_lr' must be"),
        (lambda: WarmupCosineLR(lr=-1e-3, total_num_steps=100, warmup_num_steps=10), r"'lr' must be a finite number >= 0"),
        (lambda: WarmupCosineLR(lr=1e-3, total_num_steps=10, warmup_num_steps=10), r"'total_num_steps' must be > the warm-up length"),
        (lambda: WarmupCosineLR(lr=1e-3, total_num_steps=5, warmup_num_steps=10), r"'total_num_steps'.*= 10"),
        (lambda: WarmupCosineLR(lr=1e-3, total_num_steps=2, warmup_num_steps=1), r"'total_num_steps'.*max\(2, warmup_num_steps\) = 2"),
        (lambda: WarmupCosineLR(lr=1e-3, total_num_steps=500), r"'total_num_steps'.*= 1000"),  # default warm-up
        (lambda: LINEAR(lr=1e-3, total=100, warmup_ratio=1.5), r"'warmup_ratio' must be .*a number in \[0, 1\], got 1.5"),
        (lambda: WarmupCosineLR(lr=1e-3, total_num_steps=100, warmup_num_steps=10, cos_min_ratio=2.0), r"'cos_min_ratio'"),
    ],
)
def test_invalid_parameters_raise_policy_error_naming_them(make, match):
    with pytest.raises(PolicyError, match=match) as e:
        make()
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize(
    "spec,match",
    [
        ("WSD(lr=0.001, total=100)", r"'decay'.*'decay_ratio'"),
        ("WarmupLR(warmup_max_lr=0.001, warmup_type='cos')", r"'log', 'linear'"),
        ("LINEAR(lr=0.001)", r"missing parameter 'total'"),
        ("WarmupCosineLR(lr=0.001, total_num_steps=1000)", r"'total_num_steps'"),
    ],
)
def test_invalid_specs_raise_policy_error(spec, match):
    with pytest.raises(PolicyError, match=match):
        parse(spec)


def test_boundary_values_are_accepted():
    LINEAR(lr=1e-3, total=100, warmup=100)
    COSINE(lr=1e-3, total=100, min_lr=1e-3)
    WSD(lr=1e-3, total=100, warmup=60, decay=40)
    WarmupCosineLR(lr=1e-3, total_num_steps=3, warmup_num_steps=1)
    CONSTANT(lr=0.0)
    LINEAR(lr=1e-3, total=100, warmup=0, warmup_ratio=0.1)  # warmup=0 is the default, not a second warm-up


# ---- 5. spec round trips ------------------------------------------------------------------------

ROUND_TRIP = [
    (CONSTANT(lr=2e-5, warmup_ratio=0.03, total=1218), "CONSTANT(lr=2e-05, warmup_ratio=0.03, total=1218)"),
    (LINEAR(lr=2e-5, total=1218, warmup_ratio=0.03, min_lr=1e-6), "LINEAR(lr=2e-05, total=1218, warmup_ratio=0.03, min_lr=1e-06)"),
    (COSINE(lr=3e-4, total=5000, warmup=100), "COSINE(lr=0.0003, total=5000, warmup=100)"),
    (
        WSD(lr=1e-3, total=1000, warmup=100, decay=200, min_lr=1e-5, shape="sqrt"),
        "WSD(lr=0.001, total=1000, warmup=100, decay=200, min_lr=1e-05, shape='sqrt')",
    ),
    (WSD(lr=1e-3, total=1000, decay_ratio=0.2), "WSD(lr=0.001, total=1000, decay_ratio=0.2)"),
    (INVSQRT(lr=1e-3, warmup=10, timescale=100), "INVSQRT(lr=0.001, warmup=10, timescale=100)"),
    (WarmupLR(warmup_max_lr=1e-3, warmup_num_steps=1, warmup_type="linear"), "WarmupLR(warmup_max_lr=0.001, warmup_num_steps=1, warmup_type='linear')"),
    (
        WarmupDecayLR(total_num_steps=1218, warmup_max_lr=2e-5, warmup_min_lr=1e-7, warmup_num_steps=37),
        "WarmupDecayLR(total_num_steps=1218, warmup_max_lr=2e-05, warmup_min_lr=1e-07, warmup_num_steps=37)",
    ),
    (
        WarmupCosineLR(lr=2e-5, total_num_steps=1218, warmup_min_ratio=0.1, warmup_num_steps=37, cos_min_ratio=0.0, warmup_type="linear"),
        "WarmupCosineLR(lr=2e-05, total_num_steps=1218, warmup_min_ratio=0.1, warmup_num_steps=37, cos_min_ratio=0.0, warmup_type='linear')",
    ),
]


@pytest.mark.parametrize("p,text", ROUND_TRIP, ids=[t for _, t in ROUND_TRIP])
def test_spec_round_trip(p, text):
    assert str(p) == text
    assert parse(str(p)) == p
    assert parse(p.to_dict()) == p
    assert parse(json.dumps(p.to_dict())) == p
    assert p.to_dict()["name"] == type(p).name
    q = parse(text)
    ts = np.arange(0, 1300, 3)
    assert np.array_equal(q(ts), p(ts))


# ---- 6. scalar, numpy and torch agree -----------------------------------------------------------

BACKENDS = [
    CONSTANT(lr=2e-5, warmup=10),
    LINEAR(lr=2e-5, total=1218, warmup_ratio=0.03),
    COSINE(lr=1.0, total=300, warmup=7, min_lr=0.01),
    WSD(lr=1e-3, total=300, warmup=10, decay=60, min_lr=1e-5, shape="cosine"),
    WSD(lr=1e-3, total=300, warmup=10, decay=60, shape="sqrt"),
    INVSQRT(lr=1e-3, warmup=20),
    INVSQRT(lr=1e-3),
    WarmupLR(warmup_max_lr=2e-5, warmup_num_steps=20),
    WarmupDecayLR(total_num_steps=300, warmup_max_lr=2e-5, warmup_num_steps=20, warmup_type="linear"),
    WarmupCosineLR(lr=2e-5, total_num_steps=300, warmup_num_steps=20, warmup_min_ratio=0.1),
]
TS = [0, 1, 2, 6, 7, 8, 9, 10, 11, 19, 20, 21, 36, 37, 38, 150, 239, 240, 241, 270, 299, 300, 301, 1217, 1218, 1219, 5000, 10**6]


@pytest.mark.parametrize("p", BACKENDS, ids=str)
def test_scalar_numpy_and_torch_give_the_same_values(p):
    scal = [p(t) for t in TS]
    assert all(type(v) is float for v in scal)
    arr = p(np.array(TS))
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float64 and arr.shape == (len(TS),)
    np.testing.assert_allclose(arr, scal, rtol=REL, atol=0)
    lst = p(TS)
    assert isinstance(lst, np.ndarray) and lst.dtype == np.float64
    np.testing.assert_allclose(lst, scal, rtol=REL, atol=0)
    for dtype in (torch.int64, torch.float64, torch.float32):
        ten = p(torch.tensor(TS, dtype=dtype))
        assert isinstance(ten, torch.Tensor) and ten.dtype == torch.float64 and ten.shape == (len(TS),)
        np.testing.assert_allclose(ten.numpy(), scal, rtol=REL, atol=0)
    two_d = p(torch.tensor(TS[:24], dtype=torch.float64).reshape(4, 6))
    assert two_d.shape == (4, 6)
    np.testing.assert_allclose(two_d.reshape(-1).numpy(), scal[:24], rtol=REL, atol=0)


# ---- 7. torch scheduler -------------------------------------------------------------------------


def _sgd():
    w = torch.nn.Parameter(torch.zeros(2))
    w.grad = torch.ones(2)
    return torch.optim.SGD([w], lr=1.0)


def test_scheduler_first_optimizer_step_uses_lr_zero():
    """With warm-up, the parameters do not move in the first optimizer step (as in transformers)."""
    w = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = torch.optim.SGD([w], lr=1.0)
    sched = LINEAR(lr=0.5, total=10, warmup=2).scheduler(opt)
    w.grad = torch.ones(3, dtype=torch.float64)
    opt.step()
    assert torch.equal(w.detach(), torch.ones(3, dtype=torch.float64))
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.25
    opt.step()
    assert torch.allclose(w.detach(), torch.full((3,), 0.75, dtype=torch.float64))
