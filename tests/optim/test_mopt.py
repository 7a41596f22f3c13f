"""M-opt (004 Formula 7): the fused L1 sums against numpy float64, determinism, and the formula."""

import pytest
import torch

from lrkit.optim import _ext, mopt_l1, mopt_l1_reference, mopt_lr


def snapshots(seed, shapes=((3,), (0,), (70001,), (129, 513)), dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    t0 = [torch.randn(s, generator=g).to(dtype) for s in shapes]
    t1 = [x + 0.01 * torch.randn(x.shape, generator=g).to(dtype) for x in t0]
    t2 = [x + 0.008 * torch.randn(x.shape, generator=g).to(dtype) for x in t1]
    return t0, t1, t2


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_fused_sums_equal_float64_numpy(dtype):
    assert _ext.load(), f"the lrkit CPU extension did not build: {_ext.error()}"
    t0, t1, t2 = snapshots(0, dtype=dtype)
    got = mopt_l1(t0, t1, t2)
    assert got.dtype == torch.float64 and got.shape == (2,)
    assert got.tolist() == pytest.approx(mopt_l1_reference(t0, t1, t2), rel=1e-12)


def test_deterministic_whatever_the_thread_count():
    t0, t1, t2 = snapshots(1, shapes=((1_000_003,),))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = mopt_l1(t0, t1, t2)
        torch.set_num_threads(2)
        two = mopt_l1(t0, t1, t2)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)


def test_formula_7_on_a_quadratic():
    # gradient descent on f(θ) = ½·h·θ² with LR η: θ' = (1 − ηh)θ, so Δ1 = −ηhθ0, Δ2 = −ηh(1 − ηh)θ0
    # and η* = η·‖Δ1‖₁ / ‖Δ1 − Δ2‖₁ = η / (ηh) = 1/h: Newton's step, as Formula 7 intends.
    h, eta = 4.0, 0.05
    t0 = torch.tensor([1.5, -2.0, 0.25], dtype=torch.float64)
    t1 = (1 - eta * h) * t0
    t2 = (1 - eta * h) * t1
    assert float(mopt_lr(eta, [t0], [t1], [t2])) == pytest.approx(1 / h, rel=1e-12)


def test_mismatched_snapshots_are_refused():
    a = [torch.zeros(3)]
    with pytest.raises(ValueError, match="same number of tensors"):
        mopt_l1(a, a + a, a)
    with pytest.raises(RuntimeError, match="differs in shape or dtype"):
        mopt_l1(a, [torch.zeros(4)], a)


def test_opcheck():
    t0, t1, t2 = snapshots(2, shapes=((5,), (2, 3)))
    assert _ext.load()
    torch.library.opcheck(torch.ops.lrkit.mopt_l1.default, (t0, t1, t2))
