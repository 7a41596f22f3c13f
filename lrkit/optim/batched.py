"""Per-replica optimizer steps over stacked parameters: K replicas, one LR each, one update.

Every tensor here has the replica axis as dim 0 of size K: a parameter of shape ``S`` of one model is
``(K, *S)`` (``torch.func.stack_module_state``), its gradient and optimizer state likewise. ``lr`` is a
length-K tensor, replica k's LR η_k(t) of this iteration. Each step is, for every replica, the update of
``torch.optim.SGD`` (dampening 0, no Nesterov) or ``torch.optim.Adam`` (L2 weight decay added to the
gradient, no AMSGrad) with that replica's LR, so a stacked run matches K single runs to float rounding.

``lr_mults`` / ``weight_decays`` (one float per parameter) carry Caffe's per-layer multipliers
(:func:`lrkit.train.models.caffe_param_groups`): parameter p of replica k gets the LR η_k · lr_mult(p) and
the decay weight_decay(p). ``active`` (a length-K bool tensor, or None for all) freezes the other
replicas: their parameters and state stay exactly as they are, whatever their gradients hold (NaN
included). These are the readable pure-torch steps; a fused kernel for many policies at once
(:class:`lrkit.optim.fused_adam.FusedAdam` with a policy bank) is the fast path beside them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["BATCHED_OPTIMIZERS", "BatchedOptimizer", "adam_step", "per_replica", "sgd_step"]

#: the optimizers a stacked step exists for (TrainConfig.optimizer names)
BATCHED_OPTIMIZERS = ("sgd", "momentum", "adam")


def per_replica(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A length-K vector shaped ``(K, 1, …, 1)`` to broadcast over a stacked ``like`` of shape ``(K, *S)``."""
    return v.view((-1,) + (1,) * (like.ndim - 1))


def _floats(x, n: int, name: str) -> list[float]:
    if isinstance(x, (int, float)):
        return [float(x)] * n
    x = [float(v) for v in x]
    if len(x) != n:
        raise ValueError(f"batched step: field '{name}' must be a float or one float per parameter ({n}), got {len(x)}")
    return x


def _commit(dst: torch.Tensor, new: torch.Tensor, active: torch.Tensor | None) -> None:
    """``dst ← new`` for the active replicas; the frozen ones keep ``dst``."""
    dst.copy_(new if active is None else torch.where(per_replica(active, dst), new, dst))


@torch.no_grad()
def sgd_step(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], lr: torch.Tensor, *,
             momentum: float = 0.0, momentum_buffers: Sequence[torch.Tensor] | None = None,
             weight_decays: float | Sequence[float] = 0.0, lr_mults: float | Sequence[float] = 1.0,
             active: torch.Tensor | None = None) -> None:
    """One SGD (``momentum`` 0) or momentum-SGD step of every replica, in place.

    For each replica k and parameter p (torch.optim.SGD's update, dampening 0):
        d = g + wd(p) · p;   b ← μ · b + d   (b starts at 0, so b₁ = d₁);   p ← p − η_k · lr_mult(p) · b
    and without momentum p ← p − η_k · lr_mult(p) · d. ``momentum_buffers``: zeros like ``params`` to start.
    """
    n = len(params)
    wds, mults = _floats(weight_decays, n, "weight_decays"), _floats(lr_mults, n, "lr_mults")
    if momentum and momentum_buffers is None:
        raise ValueError("sgd_step: momentum > 0 needs 'momentum_buffers' (zeros like the parameters)")
    for i, (p, g) in enumerate(zip(params, grads)):
        d = g.add(p, alpha=wds[i]) if wds[i] else g
        if momentum:
            b = momentum_buffers[i]
            d = b.mul(momentum).add_(d)
            _commit(b, d, active)
        step = per_replica(lr * mults[i], p) * d
        _commit(p, p - step, active)


@torch.no_grad()
def adam_step(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], lr: torch.Tensor, *,
              exp_avgs: Sequence[torch.Tensor], exp_avg_sqs: Sequence[torch.Tensor], steps: torch.Tensor,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
              weight_decays: float | Sequence[float] = 0.0, lr_mults: float | Sequence[float] = 1.0,
              active: torch.Tensor | None = None) -> None:
    """One Adam step of every replica, in place (torch.optim.Adam's update, L2 weight decay).

    For each replica k with its step count s_k (``steps``, a length-K float tensor, counted here):
        g ← g + wd(p) · p;   m ← β₁ m + (1 − β₁) g;   v ← β₂ v + (1 − β₂) g²
        p ← p − η_k · lr_mult(p) / (1 − β₁^s) · m / (√v / √(1 − β₂^s) + ε)
    ``exp_avgs`` / ``exp_avg_sqs``: zeros like ``params`` to start; ``steps``: zeros of length K.
    """
    n = len(params)
    wds, mults = _floats(weight_decays, n, "weight_decays"), _floats(lr_mults, n, "lr_mults")
    beta1, beta2 = betas
    _commit(steps, steps + 1, active)
    bias1 = 1 - beta1 ** steps
    bias2_sqrt = (1 - beta2 ** steps).sqrt()
    for i, (p, g, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
        g = g.add(p, alpha=wds[i]) if wds[i] else g
        m_new = m.lerp(g, 1 - beta1)
        v_new = v.mul(beta2).addcmul_(g, g, value=1 - beta2)
        denom = (v_new.sqrt() / per_replica(bias2_sqrt, p)).add_(eps)
        step_size = per_replica(lr * mults[i] / bias1, p)
        _commit(m, m_new, active)
        _commit(v, v_new, active)
        _commit(p, p - step_size * m_new / denom, active)


class BatchedOptimizer:
    """The state of one stacked step (momentum buffers or Adam moments) over stacked ``params``.

    ``BatchedOptimizer("momentum", params, momentum=0.9, weight_decays=5e-4).step(grads, lr, active)``.
    ``kind``: one of :data:`BATCHED_OPTIMIZERS`; ``params``: stacked leaf tensors ``(K, *S)``."""

    def __init__(self, kind: str, params: Sequence[torch.Tensor], *, momentum: float = 0.9,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decays: float | Sequence[float] = 0.0, lr_mults: float | Sequence[float] = 1.0):
        if kind not in BATCHED_OPTIMIZERS:
            raise ValueError(f"BatchedOptimizer: field 'kind' must be one of {', '.join(BATCHED_OPTIMIZERS)}, "
                             f"got {kind!r}")
        self.kind, self.params = kind, list(params)
        n = len(self.params)
        self.weight_decays, self.lr_mults = _floats(weight_decays, n, "weight_decays"), _floats(lr_mults, n, "lr_mults")
        self.momentum, self.betas, self.eps = momentum, tuple(betas), eps
        if kind == "momentum":
            self.momentum_buffers = [torch.zeros_like(p) for p in self.params]
        elif kind == "adam":
            self.exp_avgs = [torch.zeros_like(p) for p in self.params]
            self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
            self.steps = torch.zeros(self.params[0].shape[0], dtype=self.params[0].dtype, device=self.params[0].device)

    def step(self, grads: Sequence[torch.Tensor], lr: torch.Tensor, active: torch.Tensor | None = None) -> None:
        common = {"weight_decays": self.weight_decays, "lr_mults": self.lr_mults, "active": active}
        if self.kind == "adam":
            adam_step(self.params, grads, lr, exp_avgs=self.exp_avgs, exp_avg_sqs=self.exp_avg_sqs, steps=self.steps,
                      betas=self.betas, eps=self.eps, **common)
        elif self.kind == "momentum":
            sgd_step(self.params, grads, lr, momentum=self.momentum, momentum_buffers=self.momentum_buffers, **common)
        else:
            sgd_step(self.params, grads, lr, **common)
