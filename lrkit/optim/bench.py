"""Benchmark of the optimizer step with its LR schedule, and of the M-opt estimator (a script, not a test).

Every Adam variant advances its LR each step from the same policy: ours inside the step; torch's
``Adam(fused=True)`` and ``Adam(foreach=True)`` with :class:`lrkit.policies.PolicyLR` stepping each
iteration; bitsandbytes' 8-bit Adam (with the scheduler) where it runs. Reported per case: the median
step time, the bytes the step must move (fp32 Adam: read p, g, m, v and write p, m, v = 28 B per
parameter; 8-bit Adam: 16 B, its states being bytes), achieved GB/s and the fraction of this device's measured copy
bandwidth (``dst.copy_(src)`` on a 256 MB tensor), and the speed-up over torch fused + scheduler.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch

SPEC = "SIN2(k0=0.0001, k1=0.001, l=100)"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_ms(fn, device, steps: int, warmup: int) -> float:
    t0 = time.perf_counter()
    fn()
    _sync(device)
    if time.perf_counter() - t0 > 1.0:  # a slow implementation: fewer repetitions, same median
        steps, warmup = min(steps, 3), 0
    for _ in range(max(0, warmup - 1)):
        fn()
    _sync(device)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def copy_bandwidth(device: torch.device, mbytes: int = 256, steps: int = 10) -> float:
    """GB/s of ``dst.copy_(src)`` (read + write counted) on this device."""
    n = mbytes * 2**20 // 4
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    ms = _median_ms(lambda: dst.copy_(src), device, steps, 2)
    return 2 * n * 4 / (ms * 1e-3) / 1e9


def _params(sizes: list[int], device, dtype, seed=0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    ps = []
    for n in sizes:
        p = torch.nn.Parameter(torch.randn(n, generator=g).to(device=device, dtype=dtype))
        p.grad = torch.randn(n, generator=g).to(device=device, dtype=dtype) * 1e-3
        ps.append(p)
    return ps


def _impls(device: torch.device):
    from lrkit.optim import FusedAdam
    from lrkit.policies import parse

    def ours(ps):
        opt = FusedAdam(ps, policy=SPEC, backend="auto")
        return opt.step, ("lrkit FusedAdam" + (" (compiled)" if opt.uses_extension(device) else " (torch fallback)"))

    def reference(ps):
        opt = FusedAdam(ps, policy=SPEC, backend="torch")
        return opt.step, "lrkit reference (pure torch)"

    def torch_adam(kind):
        def make(ps):
            opt = torch.optim.Adam(ps, lr=1e-3, **{kind: True})
            sched = parse(SPEC).scheduler(opt)

            def step():
                opt.step()
                sched.step()
            return step, f"torch Adam {kind} + PolicyLR"
        return make

    def bnb8(ps):
        import bitsandbytes as bnb

        opt = bnb.optim.Adam8bit(ps, lr=1e-3)
        sched = parse(SPEC).scheduler(opt)

        def step():
            opt.step()
            sched.step()
        step()  # fail here, not in the timing loop, if 8-bit Adam does not run on this device
        return step, "bitsandbytes Adam8bit + PolicyLR"

    return [("lrkit", ours), ("reference", reference), ("fused", torch_adam("fused")),
            ("foreach", torch_adam("foreach")), ("bnb8", bnb8)]


def bench_fused_adam(sizes=(1_000_000, 10_000_000), many_small=(500,), small_size=4096, device="cpu",
                     dtype=torch.float32, steps: int = 20, warmup: int = 3, skip=(), progress: bool = True) -> dict:
    """Time every implementation on one-tensor cases (``sizes``) and many-small-tensor cases."""
    from tqdm.auto import tqdm

    device = torch.device(device)
    bw = copy_bandwidth(device)
    cases = [(f"1 x {n:,}", [int(n)]) for n in sizes] + [(f"{k} x {small_size:,}", [small_size] * int(k)) for k in many_small]
    rows = []
    impls = [(k, mk) for k, mk in _impls(device) if k not in skip]
    bar = tqdm(total=len(cases) * len(impls), desc="fused-adam bench", disable=not progress)
    for case, shape in cases:
        n_params = sum(shape)
        case_rows = []
        for key, make in impls:
            row = {"case": case, "params": n_params, "tensors": len(shape), "impl": key}
            try:
                ps = _params(shape, device, dtype)
                fn, name = make(ps)
                ms = _median_ms(fn, device, steps, warmup)
                item = torch.empty((), dtype=dtype).element_size()
                moved = n_params * (3 * item + (4 if key == "bnb8" else 16))  # p r/w + g; m, v r/w
                row.update(name=name, median_ms=ms, gb_s=moved / (ms * 1e-3) / 1e9)
                row["frac_copy_bw"] = row["gb_s"] / bw
            except Exception as e:  # an implementation that does not run here is reported, not fatal
                row.update(name=key, error=f"{type(e).__name__}: {str(e).splitlines()[0][:160]}")
            case_rows.append(row)
            bar.update(1)
        base = next((r for r in case_rows if r["impl"] == "fused" and "median_ms" in r), None)
        for r in case_rows:
            if base and "median_ms" in r:
                r["speedup_vs_torch_fused"] = base["median_ms"] / r["median_ms"]
        rows += case_rows
    bar.close()
    return {"device": _device_name(device), "dtype": str(dtype).replace("torch.", ""), "copy_bandwidth_gb_s": bw,
            "policy": SPEC, "rows": rows, "mopt": bench_mopt(sizes, device, steps, warmup), "environment": _env(device)}


def bench_mopt(sizes, device, steps: int = 20, warmup: int = 3) -> list[dict]:
    """Fused M-opt L1 sums vs the naive torch expression of Formula 7."""
    from lrkit.optim import mopt_lr

    out = []
    for n in sizes:
        g = torch.Generator().manual_seed(1)
        t0, t1, t2 = (torch.randn(int(n), generator=g).to(device) for _ in range(3))
        ours = _median_ms(lambda: mopt_lr(0.01, [t0], [t1], [t2]), device, steps, warmup)
        naive = _median_ms(lambda: 0.01 * (t1 - t0).abs().sum() / (2 * t1 - t0 - t2).abs().sum(), device, steps, warmup)
        out.append({"params": int(n), "fused_ms": ours, "naive_ms": naive, "speedup": naive / ours})
    return out


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from lrkit.train.engine import _cpu_name

    return f"{_cpu_name()} ({torch.get_num_threads()} threads)"


def _env(device) -> dict:
    """:func:`lrkit.train.engine.environment` (versions, device, CPU/GPU name), dated by the day."""
    from lrkit.train.engine import environment

    env = environment(str(device))
    return dict(env, date=env["date"][:10])


def table(doc: dict) -> str:
    """The results as a Markdown table (what ``lrkit bench fused-adam`` prints)."""
    lines = [f"Fused Adam-with-schedule on {doc['device']}, {doc['dtype']}, policy {doc['policy']}; "
             f"measured copy bandwidth {doc['copy_bandwidth_gb_s']:.1f} GB/s; torch {doc['environment']['torch']}, "
             f"{doc['environment']['date']}", "",
             "| case | implementation | median step (ms) | GB/s | of copy bw | vs torch fused + scheduler |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in doc["rows"]:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['name']} | — | — | — | does not run here: {r['error']} |")
        else:
            sp = r.get("speedup_vs_torch_fused")
            lines.append(f"| {r['case']} | {r['name']} | {r['median_ms']:.3f} | {r['gb_s']:.1f} | "
                         f"{100 * r['frac_copy_bw']:.0f}% | {'—' if sp is None else f'{sp:.2f}×'} |")
    lines += ["", "| M-opt, params | fused (ms) | naive torch (ms) | speed-up |", "| --- | --- | --- | --- |"]
    for r in doc["mopt"]:
        lines.append(f"| {r['params']:,} | {r['fused_ms']:.3f} | {r['naive_ms']:.3f} | {r['speedup']:.2f}× |")
    return "\n".join(lines) + "\n"


def write(doc: dict, out: str | Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    out.with_suffix(".md").write_text(table(doc))
