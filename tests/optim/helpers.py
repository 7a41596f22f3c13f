"""Shared pieces of the optimizer tests: parameters that exercise the kernels' paths, a relative error,
and stepping two optimizers in lockstep on the same random gradients."""

import torch


def make_params(seed, dtype=torch.float32, device="cpu"):
    """Odd sizes, an empty tensor, one tensor of two chunks (70,001 elements) and one whose storage starts
    an element after a 16-byte boundary, so a kernel must take its unaligned path."""
    g = torch.Generator().manual_seed(seed)
    ps = [torch.nn.Parameter(torch.randn(s, generator=g).to(device, dtype)) for s in
          [(1,), (7,), (0,), (3, 5), (70001,), (33, 17, 3)]]
    big = torch.randn(5000, generator=g).to(device, dtype)
    ps.append(torch.nn.Parameter(big[1:4002]))
    assert ps[-1].data_ptr() % 16 != 0
    return ps


def clone(ps):
    return [torch.nn.Parameter(p.detach().clone()) for p in ps]


def rel(a, b):
    """The largest relative L2 error of a tensor of ``a`` against its twin in ``b`` (empty tensors skipped)."""
    return max(((x.double() - y.double()).norm() / max(y.double().norm(), 1e-30)).item() for x, y in zip(a, b) if y.numel())


def lockstep(ours, theirs, steps, seed, *steppers):
    """``steps`` times: the same random gradient (in each param's dtype) on both sides, then every stepper's
    ``step()`` (optimizers, LR schedulers) in the order given."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for a, b in zip(ours, theirs):
            a.grad = torch.randn(a.shape, generator=g).to(a.device, a.dtype)
            b.grad = a.grad.clone()
        for s in steppers:
            s.step()


# Largest relative L2 errors (see `rel`) allowed between FusedAdam's CUDA step and torch's CUDA fused Adam
# after 1000 steps of test_fused_adam_cuda.py's run. The two round differently: torch's kernel
# (aten/src/ATen/native/cuda/fused_adam_utils.cuh, adam_math) takes beta1, beta2, lr, weight_decay and eps
# as double, so m, v and AdamW's decay are computed in double and rounded to float once; lrkit's kernel
# computes them in float, as torch's CPU fused Adam does (lerp for m), so that its CPU and CUDA kernels
# agree bit for bit. Measured without FMA against `torch_cuda_adam_step` (test_cuda_tolerances.py): on all
# the GPU test's tensors params 1.3e-6 (AdamW), m 1.1e-7, v and vmax 6.2e-6; on those under 65,536 elements
# (what test_cuda_tolerances.py runs) params 2.9e-7, m 5.9e-7, v 6.5e-6. The bounds leave at least 8x for
# nvcc's FMA contraction.
CUDA_VS_TORCH_FUSED_RTOL = {"param": 2e-5, "exp_avg": 1e-5, "exp_avg_sq": 1e-4, "max_exp_avg_sq": 1e-4}


def torch_cuda_adam_step(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, adamw, step):
    """One step of torch's CUDA fused Adam arithmetic, element for element, on CPU float32 tensors (in place):
    double intermediates where its kernel has double operands, float32 where it stores or has float ones.
    ``step`` counts from 1; ``vmax`` is None without AMSGrad. For measuring tolerances, not a reference."""
    f32 = lambda x: x.to(torch.float32)  # noqa: E731
    g64 = g.double()
    p32 = p.detach().float()
    if weight_decay:
        if adamw:
            p32 = f32(p32.double() - lr * weight_decay * p32.double())
        else:
            g64 = f32(g64 + p32.double() * weight_decay).double()
    m.copy_(f32(beta1 * m.double() + (1 - beta1) * g64))
    v.copy_(f32(beta2 * v.double() + (1 - beta2) * g64 * g64))
    bc1 = f32(torch.tensor(1 - beta1 ** step, dtype=torch.float64))  # opmath_t: rounded to float
    bc2_sqrt = f32(torch.tensor(1 - beta2 ** step, dtype=torch.float64).sqrt())
    step_size = f32(lr / bc1.double())
    if vmax is not None:
        vmax.copy_(torch.maximum(vmax, v))
    denom = f32((torch.sqrt(v if vmax is None else vmax) / bc2_sqrt).double() + eps)
    p.data.copy_(p32 - step_size * m / denom)


BANK_POLICIES = ["TRI(k0=0.001, k1=0.01, l=20)", "STEP(k=0.01, gamma=0.5, l=50)",
                 "MULTI({0: LINEAR(lr=0.01, total=100, warmup=10), 100: 0.5*SIN2(k0=0.001, k1=0.01, l=40)})"]


def bank_params(seed, k, dtype=torch.float32, device="cpu"):
    """Params of a K-replica model (dim 0 the replica axis): odd slice sizes, an empty slice, one slice of
    more than a CPU piece (32,768 elements), and slices that start off a 16-byte boundary."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(k,), (k, 7), (k, 0), (k, 3, 5), (k, 33001), (k, 17, 3)]
    return [torch.nn.Parameter(torch.randn(s, generator=g).to(device, dtype)) for s in shapes]


def bank_against_singles(make_bank, make_single, ps, policies, steps, seed):
    """Steps a policy-bank optimizer over ``ps`` and K single-policy optimizers, optimizer k over slice k of
    every param with policy k, on the same random gradients. Returns ``(bank, singles, slices)``."""
    k = len(policies)
    slices = [[torch.nn.Parameter(p.detach()[i].clone()) for p in ps] for i in range(k)]
    bank = make_bank(ps, policies)
    singles = [make_single(slices[i], policies[i]) for i in range(k)]
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for j, p in enumerate(ps):
            p.grad = torch.randn(p.shape, generator=g).to(p.device, p.dtype)
            for i in range(k):
                slices[i][j].grad = p.grad[i].clone()
        bank.step()
        for s in singles:
            s.step()
    return bank, singles, slices


def bank_error(bank, ps, singles, slices, keys=("exp_avg", "exp_avg_sq")):
    """The largest relative error (see `rel`) of slice k of the bank's params and moments against the k-th
    single optimizer's."""
    errs = [rel([p.detach()[i] for p in ps], slices[i]) for i in range(len(slices))]
    for key in keys:
        for i, (single, sl) in enumerate(zip(singles, slices)):
            errs.append(rel([bank.state[p][key][i] for p in ps], [single.state[q][key] for q in sl]))
    return max(errs)
