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
