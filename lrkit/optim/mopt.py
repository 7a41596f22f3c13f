"""M-opt learning rate (004 §4.2, Formula 7): the LR the last two updates suggest.

    η* = η_{t+1} · ‖Θ_{t+1} − Θ_t‖₁ / ‖2Θ_{t+1} − Θ_t − Θ_{t+2}‖₁

over all parameters, from three consecutive snapshots Θ_t, Θ_{t+1}, Θ_{t+2} (η_{t+1} is the LR that
was applied to go from Θ_{t+1} to Θ_{t+2}). :func:`mopt_l1` computes both L1 sums in one fused pass
(``lrkit::mopt_l1``, :mod:`lrkit.optim.ops`: on CPU fixed chunks summed in float64, in order; on CUDA
every tensor in one launch pair with fixed-order tree reductions, the result left on the device); :func:`mopt_l1_reference` is the same sums with numpy in
float64, and the pure-torch expression is the fallback.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from lrkit.optim import _ext


def _as_list(x) -> list:
    return [x] if isinstance(x, torch.Tensor) else list(x)


def mopt_l1_reference(theta0, theta1, theta2) -> tuple[float, float]:
    """(‖Θ1 − Θ0‖₁, ‖2Θ1 − Θ0 − Θ2‖₁) with numpy in float64."""
    a = b = 0.0
    for x0, x1, x2 in zip(_as_list(theta0), _as_list(theta1), _as_list(theta2)):
        x0, x1, x2 = (np.asarray(x.detach().double().cpu()) for x in (x0, x1, x2))
        a += float(np.abs(x1 - x0).sum())
        b += float(np.abs(2.0 * x1 - x0 - x2).sum())
    return a, b


def mopt_l1(theta0, theta1, theta2) -> torch.Tensor:
    """float64 tensor ``[‖Θ1 − Θ0‖₁, ‖2Θ1 − Θ0 − Θ2‖₁]`` (one pass; a tensor or lists of tensors)."""
    t0, t1, t2 = _as_list(theta0), _as_list(theta1), _as_list(theta2)
    if not (len(t0) == len(t1) == len(t2)):
        raise ValueError(f"mopt_l1: the snapshots must hold the same number of tensors, got {len(t0)}, {len(t1)}, {len(t2)}")
    devices = {x.device for x in t0 + t1 + t2}
    on_cpu = all(d.type == "cpu" for d in devices)
    if len(devices) == 1 and next(iter(devices)).type == "cuda" and _ext.has_cuda_kernel("mopt_l1"):
        from lrkit.optim import ops

        return mopt_l1_tables(t0, t1, t2, ops.mopt_l1)
    if on_cpu and _ext.load():
        from lrkit.optim import ops

        return ops.mopt_l1(t0, t1, t2)
    if on_cpu:
        _ext.warn_fallback("mopt_l1")
    device = t0[0].device if t0 else torch.device("cpu")
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    for x0, x1, x2 in zip(t0, t1, t2):
        x0, x1, x2 = x0.double(), x1.double(), x2.double()
        sums[0] += (x1 - x0).abs().sum()
        sums[1] += (2.0 * x1 - x0 - x2).abs().sum()
    return sums


def mopt_l1_tables(theta0: list, theta1: list, theta2: list, launch, chunk_size: int | None = None) -> torch.Tensor:
    """The multi-tensor form: launch tables packed by :func:`lrkit.optim.tables.pack_mopt` (on the snapshots'
    device), then ``launch(theta0, theta1, theta2, tables, n_chunks, chunk_size)`` — ``lrkit::mopt_l1``, or in
    tests the host emulation of its CUDA kernels."""
    from lrkit.optim.tables import CHUNK_SIZE

    t0, t1, t2 = ([x.contiguous() for x in t] for t in (theta0, theta1, theta2))
    t, blob = _cached_tables(t0, t1, t2, chunk_size or CHUNK_SIZE)
    return launch(t0, t1, t2, blob, t.n_chunks, t.chunk_size)


_TABLES: dict = {}  # key (every address, size and dtype the tables hold) -> (Tables, their copy on the device)
_TABLES_KEPT = 8


def _cached_tables(t0: list, t1: list, t2: list, chunk_size: int):
    """The launch tables of these snapshots, packed and copied to their device once per parameter set. The key
    holds everything the tables hold, so a hit is always the same bytes (even for a new tensor that reuses a
    freed address). The copy is non-blocking from pinned memory on a GPU."""
    from lrkit.optim.tables import pack_mopt

    key = (chunk_size, tuple((a.data_ptr(), b.data_ptr(), c.data_ptr(), a.numel(), a.dtype) for a, b, c in zip(t0, t1, t2)))
    hit = _TABLES.pop(key, None)
    if hit is None:
        t = pack_mopt(t0, t1, t2, chunk_size)
        device = t0[0].device if t0 else torch.device("cpu")
        host = torch.from_numpy(t.blob)
        if device.type == "cuda":
            host = host.pin_memory()
        hit = (t, host.to(device, non_blocking=True))
    _TABLES[key] = hit  # the most recently used last
    for old in list(_TABLES)[:-_TABLES_KEPT]:
        del _TABLES[old]
    return hit


def mopt_lr(eta: float | torch.Tensor, theta0: Sequence, theta1: Sequence, theta2: Sequence) -> torch.Tensor:
    """η* of Formula 7 (float64 tensor; inf when the two updates are equal, so ‖…‖₁ of their difference is 0)."""
    s = mopt_l1(theta0, theta1, theta2)
    return eta * s[0] / s[1]
