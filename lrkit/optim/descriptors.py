"""A parameter group's compiled LR programs on its device: the descriptors the kernels read and the LR
they write back.

One policy gives one descriptor (``meta`` int32[4], ``code`` int32[cap, 4], ``consts`` float64[cap]; see
:meth:`lrkit.optim.Program.pack`) and ``lr`` float64[1]. A policy bank of K policies (one per model replica)
gives the same buffers with a leading axis of K and ``lr`` float64[K]. A new policy overwrites its
descriptor in place, so tensors a captured CUDA graph reads stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lrkit.optim.program import MAX_REGISTERS, compile_policy


@dataclass
class PolicyBuffers:
    device: torch.device
    specs: tuple[str, ...]  # the policies, one per program
    bank: bool  # a policy bank: buffers with a leading replica axis, even for K = 1
    meta: torch.Tensor
    code: torch.Tensor
    consts: torch.Tensor
    lr: torch.Tensor  # float64: η of each program at the last step (NaN before the first)

    @property
    def n_programs(self) -> int:
        return len(self.specs)


def packed_programs(specs: tuple[str, ...], bank: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(meta, code, consts)`` of the compiled policies: one descriptor, or K stacked for a bank."""
    descriptors = [compile_policy(spec).pack(MAX_REGISTERS) for spec in specs]
    if not bank:
        return descriptors[0]
    return tuple(np.stack([d[i] for d in descriptors]) for i in range(3))


def policy_buffers(old: PolicyBuffers | None, specs: tuple[str, ...], bank: bool, device: torch.device) -> PolicyBuffers:
    """The buffers of ``specs`` on ``device``: ``old`` itself when nothing changed, ``old`` overwritten in place
    when only the policies did (same device, same number of programs), else new buffers."""
    if old is not None and old.device == device and old.specs == specs and old.bank == bank:
        return old
    meta, code, consts = packed_programs(specs, bank)
    if old is not None and old.device == device and old.bank == bank and old.n_programs == len(specs):
        old.meta.copy_(torch.from_numpy(meta), non_blocking=True)
        old.code.copy_(torch.from_numpy(code), non_blocking=True)
        old.consts.copy_(torch.from_numpy(consts), non_blocking=True)
        old.specs = specs
        return old
    return PolicyBuffers(device=device, specs=specs, bank=bank, meta=torch.from_numpy(meta).to(device),
                         code=torch.from_numpy(code).to(device), consts=torch.from_numpy(consts).to(device),
                         lr=torch.full((len(specs),), float("nan"), dtype=torch.float64, device=device))
