"""The readable Adam/AdamW step of :func:`~lrkit.optim.functional.fused_adam` in pure torch: the fallback where
no compiled kernel takes a group, and the reference the kernels are tested against.

η(t) comes from the policy formula itself (float64 on the params' device, no host sync); the element
update is float32, op for op as the kernels (``csrc/include/lrkit/adam.h``). A policy bank (K policies)
gives a vector of K LRs, and slice k of every param (dim 0 is the replica axis) takes η_k(t).
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=256)
def _parsed(spec: str):
    from lrkit.policies import parse

    return parse(spec)


def policy_lrs(specs, step: torch.Tensor) -> torch.Tensor:
    """η_k(t) of each policy spec at the step counter ``t`` (a 1-element float64 tensor): float64 [K]."""
    t = step.reshape(1)
    return torch.cat([_parsed(spec)(t).reshape(1) for spec in specs])


def per_replica(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """A length-K vector shaped to broadcast over a param whose dim 0 is the replica axis."""
    return x.reshape((-1,) + (1,) * (p.dim() - 1))


def adam_reference(group, *, grad_scale=None, found_inf=None) -> None:
    """The pure-torch step of one :class:`~lrkit.optim.functional.AdamGroup` (the fallback and the readable
    reference): η(t) from the policy formula on the device (float64), then the element update in float32;
    then the step counter advances by 1 − found_inf, as in the kernels. ``group.programs.lr`` receives η
    (one per policy; a policy bank's slice k of every param takes η_k). Skipped elements stay as they were
    where ``found_inf`` is set (``torch.where``, no host sync). AMSGrad where ``group.amsgrad`` (one float32
    running maximum per param). The streaming M-opt where ``group.mopt`` is set: a record step stores this
    step's update in its ``prev_deltas``, a measure step writes (‖Δ_prev‖₁, ‖Δ_prev − Δ‖₁) to its ``sums``."""
    buf, mopt = group.programs, group.mopt
    t = group.step.reshape(1)
    lr = policy_lrs(buf.specs, t)  # the same formulas the kernel's programs were traced from
    buf.lr.copy_(lr.reshape(buf.lr.shape))
    t1 = t + 1.0
    step_size = (lr / (1.0 - group.beta1 ** t1)).to(torch.float32)
    decay = (1.0 - lr * group.weight_decay).to(torch.float32)
    bc2_sqrt = torch.sqrt(1.0 - group.beta2 ** t1).to(torch.float32).reshape(())  # 0-d: keeps a 0-d param's shape
    skip = None if found_inf is None else (found_inf.reshape(()) != 0)
    if mopt is not None and mopt.measure:
        mopt.sums.zero_()
    n = len(group.params)
    prevs = list(mopt.prev_deltas) if mopt is not None else [None] * n
    maxes = list(group.max_exp_avg_sqs) if group.amsgrad else [None] * n
    for p, g, m, v, x, prev in zip(group.params, group.grads, group.exp_avgs, group.exp_avg_sqs, maxes, prevs):
        size, factor = ((per_replica(step_size, p), per_replica(decay, p)) if buf.bank
                        else (step_size.reshape(()), decay.reshape(())))
        g32 = g.to(torch.float32)
        if grad_scale is not None:  # unscaled in place, as torch's fused Adam (not where found_inf skips)
            g32 = g32 / grad_scale.to(torch.float32)
            g.copy_(g32 if skip is None else torch.where(skip, g, g32.to(g.dtype)))
        if group.maximize:
            g32 = -g32
        p32 = p.to(torch.float32)
        if group.weight_decay != 0.0:
            if group.decoupled:
                p32 = p32 * factor
            else:
                g32 = g32 + p32 * group.weight_decay
        m_new = torch.lerp(m, g32, 1.0 - group.beta1)
        v_new = group.beta2 * v + (1.0 - group.beta2) * g32 * g32
        x_new = None if x is None else torch.where(x < v_new, v_new, x)  # std::max(x, v), as torch's fused Adam
        p_new = p32 - size * m_new / (torch.sqrt(v_new if x is None else x_new) / bc2_sqrt + group.eps)
        if skip is not None:
            m_new, v_new, p_new = torch.where(skip, m, m_new), torch.where(skip, v, v_new), torch.where(skip, p32, p_new)
            x_new = None if x is None else torch.where(skip, x, x_new)
        m.copy_(m_new)
        v.copy_(v_new)
        if x is not None:
            x.copy_(x_new)
        stored = p_new.to(p.dtype)
        if mopt is not None:
            delta = stored.double() - p32.double()
            if mopt.measure:
                mopt.sums[0] += prev.double().abs().sum()
                mopt.sums[1] += (prev.double() - delta).abs().sum()
            else:
                prev.copy_(delta)
        p.copy_(stored)
    group.step.add_(1.0 if found_inf is None else 1.0 - (found_inf != 0).to(torch.float64).reshape(1))
