"""A small mixed FusedAdam run for ``compute-sanitizer --tool memcheck`` (benchmarks/gpu_session.sh).

Every kind of tensor the CUDA step must handle in one launch: fp32, bf16, fp16, a view that starts off a
16-byte boundary, an empty tensor, a channels-last weight, an AMSGrad group, an M-opt measure step, an AMP
skip, and a resume through ``load_state_dict`` (bf16 params, whose moments must stay float32). Exits 0 when
every step ran and the params are finite; memcheck's own exit code reports what it found.

    python benchmarks/memcheck_step.py [--device cuda]
"""

from __future__ import annotations

import argparse
import sys

import torch

from lrkit.optim import FusedAdam


def mixed_params(device: str) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(0)
    base = torch.randn(5000, generator=g).to(device)
    conv = torch.randn(8, 3, 5, 5, generator=g).to(device).to(memory_format=torch.channels_last)
    return [torch.nn.Parameter(torch.randn(70001, generator=g).to(device)),
            torch.nn.Parameter(torch.randn(1025, generator=g).to(device, torch.bfloat16)),
            torch.nn.Parameter(torch.randn(999, generator=g).to(device, torch.float16)),
            torch.nn.Parameter(base[1:4002]),  # storage starts 4 bytes after a 16-byte boundary
            torch.nn.Parameter(torch.empty(0, device=device)),
            torch.nn.Parameter(conv)]


def make_optimizer(params, **kw) -> FusedAdam:
    return FusedAdam([{"params": params[:3]}, {"params": params[3:], "amsgrad": True, "policy": "FIX(k=0.002)"}],
                     policy="TRI(k0=0.001, k1=0.01, l=4)", weight_decay=0.01, adamw=True, mopt_every=2, **kw)


def run(device: str, steps: int = 6) -> list[torch.nn.Parameter]:
    params = mixed_params(device)
    opt = make_optimizer(params)
    for k in range(steps):
        for p in params:
            p.grad = torch.randn_like(p)
        if k == 2:  # an AMP step that found an inf: skipped, not counted
            opt.step(grad_scale=torch.tensor(2.0, device=device), found_inf=torch.tensor(1.0, device=device))
        opt.step()
    resumed = make_optimizer(params)
    resumed.load_state_dict(opt.state_dict())
    for p in params:
        p.grad = torch.randn_like(p)
    resumed.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return params


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args(argv)
    params = run(args.device)
    bad = [i for i, p in enumerate(params) if not torch.isfinite(p.detach().float()).all()]
    print(f"memcheck step on {args.device}: {len(params)} params, non-finite: {bad or 'none'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
