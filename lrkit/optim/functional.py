"""``fused_adam``: one Adam/AdamW step of parameter groups whose LR is η(t) of a compiled policy, in the
shape of ``torch.optim.adam.adam``: one signature, and the path chosen per call —

- :func:`_single_tensor_fused_adam`: the readable pure-torch step (:func:`lrkit.optim.reference.adam_reference`),
  group by group; the fallback and the reference;
- :func:`_kernel_fused_adam`: the compiled ``lrkit::fused_adam_`` (:mod:`lrkit.optim.ops`), every group given
  in one launch; the tensors' device picks its CPU or CUDA kernel.

Both evaluate η(t) from the group's step counter on the device, update the params, moments (and AMSGrad's
maxima) in place, write η to ``programs.lr`` and advance the step counter by 1 − found_inf. A group's
streaming M-opt (004 Formula 7) is a named :class:`MoptStep` of the group, not a mode of the call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lrkit.optim.descriptors import PolicyBuffers
from lrkit.optim.launch import Launcher
from lrkit.optim.reference import adam_reference


@dataclass
class MoptStep:
    """The streaming M-opt's part in one group's step: a record step (``measure=False``) stores this step's
    update Δ_t in ``prev_deltas`` (float32, one per param); a measure step writes (‖Δ_t‖₁, ‖Δ_t − Δ_{t+1}‖₁)
    to ``sums`` (float64[2])."""

    prev_deltas: list
    sums: torch.Tensor
    measure: bool


@dataclass
class AdamGroup:
    """One parameter group's step: its tensors with gradients, their state, its step counter and compiled
    policies (``programs``), and its hyper-parameters."""

    params: list
    grads: list
    exp_avgs: list  # float32, one per param
    exp_avg_sqs: list  # float32, one per param
    max_exp_avg_sqs: list  # float32, one per param with AMSGrad; empty without
    step: torch.Tensor | None  # float64[1] on the params' device: steps already taken (t)
    programs: PolicyBuffers | None
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    decoupled: bool = False  # AdamW
    maximize: bool = False
    amsgrad: bool = False
    mopt: MoptStep | None = None
    device: torch.device = field(default=None)  # the params' device (set from them when not given)

    def __post_init__(self):
        if self.device is None:
            self.device = self.params[0].device if self.params else torch.device("cpu")


def fused_adam(groups: list[AdamGroup], *, grad_scale: torch.Tensor | None = None,
               found_inf: torch.Tensor | None = None, kernel: bool = False, launcher=None) -> None:
    """One step of every group. ``grad_scale``/``found_inf`` (AMP): the grads are divided by ``grad_scale`` in
    place; where ``found_inf`` is non-zero nothing changes but η, and the step is not counted.
    ``kernel=False``: the pure-torch step; ``kernel=True``: ``lrkit::fused_adam_`` over all groups in one launch
    (they share one device; their tensors contiguous, each grad of its param's dtype). ``launcher``: the
    :class:`lrkit.optim.launch.Launcher` that packs and caches the launch tables (a new one if None)."""
    path = _kernel_fused_adam if kernel else _single_tensor_fused_adam
    path(groups, grad_scale=grad_scale, found_inf=found_inf, launcher=launcher)


def _single_tensor_fused_adam(groups: list[AdamGroup], *, grad_scale, found_inf, launcher=None) -> None:
    for group in groups:  # the reference packs no tables: ``launcher`` is not used
        adam_reference(group, grad_scale=grad_scale, found_inf=found_inf)


def _kernel_fused_adam(groups: list[AdamGroup], *, grad_scale, found_inf, launcher=None) -> None:
    (launcher or Launcher()).step(groups, grad_scale=grad_scale, found_inf=found_inf)
