"""The LLM schedules equal the real libraries, every step from 0 to past the end, warm-up edges included:
CONSTANT, LINEAR, COSINE, INVSQRT and WSD against ``transformers.get_scheduler`` (every scheduler type
with a counterpart here), WarmupLR / WarmupDecayLR / WarmupCosineLR against
``deepspeed.runtime.lr_schedules``, COSINE and STEP against timm's cosine and step schedulers where
timm is installed (it is not a test dependency: see TIMM_WHY). lrkit's ``p(t)`` is the LR of optimizer step t (0 = the first):
transformers' LambdaLR after t calls of ``step()``, DeepSpeed's scheduler at ``last_batch_iteration = t``.

Stated differences (each asserted below): after T transformers' cosine rises again where COSINE holds its
floor; transformers' WSD warms up from ``min_lr_ratio·lr`` where lrkit's starts at 0 (equal with
``min_lr = 0`` and after the warm-up); DeepSpeed 0.19 refuses ``warmup_num_steps=0``, which lrkit clamps
to 2 as DeepSpeed does for 1.
"""

import math

import numpy as np
import pytest
import torch

from lrkit.policies import CONSTANT, COSINE, INVSQRT, LINEAR, STEP, WSD, WarmupCosineLR, WarmupDecayLR, WarmupLR

transformers = pytest.importorskip("transformers", reason="the [llm] extra installs transformers")
from transformers import TrainingArguments, get_scheduler  # noqa: E402

REL = 1e-12
ABS = 1e-15


def _opt(lr):
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)


def hf_lrs(name, lr, n, warmup=None, total=None, **specific):
    """The LR of optimizer steps 0..n-1 under ``transformers.get_scheduler(name, ...)``."""
    opt = _opt(lr)
    sched = get_scheduler(name, opt, num_warmup_steps=warmup, num_training_steps=total,
                          scheduler_specific_kwargs=specific or None)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def assert_equal_lrs(p, want, ts=None):
    ts = np.arange(len(want)) if ts is None else np.asarray(ts)
    got = p(ts)
    np.testing.assert_allclose(got, want, rtol=REL, atol=ABS, err_msg=str(p))
    for i in sorted({0, 1, len(ts) // 2, len(ts) - 1}):  # the scalar path too
        assert math.isclose(p(int(ts[i])), want[i], rel_tol=REL, abs_tol=ABS), (str(p), int(ts[i]))


# (peak lr, total, warm-up kwargs of lrkit, TrainingArguments.warmup_steps)
WARMUPS = [
    (1.0, 100, {}, 0),
    (2e-5, 100, {"warmup": 1}, 1),
    (1.0, 100, {"warmup": 10}, 10),
    (2e-5, 1218, {"warmup_ratio": 0.03}, 0.03),  # ⌈0.03·1218⌉ = 37
    (1.0, 100, {"warmup_ratio": 0.07}, 0.07),    # ⌈0.07·100⌉ in floats = 8
    (3e-4, 50, {"warmup": 50}, 50),              # warm-up over the whole run
    (1.0, 7, {"warmup": 3}, 3),
]


def hf_warmup(total, warmup_steps):
    return TrainingArguments(output_dir="unused", warmup_steps=warmup_steps, report_to=[]).get_warmup_steps(total)


@pytest.mark.parametrize("lr,total,wkw,hw", WARMUPS)
def test_linear_cosine_constant_equal_transformers(lr, total, wkw, hw):
    W = hf_warmup(total, hw)
    for cls in (LINEAR, COSINE, CONSTANT):  # the warm-up length resolves as TrainingArguments does
        assert cls(lr=lr, total=total, **wkw).warmup_steps == W
    n = total + 51
    assert_equal_lrs(LINEAR(lr=lr, total=total, **wkw), hf_lrs("linear", lr, n, W, total))
    assert_equal_lrs(CONSTANT(lr=lr, total=total, **wkw), hf_lrs("constant_with_warmup", lr, n, W))
    assert_equal_lrs(CONSTANT(lr=lr, warmup=W), hf_lrs("constant_with_warmup", lr, n, W))  # no total needed
    if W == 0:
        assert_equal_lrs(CONSTANT(lr=lr), hf_lrs("constant", lr, n))
    # LINEAR with a floor: min_lr + (lr - min_lr)·(transformers' linear factor) after the warm-up
    factor = hf_lrs("linear", 1.0, n, W, total)
    want = np.where(np.arange(n) < W, lr * factor, 0.15 * lr + 0.85 * lr * factor)
    assert_equal_lrs(LINEAR(lr=lr, total=total, min_lr=0.15 * lr, **wkw), want)
    cos = COSINE(lr=lr, total=total, **wkw)
    hf = hf_lrs("cosine", lr, n, W, total)
    assert_equal_lrs(cos, hf[:total + 1])
    # past T transformers' cosine rises again; COSINE stays at its floor (0 here)
    np.testing.assert_array_equal(cos(np.arange(total + 1, n)), 0.0)
    if total - W >= 2:
        assert hf[total + 1] > 0.0


@pytest.mark.parametrize("lr,total,wkw,hw", WARMUPS)
@pytest.mark.parametrize("min_ratio", [0.1, 1.0])
def test_cosine_with_min_lr_equals_transformers(lr, total, wkw, hw, min_ratio):
    W = hf_warmup(total, hw)
    min_lr = min_ratio * lr
    p = COSINE(lr=lr, total=total, min_lr=min_lr, **wkw)
    for name, kw in (("cosine_with_min_lr", {"min_lr": min_lr}), ("cosine_with_min_lr", {"min_lr_rate": min_ratio})):
        assert_equal_lrs(p, hf_lrs(name, lr, total + 1, W, total, **kw))
    np.testing.assert_allclose(p(np.arange(total + 1, total + 40)), min_lr, rtol=REL)


@pytest.mark.parametrize("lr,W,timescale",
                         [(1.0, 0, None), (2e-5, 1, None), (1.0, 10, None), (2e-5, 37, None), (1.0, 400, None),
                          (1.0, 10, 100), (1.0, 100, 10), (1.0, 0, 50)])
def test_invsqrt_equals_transformers(lr, W, timescale):
    kw = {} if timescale is None else {"timescale": timescale}
    assert_equal_lrs(INVSQRT(lr=lr, warmup=W, timescale=timescale), hf_lrs("inverse_sqrt", lr, 1200, W, **kw))


@pytest.mark.parametrize("p,name,W,total", [(LINEAR(lr=1.0, total=30, warmup=5), "linear", 5, 30),
                                          (CONSTANT(lr=1.0, warmup=4), "constant_with_warmup", 4, None),
                                          (COSINE(lr=1.0, total=30, warmup_ratio=0.1), "cosine", 3, 30),
                                          (INVSQRT(lr=1.0, warmup=6), "inverse_sqrt", 6, None)],
                         ids=["LINEAR", "CONSTANT", "COSINE", "INVSQRT"])
def test_policy_scheduler_steps_like_the_transformers_scheduler(p, name, W, total):
    """``p.scheduler(opt)`` stepped after each optimizer step sets the LR transformers' scheduler sets."""
    opt = _opt(1.0)
    sched = p.scheduler(opt)
    want = hf_lrs(name, 1.0, 31, W, total)
    got = []
    for _ in range(31):
        got.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(got, want, rtol=REL, atol=ABS)
    assert got[0] == 0.0  # the first optimizer step has LR 0 with a warm-up, in both


HF_DECAY = {"linear": "linear", "cosine": "cosine", "sqrt": "1-sqrt"}


@pytest.mark.parametrize("shape", ["linear", "cosine", "sqrt"])
@pytest.mark.parametrize("total,W,D", [(1000, 100, 200), (400, 0, 100), (200, 30, 50), (1218, 37, 61), (10, 1, 9)])
@pytest.mark.parametrize("min_ratio", [0.0, 0.1])
def test_wsd_equals_transformers(shape, total, W, D, min_ratio):
    lr = 3e-4
    p = WSD(lr=lr, total=total, warmup=W, decay=D, min_lr=min_ratio * lr, shape=shape)
    hf = hf_lrs("warmup_stable_decay", lr, total + 51, W, total, num_decay_steps=D, decay_type=HF_DECAY[shape],
                min_lr_ratio=min_ratio)
    if min_ratio == 0.0:
        assert_equal_lrs(p, hf)
    else:  # transformers warms up from min_lr_ratio·lr, lrkit from 0; equal from the end of the warm-up
        assert_equal_lrs(p, hf[W:], np.arange(W, total + 51))
        if W >= 1:
            assert p(0) == 0.0 and hf[0] == pytest.approx(min_ratio * lr)


# ---- DeepSpeed ----------------------------------------------------------------------------------

try:
    from deepspeed.runtime import lr_schedules as ds
    DS_WHY = None
except Exception as e:  # pragma: no cover - depends on the machine
    ds = None
    DS_WHY = (f"deepspeed.runtime.lr_schedules does not import here ({type(e).__name__}: {e}); "
              f"pip install -e '.[test]' installs deepspeed without building its ops (DS_BUILD_OPS=0)")

needs_ds = pytest.mark.skipif(ds is None, reason=DS_WHY or "")

# warmup_num_steps = 0 is refused by DeepSpeed 0.19 (lrkit clamps it to 2, as DeepSpeed clamps 1)
DS_WARM = [(1, "log"), (1, "linear"), (2, "log"), (10, "log"), (10, "linear"), (37, "log"), (37, "linear")]


def ds_lrs(sched, opt, n):
    """The LR DeepSpeed's scheduler sets at last_batch_iteration = 0..n-1."""
    out = []
    for t in range(n):
        sched.step(t)
        out.append(opt.param_groups[0]["lr"])
    return np.array(out)


@needs_ds
@pytest.mark.parametrize("wsteps,wtype", DS_WARM)
@pytest.mark.parametrize("lo,hi", [(0.0, 1.0), (1e-6, 2e-5)])
def test_warmup_lr_equals_deepspeed(wsteps, wtype, lo, hi):
    opt = _opt(hi)
    want = ds_lrs(ds.WarmupLR(opt, warmup_min_lr=lo, warmup_max_lr=hi, warmup_num_steps=wsteps, warmup_type=wtype),
                  opt, 120)
    assert_equal_lrs(WarmupLR(warmup_max_lr=hi, warmup_min_lr=lo, warmup_num_steps=wsteps, warmup_type=wtype), want)


@needs_ds
@pytest.mark.parametrize("total", [1218, 40, 5])
@pytest.mark.parametrize("wsteps,wtype", DS_WARM)
def test_warmup_decay_lr_equals_deepspeed(total, wsteps, wtype):
    lo, hi = 1e-6, 2e-5
    opt = _opt(hi)
    want = ds_lrs(ds.WarmupDecayLR(opt, total_num_steps=total, warmup_min_lr=lo, warmup_max_lr=hi,
                                   warmup_num_steps=wsteps, warmup_type=wtype), opt, total + 51)
    assert_equal_lrs(WarmupDecayLR(total_num_steps=total, warmup_max_lr=hi, warmup_min_lr=lo, warmup_num_steps=wsteps,
                                   warmup_type=wtype), want)


@needs_ds
@pytest.mark.parametrize("total,wsteps,wtype", [(t, w, wt) for t in (1218, 40, 3) for w, wt in DS_WARM if t > max(2, w)])
@pytest.mark.parametrize("wmin,cmin", [(0.0, 0.0001), (0.5, 0.2), (0.0, 0.0)])
def test_warmup_cosine_lr_equals_deepspeed(total, wsteps, wtype, wmin, cmin):
    lr = 3e-4
    opt = _opt(lr)
    want = ds_lrs(ds.WarmupCosineLR(opt, total_num_steps=total, warmup_min_ratio=wmin, warmup_num_steps=wsteps,
                                    cos_min_ratio=cmin, warmup_type=wtype), opt, total + 51)
    p = WarmupCosineLR(lr=lr, total_num_steps=total, warmup_min_ratio=wmin, warmup_num_steps=wsteps,
                       cos_min_ratio=cmin, warmup_type=wtype)
    assert_equal_lrs(p, want)  # past T too: DeepSpeed 0.19 holds lr·cos_min_ratio, as lrkit does


@needs_ds
def test_policy_scheduler_steps_like_the_deepspeed_scheduler():
    """``p.scheduler(opt)`` stepped after each optimizer step sets the LR DeepSpeed's scheduler sets when
    stepped the same way (constructed at last_batch_iteration = -1, then ``step()``)."""
    kw = dict(total_num_steps=20, warmup_max_lr=1.0, warmup_min_lr=0.1, warmup_num_steps=4, warmup_type="linear")
    opt, ref_opt = _opt(1.0), _opt(1.0)
    sched, ref = WarmupDecayLR(**kw).scheduler(opt), ds.WarmupDecayLR(ref_opt, **kw)
    ref.step()  # DeepSpeed's first step() gives last_batch_iteration 0, the LR of the first optimizer step
    got, want = [], []
    for _ in range(26):
        got.append(opt.param_groups[0]["lr"])
        want.append(ref_opt.param_groups[0]["lr"])
        for o, s in ((opt, sched), (ref_opt, ref)):
            o.step()
            s.step()
    np.testing.assert_allclose(got, want, rtol=REL, atol=ABS)
    assert got[0] == 0.1 and got[4] == 1.0 and got[20] == pytest.approx(0.1)


@needs_ds
def test_deepspeed_refuses_zero_warmup_steps_which_lrkit_clamps():
    with pytest.raises(ValueError, match="warmup_num_steps"):
        ds.WarmupLR(_opt(1.0), warmup_num_steps=0)
    assert WarmupLR(warmup_max_lr=1.0, warmup_num_steps=0).W == 2


# ---- timm ---------------------------------------------------------------------------------------

TIMM_WHY = ("timm is not a test dependency: it requires torchvision, whose PyPI wheel pins the CUDA build of "
            "torch (gigabytes, replacing the CPU torch of a CPU-only install); with timm installed these run")


def _timm_scheduler():
    timm_scheduler = pytest.importorskip("timm.scheduler", reason=TIMM_WHY)
    return timm_scheduler


def timm_lrs(make, lr, n):
    """The LR timm's scheduler sets for optimizer step t (``step_update(t)``, t_in_epochs=False)."""
    opt = _opt(lr)
    sched = make(opt)
    out = []
    for t in range(n):
        sched.step_update(t)
        out.append(opt.param_groups[0]["lr"])
    return np.array(out)


@pytest.mark.parametrize("lr,total,W,min_lr", [(1.0, 100, 0, 0.0), (2e-5, 1218, 37, 0.0), (3e-4, 200, 10, 3e-5),
                                               (1.0, 7, 3, 0.1)])
def test_cosine_equals_timm_cosine(lr, total, W, min_lr):
    """COSINE(lr, total=T, warmup=W, min_lr) is timm's CosineLRScheduler with t_initial = T − W after a
    warm-up prefix of W steps from 0, one cycle (then lr_min, as COSINE holds its floor)."""
    ts = _timm_scheduler()
    want = timm_lrs(lambda o: ts.CosineLRScheduler(o, t_initial=total - W, lr_min=min_lr, warmup_t=W,
                                                   warmup_lr_init=0.0, warmup_prefix=True, cycle_limit=1,
                                                   t_in_epochs=False), lr, total + 51)
    assert_equal_lrs(COSINE(lr=lr, total=total, warmup=W, min_lr=min_lr), want)


@pytest.mark.parametrize("k,gamma,l", [(0.1, 0.1, 100), (1.0, 0.85, 7), (3e-4, 0.5, 1)])
def test_step_equals_timm_step(k, gamma, l):
    ts = _timm_scheduler()
    want = timm_lrs(lambda o: ts.StepLRScheduler(o, decay_t=l, decay_rate=gamma, t_in_epochs=False), k, 700)
    assert_equal_lrs(STEP(k=k, gamma=gamma, l=l), want)
