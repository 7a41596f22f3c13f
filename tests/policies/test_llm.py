"""LLM fine-tuning schedules (CONSTANT, LINEAR, COSINE, WSD, INVSQRT) and DeepSpeed's warm-up
schedules (WarmupLR, WarmupDecayLR, WarmupCosineLR).

The reference functions below are independent scalar transcriptions, in plain ``math``, of the
Hugging Face ``transformers`` schedule lambdas (``transformers.optimization``; LambdaLR multiplies
the base LR by ``lambda(step)``, step 0 is the first optimizer step) and of DeepSpeed's
``deepspeed.runtime.lr_schedules`` (``t`` is DeepSpeed's ``last_batch_iteration``).
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


def close(a, b):
    return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)


def assert_matches(p, ref, ts):
    """p(t) == ref(t) (rel 1e-12) for every t in ts as one numpy array, and as Python-int scalars
    (for long ranges: the first and last 60 and every 5th t in between, to keep the file fast)."""
    ts = list(ts)
    want = [ref(t) for t in ts]
    arr = p(np.array(ts))
    bad = [(t, g, w) for t, g, w in zip(ts, arr.tolist(), want) if not close(g, w)]
    assert not bad, f"{p}: first mismatches (t, lrkit, reference): {bad[:5]}"
    idx = range(len(ts)) if len(ts) <= 200 else sorted({*range(60), *range(60, len(ts) - 60, 5), *range(len(ts) - 60, len(ts))})
    bad = [(ts[i], p(ts[i]), want[i]) for i in idx if not close(p(ts[i]), want[i])]
    assert not bad, f"{p}: scalar mismatches (t, lrkit, reference): {bad[:5]}"


# ---- Hugging Face transformers reference lambdas (transcribed) ----------------------------------


def hf_warmup_steps(total, warmup_steps=0, warmup_ratio=0.0):
    """TrainingArguments.get_warmup_steps."""
    return warmup_steps if warmup_steps > 0 else math.ceil(total * warmup_ratio)


def hf_constant(s, W):
    if s < W:
        return float(s) / float(max(1.0, W))
    return 1.0


def hf_linear(s, W, T):
    if s < W:
        return float(s) / float(max(1, W))
    return max(0.0, float(T - s) / float(max(1, T - W)))


def hf_cosine(s, W, T, num_cycles=0.5):
    if s < W:
        return float(s) / float(max(1, W))
    progress = float(s - W) / float(max(1, T - W))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))


def hf_cosine_min_lr(s, W, T, min_lr_rate, num_cycles=0.5):
    if s < W:
        return float(s) / float(max(1, W))
    progress = float(s - W) / float(max(1, T - W))
    factor = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
    factor = factor * (1 - min_lr_rate) + min_lr_rate
    return max(0.0, factor)


def hf_inverse_sqrt(s, W, timescale=None):
    if timescale is None:
        timescale = W or 10_000
    if s < W:
        return float(s) / float(max(1, W))
    shift = timescale - W
    return 1.0 / math.sqrt((s + shift) / timescale)


# ---- DeepSpeed reference (transcribed) ----------------------------------------------------------


def ds_gamma_warm(t, W, warmup_type):
    W = max(2, W)
    if warmup_type == "log":
        return (1.0 / math.log(W)) * math.log(t + 1)
    return t / W


def ds_warmup_lr(t, min_lr, max_lr, wsteps, wtype):
    W = max(2, wsteps)
    gamma = ds_gamma_warm(t, W, wtype) if t < W else 1.0
    return min_lr + (max_lr - min_lr) * gamma


def ds_warmup_decay_lr(t, T, min_lr, max_lr, wsteps, wtype):
    W = max(2, wsteps)
    if t < W:
        gamma = ds_gamma_warm(t, W, wtype)
    else:
        gamma = max(0.0, float(T - t) / float(max(1.0, T - W)))
    return min_lr + (max_lr - min_lr) * gamma


def ds_warmup_cosine_lr(t, lr, T, wmin, wsteps, cmin, wtype):
    W = max(2, wsteps)
    if t < W:
        ratio = ds_gamma_warm(t, W, wtype)
        ratio = wmin + ratio * (1.0 - wmin)
    else:
        real_last_step = t - W + 1
        real_total_steps = T - W
        ratio = (1 + math.cos(math.pi * real_last_step / real_total_steps)) / 2
        ratio = max(0.0, cmin + (1.0 - cmin) * ratio)
    return lr * ratio


# ---- 1. transformers equivalence ----------------------------------------------------------------

# (peak lr, total, warmup kwargs, HF warm-up steps)
WARMUPS = [
    (1.0, 100, {}, 0),
    (2e-5, 100, {"warmup": 1}, 1),
    (1.0, 100, {"warmup": 10}, 10),
    (2e-5, 1218, {"warmup_ratio": 0.03}, 37),  # ⌈0.03·1218⌉ = ⌈36.54⌉
    (1.0, 1218, {"warmup_ratio": 0.03}, 37),
    (1.0, 100, {"warmup_ratio": 0.07}, 8),  # ⌈0.07·100⌉ in floats (7.000000000000001), as TrainingArguments
    (3e-4, 50, {"warmup": 50}, 50),  # warm-up over the whole run
    (1.0, 7, {"warmup": 3}, 3),
]


@pytest.mark.parametrize("lr,total,wkw,W", WARMUPS)
def test_warmup_length_is_resolved_like_training_arguments(lr, total, wkw, W):
    assert W == hf_warmup_steps(total, wkw.get("warmup", 0), wkw.get("warmup_ratio", 0.0))
    assert LINEAR(lr=lr, total=total, **wkw).warmup_steps == W
    assert COSINE(lr=lr, total=total, **wkw).warmup_steps == W
    assert CONSTANT(lr=lr, total=total, **wkw).warmup_steps == W


@pytest.mark.parametrize("lr,total,wkw,W", WARMUPS)
def test_constant_matches_transformers(lr, total, wkw, W):
    p = CONSTANT(lr=lr, total=total, **wkw)
    assert_matches(p, lambda s: lr * hf_constant(s, W), range(total + 51))


@pytest.mark.parametrize("lr", [1.0, 2e-5])
@pytest.mark.parametrize("W", [0, 1, 37])
def test_constant_without_total_matches_transformers(lr, W):
    p = CONSTANT(lr=lr, warmup=W)
    assert_matches(p, lambda s: lr * hf_constant(s, W), range(200))
    assert p(0) == (0.0 if W else lr)
    assert p(10**7) == lr


@pytest.mark.parametrize("lr,total,wkw,W", WARMUPS)
def test_linear_matches_transformers(lr, total, wkw, W):
    p = LINEAR(lr=lr, total=total, **wkw)
    assert_matches(p, lambda s: lr * hf_linear(s, W, total), range(total + 51))
    assert p(total) == 0.0 and p(total + 1000) == 0.0


@pytest.mark.parametrize("lr,total,wkw,W", WARMUPS)
def test_cosine_matches_transformers(lr, total, wkw, W):
    p = COSINE(lr=lr, total=total, **wkw)
    assert_matches(p, lambda s: lr * hf_cosine(s, W, total), range(total + 1))


@pytest.mark.parametrize("lr,total,wkw,W", WARMUPS)
@pytest.mark.parametrize("min_ratio", [0.1, 1.0])
def test_cosine_with_min_lr_matches_transformers(lr, total, wkw, W, min_ratio):
    min_lr = min_ratio * lr
    p = COSINE(lr=lr, total=total, min_lr=min_lr, **wkw)
    assert_matches(p, lambda s: lr * hf_cosine_min_lr(s, W, total, min_lr / lr), range(total + 1))


@pytest.mark.parametrize("lr,total,wkw,W", WARMUPS)
def test_cosine_holds_its_floor_after_total(lr, total, wkw, W):
    """transformers' cosine would rise again after T; lrkit stays at min_lr."""
    after = list(range(total + 1, total + 51)) + [2 * total, 10 * total + 3]
    if W < total:  # with W = T, t = T is the first post-warm-up step: lr, as in transformers
        after.insert(0, total)
    for min_lr in (0.0, 0.05 * lr):
        p = COSINE(lr=lr, total=total, min_lr=min_lr, **wkw)
        assert [p(t) for t in after] == pytest.approx([min_lr] * len(after), rel=REL, abs=ABS)
        assert p(np.array(after)).tolist() == pytest.approx([min_lr] * len(after), rel=REL, abs=ABS)
    if total - W >= 2:  # the transformers curve really does rise again here
        assert hf_cosine(total + 1, W, total) > 0.0


@pytest.mark.parametrize("lr,total,wkw,W", WARMUPS)
def test_linear_with_min_lr(lr, total, wkw, W):
    """min_lr + (lr − min_lr)·(transformers' linear factor) after warm-up; the warm-up still starts at 0."""
    min_lr = 0.15 * lr
    p = LINEAR(lr=lr, total=total, min_lr=min_lr, **wkw)

    def ref(s):
        if s < W:
            return lr * hf_linear(s, W, total)
        return min_lr + (lr - min_lr) * hf_linear(s, W, total)

    assert_matches(p, ref, range(total + 51))
    assert p(total + 5) == pytest.approx(min_lr, rel=REL, abs=ABS)


@pytest.mark.parametrize(
    "lr,W,timescale",
    [(1.0, 0, None), (2e-5, 1, None), (1.0, 10, None), (2e-5, 37, None), (1.0, 400, None), (1.0, 10, 100), (1.0, 100, 10), (1.0, 0, 50)],
)
def test_invsqrt_matches_transformers(lr, W, timescale):
    p = INVSQRT(lr=lr, warmup=W, timescale=timescale)
    ts = list(range(0, 700)) + [1000, 10_000, 123_456, 10**7]
    assert_matches(p, lambda s: lr * hf_inverse_sqrt(s, W, timescale), ts)


def test_invsqrt_exact_values():
    p = INVSQRT(lr=1e-3, warmup=400)
    assert p(0) == 0.0
    assert p(200) == pytest.approx(0.5e-3, rel=REL)
    assert p(400) == pytest.approx(1e-3, rel=REL)
    assert p(1600) == pytest.approx(0.5e-3, rel=REL)  # lr·√(W/t)
    q = INVSQRT(lr=1.0)  # τ = 10,000 when W = 0
    assert q.tau == 10_000
    assert q(0) == 1.0 and q(30_000) == pytest.approx(0.5, rel=REL)


# ---- 2. DeepSpeed equivalence -------------------------------------------------------------------

DS_WARM = [(1, "log"), (1, "linear"), (0, "linear"), (2, "log"), (10, "log"), (10, "linear"), (37, "log"), (37, "linear")]


@pytest.mark.parametrize("wsteps,wtype", DS_WARM)
def test_warmup_lr_matches_deepspeed(wsteps, wtype):
    for lo, hi in [(0.0, 1.0), (1e-6, 2e-5)]:
        p = WarmupLR(warmup_max_lr=hi, warmup_min_lr=lo, warmup_num_steps=wsteps, warmup_type=wtype)
        assert p.W == max(2, wsteps)
        assert_matches(p, lambda t: ds_warmup_lr(t, lo, hi, wsteps, wtype), range(100))
        assert p(10**6) == hi


def test_warmup_lr_default_is_log_over_1000_steps():
    p = WarmupLR(warmup_max_lr=1.0)
    assert p.warmup_type == "log" and p.warmup_num_steps == 1000 and p.warmup_min_lr == 0.0
    assert_matches(p, lambda t: ds_warmup_lr(t, 0.0, 1.0, 1000, "log"), range(0, 1100, 7))
    assert p(0) == 0.0
    assert p(99) == pytest.approx(math.log(100) / math.log(1000), rel=REL)  # = 2/3
    assert p(999) == pytest.approx(1.0, rel=REL) and p(1000) == 1.0


@pytest.mark.parametrize("total", [1218, 5])
@pytest.mark.parametrize("wsteps,wtype", DS_WARM)
def test_warmup_decay_lr_matches_deepspeed(total, wsteps, wtype):
    lo, hi = 1e-6, 2e-5
    p = WarmupDecayLR(total_num_steps=total, warmup_max_lr=hi, warmup_min_lr=lo, warmup_num_steps=wsteps, warmup_type=wtype)
    assert_matches(p, lambda t: ds_warmup_decay_lr(t, total, lo, hi, wsteps, wtype), range(total + 51))
    if total >= max(2, wsteps):
        assert p(total) == pytest.approx(lo, rel=REL) and p(total + 30) == pytest.approx(lo, rel=REL)


@pytest.mark.parametrize(
    "total,wsteps,wtype",
    [(tot, w, wt) for tot in (1218, 40, 3) for w, wt in DS_WARM if tot > max(2, w)],
)
def test_warmup_cosine_lr_matches_deepspeed(total, wsteps, wtype):
    # t = T itself is left out: see test_warmup_cosine_lr_holds_its_floor.
    lr = 3e-4
    for wmin, cmin in [(0.0, 0.0001), (0.5, 0.2)]:
        p = WarmupCosineLR(
            lr=lr, total_num_steps=total, warmup_min_ratio=wmin, warmup_num_steps=wsteps, cos_min_ratio=cmin, warmup_type=wtype
        )
        assert_matches(p, lambda t: ds_warmup_cosine_lr(t, lr, total, wmin, wsteps, cmin, wtype), range(total))


@pytest.mark.parametrize("total,wsteps", [(100, 10), (1218, 37), (3, 1), (40, 1)])
def test_warmup_cosine_lr_holds_its_floor(total, wsteps):
    """DeepSpeed's cosine reaches lr·cos_min_ratio at t = T − 1 and then rises again; lrkit stays there."""
    lr = 2e-5
    after = [total - 1] + list(range(total + 1, total + 51)) + [3 * total]
    for cmin in (0.0001, 0.0, 0.3):
        p = WarmupCosineLR(lr=lr, total_num_steps=total, warmup_num_steps=wsteps, cos_min_ratio=cmin)
        floor = lr * cmin
        assert ds_warmup_cosine_lr(total - 1, lr, total, 0.0, wsteps, cmin, "log") == pytest.approx(floor, rel=REL, abs=ABS)
        if total - max(2, wsteps) >= 2:  # DeepSpeed is already rising again at t = T
            assert ds_warmup_cosine_lr(total, lr, total, 0.0, wsteps, cmin, "log") > floor
        assert [p(t) for t in after] == pytest.approx([floor] * len(after), rel=REL, abs=ABS)


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


@pytest.mark.parametrize(
    "p,hf",
    [
        (LINEAR(lr=1.0, total=30, warmup=5), lambda s: hf_linear(s, 5, 30)),
        (CONSTANT(lr=1.0, warmup=4), lambda s: hf_constant(s, 4)),
        (COSINE(lr=1.0, total=30, warmup_ratio=0.1), lambda s: hf_cosine(s, 3, 30) if s <= 30 else 0.0),
        (INVSQRT(lr=1.0, warmup=6), lambda s: hf_inverse_sqrt(s, 6)),
    ],
    ids=["LINEAR", "CONSTANT", "COSINE", "INVSQRT"],
)
def test_scheduler_sets_policy_lr_like_transformers_lambdalr(p, hf):
    opt = _sgd()
    sched = p.scheduler(opt)
    ref_opt = _sgd()
    ref = torch.optim.lr_scheduler.LambdaLR(ref_opt, hf)
    lrs = [opt.param_groups[0]["lr"]]
    assert lrs[0] == p(0) == 0.0  # the first step (t = 0) has LR 0 with a warm-up
    assert ref_opt.param_groups[0]["lr"] == 0.0
    for t in range(1, 41):
        opt.step()
        sched.step()
        ref_opt.step()
        ref.step()
        lr = opt.param_groups[0]["lr"]
        assert lr == p(t), t
        assert sched.get_last_lr() == [p(t)]
        assert math.isclose(lr, ref_opt.param_groups[0]["lr"], rel_tol=REL, abs_tol=ABS), t
        lrs.append(lr)
    assert lrs == [p(t) for t in range(41)]


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


def test_deepspeed_scheduler_lr_follows_last_batch_iteration():
    p = WarmupDecayLR(total_num_steps=20, warmup_max_lr=1.0, warmup_min_lr=0.1, warmup_num_steps=4, warmup_type="linear")
    opt = _sgd()
    sched = p.scheduler(opt)
    got = [opt.param_groups[0]["lr"]]
    for _ in range(25):
        opt.step()
        sched.step()
        got.append(opt.param_groups[0]["lr"])
    want = [ds_warmup_decay_lr(t, 20, 0.1, 1.0, 4, "linear") for t in range(26)]
    assert got == pytest.approx(want, rel=REL, abs=ABS)
    assert got[0] == 0.1 and got[2] == pytest.approx(0.55) and got[4] == 1.0 and got[20] == pytest.approx(0.1)
