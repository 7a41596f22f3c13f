"""Optimizers that compute the LR on the device from the policy.

- :mod:`~lrkit.optim.program` — a policy compiled to a straight-line program of float64 ops, with
  a reference interpreter; the compiled kernels in ``csrc/`` run the same programs.
- :mod:`~lrkit.optim.fused_adam` — :class:`FusedAdam`, Adam/AdamW with η(t) computed in the step
  (compiled CPU kernel, CUDA kernel — compiled by CI's ``nvcc -c`` and run on the host, not yet on a GPU —),
  one LR policy per group or a policy bank (one policy per model replica along dim 0).
- :mod:`~lrkit.optim.functional` — :func:`fused_adam`, the step over named per-group records
  (:class:`AdamGroup`): the pure-torch path or the compiled op, one signature.
- :mod:`~lrkit.optim.reference` — the same step in readable pure torch: the fallback and the reference.
- :mod:`~lrkit.optim.ops` — typed wrappers and fake kernels of the compiled ops (``torch.ops.lrkit``).
- :mod:`~lrkit.optim.mopt` — the M-opt LR of 004 Formula 7 from three snapshots, fused L1 sums.
"""

from lrkit.optim.program import OPCODES, Program, ProgramError, compile_policy, run_program
from lrkit.optim.reference import adam_reference
from lrkit.optim.functional import AdamGroup, MoptStep, fused_adam
from lrkit.optim.fused_adam import FusedAdam  # noqa: I001  (after program: it imports it)
from lrkit.optim.mopt import mopt_l1, mopt_l1_reference, mopt_lr

__all__ = ["OPCODES", "AdamGroup", "FusedAdam", "MoptStep", "fused_adam", "Program", "ProgramError", "adam_reference", "compile_policy", "mopt_l1",
           "mopt_l1_reference", "mopt_lr", "run_program"]
