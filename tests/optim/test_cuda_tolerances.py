"""Where the tolerances of test_fused_adam_cuda.py come from: lrkit's step (float moments, as torch's CPU fused
Adam; the CPU kernel equals the CUDA kernel's source bit for bit) against a model of torch's CUDA fused Adam
arithmetic (double moments), over the GPU test's 1000 steps. Runs without a GPU."""

import pytest
import torch

from lrkit.optim import FusedAdam, _ext
from lrkit.policies import parse
from tests.optim.helpers import CUDA_VS_TORCH_FUSED_RTOL, clone, make_params, rel, torch_cuda_adam_step

SPEC = "MULTI({0: LINEAR(lr=0.01, total=400, warmup=50), 400: 0.5*SIN2(k0=0.001, k1=0.01, l=100)})"


@pytest.mark.parametrize("adamw,amsgrad", [(False, False), (True, False), (False, True)])
def test_float_moments_stay_inside_the_cuda_tolerances_of_torchs_double_arithmetic(adamw, amsgrad):
    assert _ext.load(), f"the lrkit CPU extension did not build: {_ext.error()}"
    ours = [p for p in make_params(0) if p.numel() < 65536]  # the two-chunk tensor adds time, not information
    # the model of torch's kernel is elementwise: it steps all the tensors as one flat tensor (one call a step
    # instead of one per tensor), and each tensor is compared on its own slice of it
    sizes = [p.numel() for p in ours]
    flat = torch.nn.Parameter(torch.cat([p.detach().reshape(-1) for p in ours]))
    theirs = [flat.detach()[o:o + n].view(p.shape) for o, n, p in zip(_offsets(sizes), sizes, ours)]
    opt = FusedAdam(ours, policy=SPEC, weight_decay=0.01, adamw=adamw, amsgrad=amsgrad, backend="ext")
    state = {"exp_avg": torch.zeros_like(flat), "exp_avg_sq": torch.zeros_like(flat),
             "max_exp_avg_sq": torch.zeros_like(flat) if amsgrad else None}
    policy = parse(SPEC)
    g = torch.Generator().manual_seed(1)
    for t in range(1000):
        grad = torch.randn(flat.numel(), generator=g)
        for a, o, n in zip(ours, _offsets(sizes), sizes):
            a.grad = grad[o:o + n].view(a.shape)
        opt.step()
        torch_cuda_adam_step(flat, grad, state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"],
                             float(policy(t)), 0.9, 0.999, 1e-8, 0.01, adamw, t + 1)
    measured = {"param": rel(ours, theirs)}
    for key in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
        mine = [opt.state[p][key] for p in ours if p.numel()]
        model = [state[key][o:o + n] for o, n in zip(_offsets(sizes), sizes) if n]
        measured[key] = rel([m.reshape(-1) for m in mine], model)
    for key, err in measured.items():  # the bounds leave at least 8x for FMA contraction on the device
        assert err <= CUDA_VS_TORCH_FUSED_RTOL[key] / 8, (key, err)
    # the two arithmetics do differ: the bound on v is not slack for an identical computation
    assert measured["exp_avg_sq"] > 1e-6


def _offsets(sizes):
    out, o = [], 0
    for n in sizes:
        out.append(o)
        o += n
    return out
