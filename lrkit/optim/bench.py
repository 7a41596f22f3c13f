"""Benchmark of the optimizer step with its LR schedule, and of the M-opt estimator (a script, not a test).

Every Adam variant advances its LR each step from the same policy: ours inside the step; torch's
``Adam(fused=True)`` and ``Adam(foreach=True)`` with :class:`lrkit.policies.PolicyLR` stepping each
iteration; bitsandbytes' 8-bit Adam (with the scheduler) where it runs. Reported per case: the median
step time, the bytes the step must move (fp32 Adam: read p, g, m, v and write p, m, v = 28 B per
parameter; 8-bit Adam: 16 B, its states being bytes), achieved GB/s and the fraction of this device's measured copy
bandwidth (``dst.copy_(src)`` on a 256 MB tensor), and the speed-up over torch fused + scheduler. With
``amsgrad=True`` every Adam is AMSGrad (8 B more per parameter: its running maximum read and written);
bitsandbytes' 8-bit Adam has none (it accepts ``amsgrad`` and ignores it), so its row says so.
"""

from __future__ import annotations

import gc
import json
import math
import numbers
import statistics
import time
from pathlib import Path

import torch

from lrkit.environment import benchmark_environment, device_label, synchronize

SPEC = "SIN2(k0=0.0001, k1=0.001, l=100)"


def _device_events(device: torch.device):
    """A (start, end) pair of CUDA events for timing one call on the device, or None off a GPU."""
    if device.type != "cuda":
        return None
    return torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)


def _timed_call(fn, device, wall: list, on_device: list | None) -> None:
    """One call of ``fn``: its wall time (ms, to the end of the device's work) appended to ``wall`` and, on a
    GPU, the device time between CUDA events recorded before and after it to ``on_device``: the gap between
    the two is the host overhead (launches, table lookups) that decides the small-tensor case."""
    events = _device_events(device) if on_device is not None else None
    t0 = time.perf_counter()
    if events:
        events[0].record()
    fn()
    if events:
        events[1].record()
    synchronize(device)
    wall.append((time.perf_counter() - t0) * 1e3)
    if events:
        events[1].synchronize()
        on_device.append(events[0].elapsed_time(events[1]))


def _warm_up(fn, device, warmup: int) -> bool:
    """Call ``fn`` ``warmup`` times (at least once); True, after the first call only, if that call took over
    a second (a slow implementation: it is then timed on fewer repetitions, same median)."""
    t0 = time.perf_counter()
    fn()
    synchronize(device)
    if time.perf_counter() - t0 > 1.0:
        return True
    for _ in range(max(0, warmup - 1)):
        fn()
    synchronize(device)
    return False


def _median_ms(fn, device, steps: int, warmup: int, times: list | None = None,
               device_times: list | None = None) -> float:
    """Median time (ms) of ``steps`` calls of ``fn`` after ``warmup`` (each call's time appended to ``times``,
    its device time on a GPU to ``device_times``)."""
    if _warm_up(fn, device, warmup):
        steps = min(steps, 3)
    times = [] if times is None else times
    for _ in range(steps):
        _timed_call(fn, device, times, device_times)
    return statistics.median(times)


def _interleaved_ms(fns: dict, device, steps: int, warmup: int, times: dict, device_times: dict | None = None) -> None:
    """Time several step functions in rounds: each round steps every function once, in an order rotated from
    round to round, so a slow spell of a noisy machine falls on all of them alike. ``times[key]`` gets one
    step time (ms) per round, filled as it goes (an interrupt leaves the rounds already timed), and on a GPU
    ``device_times[key]`` its device time. A function whose first call takes over a second is timed in the
    first three rounds only."""
    rounds = {}
    for key, fn in fns.items():
        rounds[key] = min(steps, 3) if _warm_up(fn, device, warmup) else steps
        times.setdefault(key, [])
        if device_times is not None:
            device_times.setdefault(key, [])
    keys = list(fns)
    for r in range(steps):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            if r < rounds[key]:
                _timed_call(fns[key], device, times[key], None if device_times is None else device_times[key])


def _speedup(base: dict, row: dict) -> dict:
    """``row``'s speed-up over ``base``: the median of the per-round ratios where both were timed in the same
    interleaved rounds (with their quartiles), else the ratio of the median step times."""
    if base.get("timing") == row.get("timing") == "interleaved":
        ratios = [b / t for b, t in zip(base["times_ms"], row["times_ms"])]
        if ratios:
            out = {"speedup_vs_torch_fused": statistics.median(ratios)}
            if len(ratios) >= 2:
                q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
                out["speedup_quartiles"] = [q1, q3]
            return out
    return {"speedup_vs_torch_fused": base["median_ms"] / row["median_ms"]}


def copy_bandwidth(device: torch.device, mbytes: int = 256, steps: int = 10) -> float:
    """GB/s of ``dst.copy_(src)`` (read + write counted) on this device."""
    n = mbytes * 2**20 // 4
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    ms = _median_ms(lambda: dst.copy_(src), device, steps, 2)
    return 2 * n * 4 / (ms * 1e-3) / 1e9


def _params(sizes: list[int], device, dtype, seed=0):
    """Random parameters with gradients, drawn on ``device`` itself (1B values drawn on the host and copied
    over would take longer than timing the step)."""
    g = torch.Generator(device=device).manual_seed(seed)
    ps = []
    for n in sizes:
        p = torch.nn.Parameter(torch.randn(n, generator=g, device=device, dtype=dtype))
        p.grad = torch.randn(n, generator=g, device=device, dtype=dtype).mul_(1e-3)
        ps.append(p)
    return ps


# Bytes per parameter an implementation holds while it steps, beyond the parameter and its gradient: its
# optimizer state plus the temporaries its step allocates. On the host these are measured: the growth of
# the peak RSS over making the optimizer and three steps, its slope between 10M and 40M fp32 parameters
# (2-core EPYC, torch 2.13, bitsandbytes 0.50, whose CPU path holds about 22 bytes, not the 2 of its 8-bit
# states). On a GPU they are read off the code: torch's foreach Adam allocates sqrt(v), the pure-torch
# reference holds m', v' and about three float32 intermediates, 8-bit Adam updates its byte states in
# place. Used to skip, and say so, a case that would not fit in free memory.
STEP_BYTES = {"cpu": {"lrkit": 8, "fused": 8, "foreach": 12, "reference": 28, "bnb8": 22},
              "cuda": {"lrkit": 8, "fused": 8, "foreach": 12, "reference": 28, "bnb8": 4}}


def free_bytes(device: torch.device) -> int | None:
    """Bytes free for new tensors on ``device``: ``cudaMemGetInfo`` on a GPU, Linux's MemAvailable on the
    host; None where it cannot be told."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _fits(need: int, device: torch.device) -> str | None:
    """None if ``need`` bytes fit in 85% of the free memory, else why not (the row's ``skipped``)."""
    free = free_bytes(device)
    if free is None or need <= 0.85 * free:
        return None
    return f"needs about {need / 1e9:.1f} GB, {free / 1e9:.1f} GB free on {device.type}"


def _release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _impls(device: torch.device, amsgrad: bool = False):
    from lrkit.optim import FusedAdam
    from lrkit.policies import parse

    def ours(ps):
        opt = FusedAdam(ps, policy=SPEC, backend="auto", amsgrad=amsgrad)
        return opt.step, ("lrkit FusedAdam" + (" (compiled)" if opt.uses_extension(device) else " (torch fallback)"))

    def reference(ps):
        opt = FusedAdam(ps, policy=SPEC, backend="torch", amsgrad=amsgrad)
        return opt.step, "lrkit reference (pure torch)"

    def torch_adam(kind):
        def make(ps):
            opt = torch.optim.Adam(ps, lr=1e-3, amsgrad=amsgrad, **{kind: True})
            sched = parse(SPEC).scheduler(opt)

            def step():
                opt.step()
                sched.step()
            return step, f"torch Adam {kind} + PolicyLR"
        return make

    def bnb8(ps):
        if amsgrad:
            raise NotImplementedError("bitsandbytes' Adam8bit has no AMSGrad (it ignores amsgrad=True)")
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


class BenchInputError(ValueError):
    """A bad argument of :func:`bench_fused_adam`, raised before anything is timed; ``field`` names it."""

    def __init__(self, field: str, rule: str, value):
        self.field = field
        super().__init__(f"bench_fused_adam: field '{field}' {rule}, got {value!r}")


def _counts(field: str, values) -> list[int]:
    """``values`` as ints >= 1 (whole floats such as 1e6 accepted), or a BenchInputError naming the field."""
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 1 or v != int(v):
            raise BenchInputError(field, "takes whole numbers >= 1", v)
        out.append(int(v))
    return out


def bench_fused_adam(sizes=(1_000_000, 10_000_000), many_small=(500,), small_size=4096, device="cpu",
                     dtype=torch.float32, steps: int = 20, warmup: int = 3, skip=(), progress: bool = True,
                     mopt_sizes=None, checkpoint=None, interleave: bool = True, amsgrad: bool = False) -> dict:
    """Time every implementation on one-tensor cases (``sizes``) and many-small-tensor cases, then the
    M-opt op on ``mopt_sizes`` (default: ``sizes``). ``amsgrad``: time AMSGrad steps (ours and torch's).

    Where every implementation's tensors fit in memory at once (and ``interleave``), a case is timed in
    interleaved rounds (:func:`_interleaved_ms`): its speed-ups are the median of the per-round ratios to
    torch fused, with their quartiles (``speedup_quartiles``), so a slow spell of a shared machine moves
    both sides of a ratio alike. Otherwise (``timing: sequential``) each implementation is timed alone, its
    tensors freed before the next one allocates, and a speed-up is the ratio of the medians. Every step
    time is kept (``times_ms``).

    A case that would not fit in free memory (:data:`STEP_BYTES`) is recorded as ``skipped`` with the
    bytes it needs; an implementation that fails is recorded with its ``error``. Ctrl-C (or ``timeout
    --signal=INT``) stops the benchmark and returns every row measured so far, with ``interrupted`` set.
    ``checkpoint(doc)``, if given, is called after every case with the document so far (marked
    ``interrupted`` until the end), so a process killed outright (out of memory) leaves what it measured.
    """
    from tqdm.auto import tqdm

    sizes, mopt_sizes = _counts("sizes", sizes), None if mopt_sizes is None else _counts("mopt_sizes", mopt_sizes)
    many_small, (small_size,), (steps,) = _counts("many_small", many_small), _counts("small_size", [small_size]), \
        _counts("steps", [steps])
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise BenchInputError("warmup", "must be an int >= 0", warmup)
    if set(skip) - set(STEP_BYTES["cpu"]):
        raise BenchInputError("skip", "takes names among " + ", ".join(STEP_BYTES["cpu"]), list(skip))
    device = torch.device(device)
    bw = copy_bandwidth(device)
    item = torch.empty((), dtype=dtype).element_size()
    cases = [(f"1 x {n:,}", [int(n)]) for n in sizes] + [(f"{k} x {small_size:,}", [small_size] * int(k)) for k in many_small]
    rows, mopt, interrupted = [], [], None
    impls = [(k, mk) for k, mk in _impls(device, amsgrad) if k not in skip]
    bar = tqdm(total=len(cases) * len(impls), desc="fused-adam bench", disable=not progress)
    step_bytes = {k: b + (4 if amsgrad and k != "bnb8" else 0)  # AMSGrad's running maximum
                  for k, b in STEP_BYTES.get(device.type, STEP_BYTES["cpu"]).items()}
    name, env = device_label(device), benchmark_environment(device)

    def document(interrupted=None) -> dict:
        for case_rows in rows:
            base = next((r for r in case_rows if r["impl"] == "fused" and "median_ms" in r), None)
            for r in case_rows:
                if base and "median_ms" in r:
                    r.update(_speedup(base, r))
        doc = {"device": name, "dtype": str(dtype).replace("torch.", ""), "amsgrad": amsgrad, "copy_bandwidth_gb_s": bw,
               "policy": SPEC,
               "rows": [r for case_rows in rows for r in case_rows if "name" in r], "mopt": list(mopt), "environment": env}
        if interrupted:
            doc["interrupted"] = interrupted
        return doc

    def new_row(case_rows, case, shape, key, timing) -> dict:
        row = {"case": case, "params": sum(shape), "tensors": len(shape), "impl": key, "timing": timing}
        case_rows.append(row)
        return row

    def measured(row, impl_name, times, device_times=None) -> None:
        if device_times:  # CUDA events: the device's time, beside the wall time that includes host overhead
            row.update(device_median_ms=statistics.median(device_times), device_times_ms=list(device_times))
        ms = statistics.median(times)
        state = 4 if row["impl"] == "bnb8" else 16 + (8 if amsgrad else 0)  # m, v (and AMSGrad's max) r/w
        moved = row["params"] * (3 * item + state)  # p r/w + g
        row.update(name=impl_name, median_ms=ms, gb_s=moved / (ms * 1e-3) / 1e9, times_ms=list(times))
        row["frac_copy_bw"] = row["gb_s"] / bw

    def failed(row, key, e) -> None:
        row.update(name=key, error=f"{type(e).__name__}: {str(e).splitlines()[0][:160]}")

    def interleaved_case(case_rows, case, shape) -> bool:
        """Time the case in interleaved rounds; False (the rows cleared) if a step failed during the rounds."""
        fns, names = {}, {}
        for key, make in impls:
            row = new_row(case_rows, case, shape, key, "interleaved")
            try:
                ps = _params(shape, device, dtype)
                fn, names[key] = make(ps)
                fn()  # a step that fails here is reported, not timed
                fns[key] = fn
            except Exception as e:
                failed(row, key, e)
        times, device_times, ok = {}, {}, False
        try:
            _interleaved_ms(fns, device, steps, warmup, times, device_times)
            ok = True
        except Exception:  # which step failed is not known here: the case is timed again one by one
            case_rows.clear()
        finally:  # an interrupt keeps the rounds timed so far
            for row in case_rows:
                if times.get(row["impl"]):
                    measured(row, names[row["impl"]], times[row["impl"]], device_times.get(row["impl"]))
            ps = fns = None
            _release(device)
        if ok:
            bar.update(len(impls))
        return ok

    def sequential_case(case_rows, case, shape) -> None:
        for key, make in impls:
            row = new_row(case_rows, case, shape, key, "sequential")
            too_big = _fits(row["params"] * (2 * item + step_bytes[key]), device)
            if too_big:
                row.update(name=key, skipped=too_big)
            else:
                try:
                    ps = _params(shape, device, dtype)
                    fn, impl_name = make(ps)
                    times, device_times = [], []
                    _median_ms(fn, device, steps, warmup, times, device_times)
                    measured(row, impl_name, times, device_times)
                except Exception as e:  # an implementation that does not run here is reported, not fatal
                    failed(row, key, e)
                finally:
                    ps = fn = None  # free this implementation's tensors before the next one allocates
                    _release(device)
            bar.update(1)

    try:
        for case, shape in cases:
            case_rows = []
            rows.append(case_rows)
            together = sum(sum(shape) * (2 * item + step_bytes[key]) for key, _ in impls)
            fits_together = interleave and len(impls) > 1 and _fits(together, device) is None
            if not (fits_together and interleaved_case(case_rows, case, shape)):
                sequential_case(case_rows, case, shape)  # one implementation's tensors at a time
            if checkpoint:
                checkpoint(document("written while the benchmark ran, which stopped before it ended: later cases missing"))
        mopt_sizes = sizes if mopt_sizes is None else mopt_sizes
        mopt = bench_mopt(mopt_sizes, device, steps, warmup, out=mopt)
    except KeyboardInterrupt:
        interrupted = "stopped by an interrupt; the rows measured before it are kept"
    finally:
        bar.close()
    return document(interrupted)


def bench_mopt(sizes, device, steps: int = 20, warmup: int = 3, out: list | None = None) -> list[dict]:
    """Fused M-opt L1 sums vs the naive torch expression of Formula 7 (rows appended to ``out`` as they are
    measured). The naive expression holds about three more tensors of the snapshots' size; a size whose
    naive form would not fit in free memory is timed for the fused op only."""
    from lrkit.optim import mopt_lr

    device = torch.device(device)
    out = [] if out is None else out
    for n in sizes:
        n = int(n)
        row = {"params": n}
        too_big = _fits(3 * 4 * n, device)
        if too_big:
            out.append(dict(row, skipped=too_big))
            continue
        g = torch.Generator(device=device).manual_seed(1)
        t0, t1, t2 = (torch.randn(n, generator=g, device=device) for _ in range(3))
        row["fused_ms"] = _median_ms(lambda: mopt_lr(0.01, [t0], [t1], [t2]), device, steps, warmup)
        naive_too_big = _fits(3 * 4 * n, device)
        if naive_too_big:
            row["naive_skipped"] = naive_too_big
        else:
            row["naive_ms"] = _median_ms(lambda: 0.01 * (t1 - t0).abs().sum() / (2 * t1 - t0 - t2).abs().sum(),
                                         device, steps, warmup)
            row["speedup"] = row["naive_ms"] / row["fused_ms"]
        out.append(row)
        t0 = t1 = t2 = None
        _release(device)
    return out


def table(doc: dict) -> str:
    """The results as a Markdown table (what ``lrkit bench fused-adam`` prints)."""
    lines = [f"Fused Adam-with-schedule{' (AMSGrad)' if doc.get('amsgrad') else ''} on {doc['device']}, {doc['dtype']}, "
             f"policy {doc['policy']}; "
             f"measured copy bandwidth {doc['copy_bandwidth_gb_s']:.1f} GB/s; torch {doc['environment']['torch']}, "
             f"{doc['environment']['date']}", "",
             "| case | implementation | median step (ms) | device time (ms) | GB/s | of copy bw | "
             "vs torch fused + scheduler |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in doc["rows"]:
        if "error" in r or "skipped" in r:
            why = f"does not run here: {r['error']}" if "error" in r else f"skipped: {r['skipped']}"
            lines.append(f"| {r['case']} | {r['name']} | — | — | — | — | {why} |")
        else:
            sp, q = r.get("speedup_vs_torch_fused"), r.get("speedup_quartiles")
            sp = "—" if sp is None else f"{sp:.2f}×" + (f" ({q[0]:.2f}–{q[1]:.2f})" if q and r["impl"] != "fused" else "")
            dev = f"{r['device_median_ms']:.3f}" if "device_median_ms" in r else "—"
            lines.append(f"| {r['case']} | {r['name']} | {r['median_ms']:.3f} | {dev} | {r['gb_s']:.1f} | "
                         f"{100 * r['frac_copy_bw']:.0f}% | {sp} |")
    timing = {r.get("timing", "sequential") for r in doc["rows"] if "median_ms" in r}
    lines += ["", "Median step: wall time to the end of the device's work. Device time (GPU only): between CUDA events "
                  "recorded before and after the step; the difference is host overhead."]
    if "interleaved" in timing:
        lines += ["", "Interleaved cases: the implementations step in turn, round after round; a speed-up is the median of "
                      "the per-round ratios (their quartiles in brackets)."
                  + (" Sequential cases (too big to hold every implementation at once): each timed alone, a speed-up is "
                     "the ratio of the medians." if "sequential" in timing else "")]
    lines += ["", "| M-opt, params | fused (ms) | naive torch (ms) | speed-up |", "| --- | --- | --- | --- |"]
    for r in doc["mopt"]:
        if "skipped" in r:
            lines.append(f"| {r['params']:,} | — | — | skipped: {r['skipped']} |")
        elif "naive_ms" not in r:
            lines.append(f"| {r['params']:,} | {r['fused_ms']:.3f} | — | naive skipped: {r['naive_skipped']} |")
        else:
            lines.append(f"| {r['params']:,} | {r['fused_ms']:.3f} | {r['naive_ms']:.3f} | {r['speedup']:.2f}× |")
    return close_table(lines, doc)


def close_table(lines: list[str], doc: dict) -> str:
    """A benchmark's Markdown lines as one text, ending with what cut the benchmark short, if anything did."""
    if doc.get("interrupted"):
        lines = lines + ["", f"Incomplete: {doc['interrupted']}."]
    return "\n".join(lines) + "\n"


def write(doc: dict, out: str | Path, render=None) -> None:
    """A benchmark's ``doc`` as JSON at ``out`` and as a Markdown table beside it (``.md``: ``render(doc)``,
    default :func:`table`)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    out.with_suffix(".md").write_text((render or table)(doc))
