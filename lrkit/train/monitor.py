"""The LR schedule monitor (004 §4, Fig. 3): applies the policy every iteration and records the run.

Data flows one way: policy → monitor → :class:`RunRecord` (→ database → ranking). The monitor
sets the LR of iteration ``t`` from ``policy(t)`` (t = 0 is the first iteration), records LR and
training loss per iteration and test top-1/top-5 every eval interval, detects divergence, and
decides when a cost-effective run may stop (target accuracy reached).

Live edits: another thread may call :meth:`LRMonitor.set_policy` at any time; the change is handed
over under a lock and takes effect at the next iteration, and is written to the run's history so
the edited run can be replayed as one policy (:meth:`LRMonitor.replay_policy`).
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from lrkit.policies import MULTI, SHIFT, MetricPolicy, Policy, parse

from .jsonsafe import json_safe

#: a run's status (its record's, and the database's ``runs.status``)
STATUSES = ("running", "complete", "diverged", "failed", "stopped")


@dataclass
class RunRecord:
    """Everything a run produced (JSON-serialisable). Iterations count optimizer steps.

    curves: per iteration t — ``lr[t]`` applied at t, ``loss[t]`` the training loss of batch t.
    evals: test metrics after ``iteration`` iterations (an eval at 500 follows iterations 0–499).
    history: live edits, ``{"iteration": t, "policy": spec, "time": "global"|"restart"}`` — the
    policy in force from iteration t on (the first entry is the initial policy).
    mopt: M-opt measurements (004 Formula 7, ``TrainConfig.mopt_every``): ``iteration[i]`` the t of
    Θ_t, ``lr[i]`` the applied η_{t+1}, ``mopt_lr[i]`` η* from Θ_t, Θ_{t+1}, Θ_{t+2}; empty when not
    measured (a record file without the field loads with it empty). Non-finite η* is kept, as a
    string in JSON.
    """

    config: dict = field(default_factory=dict)
    policy: str = ""
    environment: dict = field(default_factory=dict)
    status: str = "running"
    message: str = ""
    curves: dict = field(default_factory=lambda: {"lr": [], "loss": []})
    evals: dict = field(default_factory=lambda: {"iteration": [], "top1": [], "top5": [], "test_loss": []})
    history: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    mopt: dict = field(default_factory=lambda: {"iteration": [], "lr": [], "mopt_lr": []})

    def to_json(self, **kw) -> str:
        return json.dumps(json_safe(asdict(self)), **kw)

    def save(self, path) -> None:
        """Write the record as JSON, creating the folder (so a long run never ends in a lost record)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            f.write(self.to_json(indent=1))

    @classmethod
    def load(cls, path) -> "RunRecord":
        with open(path) as f:
            return cls.from_dict(json.load(f))

    @classmethod
    def from_dict(cls, d: dict) -> "RunRecord":
        """A record from its dict; keys that are not fields (``reused_from``, ``trained_for`` — what a
        table adds about where a run came from) are left out."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class LRMonitor:
    """Applies a policy to an optimizer each iteration and records LR, loss and accuracy.

    Args:
        policy: a policy, spec, or a :class:`~lrkit.policies.MetricPolicy` (state-based).
        optimizer: any torch optimizer (float or tensor LRs), an object with ``set_lr(lr)``, or an
            optimizer that runs the schedule itself (lrkit's FusedAdam: param groups with a ``policy``
            and a ``set_policy(spec)`` method) — the monitor then hands it each edit as a policy of the
            global iteration instead of setting a float LR every iteration.
        target_acc: target top-1 accuracy in [0, 1] for iterations-to-target.
        stop_at_target: cost-effective mode: ask the loop to stop once the target is reached.
        divergence_factor: a loss above ``factor ×`` the mean of the first 10 losses (or NaN/inf)
            marks the run diverged.
        record: the :class:`RunRecord` to fill.
    """

    def __init__(self, policy, optimizer=None, target_acc: float | None = None, stop_at_target: bool = False,
                 divergence_factor: float = 10.0, record: RunRecord | None = None):
        if target_acc is not None and not 0 < target_acc <= 1:
            raise ValueError(f"target_acc must be a fraction in (0, 1], got {target_acc!r}")
        if not divergence_factor > 1:
            raise ValueError(f"divergence_factor must be > 1, got {divergence_factor!r}")
        self.policy = policy if isinstance(policy, MetricPolicy) else parse(policy)
        self.optimizer = optimizer
        self.target_acc = target_acc
        self.stop_at_target = stop_at_target
        self.divergence_factor = divergence_factor
        self.record = record or RunRecord()
        self.record.policy = str(self.policy)
        self.record.history.append({"iteration": 0, "policy": str(self.policy), "time": "global"})
        self._lock = threading.Lock()
        self._pending: tuple[Any, str] | None = None
        self._offset = 0  # the current policy sees t − offset ("restart" edits)
        self._device_schedule = has_device_schedule(optimizer)
        if self._device_schedule:
            _check_device_policy(self.policy)
            if any(g["policy"] != str(self.policy) for g in optimizer.param_groups):
                optimizer.set_policy(self.policy)
        self._loss_ref: float | None = None
        self._start = time.perf_counter()
        self.best = {"top1": -1.0, "iteration": None, "top5": None}
        self.iters_to_target: int | None = None
        self.t = 0

    # ---- live edits (any thread) ----------------------------------------------------------
    def set_policy(self, policy, restart: bool = False) -> None:
        """Replace the running policy from the next iteration on.

        ``restart=False`` (default) evaluates the new policy at the global iteration, so editing a
        parameter keeps the curve's phase; ``restart=True`` starts it at its own t = 0.
        A bad spec raises here, in the caller's thread, and never reaches the training loop.
        """
        pol = policy if isinstance(policy, MetricPolicy) else parse(policy)
        if self._device_schedule:
            _check_device_policy(pol)  # e.g. a state-based policy cannot run inside FusedAdam
        with self._lock:
            self._pending = (pol, "restart" if restart else "global")

    def current(self) -> tuple[Any, int, Any]:
        """``(policy, offset, pending)``: the policy in force (it sees ``t − offset``) and the edit
        waiting for the next iteration (``(policy, "global"|"restart")`` or None). Any thread."""
        with self._lock:
            return self.policy, self._offset, self._pending

    def update_params(self, **changes) -> None:
        """Change parameters of the running (or pending) policy, e.g. ``update_params(k1=0.08)``."""
        with self._lock:
            current = self._pending[0] if self._pending else self.policy
        self.set_policy(current.replace(**changes))

    # ---- called by the training loop ----------------------------------------------------------
    def lr_for(self, t: int) -> float:
        """Apply pending edits, compute the LR of iteration ``t``, set it on the optimizer, record it."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            pol, mode = pending
            self.policy = pol
            offset = t if mode == "restart" else 0
            if self._device_schedule:  # the optimizer evaluates the policy at its own (global) step
                self.optimizer.set_policy(global_time_policy(pol, offset))
            with self._lock:
                self.policy, self._offset = pol, offset
            self.record.history.append({"iteration": t, "policy": str(pol), "time": mode})
        self.t = t
        lr = float(self.policy(t - self._offset))
        if self.optimizer is not None and not self._device_schedule:
            set_lr(self.optimizer, lr)
        self.record.curves["lr"].append(lr)
        return lr

    def log_loss(self, t: int, loss: float) -> bool:
        """Record the training loss of iteration ``t``; returns True if the run has diverged."""
        loss = float(loss)
        self.record.curves["loss"].append(loss)
        losses = self.record.curves["loss"]
        if self._loss_ref is None and len(losses) >= 10:
            self._loss_ref = sum(losses[:10]) / 10
        if not math.isfinite(loss):
            return self._diverge(t, f"loss became {loss} at iteration {t}")
        ref = self._loss_ref if self._loss_ref is not None else losses[0]
        if ref > 0 and loss > self.divergence_factor * ref:
            return self._diverge(t, f"loss {loss:.4g} at iteration {t} exceeds {self.divergence_factor:g}x its start ({ref:.4g})")
        self.observe(t, {"loss": loss})
        return False

    def log_mopt(self, t: int, lr: float, mopt_lr: float) -> None:
        """Record an M-opt measurement: η* (``mopt_lr``) of Formula 7 from Θ_t, Θ_{t+1}, Θ_{t+2}, where
        ``t`` is the iteration of Θ_t and ``lr`` the LR η_{t+1} applied at iteration t + 1. NaN/inf are
        kept (as strings in the JSON, like every non-finite number of the record)."""
        m = self.record.mopt
        m["iteration"].append(int(t))
        m["lr"].append(float(lr))
        m["mopt_lr"].append(float(mopt_lr))

    def observe(self, t: int, metrics: Mapping[str, float]) -> None:
        """Hand metrics to a state-based policy (no-op for formula policies)."""
        if isinstance(self.policy, MetricPolicy):
            self.policy.observe(t, metrics)

    def log_eval(self, iteration: int, top1: float, top5: float | None = None, test_loss: float | None = None) -> bool:
        """Record test metrics after ``iteration`` iterations; returns True if the loop should stop
        (cost-effective mode and the target reached)."""
        ev = self.record.evals
        ev["iteration"].append(int(iteration))
        ev["top1"].append(float(top1))
        ev["top5"].append(None if top5 is None else float(top5))
        ev["test_loss"].append(None if test_loss is None else float(test_loss))
        if top1 > self.best["top1"]:
            self.best = {"top1": float(top1), "iteration": int(iteration), "top5": top5}
        if self.target_acc is not None and self.iters_to_target is None and top1 >= self.target_acc:
            self.iters_to_target = int(iteration)
        self.observe(iteration - 1, {"test_top1": top1, "test_loss": test_loss if test_loss is not None else float("nan")})
        return bool(self.stop_at_target and self.iters_to_target is not None)

    def finish(self, status: str = "complete", message: str = "") -> RunRecord:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        if self.record.status != "diverged":
            self.record.status = status
            self.record.message = message or self.record.message
        ev = self.record.evals
        top5s = [v for v in ev["top5"] if v is not None]
        self.record.summary = {
            "iterations": len(self.record.curves["lr"]),
            "highest_top1": self.best["top1"] if ev["top1"] else None,
            "highest_top1_iteration": self.best["iteration"],
            "highest_top5": max(top5s) if top5s else None,
            "final_top1": ev["top1"][-1] if ev["top1"] else None,
            "final_top5": ev["top5"][-1] if ev["top5"] else None,
            "target_acc": self.target_acc,
            "iterations_to_target": self.iters_to_target,
            "final_loss": self.record.curves["loss"][-1] if self.record.curves["loss"] else None,
            "wall_time_s": time.perf_counter() - self._start,
        }
        return self.record

    def _diverge(self, t, message) -> bool:
        self.record.status = "diverged"
        self.record.message = message
        return True

    # ---- replay -------------------------------------------------------------------------------
    def replay_policy(self) -> Policy:
        """One policy that reproduces the LR trace of this (possibly live-edited) run."""
        return replay_policy(self.record.history)


def replay_policy(history) -> Policy:
    """The MULTI policy equal to a run's edit history (a single policy if it was never edited).

    A "global" edit at iteration s is the stage ``SHIFT(offset=s, policy=P)`` (P sees the global
    t); a "restart" edit is P itself (MULTI stages see local time).
    """
    stages = []
    for h in history:
        pol = parse(h["policy"])
        s = h["iteration"]
        if isinstance(pol, MetricPolicy) and len(history) > 1:
            raise ValueError(f"replay_policy: the run used the state-based {pol.name} (from iteration {s}); its LR "
                             "followed the metrics it observed, so the edited run is no single formula policy — "
                             "its LR trace is the record's curves['lr']")
        if h.get("time", "global") == "global" and s > 0:
            pol = SHIFT(offset=s, policy=pol)
        if stages and stages[-1][0] == s:
            stages[-1] = (s, pol)
        else:
            stages.append((s, pol))
    if len(stages) == 1:
        return stages[0][1]
    return MULTI(stages=stages)


def has_device_schedule(optimizer) -> bool:
    """Whether ``optimizer`` evaluates the LR policy itself (lrkit's FusedAdam)."""
    groups = getattr(optimizer, "param_groups", None)
    return bool(groups) and callable(getattr(optimizer, "set_policy", None)) and all("policy" in g for g in groups)


def global_time_policy(policy, offset: int = 0) -> Policy:
    """``policy`` started at iteration ``offset`` as a policy of the global iteration t (its value at
    t >= offset is ``policy(t − offset)``): what a device-side schedule needs after a restart edit."""
    policy = parse(policy)
    if not offset:
        return policy
    return MULTI(stages=[(0, policy), (offset, policy)])


def _check_device_policy(policy) -> None:
    from lrkit.optim.program import compile_policy

    compile_policy(policy)  # raises ProgramError (a TypeError) saying why, e.g. for a state-based policy
    if not isinstance(policy, MetricPolicy):
        compile_policy(global_time_policy(policy, 1))  # the form a restart edit hands the optimizer


def set_lr(optimizer, lr: float) -> None:
    """Set ``lr`` on every param group (tensor LRs filled in place), or call ``optimizer.set_lr``.

    A group with an ``lr_mult`` key (Caffe's per-layer multiplier, see
    :func:`lrkit.train.models.caffe_param_groups`) gets ``lr * lr_mult``; the policy's η(t) is the
    base LR, as Caffe's ``base_lr`` schedule is."""
    if hasattr(optimizer, "set_lr") and not hasattr(optimizer, "param_groups"):
        optimizer.set_lr(lr)
        return
    for g in optimizer.param_groups:
        v = lr * g["lr_mult"] if "lr_mult" in g else lr
        if hasattr(g["lr"], "fill_"):
            g["lr"].fill_(v)
        else:
            g["lr"] = v
