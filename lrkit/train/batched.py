"""The batched engine: K replicas of one task family trained in one loop, one stacked update per iteration.

Replicas share the data set, model, optimizer and its hyper-parameters, budget, batch size and evaluation
schedule (:func:`family`); each has its own policy (any: composites, λ, the state-based ones) and seed.
Every replica starts as the single run of its config would (:class:`lrkit.train.engine.Run` builds its
model initialisation, data stream, monitor and record), so its record has the single run's form and key;
``environment["engine"]`` names the engine and the batch. Replicas with one seed share one batch per
iteration.

The models' parameters and buffers are stacked (``torch.func.stack_module_state``: dim 0 is the replica)
and one forward runs them all, ``torch.vmap`` over ``torch.func.functional_call``; BatchNorm's running
statistics are stacked buffers, so each replica keeps its own. ``forward="loop"`` is the readable
reference: the same functional call, one replica after another. ``channels_last`` (a memory layout of the
single engine) leaves the stacked forward in its default layout; its sums round a little differently. The
update is
:class:`lrkit.optim.batched.BatchedOptimizer` with each replica's LR.

Per replica, not per batch: a replica whose loss diverges is recorded ``diverged`` and frozen (its
parameters and optimizer state no longer change; replicas never mix, so its NaN reaches no other), one
that reaches its target in cost-effective mode stops there, and the loop ends when every replica has
stopped. ``run.monitors[k]`` is replica k's live :class:`~lrkit.train.monitor.LRMonitor` (edit one
replica's policy there); ``stop(k)`` stops one replica, ``stop()`` all.
"""

from __future__ import annotations

import copy
import hashlib
import threading

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state

from lrkit.optim.batched import BATCHED_OPTIMIZERS, BatchedOptimizer

from .config import TrainConfig, run_key
from .engine import MoptProbe, Run
from .monitor import RunRecord

#: TrainConfig fields the replicas of one batch may differ in; every other field is the family's
REPLICA_FIELDS = ("policy", "seed", "target_acc", "stop_at_target")
FORWARDS = ("vmap", "loop")


def family(cfg: TrainConfig | dict) -> tuple:
    """What replicas of one batch share: the config without :data:`REPLICA_FIELDS` (hashable)."""
    d = cfg.to_dict() if isinstance(cfg, TrainConfig) else TrainConfig.from_dict(dict(cfg)).to_dict()
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k not in REPLICA_FIELDS))


def unbatchable(cfg: TrainConfig | dict) -> str | None:
    """Why ``cfg`` cannot train as a replica of a batch (one line), or None when it can."""
    c = cfg if isinstance(cfg, TrainConfig) else TrainConfig.from_dict(dict(cfg))
    if c.optimizer not in BATCHED_OPTIMIZERS:
        return f"optimizer {c.optimizer!r} has no stacked step (batched: {', '.join(BATCHED_OPTIMIZERS)})"
    if c.compile:
        return "torch.compile runs one model"
    return None


def batch_id(cfgs) -> str:
    """A short hash naming a batch: the run keys of its replicas, in order."""
    return hashlib.sha256(" ".join(run_key(c) for c in cfgs).encode()).hexdigest()[:12]


class BatchedRun:
    """K replicas (``cfgs``, one family) trained together; ``run()`` returns one record per replica.

    ``data``: the loaded data set (else loaded once). ``forward``: ``"vmap"`` (one vectorised call) or
    ``"loop"`` (the reference). ``on_eval(k, iteration, top1, top5, test_loss)`` after each eval of an
    active replica; ``on_step(t)`` after every update.
    """

    def __init__(self, cfgs, data=None, progress: bool = True, forward: str = "vmap", on_eval=None, on_step=None):
        cfgs = [c if isinstance(c, TrainConfig) else TrainConfig.from_dict(dict(c)) for c in cfgs]
        if not cfgs:
            raise ValueError("BatchedRun: field 'cfgs' must hold at least one config")
        if forward not in FORWARDS:
            raise ValueError(f"BatchedRun: field 'forward' must be one of {', '.join(FORWARDS)}, got {forward!r}")
        for c in cfgs:
            why = unbatchable(c)
            if why:
                raise ValueError(f"BatchedRun: config {c.policy} cannot be batched: {why}")
        fam = dict(family(cfgs[0]))
        for i, c in enumerate(cfgs[1:], 1):
            diff = sorted(k for k, v in family(c) if fam[k] != v)
            if diff:
                raise ValueError(f"BatchedRun: replica {i} differs from replica 0 in {', '.join(diff)}; replicas may "
                                 f"differ only in {', '.join(REPLICA_FIELDS)}")
        if data is None:
            from .data import load_dataset

            data = load_dataset(cfgs[0].dataset, root=cfgs[0].data_root)
        self.cfgs, self.cfg, self.forward_mode = cfgs, cfgs[0], forward
        self.replicas = []
        for c in cfgs:  # each as its single run starts; one copy of the splits on the device, shared
            r = Run(c, data=data, progress=False, db=False)
            if self.replicas:
                first = self.replicas[0]
                r.test_batches = first.test_batches
                if hasattr(r.train_batches, "x") and r.train_batches.x.shape == first.train_batches.x.shape:
                    r.train_batches.x, r.train_batches.y = first.train_batches.x, first.train_batches.y
            self.replicas.append(r)
        self.monitors = [r.monitor for r in self.replicas]
        self.device = self.replicas[0].device
        bid = batch_id(cfgs)
        for k, mon in enumerate(self.monitors):
            mon.record.environment["engine"] = {"name": "batched", "forward": forward, "batch": bid,
                                                "replicas": len(cfgs), "replica": k}
        models = [r.model for r in self.replicas]
        params, self.buffers = stack_module_state(models)
        self.names = list(params)
        self.params = {n: p.detach().requires_grad_(True) for n, p in params.items()}
        self.base = copy.deepcopy(models[0]).to("meta")  # the architecture only; the values come stacked
        for r in self.replicas:  # each single model and optimizer is no longer needed (the monitors set no LR)
            r.model = r.forward = r.optimizer = r.monitor.optimizer = None
        self.optimizer = self._optimizer(models[0])
        seeds = [c.seed for c in cfgs]
        self.streams = {s: self.replicas[seeds.index(s)].train_batches for s in dict.fromkeys(seeds)}
        self.seeds = seeds
        self.test_batches = self.replicas[0].test_batches
        self.active = [True] * len(cfgs)
        self.status = ["complete"] * len(cfgs)
        self.messages = [""] * len(cfgs)
        self.progress, self.on_eval, self.on_step = progress, on_eval, on_step
        self._stop_requests: set[int] = set()
        self._lock = threading.Lock()
        self.t = 0

    def _optimizer(self, model) -> BatchedOptimizer:
        """The stacked step with each parameter's LR multiplier and decay. It takes the LR vector each
        iteration; an optimizer that evaluates one policy per replica itself (a policy bank over stacked
        parameters) would take the replicas' policies here instead, and the monitors would hand it their edits."""
        cfg = self.cfg
        mults = getattr(model, "caffe_mults", {}) if cfg.layer_mults else {}
        if cfg.layer_mults:
            from .models import caffe_param_groups

            caffe_param_groups(model, cfg.weight_decay)  # raises, naming the model, when it has no multipliers
        lr_mults = [mults.get(n, (1.0, 1.0))[0] for n in self.names]
        wds = [cfg.weight_decay * mults.get(n, (1.0, 1.0))[1] for n in self.names]
        return BatchedOptimizer(cfg.optimizer, [self.params[n] for n in self.names], momentum=cfg.momentum,
                                betas=cfg.betas, eps=cfg.eps, weight_decays=wds, lr_mults=lr_mults)

    # thread-safe controls
    def stop(self, replica: int | None = None) -> None:
        """Stop replica ``replica`` (all when None) before its next iteration."""
        with self._lock:
            self._stop_requests.update(range(len(self.cfgs)) if replica is None else [int(replica)])

    # ---- the stacked forward ------------------------------------------------------------------
    def _logits_one(self, k: int, x: torch.Tensor) -> torch.Tensor:
        p = {n: v[k] for n, v in self.params.items()}
        b = {n: v[k] for n, v in self.buffers.items()}
        return functional_call(self.base, (p, b), (x,))

    def logits(self, x: torch.Tensor, batched_input: bool) -> torch.Tensor:
        """Logits ``(K, N, classes)`` of every replica; ``x`` is ``(K, N, …)`` when ``batched_input``,
        else one ``(N, …)`` batch all replicas see."""
        if self.forward_mode == "loop":
            return torch.stack([self._logits_one(k, x[k] if batched_input else x) for k in range(len(self.cfgs))])

        def one(p, b, xb):
            return functional_call(self.base, (p, b), (xb,))

        return torch.vmap(one, in_dims=(0, 0, 0 if batched_input else None), randomness="different")(
            self.params, self.buffers, x)

    def _batch(self):
        """This iteration's inputs: one batch per seed stream, stacked per replica unless there is one seed."""
        drawn = {s: stream.next() for s, stream in self.streams.items()}
        if len(drawn) == 1:
            (x, y), = drawn.values()
            return x, y, False
        return (torch.stack([drawn[s][0] for s in self.seeds]), torch.stack([drawn[s][1] for s in self.seeds]), True)

    def _losses(self, x, y, batched_input: bool) -> torch.Tensor:
        out = self.logits(x, batched_input)
        target = y if batched_input else y.expand(out.shape[0], -1)
        return F.cross_entropy(out.flatten(0, 1), target.flatten(), reduction="none").view(out.shape[:2]).mean(1)

    @torch.no_grad()
    def evaluate(self) -> list[tuple[float, float, float]]:
        """Top-1, top-5 and mean loss of every replica on the test split (eval mode, running statistics)."""
        self.base.eval()
        try:
            K = len(self.cfgs)
            c1, c5, loss_sum, n = torch.zeros(K), torch.zeros(K), torch.zeros(K, dtype=torch.float64), 0
            for x, y in self.test_batches.iter_eval(self.cfg.eval_batch_size):
                out = self.logits(x, batched_input=False)
                loss_sum += F.cross_entropy(out.flatten(0, 1), y.repeat(K), reduction="none").view(K, -1).sum(1).double().cpu()
                top = out.topk(min(5, out.shape[-1]), dim=-1).indices
                hit = top == y[None, :, None]
                c1 += hit[..., 0].sum(1).cpu()
                c5 += hit.any(-1).sum(1).cpu()
                n += y.numel()
        finally:
            self.base.train()
        return [(c1[k].item() / n, c5[k].item() / n, loss_sum[k].item() / n) for k in range(K)]

    # ---- the loop -----------------------------------------------------------------------------
    def _freeze(self, k: int, status: str, message: str) -> None:
        self.active[k] = False
        self.status[k], self.messages[k] = status, message

    def _log_losses(self, pending) -> None:
        rows = torch.stack([loss for _, loss in pending]).tolist()
        for k, mon in enumerate(self.monitors):
            for (t, _), row in zip(pending, rows):
                had_lr = t < len(mon.record.curves["lr"]) and len(mon.record.curves["loss"]) == t
                if had_lr and self.status[k] != "diverged" and mon.log_loss(t, row[k]):
                    self._freeze(k, "diverged", "")

    def run(self) -> list[RunRecord]:
        from tqdm.auto import tqdm

        cfg, K = self.cfg, len(self.cfgs)
        probes = [MoptProbe([self.params[n][k] for n in self.names], cfg.mopt_every, mon) if cfg.mopt_every else None
                  for k, mon in enumerate(self.monitors)]
        flush_every = 1 if self.device.type == "cpu" else 50  # as the single engine: no host sync every step on GPUs
        bar = tqdm(total=cfg.iters, disable=not self.progress, desc=f"{cfg.model}/{cfg.dataset} batch of {K}",
                   leave=False, mininterval=0.5)
        pending: list[tuple[int, torch.Tensor]] = []
        plist = [self.params[n] for n in self.names]
        self.base.train()
        try:
            for t in range(cfg.iters):
                with self._lock:
                    requests, self._stop_requests = self._stop_requests, set()
                for k in requests:
                    if self.active[k]:
                        self._freeze(k, "stopped", f"stopped by request at iteration {t}")
                if not any(self.active):
                    break
                lrs = [0.0] * K
                for k, mon in enumerate(self.monitors):
                    if self.active[k]:
                        lrs[k] = mon.lr_for(t)
                        if probes[k] is not None:
                            probes[k].before_update(t, lrs[k])
                x, y, batched_input = self._batch()
                losses = self._losses(x, y, batched_input)
                grads = torch.autograd.grad(losses.sum(), plist)
                active = torch.tensor(self.active, device=self.device)
                self.optimizer.step(grads, torch.tensor(lrs, device=self.device, dtype=plist[0].dtype), active)
                for k, probe in enumerate(probes):
                    if probe is not None and self.active[k]:
                        probe.after_update(t)
                self.t = t + 1
                if self.on_step is not None:
                    self.on_step(t)
                pending.append((t, losses.detach()))
                end_of_eval = (t + 1) % cfg.eval_every == 0 or t + 1 == cfg.iters
                if len(pending) >= flush_every or end_of_eval:
                    self._log_losses(pending)
                    pending.clear()
                bar.update(1)
                if end_of_eval and any(self.active):
                    for k, (top1, top5, tl) in enumerate(self.evaluate()):
                        if not self.active[k]:
                            continue
                        stop = self.monitors[k].log_eval(t + 1, top1, top5, tl)
                        if self.on_eval is not None:
                            self.on_eval(k, t + 1, top1, top5, tl)
                        if stop:
                            self._freeze(k, "complete", f"target accuracy {self.cfgs[k].target_acc} reached at "
                                                        f"iteration {t + 1}")
        except Exception as e:  # record what was computed, then re-raise
            for k, mon in enumerate(self.monitors):
                mon.finish("failed", f"{type(e).__name__}: {e}")
            bar.close()
            raise
        if pending:  # a stop request can leave losses not yet fetched
            self._log_losses(pending)
        bar.close()
        return [mon.finish(self.status[k], self.messages[k]) for k, mon in enumerate(self.monitors)]


def train_batched(cfgs, data=None, progress: bool = True, forward: str = "vmap") -> list[RunRecord]:
    """Train ``cfgs`` (one family) as one batch and return one record per config, in order."""
    return BatchedRun(cfgs, data=data, progress=progress, forward=forward).run()
