"""FusedAdam: Adam / AdamW whose LR is η(t) of an lrkit policy, computed inside the optimizer step.

Each parameter group carries a policy. It is compiled once (:func:`lrkit.optim.compile_policy`) into a
fixed-size descriptor on the group's device, and the group's step counter ``t`` (steps already taken,
t = 0 for the first step) is a float64 tensor on that device too. One ``step()`` then evaluates η(t),
the bias corrections 1 − β^(t+1) and the Adam/AdamW update without an LR scheduler, without
host-device synchronisation and without ``.item()`` on the accelerator path.

Back ends: the compiled ``torch.ops.lrkit.fused_adam_`` (CPU kernel in ``csrc/cpu``) when it loads; on
CUDA ``torch.ops.lrkit.fused_adam_multi_`` (``csrc/cuda``: every CUDA group in one launch pair, the
streaming M-opt included); otherwise the pure-torch implementation below — the same math, op for op,
and the readable reference — with one warning saying why. ``backend="torch"`` asks for the reference
explicitly.

The update, per element (torch.optim.Adam's, in float32 for fp32/bf16/fp16 params, m and v float32)::

    g ← g / grad_scale (AMP);  g ← −g if maximize
    AdamW: p ← p·(1 − η·wd)      Adam: g ← g + wd·p
    m ← lerp(m, g, 1 − β1);  v ← β2·v + (1 − β2)·g²
    AMSGrad (``amsgrad=True``): v̂ ← max(v̂, v), and v̂ replaces v below (state ``max_exp_avg_sq``)
    p ← p − η/(1 − β1^(t+1)) · m / (√v / √(1 − β2^(t+1)) + ε)
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from lrkit.optim import _ext
from lrkit.optim.program import MAX_REGISTERS, compile_policy

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
    """

    def __init__(self, params, policy, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 adamw: bool = False, maximize: bool = False, backend: str = "auto", mopt_every: int | None = None,
                 amsgrad: bool = False):
        if mopt_every is not None and (not isinstance(mopt_every, int) or isinstance(mopt_every, bool) or mopt_every < 2):
            raise ValueError(f"FusedAdam: field 'mopt_every' must be None or an int >= 2, got {mopt_every!r}")
        self.mopt_every = mopt_every
        self._calls: dict[int, int] = {}  # step() calls per group (host side: no device read needed)
        self._mopt: dict[int, dict] = {}
        self._placeholder: dict = {}
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
        defaults = dict(policy=_spec(policy), betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        adamw=adamw, maximize=maximize, amsgrad=amsgrad)
        super().__init__(params, defaults)
        # GradScaler then hands the step its scale and found_inf (as attributes) instead of unscaling the
        # grads and checking them for infs on the host: the kernels divide by the scale and skip on an inf.
        self._step_supports_amp_scaling = True
        if backend == "ext" and not _ext.load():
            raise RuntimeError(f"FusedAdam(backend='ext'): the lrkit extension is not available: {_ext.error()}")

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # state dicts saved before AMSGrad existed
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
        if "policy" in param_group:
            param_group["policy"] = _spec(param_group["policy"])
        super().add_param_group(param_group)
        for p in self.param_groups[-1]["params"]:
            if p.dtype not in _PARAM_DTYPES:
                raise TypeError(f"FusedAdam: params must be float32, bfloat16 or float16, got {p.dtype}")

    # ---- the schedule on the device ------------------------------------------------------------
    def _group_buffers(self, index: int, group: dict, device: torch.device) -> dict:
        buf = self._buffers.get(index)
        if buf is None or buf["device"] != device or buf["policy"] != group["policy"]:
            meta, code, consts = compile_policy(group["policy"]).pack(MAX_REGISTERS)
            if buf is not None and buf["device"] == device:  # a new policy: overwrite in place
                buf["meta"].copy_(torch.from_numpy(meta), non_blocking=True)
                buf["code"].copy_(torch.from_numpy(code), non_blocking=True)
                buf["consts"].copy_(torch.from_numpy(consts), non_blocking=True)
                buf["policy"] = group["policy"]
            else:
                buf = {"device": device, "policy": group["policy"], "meta": torch.from_numpy(meta).to(device),
                       "code": torch.from_numpy(code).to(device), "consts": torch.from_numpy(consts).to(device),
                       "lr": torch.full((1,), float("nan"), dtype=torch.float64, device=device)}
                self._buffers[index] = buf
        step = group.get("step")
        if not isinstance(step, torch.Tensor):
            group["step"] = torch.zeros(1, dtype=torch.float64, device=device)
        elif step.device != device or step.dtype != torch.float64:
            group["step"] = step.to(device=device, dtype=torch.float64).reshape(1)
        return buf

    def set_policy(self, policy, group: int | None = None) -> None:
        """Replace the policy of one group (or all) between steps; it applies at the group's current t.

        The descriptor is overwritten in place (a few KB copied), so tensors captured in a CUDA graph
        stay valid."""
        spec = _spec(policy)
        for i, g in enumerate(self.param_groups):
            if group is None or i == group:
                g["policy"] = spec
                if i in self._buffers:
                    self._group_buffers(i, g, self._buffers[i]["device"])

    def last_lr(self) -> list[float]:
        """η used by the last step of each group (NaN before the first step). Reads the device."""
        return [float(self._buffers[i]["lr"]) if i in self._buffers else float("nan") for i in range(len(self.param_groups))]

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
    def _mopt_mode(self, index: int) -> int:
        """0 off; 1 record this step's update Δ_t; 2 measure Δ_{t+1} against it (every mopt_every calls)."""
        if not self.mopt_every:
            return 0
        c = self._calls.get(index, 0)
        if c % self.mopt_every == self.mopt_every - 1:
            return 1
        return 2 if c > 0 and c % self.mopt_every == 0 else 0

    def _mopt_state(self, index: int, params) -> dict:
        mo = self._mopt.get(index)
        if mo is None or len(mo["prev"]) != len(params) or any(d.shape != p.shape for d, p in zip(mo["prev"], params)):
            mo = {"prev": [torch.zeros_like(p, dtype=torch.float32, memory_format=torch.contiguous_format) for p in params],
                  "sums": torch.zeros(2, dtype=torch.float64, device=params[0].device),
                  "history": (mo or {}).get("history", [])}
            self._mopt[index] = mo
        return mo

    @staticmethod
    def _mopt_record(mode, mo, group, buf, sums, found_inf) -> None:
        """After an M-opt step: a record step keeps whether it was skipped (AMP), a measure step appends its
        sums with whether it or its record step was skipped, as a device tensor (no host sync); :meth:`mopt`
        leaves those measurements out."""
        if mode == 0:
            return
        skipped = None if found_inf is None else (found_inf.reshape(1) != 0).to(torch.float64)
        if mode == 1:
            mo["record_skipped"] = skipped
            return
        before = mo.pop("record_skipped", None)
        if skipped is not None and before is not None:
            skipped = skipped + before.to(skipped.device)
        elif skipped is None:
            skipped = before
        mo["history"].append((group["step"].clone(), buf["lr"].clone(), sums.clone(),
                              None if skipped is None else skipped.clone()))

    def _no_sums(self, device):
        """A placeholder sums tensor for steps without M-opt (the op's schema always takes one)."""
        if device not in self._placeholder:
            self._placeholder[device] = torch.zeros(2, dtype=torch.float64, device=device)
        return self._placeholder[device]

    def mopt(self, group: int = 0) -> list[dict]:
        """The M-opt LRs measured so far for a group: ``{"t", "lr", "mopt_lr", "l1_update", "l1_change"}``
        with η* = lr · ‖Δ_t‖₁ / ‖Δ_t − Δ_{t+1}‖₁ (t: the step whose update was recorded; lr = η_{t+1}).
        Reads the device."""
        out = []
        for step, lr, sums, skipped in self._mopt.get(group, {}).get("history", []):
            if skipped is not None and float(skipped) != 0:  # an AMP skip of the measure or its record step
                continue
            a, b = float(sums[0]), float(sums[1])
            out.append({"t": int(step) - 1, "lr": float(lr), "mopt_lr": float(lr) * a / b if b else float("inf"),
                        "l1_update": a, "l1_change": b})
        return out

    _TABLES_KEPT = 4  # packed launch tables kept besides those a CUDA graph captured

    def _multi_tensor_launch(self):
        """(device type, op) of the multi-tensor step: CUDA tensors and ``lrkit::fused_adam_multi_``, or
        op None where the CUDA extension is not built. Tests override it to run the CUDA kernel source,
        emulated on the host, on CPU tensors (tests/optim/test_cuda_kernel_emulated.py)."""
        return "cuda", (torch.ops.lrkit.fused_adam_multi_ if _ext.has_cuda_kernel() else None)

    @staticmethod
    def _kernel_ready(params, grads) -> bool:
        """Whether the compiled kernels can take a group: every param and grad contiguous (a channels-last
        or strided one is not), each grad of its param's dtype."""
        return all(p.is_contiguous() and g.is_contiguous() and g.dtype == p.dtype for p, g in zip(params, grads))

    def _route(self, work, multi_type, launch):
        """Which path each group of this step takes, decided per group and per device:
        ``(batches, singles)``. ``batches``: device -> the groups on it that the multi-tensor kernel takes in
        one launch; ``singles``: ``(group's work, use_cpu_op)``, the CPU op for ready CPU groups, the pure-torch
        step for the rest. A tensor on an accelerator never reaches the CPU op."""
        batches, singles = {}, []
        for w in work:
            device, ready = w[2], self._kernel_ready(w[3], w[4])
            if launch is not None and device.type == multi_type and ready:
                batches.setdefault(device, []).append(w)
            elif self.backend != "torch" and device.type == "cpu" and ready and _ext.load():
                singles.append((w, True))
            elif self.backend == "ext" and device.type != "cpu":  # on the CPU the reference step is the fallback
                why = ("a param or grad is not contiguous (channels-last or a strided view) or a grad's dtype differs "
                       "from its param's" if not ready else _ext.error() or "the extension has no kernel for it")
                index = next(i for i, g in enumerate(self.param_groups) if g is w[0])
                raise RuntimeError(f"FusedAdam(backend='ext'): no compiled kernel for group {index} "
                                   f"on {device}: {why}; use backend='auto' or 'torch'")
            else:
                singles.append((w, False))
        return batches, singles

    def _cuda_step(self, cuda, grad_scale, found_inf, launch, mopt) -> None:
        """All CUDA groups in one launch pair (schedule kernel, then the multi-tensor Adam kernel; a third
        kernel on steps where a group measures M-opt). ``mopt``: group id -> (mode, its M-opt state)."""
        from lrkit.optim.tables import MOPT_MEASURE, pack

        device = cuda[0][2]

        # per group: (M-opt mode, its prev_deltas, its sums tensor) for this step
        mopts = [(mode, mo["prev"], mo["sums"]) if mode else (0, [], None)
                 for mode, mo in (mopt.get(id(w[0]), (0, None)) for w in cuda)]
        # Packed tables by key (every address the tables hold but the grads', hyper-parameters, M-opt mode; a
        # resumed state's new moments are a new key): a step whose key is new packs them
        # (a small H2D copy). A few are kept, so the M-opt steps (other modes) do not repack every time.
        # Gradients are not in the key: `zero_grad()` frees them and backward may allocate them elsewhere,
        # so where only their addresses moved, the tables' grad column is rewritten and copied over (no
        # repack). Tables a CUDA graph captured are held while the optimizer lives (the graph reads them).
        key = tuple((buf["meta"].data_ptr(), buf["code"].data_ptr(), buf["consts"].data_ptr(), buf["lr"].data_ptr(),
                     group["step"].data_ptr(), tuple(p.data_ptr() for p in params), tuple(m.data_ptr() for m in ms),
                     tuple(v.data_ptr() for v in vs), group["betas"], group["eps"], group["weight_decay"], group["adamw"],
                     group["maximize"], group["amsgrad"], tuple(x.data_ptr() for x in xs), mode,
                     tuple(d.data_ptr() for d in prev), None if sums is None else sums.data_ptr())
                    for (group, buf, _, params, _, ms, vs, xs), (mode, prev, sums) in zip(cuda, mopts))
        gl = [x for w in cuda for x in w[4]]
        grad_ptrs = np.fromiter((g.data_ptr() for g in gl), dtype=np.uint64, count=len(gl))
        cache = self.__dict__.setdefault("_cuda_tables", {})
        captured = self.__dict__.setdefault("_cuda_tables_captured", {})  # id of the device tables -> entry
        entry = cache.pop(key, None)
        if entry is None:
            groups = [dict(params=params, grads=grads, exp_avgs=ms, exp_avg_sqs=vs, meta=buf["meta"], code=buf["code"],
                           consts=buf["consts"], step=group["step"], lr_out=buf["lr"], beta1=group["betas"][0],
                           beta2=group["betas"][1], eps=group["eps"], weight_decay=group["weight_decay"],
                           decoupled=group["adamw"], maximize=group["maximize"], amsgrad=group["amsgrad"],
                           max_exp_avg_sqs=xs, mopt_mode=mode, prev_deltas=prev, mopt_sums=sums)
                      for (group, buf, _, params, grads, ms, vs, xs), (mode, prev, sums) in zip(cuda, mopts)]
            t = pack(groups)
            blob, host = _stage(t.blob, device)
            # the AdamStep records (64 bytes a group), then the M-opt partials (2 float64 a chunk)
            scratch = torch.empty(64 * t.n_groups + 16 * t.n_chunks, dtype=torch.uint8, device=device)
            entry = (t, blob, scratch)
        elif not np.array_equal(entry[0].tensor_column("g"), grad_ptrs):
            # new host and device tables; the old ones stay as they were for a launch in flight (the caching
            # allocator reuses their memory only after it) or a captured graph (held below)
            t = entry[0].with_grads(grad_ptrs)
            blob, host = _stage(t.blob, device)
            entry = (t, blob, entry[2])
        else:
            host = None
        cache[key] = entry  # the most recently used last
        if torch.cuda.is_available() and torch.cuda.is_current_stream_capturing():
            # held once, however often a graph captures these same tables; a copy made during the capture is a
            # node of the graph that every replay runs again from its pinned source, so that is held too
            captured[id(entry[1])] = entry
            if host is not None:
                self.__dict__.setdefault("_cuda_staging_captured", {})[id(entry[1])] = host
        for old in list(cache)[:-self._TABLES_KEPT]:
            del cache[old]
        t, blob, scratch = entry
        fl = [x for w in cuda for x in w[3]]
        ml = [x for w in cuda for x in w[5]]
        vl = [x for w in cuda for x in w[6]]
        xl = [x for w in cuda for x in w[7]]
        gs = None if grad_scale is None else grad_scale.to(device=device, dtype=torch.float32).reshape(1)
        fi = None if found_inf is None else found_inf.to(device=device, dtype=torch.float32).reshape(1)
        measure = any(mode == MOPT_MEASURE for mode, _, _ in mopts)
        launch(fl, gl, ml, vl, xl, blob, t.n_tensors, t.n_chunks, t.chunk_size, t.n_groups, scratch, gs, fi, measure)

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
        work = []
        for index, group in enumerate(self.param_groups):
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            device = params[0].device
            if any(p.device != device for p in params):
                raise RuntimeError(f"FusedAdam: the params of group {index} are on more than one device")
            buf = self._group_buffers(index, group, device)
            grads, ms, vs, xs = [], [], [], []
            for p in params:
                if p.grad.is_sparse:
                    raise RuntimeError("FusedAdam does not support sparse gradients")
                st = self.state[p]
                if not st:
                    st["exp_avg"] = torch.zeros_like(p, dtype=torch.float32, memory_format=torch.contiguous_format)
                    st["exp_avg_sq"] = torch.zeros_like(p, dtype=torch.float32, memory_format=torch.contiguous_format)
                if group["amsgrad"] and "max_exp_avg_sq" not in st:
                    st["max_exp_avg_sq"] = torch.zeros_like(p, dtype=torch.float32, memory_format=torch.contiguous_format)
                grads.append(p.grad)
                ms.append(st["exp_avg"])
                vs.append(st["exp_avg_sq"])
                if group["amsgrad"]:
                    xs.append(st["max_exp_avg_sq"])
            work.append((group, buf, device, params, grads, ms, vs, xs))
        stepped = [w[0] for w in work]
        index_of = {id(g): i for i, g in enumerate(self.param_groups)}
        modes = {id(w[0]): self._mopt_mode(index_of[id(w[0])]) for w in work}
        multi_type, launch = self._multi_tensor_launch() if self.backend != "torch" else (None, None)
        batches, singles = self._route(work, multi_type, launch)
        for cuda in batches.values():  # one launch pair per device
            mopt = {id(w[0]): (modes[id(w[0])], self._mopt_state(index_of[id(w[0])], w[3]))
                    for w in cuda if modes[id(w[0])]}
            self._cuda_step(cuda, grad_scale, found_inf, launch, mopt)
            for group, buf, *_ in cuda:
                mode, mo = mopt.get(id(group), (0, None))
                self._mopt_record(mode, mo, group, buf, mo["sums"] if mo else None, found_inf)
        for (group, buf, device, params, grads, ms, vs, xs), use_cpu_op in singles:
            beta1, beta2 = group["betas"]
            index = index_of[id(group)]
            mode = modes[id(group)]
            mo = self._mopt_state(index, params) if mode else None
            prev = mo["prev"] if mo else []
            sums = mo["sums"] if mo else self._no_sums(device)
            if use_cpu_op:
                torch.ops.lrkit.fused_adam_(params, grads, ms, vs, xs, group["step"], buf["meta"], buf["code"],
                                            buf["consts"], beta1, beta2, group["eps"], group["weight_decay"],
                                            group["adamw"], group["maximize"], group["amsgrad"], grad_scale, found_inf,
                                            buf["lr"], prev, mode, sums)
            else:
                if self.backend != "torch":
                    _ext.warn_fallback("FusedAdam", f"group {index} on {device}: its params or grads are not contiguous"
                                       if not self._kernel_ready(params, grads) else None)
                adam_reference(params, grads, ms, vs, group["policy"], group["step"], buf, beta1, beta2, group["eps"],
                               group["weight_decay"], group["adamw"], group["maximize"], grad_scale, found_inf,
                               prev, mode, sums, xs if group["amsgrad"] else None)
            self._mopt_record(mode, mo, group, buf, sums, found_inf)
        for group in stepped:
            index = index_of[id(group)]
            self._calls[index] = self._calls.get(index, 0) + 1
            if found_inf is None:
                group["step"].add_(1.0)
            else:
                group["step"].add_(1.0 - (found_inf != 0).to(torch.float64).reshape(1))
        return loss


def _stage(blob: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(device copy, host source)`` of packed tables. On a GPU the source is pinned and the copy
    non-blocking: a copy from pageable memory blocks the host, and inside a CUDA graph capture (a repack,
    or backward's grads at new addresses) it is illegal, while a pinned one is captured as a graph node."""
    host = torch.from_numpy(blob)
    if device.type == "cuda":
        host = host.pin_memory()
    return host.to(device, non_blocking=True), host


@functools.lru_cache(maxsize=64)
def _parsed(spec: str):
    from lrkit.policies import parse

    return parse(spec)


def adam_reference(params, grads, exp_avgs, exp_avg_sqs, policy: str, step, buf, beta1, beta2, eps, weight_decay,
                   decoupled, maximize, grad_scale=None, found_inf=None, prev_deltas=(), mopt_mode: int = 0,
                   mopt_sums=None, max_exp_avg_sqs=None) -> None:
    """The pure-torch step (the fallback and the readable reference): η(t) from the policy formula on
    the device (float64), then the element update in float32. Skipped elements stay as they were
    where ``found_inf`` is set (``torch.where``, no host sync). M-opt as in the kernel: mode 1 stores
    this step's update in ``prev_deltas``, mode 2 writes (‖Δ_prev‖₁, ‖Δ_prev − Δ‖₁) to ``mopt_sums``.
    AMSGrad where ``max_exp_avg_sqs`` is given (one float32 running maximum per param)."""
    t = step.reshape(1)
    lr = _parsed(policy)(t)  # float64 on the device, the same formula the kernel's program was traced from
    buf["lr"].copy_(lr)
    t1 = t + 1.0
    step_size = (lr / (1.0 - beta1 ** t1)).to(torch.float32)
    bc2_sqrt = torch.sqrt(1.0 - beta2 ** t1).to(torch.float32)
    skip = None if found_inf is None else (found_inf.reshape(1) != 0)
    if mopt_mode == 2:
        mopt_sums.zero_()
    prevs = list(prev_deltas) if mopt_mode else [None] * len(params)
    maxes = list(max_exp_avg_sqs) if max_exp_avg_sqs is not None else [None] * len(params)
    for p, g, m, v, x, prev in zip(params, grads, exp_avgs, exp_avg_sqs, maxes, prevs):
        g32 = g.to(torch.float32)
        if grad_scale is not None:  # unscaled in place, as torch's fused Adam (not where found_inf skips)
            g32 = g32 / grad_scale.to(torch.float32)
            g.copy_(g32 if skip is None else torch.where(skip, g, g32.to(g.dtype)))
        if maximize:
            g32 = -g32
        p32 = p.to(torch.float32)
        if weight_decay != 0.0:
            if decoupled:
                p32 = p32 * (1.0 - lr * weight_decay).to(torch.float32)
            else:
                g32 = g32 + p32 * weight_decay
        m_new = torch.lerp(m, g32, 1.0 - beta1)
        v_new = beta2 * v + (1.0 - beta2) * g32 * g32
        x_new = None if x is None else torch.where(x < v_new, v_new, x)  # std::max(x, v), as torch's fused Adam
        p_new = p32 - step_size * m_new / (torch.sqrt(v_new if x is None else x_new) / bc2_sqrt + eps)
        if skip is not None:
            m_new, v_new, p_new = torch.where(skip, m, m_new), torch.where(skip, v, v_new), torch.where(skip, p32, p_new)
            x_new = None if x is None else torch.where(skip, x, x_new)
        m.copy_(m_new)
        v.copy_(v_new)
        if x is not None:
            x.copy_(x_new)
        stored = p_new.to(p.dtype)
        if mopt_mode:
            delta = stored.double() - p32.double()
            if mopt_mode == 1:
                prev.copy_(delta)
            else:
                mopt_sums[0] += prev.double().abs().sum()
                mopt_sums[1] += (prev.double() - delta).abs().sum()
        p.copy_(stored)
