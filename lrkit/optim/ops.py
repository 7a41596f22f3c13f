"""Typed wrappers of the lrkit ops (``torch.ops.lrkit``) and their fake kernels.

Each op has one name and one schema (``csrc/ops.cpp``), with a CPU kernel (``csrc/cpu``) and, where torch has
CUDA, a CUDA kernel (``csrc/cuda``) registered under that name: the tensors' device picks the kernel. The
wrappers need the extension loaded (:func:`lrkit.optim._ext.load`); the fake kernels (shape only, for
``torch.compile`` and FakeTensor) are registered by that load.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

CHUNK_SIZE = 65536  # the schema's default chunk of mopt_l1 (lrkit.optim.tables.CHUNK_SIZE)


def eval_program(meta: Tensor, code: Tensor, consts: Tensor, t: Tensor) -> Tensor:
    """η(t) of one compiled policy (:meth:`lrkit.optim.Program.pack`) for every t, float64."""
    return torch.ops.lrkit.eval_program.default(meta, code, consts, t)


def fused_adam_(params: Sequence[Tensor], grads: Sequence[Tensor], exp_avgs: Sequence[Tensor],
                exp_avg_sqs: Sequence[Tensor], max_exp_avg_sqs: Sequence[Tensor], prev_deltas: Sequence[Tensor],
                steps: Sequence[Tensor], lrs: Sequence[Tensor], mopt_sums: Sequence[Tensor], tables: Tensor,
                scratch: Tensor, n_tensors: int, n_chunks: int, chunk_size: int, n_programs: int,
                grad_scale: Tensor | None = None, found_inf: Tensor | None = None) -> None:
    """One Adam step of every group in ``tables`` (:func:`lrkit.optim.tables.pack`, on the tensors' device),
    in place; each group's step counter advances by 1 − found_inf. The lists are what the step writes, in
    the tables' group order (see ``csrc/ops.cpp``)."""
    torch.ops.lrkit.fused_adam_.default(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, prev_deltas, steps, lrs,
                                        mopt_sums, tables, scratch, n_tensors, n_chunks, chunk_size, n_programs,
                                        grad_scale, found_inf)


def mopt_l1(theta0: Sequence[Tensor], theta1: Sequence[Tensor], theta2: Sequence[Tensor], tables: Tensor | None = None,
            n_chunks: int = 0, chunk_size: int = CHUNK_SIZE) -> Tensor:
    """float64 ``[‖Θ1 − Θ0‖₁, ‖2Θ1 − Θ0 − Θ2‖₁]`` on the snapshots' device; on CUDA ``tables``
    (:func:`lrkit.optim.tables.pack_mopt`, on the device) is required."""
    return torch.ops.lrkit.mopt_l1.default(theta0, theta1, theta2, tables, n_chunks, chunk_size)


def register_fakes() -> None:
    """Shape-only kernels of every op, mirroring the C++ checks that shapes alone can make."""

    @torch.library.register_fake("lrkit::eval_program")
    def _eval_program_fake(meta, code, consts, t):
        return torch.empty_like(t, dtype=torch.float64)

    @torch.library.register_fake("lrkit::fused_adam_")
    def _fused_adam_fake(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, prev_deltas, steps, lrs, mopt_sums,
                         tables, scratch, n_tensors, n_chunks, chunk_size, n_programs, grad_scale, found_inf):
        torch._check(len(grads) == len(params) == len(exp_avgs) == len(exp_avg_sqs),
                     lambda: "lrkit.fused_adam_: params, grads, exp_avgs and exp_avg_sqs must have the same length")
        torch._check(len(lrs) == len(steps), lambda: "lrkit.fused_adam_: one step counter and one lrs per group")
        torch._check(tables.dtype == torch.uint8, lambda: "lrkit.fused_adam_: 'tables' must be uint8")
        return None

    @torch.library.register_fake("lrkit::mopt_l1")
    def _mopt_l1_fake(theta0, theta1, theta2, tables=None, n_chunks=0, chunk_size=CHUNK_SIZE):
        torch._check(len(theta0) == len(theta1) == len(theta2),
                     lambda: "lrkit.mopt_l1: the three snapshots must hold the same number of tensors")
        device = tables.device if tables is not None else (theta0[0].device if len(theta0) else torch.device("cpu"))
        return torch.empty(2, dtype=torch.float64, device=device)
