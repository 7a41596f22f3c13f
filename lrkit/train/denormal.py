"""Flush subnormal floats to zero on every CPU thread torch computes on (``TrainConfig.flush_denormal``).

Why: a float32 below 1.18e-38 is *subnormal*, and x86 CPUs handle subnormal operands and results
in microcode, tens of times slower than normal ones. In Adam, the second moment ``v`` of a
weight whose gradient stays zero decays by β2 every step (v ← β2·v) until it is subnormal; on an
Intel Xeon, CPU Adam training of CNN3 (CIFAR-10) slowed from 9 to 2.7 it/s between iterations
1,000 and 3,000 as 30,000 values turned subnormal, and kept 8.8–9.6 it/s with flushing on.

What it changes: results that would be subnormal become 0 (FTZ) and subnormal inputs read as 0
(DAZ), so a value moves by less than 1.2e-38 — far below what a different thread count changes
through the order of its sums, which is why, like ``threads``, it is not part of a run's key
(:mod:`lrkit.run.store`).

The catch this module handles: FTZ/DAZ live in each thread's MXCSR register, and
``torch.set_flush_denormal`` sets only the calling thread's. Threads started later inherit it, but
torch's OpenMP workers start at the first parallel op and are reused, so a flag set after that
reaches only the main thread (a 2-thread multiply then flushes half its output). :func:`set_flush_denormal`
runs ``torch.set_flush_denormal`` on every thread of the OpenMP team too, by entering one parallel
region of the OpenMP runtime torch loaded (``GOMP_parallel``, through ctypes); :func:`flushed_share`
measures the result.
"""

from __future__ import annotations

import ctypes
import os

import torch

_state: dict = {}
_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _openmp_runtime():
    """The OpenMP runtime torch's CPU threads run on (torch's own ``libgomp``, or Intel's / LLVM's,
    which export the same ``GOMP_parallel`` entry), or ``None`` where torch does not thread with OpenMP."""
    if "omp" in _state:
        return _state["omp"]
    lib = None
    if torch.backends.openmp.is_available():
        paths = []
        try:
            with open("/proc/self/maps") as f:  # the copy torch loaded, not another one on the library path
                for line in f:
                    p = line.split()[-1]
                    name = os.path.basename(p)
                    if name.startswith(("libgomp", "libiomp", "libomp")) and ".so" in name and p not in paths:
                        paths.append(p)
        except OSError:
            pass
        for p in paths:
            try:
                cand = ctypes.CDLL(p)
                cand.GOMP_parallel.argtypes = [_FN, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
                cand.GOMP_parallel.restype = None
                lib = cand
                break
            except (OSError, AttributeError):
                continue
    _state["omp"] = lib
    return lib


def set_flush_denormal(on: bool = True) -> int:
    """Turn flushing of subnormal floats on (or off) on the calling thread and every thread of torch's
    OpenMP team (``torch.get_num_threads()`` of them, or the most an earlier call set). Returns how many
    threads were set. Call it again after ``torch.set_num_threads`` grows the team past what a call set
    before (threads the pool starts later inherit the calling thread's mode; :class:`lrkit.train.Run`
    calls it after setting its threads).

    Raises ``RuntimeError`` where the CPU cannot flush (``torch.set_flush_denormal`` returns False:
    no SSE3 DAZ on x86, or a CPU torch has no switch for).
    """
    if not torch.set_flush_denormal(bool(on)):
        if not on:  # nothing to turn off
            return 0
        raise RuntimeError("flush_denormal: this CPU has no flush-to-zero / denormals-are-zero mode torch can set "
                           "(torch.set_flush_denormal returned False); set TrainConfig.flush_denormal=False")
    _state["on"] = bool(on)
    omp = _openmp_runtime()
    # the largest team asked for so far: a pool that shrank keeps its idle threads for when it grows again
    n = _state["team"] = max(torch.get_num_threads(), _state.get("team", 0))
    if omp is None or n <= 1:
        return 1
    set_here = []

    def body(_):  # runs once on each thread of the team, the calling thread included
        torch.set_flush_denormal(bool(on))
        set_here.append(1)

    cb = _FN(body)  # kept alive for the call; ctypes takes the GIL on each worker that runs it
    omp.GOMP_parallel(cb, None, n, 0)
    return len(set_here)


def flushing() -> bool:
    """Whether :func:`set_flush_denormal` turned flushing on in this process (and not off since)."""
    return _state.get("on", False)


def flushed_share(n: int = 1 << 22) -> float:
    """The share of a parallel float32 product with subnormal results (1e-30 × 1e-10) that came out 0:
    1.0 when every thread torch splits the work over flushes, 0.0 when none does, between when only some
    do (the flag was set with ``torch.set_flush_denormal`` after the thread pool started)."""
    y = torch.full((n,), 1e-30) * 1e-10
    return float((y == 0).sum()) / n
