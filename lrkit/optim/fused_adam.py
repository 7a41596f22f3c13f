"""FusedAdam: Adam / AdamW whose LR is η(t) of an lrkit policy, computed inside the optimizer step.

Each parameter group carries a policy. It is compiled once (:func:`lrkit.optim.compile_policy`) into a
fixed-size descriptor on the group's device, and the group's step counter ``t`` (steps already taken,
t = 0 for the first step) is a float64 tensor on that device too. One ``step()`` then evaluates η(t),
the bias corrections 1 − β^(t+1) and the Adam/AdamW update without an LR scheduler, without
host-device synchronisation and without ``.item()`` on the accelerator path.

The step itself is the functional :func:`lrkit.optim.functional.fused_adam` over named per-group records
(:class:`~lrkit.optim.functional.AdamGroup`, built by :meth:`FusedAdam._init_group`). Back ends: the compiled
``lrkit::fused_adam_`` (:mod:`lrkit.optim.ops`; its CPU kernel in ``csrc/cpu`` takes each CPU group, its CUDA
kernel in ``csrc/cuda`` every CUDA group of a device in one launch pair, the streaming M-opt included);
otherwise the pure-torch step — the same math, op for op, and the readable reference
(:mod:`lrkit.optim.reference`) — with one warning saying why. ``backend="torch"`` asks for the reference.

A policy bank (``policies=[p_0, …, p_{K-1}]``, for K model replicas trained in one run): every param has
the replica axis as dim 0 (size K), and slice k of every param is updated with LR p_k(t). Each policy is
compiled to its own program, and all K are evaluated in the step's one launch.

The update, per element (torch.optim.Adam's, in float32 for fp32/bf16/fp16 params, m and v float32)::

    g ← g / grad_scale (AMP);  g ← −g if maximize
    AdamW: p ← p·(1 − η·wd)      Adam: g ← g + wd·p
    m ← lerp(m, g, 1 − β1);  v ← β2·v + (1 − β2)·g²
    AMSGrad (``amsgrad=True``): v̂ ← max(v̂, v), and v̂ replaces v below (state ``max_exp_avg_sq``)
    p ← p − η/(1 − β1^(t+1)) · m / (√v / √(1 − β2^(t+1)) + ε)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from lrkit.optim import _ext, ops
from lrkit.optim.descriptors import PolicyBuffers, policy_buffers
from lrkit.optim.functional import AdamGroup, MoptStep, fused_adam
from lrkit.optim.launch import Launcher
from lrkit.optim.program import compile_policy

BACKENDS = ("auto", "ext", "torch")
_PARAM_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
_FLOAT32_STATE = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")  # per-param state the kernels hold in float32


def _spec(policy) -> str:
    from lrkit.policies import Policy, parse

    if not isinstance(policy, (str, dict, Policy)):
        raise TypeError(f"FusedAdam: field 'policy' must be a policy, a spec string or a dict, got {type(policy).__name__}")
    policy = parse(policy)
    compile_policy(policy)  # raises ProgramError naming why it cannot run on the device
    return str(policy)


def _specs(policies) -> tuple[str, ...]:
    if isinstance(policies, (str, dict)) or not hasattr(policies, "__len__") or len(policies) == 0:
        raise ValueError(f"FusedAdam: field 'policies' must be a non-empty list of policies (one per replica), "
                         f"got {policies!r}")
    return tuple(_spec(p) for p in policies)


@dataclass
class GroupWork:
    """One group's part of a step: the optimizer's group dict, the device its tensors are on, and the
    functional step's record of it."""

    group: dict
    device: torch.device
    adam: AdamGroup

    @property
    def params(self) -> list:
        return self.adam.params

    @property
    def grads(self) -> list:
        return self.adam.grads


class Measurement(NamedTuple):
    """A streaming M-opt measurement, left on the device until :meth:`FusedAdam.mopt` reads it."""

    step: torch.Tensor  # the group's step counter after the measure step (float64[1])
    lr: torch.Tensor  # η of the measure step
    sums: torch.Tensor  # (‖Δ_t‖₁, ‖Δ_t − Δ_{t+1}‖₁)
    skipped: torch.Tensor | None  # non-zero where AMP skipped the measure step or its record step


@dataclass
class MoptState:
    """A group's streaming M-opt: the recorded update Δ_t, the sums of the next measure, the measurements."""

    prev: list
    sums: torch.Tensor
    history: list = field(default_factory=list)
    record_skipped: torch.Tensor | None = None  # found_inf of the last record step


class FusedAdam(torch.optim.Optimizer):
    """Adam (``adamw=False``, L2 weight decay) or AdamW (decoupled) with the LR policy inside the step;
    ``amsgrad=True`` for AMSGrad (torch's ``amsgrad``), ``maximize=True`` to ascend.

    >>> import torch
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> opt = FusedAdam([w], policy="STEP(k=0.1, gamma=0.5, l=2)", backend="torch")
    >>> for _ in range(3):
    ...     w.grad = torch.ones(3)
    ...     opt.step()
    >>> [round(x, 6) for x in opt.last_lr()]   # η(2) = 0.1 · 0.5^⌊2/2⌋
    [0.05]

    A policy bank: ``policies`` instead of ``policy``, dim 0 of every param the replica axis.

    >>> w = torch.nn.Parameter(torch.ones(2, 3))
    >>> opt = FusedAdam([w], policies=["FIX(k=0.1)", "FIX(k=0.01)"], backend="torch")
    >>> w.grad = torch.ones(2, 3)
    >>> opt.step()
    >>> opt.last_lr()
    [[0.1, 0.01]]
    """

    def __init__(self, params, policy=None, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 adamw: bool = False, maximize: bool = False, backend: str = "auto", mopt_every: int | None = None,
                 amsgrad: bool = False, policies=None):
        if (policy is None) == (policies is None):
            raise ValueError("FusedAdam: give exactly one of the fields 'policy' (one LR policy) and 'policies' "
                             "(a policy bank, one policy per replica along dim 0 of every param)")
        if mopt_every is not None and (not isinstance(mopt_every, int) or isinstance(mopt_every, bool) or mopt_every < 2):
            raise ValueError(f"FusedAdam: field 'mopt_every' must be None or an int >= 2, got {mopt_every!r}")
        self.mopt_every = mopt_every
        self._calls: dict[int, int] = {}  # step() calls per group (host side: no device read needed)
        self._mopt: dict[int, MoptState] = {}
        self._launcher = Launcher()  # the multi-tensor launches (one per device)
        self._cpu_launcher = Launcher()  # the CPU kernel's launches (one per group)
        if backend not in BACKENDS:
            raise ValueError(f"FusedAdam: field 'backend' must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if not (len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas)):
            raise ValueError(f"FusedAdam: field 'betas' must be two numbers in [0, 1), got {betas!r}")
        if not eps >= 0.0:
            raise ValueError(f"FusedAdam: field 'eps' must be >= 0, got {eps!r}")
        if not weight_decay >= 0.0:
            raise ValueError(f"FusedAdam: field 'weight_decay' must be >= 0, got {weight_decay!r}")
        if not isinstance(amsgrad, bool):
            raise ValueError(f"FusedAdam: field 'amsgrad' must be True or False, got {amsgrad!r}")
        self.backend = backend
        self._buffers: dict[int, dict] = {}  # group index -> descriptor and LR tensors on the group's device
        defaults = dict(policy=None if policy is None else _spec(policy),
                        policies=None if policies is None else _specs(policies), betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        adamw=adamw, maximize=maximize, amsgrad=amsgrad)
        super().__init__(params, defaults)
        # GradScaler then hands the step its scale and found_inf (as attributes) instead of unscaling the
        # grads and checking them for infs on the host: the kernels divide by the scale and skip on an inf.
        self._step_supports_amp_scaling = True
        if backend == "ext" and not _ext.load():
            raise RuntimeError(f"FusedAdam(backend='ext'): the lrkit extension is not available: {_ext.error()}")

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # a state dict without the amsgrad flag means plain Adam
            group.setdefault("amsgrad", False)

    def load_state_dict(self, state_dict: dict) -> None:
        """torch's ``load_state_dict``, except that the moments stay float32 (the kernels read and write them
        as float32 whatever the param's dtype): torch casts floating state to the param's dtype, which for
        bf16/fp16 params would round them and hand the kernels tensors of the wrong element size."""
        saved = state_dict["state"]
        ids = [i for g in state_dict["param_groups"] for i in g["params"]]
        super().load_state_dict(state_dict)
        params = [p for g in self.param_groups for p in g["params"]]
        for pid, p in zip(ids, params):
            for key in _FLOAT32_STATE:
                value = saved.get(pid, {}).get(key)
                if isinstance(value, torch.Tensor):
                    self.state[p][key] = value.to(device=p.device, dtype=torch.float32,
                                                  memory_format=torch.contiguous_format, copy=True)

    def add_param_group(self, param_group: dict) -> None:
        if param_group.get("policies") is not None:  # a policy bank in this group
            param_group["policies"], param_group["policy"] = _specs(param_group["policies"]), None
        elif "policy" in param_group:
            param_group["policy"], param_group["policies"] = _spec(param_group["policy"]), None
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for i, p in enumerate(group["params"]):
            if p.dtype not in _PARAM_DTYPES:
                raise TypeError(f"FusedAdam: params must be float32, bfloat16 or float16, got {p.dtype}")
            bank = group["policies"]
            if bank is not None and (p.dim() == 0 or p.shape[0] != len(bank)):
                raise ValueError(f"FusedAdam: field 'policies' holds {len(bank)} policies, so dim 0 of every param "
                                 f"must be the replica axis of size {len(bank)}; param {i} of group "
                                 f"{len(self.param_groups) - 1} has shape {tuple(p.shape)}")
        if group["policies"] is not None and self.mopt_every:
            raise ValueError("FusedAdam: field 'mopt_every' must be None with 'policies' (M-opt of a policy bank "
                             "is not available)")

    # ---- the schedule on the device ------------------------------------------------------------
    def _group_buffers(self, index: int, group: dict, device: torch.device) -> PolicyBuffers:
        bank = group.get("policies") is not None
        buf = policy_buffers(self._buffers.get(index), group["policies"] if bank else (group["policy"],), bank, device)
        self._buffers[index] = buf
        step = group.get("step")
        if not isinstance(step, torch.Tensor):
            group["step"] = torch.zeros(1, dtype=torch.float64, device=device)
        elif step.device != device or step.dtype != torch.float64:
            group["step"] = step.to(device=device, dtype=torch.float64).reshape(1)
        return buf

    def set_policy(self, policy, group: int | None = None, replica: int | None = None) -> None:
        """Replace the policy of one group (or all) between steps, or with ``replica=k`` policy k of a policy
        bank; it applies at the group's current t.

        The descriptor is overwritten in place (a few KB copied), so tensors captured in a CUDA graph
        stay valid."""
        spec = _spec(policy)
        for i, g in enumerate(self.param_groups):
            if group is not None and i != group:
                continue
            bank = g.get("policies")
            if (replica is None) != (bank is None):
                raise ValueError(f"FusedAdam.set_policy: field 'replica' must be an index into group {i}'s policy bank"
                                 if bank is not None else f"FusedAdam.set_policy: group {i} has one policy, so field "
                                 f"'replica' must be None, got {replica!r}")
            if bank is None:
                g["policy"] = spec
            elif not 0 <= replica < len(bank):
                raise ValueError(f"FusedAdam.set_policy: field 'replica' must be in [0, {len(bank)}), got {replica!r}")
            else:
                g["policies"] = bank[:replica] + (spec,) + bank[replica + 1:]
            if i in self._buffers:
                self._group_buffers(i, g, self._buffers[i].device)

    def last_lr(self) -> list:
        """η used by the last step of each group (NaN before the first step): a float, or for a policy bank the
        list of its K LRs. Reads the device."""
        out = []
        for i, g in enumerate(self.param_groups):
            buf = self._buffers.get(i)
            lrs = buf.lr.tolist() if buf is not None else [float("nan")] * len(g.get("policies") or (None,))
            out.append(lrs if g.get("policies") is not None else lrs[0])
        return out

    def steps(self) -> list[int]:
        """Steps taken per group (reads the device)."""
        return [int(g["step"]) if isinstance(g.get("step"), torch.Tensor) else 0 for g in self.param_groups]

    def uses_extension(self, device: torch.device | str = "cpu") -> bool:
        """Whether steps on ``device`` run a compiled kernel."""
        device = torch.device(device)
        if self.backend == "torch":
            return False
        return _ext.has_cuda_kernel() if device.type == "cuda" else device.type == "cpu" and _ext.load()

    # ---- streaming M-opt (004 Formula 7) -------------------------------------------------------
    def _mopt_step(self, index: int, params: list) -> MoptStep | None:
        """The group's M-opt part in this step, every ``mopt_every`` calls: record Δ_t on the call before a
        multiple of M, measure Δ_{t+1} against it on the multiple; None on other calls."""
        every = self.mopt_every
        calls = self._calls.get(index, 0)
        if not every or not (calls % every == every - 1 or (calls > 0 and calls % every == 0)):
            return None
        mo = self._mopt.get(index)
        if mo is None or len(mo.prev) != len(params) or any(d.shape != p.shape for d, p in zip(mo.prev, params)):
            mo = MoptState(prev=[torch.zeros_like(p, dtype=torch.float32, memory_format=torch.contiguous_format)
                                 for p in params],
                           sums=torch.zeros(2, dtype=torch.float64, device=params[0].device),
                           history=mo.history if mo else [])
            self._mopt[index] = mo
        return MoptStep(prev_deltas=mo.prev, sums=mo.sums, measure=calls % every == 0)

    def _mopt_done(self, index: int, work: GroupWork, found_inf) -> None:
        """After an M-opt step (the step counter already advanced): a record step keeps whether it was skipped
        (AMP), a measure step appends its sums with whether it or its record step was skipped, as device
        tensors (no host sync); :meth:`mopt` leaves those measurements out."""
        step_of = work.adam.mopt
        if step_of is None:
            return
        mo = self._mopt[index]
        skipped = None if found_inf is None else (found_inf.reshape(1) != 0).to(torch.float64)
        if not step_of.measure:
            mo.record_skipped = skipped
            return
        before, mo.record_skipped = mo.record_skipped, None
        if skipped is not None and before is not None:
            skipped = skipped + before.to(skipped.device)
        elif skipped is None:
            skipped = before
        step = work.adam.step.clone()  # the count before this step: minus the 1 − found_inf just added
        step -= 1.0 if found_inf is None else 1.0 - (found_inf != 0).to(torch.float64).reshape(1).to(step.device)
        mo.history.append(Measurement(step, work.adam.programs.lr.clone(), mo.sums.clone(),
                                      None if skipped is None else skipped.clone()))

    def mopt(self, group: int = 0) -> list[dict]:
        """The M-opt LRs measured so far for a group: ``{"t", "lr", "mopt_lr", "l1_update", "l1_change"}``
        with η* = lr · ‖Δ_t‖₁ / ‖Δ_t − Δ_{t+1}‖₁ (t: the step whose update was recorded; lr = η_{t+1}).
        Reads the device."""
        out = []
        state = self._mopt.get(group)
        for m in state.history if state else []:
            if m.skipped is not None and float(m.skipped) != 0:  # an AMP skip of the measure or its record step
                continue
            a, b = float(m.sums[0]), float(m.sums[1])
            out.append({"t": int(m.step) - 1, "lr": float(m.lr), "mopt_lr": float(m.lr) * a / b if b else float("inf"),
                        "l1_update": a, "l1_change": b})
        return out

    # ---- which path takes each group -----------------------------------------------------------
    _TABLES_KEPT = Launcher.KEPT  # packed launch tables kept per launch site besides those a CUDA graph captured

    @property
    def _cuda_tables(self) -> dict:
        """The cached launch tables (:class:`lrkit.optim.launch.Entry` by key), launch site after site."""
        return {**self._cpu_launcher.entries(), **self._launcher.entries()}

    @property
    def _cuda_tables_captured(self) -> dict:
        return {**self._cpu_launcher.captured, **self._launcher.captured}

    @property
    def _cuda_staging_captured(self) -> dict:
        return {**self._cpu_launcher.staging, **self._launcher.staging}

    def _multi_tensor_launch(self):
        """(device type, op) of the multi-tensor step: CUDA tensors and ``lrkit::fused_adam_``, or op None where
        its CUDA kernel is not built. Tests override it to run the CUDA kernel source, emulated on the host, on
        CPU tensors (tests/optim/test_cuda_kernel_emulated.py)."""
        return "cuda", (ops.fused_adam_ if _ext.has_cuda_kernel() else None)

    @staticmethod
    def _kernel_ready(params, grads) -> bool:
        """Whether the compiled kernels can take a group: every param and grad contiguous (a channels-last
        or strided one is not), each grad of its param's dtype."""
        return all(p.is_contiguous() and g.is_contiguous() and g.dtype == p.dtype for p, g in zip(params, grads))

    def _route(self, work, multi_type, launch):
        """Which path each group of this step takes, decided per group and per device:
        ``(batches, singles)``. ``batches``: device -> the groups on it that the multi-tensor kernel takes in
        one launch; ``singles``: ``(group's work, use_cpu_op)``, the CPU kernel for ready CPU groups (one group
        a launch), the pure-torch step for the rest. A tensor on an accelerator never reaches the CPU kernel."""
        batches, singles = {}, []
        for w in work:
            ready = self._kernel_ready(w.params, w.grads)
            if launch is not None and w.device.type == multi_type and ready:
                batches.setdefault(w.device, []).append(w)
            elif self.backend != "torch" and w.device.type == "cpu" and ready and _ext.load():
                singles.append((w, True))
            elif self.backend == "ext" and w.device.type != "cpu":  # on the CPU the reference step is the fallback
                why = ("a param or grad is not contiguous (channels-last or a strided view) or a grad's dtype differs "
                       "from its param's" if not ready else _ext.error() or "the extension has no kernel for it")
                index = next(i for i, g in enumerate(self.param_groups) if g is w.group)
                raise RuntimeError(f"FusedAdam(backend='ext'): no compiled kernel for group {index} "
                                   f"on {w.device}: {why}; use backend='auto' or 'torch'")
            else:
                singles.append((w, False))
        return batches, singles

    # ---- the step ------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None, grad_scale: torch.Tensor | None = None, found_inf: torch.Tensor | None = None):
        """One step for every group with gradients. ``grad_scale``/``found_inf`` (AMP): the grads are
        divided by ``grad_scale`` in place (as torch's fused Adam); where ``found_inf`` is non-zero the step
        is skipped, grads included, and not counted. Under ``torch.amp.GradScaler`` both come from it."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if grad_scale is None:  # set by torch.amp.GradScaler.step for optimizers that support AMP scaling
            grad_scale = getattr(self, "grad_scale", None)
        if found_inf is None:
            found_inf = getattr(self, "found_inf", None)
        indexed = [(i, w) for i, group in enumerate(self.param_groups) if (w := self._init_group(i, group))]
        index_of = {id(w.group): i for i, w in indexed}
        work = [w for _, w in indexed]
        multi_type, launch = self._multi_tensor_launch() if self.backend != "torch" else (None, None)
        batches, singles = self._route(work, multi_type, launch)
        self._launcher.op = launch
        for ws in batches.values():  # one launch per device
            fused_adam([w.adam for w in ws], grad_scale=grad_scale, found_inf=found_inf, kernel=True,
                       launcher=self._launcher)
        for w, use_cpu_op in singles:
            if not use_cpu_op and self.backend != "torch":
                _ext.warn_fallback("FusedAdam", f"group {index_of[id(w.group)]} on {w.device}: its params or grads "
                                   "are not contiguous" if not self._kernel_ready(w.params, w.grads) else None)
            fused_adam([w.adam], grad_scale=grad_scale, found_inf=found_inf, kernel=use_cpu_op,
                       launcher=self._cpu_launcher)
        for index, w in indexed:
            self._mopt_done(index, w, found_inf)
            self._calls[index] = self._calls.get(index, 0) + 1
        return loss

    def _init_group(self, index: int, group: dict) -> GroupWork | None:
        """The group's step record: its tensors that have gradients, with their state (created on the first
        step), step counter, compiled policies and M-opt part; None where no param has a gradient."""
        pairs = [(p, g) for p in group["params"] if (g := p.grad) is not None]
        if not pairs:
            return None
        first_param, _ = pairs[0]
        device = first_param.device
        if len(pairs) > 1 and any(p.device != device for p, _ in pairs):
            raise RuntimeError(f"FusedAdam: the params of group {index} are on more than one device")
        buf = self._group_buffers(index, group, device)
        amsgrad = group["amsgrad"]
        keys = _FLOAT32_STATE if amsgrad else _FLOAT32_STATE[:2]
        params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs = [], [], [], [], []
        for p, grad in pairs:
            if grad.is_sparse:
                raise RuntimeError("FusedAdam does not support sparse gradients")
            state = self.state[p]
            for key in keys:
                if key not in state:
                    state[key] = torch.zeros_like(p, dtype=torch.float32, memory_format=torch.contiguous_format)
            params.append(p)
            grads.append(grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            if amsgrad:
                max_exp_avg_sqs.append(state["max_exp_avg_sq"])
        beta1, beta2 = group["betas"]
        adam = AdamGroup(params=params, grads=grads, exp_avgs=exp_avgs, exp_avg_sqs=exp_avg_sqs,
                         max_exp_avg_sqs=max_exp_avg_sqs, step=group["step"], programs=buf, beta1=beta1, beta2=beta2,
                         eps=group["eps"], weight_decay=group["weight_decay"], decoupled=group["adamw"],
                         maximize=group["maximize"], amsgrad=amsgrad, mopt=self._mopt_step(index, params),
                         device=device)
        return GroupWork(group=group, device=device, adam=adam)
