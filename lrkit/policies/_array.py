"""Array back ends for evaluating policies on Python numbers, numpy arrays and torch tensors.

Every policy writes its formula once, against the small namespace below (``xp``), and the same
formula then runs on a Python scalar, a numpy array or a torch tensor on any device. Values are
computed in float64 so that a curve plotted with numpy, an LR applied by the scheduler and an LR
evaluated on the GPU agree to the last few ulps.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Sequence

import numpy as np


class NumpyOps:
    """The operations a policy formula may use, implemented with numpy (float64)."""

    floor = staticmethod(np.floor)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)
    where = staticmethod(np.where)
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)

    @staticmethod
    def mod(x, m):
        return np.mod(x, m)

    @staticmethod
    def clip(x, lo=None, hi=None):
        return np.clip(x, lo, hi)

    @staticmethod
    def count_le(t, edges: Sequence[float]):
        """Number of entries of the sorted ``edges`` that are <= t (element-wise)."""
        return np.searchsorted(np.asarray(edges, dtype=np.float64), t, side="right").astype(np.float64)

    @staticmethod
    def full_like(t, value):
        return np.full_like(t, value, dtype=np.float64)


class TorchOps:
    """The same operations with torch, on the device of the input tensor."""

    def __init__(self, torch_module, device):
        self.torch = torch_module
        self.device = device
        for name in ("floor", "sin", "cos", "exp", "log", "sqrt", "abs", "where", "minimum", "maximum"):
            setattr(self, name, getattr(torch_module, name))

    def mod(self, x, m):
        return self.torch.remainder(x, m)

    def clip(self, x, lo=None, hi=None):
        return self.torch.clamp(x, lo, hi)

    def count_le(self, t, edges: Sequence[float]):
        e = self.torch.tensor(list(edges), dtype=t.dtype, device=t.device)
        return self.torch.searchsorted(e, t.contiguous(), right=True).to(t.dtype)

    def full_like(self, t, value):
        return self.torch.full_like(t, value)


def _is_torch_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "dtype") and hasattr(x, "device")


def evaluate(formula: Callable[[Any, Any], Any], t: Any, who: str):
    """Evaluate ``formula(t, xp)`` for a scalar, array-like or torch tensor ``t``.

    Returns a Python float for a scalar ``t``, a float64 numpy array for array input and a
    float64 tensor on ``t``'s device for a tensor (float32 on devices without float64).
    A negative ``t`` raises ``ValueError`` (checked for scalars, numpy arrays and CPU tensors;
    tensors on an accelerator are not checked, to avoid a host-device synchronisation).
    """
    if _is_torch_tensor(t):
        import torch

        dtype = torch.float32 if t.device.type == "mps" else torch.float64
        tt = t.to(dtype)
        if tt.device.type == "cpu" and tt.numel() and bool((tt < 0).any()):
            raise ValueError(f"{who}: iteration t must be >= 0 (t = 0 is the first iteration), got a negative t")
        out = formula(tt, TorchOps(torch, tt.device))
        if not _is_torch_tensor(out):  # a constant formula returned a scalar
            out = torch.full_like(tt, float(out))
        return out
    scalar = isinstance(t, numbers.Real) and not isinstance(t, bool)
    if isinstance(t, bool):
        raise TypeError(f"{who}: iteration t must be a number or an array of numbers, got a bool")
    arr = np.asarray(t, dtype=np.float64)
    if arr.size and np.nanmin(arr) < 0:
        raise ValueError(f"{who}: iteration t must be >= 0 (t = 0 is the first iteration), got {np.nanmin(arr)!r}")
    out = formula(arr, NumpyOps)
    out = np.broadcast_to(np.asarray(out, dtype=np.float64), arr.shape)
    if scalar or arr.ndim == 0:
        return float(out)
    return np.array(out, dtype=np.float64)
