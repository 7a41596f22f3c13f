"""Optimizers that compute the LR on the device from the policy (issue 4, in progress).

- :mod:`~lrkit.optim.program` — a policy compiled to a straight-line program of float64 ops, with
  a reference interpreter; the compiled kernels in ``csrc/`` run the same programs.
"""

from lrkit.optim.program import OPCODES, Program, ProgramError, compile_policy, run_program

__all__ = ["OPCODES", "Program", "ProgramError", "compile_policy", "run_program"]
