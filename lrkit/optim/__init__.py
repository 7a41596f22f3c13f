"""Optimizers that compute the LR on the device from the policy (issue 4, in progress).

- :mod:`~lrkit.optim.program` — a policy compiled to a straight-line program of float64 ops, with
  a reference interpreter; the compiled kernels in ``csrc/`` run the same programs.
- :mod:`~lrkit.optim.fused_adam` — :class:`FusedAdam`, Adam/AdamW with η(t) computed in the step
  (compiled CPU kernel, pure-torch reference/fallback; the CUDA kernel is in progress).
"""

from lrkit.optim.program import OPCODES, Program, ProgramError, compile_policy, run_program
from lrkit.optim.fused_adam import FusedAdam, adam_reference  # noqa: I001  (after program: it imports it)

__all__ = ["OPCODES", "FusedAdam", "Program", "ProgramError", "adam_reference", "compile_policy", "run_program"]
