"""``PolicyLR``: a real ``torch.optim.lr_scheduler.LRScheduler`` driven by lrkit policies.

At scheduler step ``t`` (``last_epoch == t``; t = 0 right after construction, which is the LR of
the first optimizer step) every param group's LR is set to ``policy(t)`` — computed from ``t``
every time, never from the previous LR, so there are no call-order effects and resuming from a
checkpoint continues the identical sequence.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from torch.optim.lr_scheduler import LRScheduler

from .base import MetricPolicy, PolicyError
from .spec import parse


class PolicyLR(LRScheduler):
    """Set ``lr = policy(t)`` on each param group at step ``t``.

    Args:
        optimizer: the wrapped optimizer; its LR may be a float or a tensor (capturable/fused
            optimizers): a tensor LR is updated in place.
        policy: one policy (or spec) for all param groups, or a list with one per group.
        last_epoch: as in torch; leave at -1 except when rebuilding from a checkpoint.

    ``step(metrics=...)`` hands a mapping of training metrics to policies that implement
    :class:`~lrkit.policies.base.MetricPolicy` before the next LR is computed.
    ``state_dict()`` stores the policies as canonical specs; ``load_state_dict`` restores them
    (the checkpoint's policies replace the constructor's).
    """

    def __init__(self, optimizer, policy: Any, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        if isinstance(policy, Sequence) and not isinstance(policy, str):
            if len(policy) != n:
                raise PolicyError(f"PolicyLR: got {len(policy)} policies for {n} param groups; give one or one per group")
            policies = [self._as_policy(p) for p in policy]
        else:
            policies = [self._as_policy(policy)] * n
        self.policies: list = policies
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _as_policy(p):
        if isinstance(p, MetricPolicy):
            return p
        return parse(p)

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        return [float(p(t)) for p in self.policies]

    _get_closed_form_lr = get_lr

    def step(self, metrics: Mapping[str, float] | None = None) -> None:  # type: ignore[override]
        """Advance one iteration; ``metrics`` (if given) go to metric-reading policies first."""
        if metrics is not None:
            for p in {id(p): p for p in self.policies}.values():
                if isinstance(p, MetricPolicy):
                    p.observe(self.last_epoch, metrics)
        super().step()

    def set_policy(self, policy: Any, group: int | None = None) -> None:
        """Replace the policy of one group (or all); the new LR applies from the next ``step``."""
        pol = self._as_policy(policy)
        if group is None:
            self.policies = [pol] * len(self.policies)
        else:
            self.policies[group] = pol

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "policies")}
        state["policies"] = [p.state_dict() if isinstance(p, MetricPolicy) else str(p) for p in self.policies]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        specs = state.pop("policies", None)
        self.__dict__.update(state)
        if specs is not None:
            restored = []
            for old, spec in zip(self.policies, specs):
                if isinstance(old, MetricPolicy):
                    old.load_state_dict(spec)
                    restored.append(old)
                else:
                    restored.append(parse(spec))
            self.policies = restored
