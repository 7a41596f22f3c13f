"""The training engine: iteration-based training of a model under an LR policy, with the monitor.

One loop, read top to bottom (as nanoGPT's): config → data → model → optimizer → for each
iteration t: LR from the monitor, a batch, forward/backward/step, loss to the monitor; every
``eval_every`` iterations the test top-1/top-5 go to the monitor, which may stop the run
(target reached in cost-effective mode, divergence, or a stop request from another thread).
With ``mopt_every`` set, a :class:`MoptProbe` measures the M-opt LR (004 §4.2, Formula 7) on the way.
"""

from __future__ import annotations

import dataclasses
import random
import threading

import numpy as np
import torch
import torch.nn.functional as F

from lrkit.environment import check_device, environment
from lrkit.optim.mopt import mopt_lr

from .config import AUGMENT, COMPILE_MODES, NORMALIZE, OPTIMIZERS, TrainConfig  # noqa: F401
from .monitor import LRMonitor, RunRecord


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train_step(model, optimizer, x, y, loss_fn=F.cross_entropy) -> torch.Tensor:
    """One update: forward, loss, backward, optimizer step (the LR already set); returns the loss. Every
    training loop of image tasks — the engine's and the LR sweep's — steps through here."""
    loss = loss_fn(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def make_optimizer(cfg: TrainConfig, params, lr: float):
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.0, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "fused_adam":  # the policy is compiled into the optimizer; the monitor hands it edits
        from lrkit.optim.fused_adam import FusedAdam

        return FusedAdam(params, policy=cfg.policy, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)


class _Compiled(torch.nn.Module):
    """``torch.compile(model, mode=mode)`` as a module; with CUDA graphs (``reduce-overhead``,
    ``max-autotune``) every call starts a new graph step, so an output is never overwritten by a
    later replay while the loop still reads it (the loss, the eval logits)."""

    def __init__(self, model: torch.nn.Module, mode: str):
        super().__init__()
        self.compiled = torch.compile(model, mode=None if mode == "default" else mode)
        self.graphs = mode in ("reduce-overhead", "max-autotune")

    def forward(self, x):
        if self.graphs:
            torch.compiler.cudagraph_mark_step_begin()
        return self.compiled(x)


def compiled(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    """The model compiled with ``torch.compile`` (``mode``: one of :data:`COMPILE_MODES` but None).

    The compiled module shares the model's parameters and buffers; ``.train()`` / ``.eval()`` reach
    the model. Train and eval batches of other sizes are compiled once each. On a GPU,
    ``reduce-overhead`` replays the forward and backward as CUDA graphs (the optimizer step and the
    LR stay eager, so a live policy edit needs no re-capture)."""
    if mode not in COMPILE_MODES[1:]:
        raise ValueError(f"compiled: 'mode' must be one of {', '.join(map(repr, COMPILE_MODES[1:]))}, got {mode!r}")
    return _Compiled(model, mode)


@torch.no_grad()
def evaluate(model, batches, batch_size: int) -> tuple[float, float, float]:
    """Top-1, top-5 accuracy and mean loss of ``model`` on every sample of ``batches`` (in order)."""
    was_training = model.training
    model.eval()
    n = c1 = c5 = 0
    loss_sum = 0.0
    for x, y in batches.iter_eval(batch_size):
        out = model(x)
        loss_sum += F.cross_entropy(out, y, reduction="sum").item()
        k = min(5, out.shape[1])
        top = out.topk(k, dim=1).indices
        hit = top == y[:, None]
        c1 += hit[:, 0].sum().item()
        c5 += hit.any(dim=1).sum().item()
        n += y.numel()
    model.train(was_training)
    return c1 / n, c5 / n, loss_sum / n


class MoptProbe:
    """The M-opt LR (004 §4.2, Formula 7) measured during training, every ``every`` iterations.

    t counts iterations (optimizer steps, from 0); update t takes Θ_t to Θ_{t+1} with the LR η_t the
    monitor set for iteration t. At each t with t % M == 0 the probe keeps Θ_t (before update t),
    Θ_{t+1} (after it) and Θ_{t+2} (after update t + 1), then hands the monitor

        η* = η_{t+1} · ‖Θ_{t+1} − Θ_t‖₁ / ‖2Θ_{t+1} − Θ_t − Θ_{t+2}‖₁

    over all trainable parameters (:func:`lrkit.optim.mopt_lr`; the fused op on CPU and CUDA, torch on
    other devices or with ``LRKIT_NO_EXT=1``). η_{t+1} is the LR applied at iteration t + 1, i.e. of the update
    Θ_{t+1} → Θ_{t+2}, as Formula 7 is printed (Formula 13 derives it for SGD with η_{t+1} ≈ η_t; with
    momentum or Adam η* is the same ratio, an estimate only). It is logged as
    ``monitor.log_mopt(t, η_{t+1}, η*)``.

    At most three snapshots (detached clones on the parameters' device) are alive at a time, and the
    only host sync is fetching η* once per measurement. ``M >= 2``, so measurements never overlap. A
    run that stops in the middle of a measurement leaves it unfinished, and nothing is logged for it.
    """

    def __init__(self, params, every: int, monitor: LRMonitor):
        if not isinstance(every, int) or isinstance(every, bool) or every < 2:
            raise ValueError(f"MoptProbe: 'every' must be an int >= 2, got {every!r}")
        self.params = [p for p in params if p.requires_grad]
        self.every = every
        self.monitor = monitor
        self._t0: int | None = None  # the t of Θ_t of the measurement under way
        self._snaps: list[list[torch.Tensor]] = []
        self._eta: float | None = None

    def _snapshot(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.params]

    def before_update(self, t: int, lr: float) -> None:
        """Call after the LR of iteration ``t`` is set and before update t: keeps Θ_t or η_{t+1}."""
        if t % self.every == 0:
            self._t0, self._snaps, self._eta = t, [self._snapshot()], None
        elif self._t0 is not None and t == self._t0 + 1:
            self._eta = float(lr)

    def after_update(self, t: int) -> None:
        """Call after update ``t``: keeps Θ_{t+1}, or with Θ_{t+2} computes and logs η*."""
        if self._t0 is None:
            return
        if t == self._t0 and len(self._snaps) == 1:
            self._snaps.append(self._snapshot())
        elif t == self._t0 + 1 and len(self._snaps) == 2 and self._eta is not None:
            theta0, theta1 = self._snaps
            eta_star = float(mopt_lr(self._eta, theta0, theta1, self._snapshot()))
            self.monitor.log_mopt(self._t0, self._eta, eta_star)
            self.reset()
        else:  # an iteration was skipped: this measurement cannot be completed
            self.reset()

    def reset(self) -> None:
        """Drop a measurement under way (and its snapshots)."""
        self._t0, self._snaps, self._eta = None, [], None


class Run:
    """A training run that can be driven step by step, from a thread, and stopped or paused.

    ``Run(cfg).run()`` trains to the end and returns the :class:`RunRecord`. ``run.monitor`` is
    the live :class:`LRMonitor` (policy edits from other threads go there); ``stop()``,
    ``pause()`` and ``resume()`` are thread-safe. ``db``: a recorder the run is written
    to as it happens (an object with ``start(record) -> id`` and ``finish(record)``, e.g.
    ``lrkit.db.recorder.RunRecorder.open(url)``; the engine never opens a database itself: the
    execution layer, :func:`lrkit.run.execute`, records by URL and reads ``$LRKIT_DB_URL``;
    ``False``: not recorded); ``run.run_id`` is its id there. ``on_eval(iteration, top1, top5,
    test_loss)`` is called after every eval (a tuner reports intermediate results through it);
    ``on_step(t)`` after every update t (the throughput benchmark times the loop through it).
    With ``cfg.compile`` the loop calls ``run.forward``, the compiled model (:func:`compiled`);
    ``run.model`` is the module itself.
    """

    def __init__(self, cfg: TrainConfig, data=None, progress: bool = True, db=None, on_eval=None, on_step=None):
        from .data import load_dataset
        from .models import build_model

        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        from .denormal import flushing, set_flush_denormal

        if cfg.flush_denormal or flushing():  # on as asked; off again after a run that turned it on
            set_flush_denormal(cfg.flush_denormal)
        seed_everything(cfg.seed)
        self.device = check_device(cfg.device)
        if self.device.type == "cuda":  # fixed batch shapes: let cuDNN pick its fastest convolution algorithms
            torch.backends.cudnn.benchmark = True
        self.data = data if data is not None else load_dataset(cfg.dataset, root=cfg.data_root)
        ds = self.data
        if cfg.eval_samples is not None:  # the first N test samples (quick profiles); the train split is untouched
            n = cfg.eval_samples
            ds = (dataclasses.replace(ds, x_test=ds.x_test[:n], y_test=ds.y_test[:n]) if ds.in_memory else
                  dataclasses.replace(ds, test_set=torch.utils.data.Subset(ds.test_set, range(min(n, len(ds.test_set))))))
        if ds.in_memory:  # the fast path: the split as a tensor on the device, no DataLoader
            norm = {"scale": dict(scale=1 / 256), "none": dict(scale=1.0)}.get(cfg.normalize, dict(scale="standardize"))
            if cfg.normalize == "mean":  # Caffe's mean subtraction on the 0–255 scale: (x/255 − mean)/(1/255)
                norm["std"] = (1 / 255,) * ds.input_shape[0]
            self.train_batches = ds.batches("train", cfg.batch_size, self.device, shuffle=True, seed=cfg.seed,
                                            augment=cfg.augment, **norm)
            self.test_batches = ds.batches("test", cfg.eval_batch_size, self.device, shuffle=False, **norm)
        else:  # DataLoader path (ImageNet-sized data); the dataset's transforms normalise
            self.train_batches = ds.batches("train", cfg.batch_size, self.device, shuffle=True, seed=cfg.seed)
            self.test_batches = ds.batches("test", cfg.eval_batch_size, self.device, shuffle=False)
        self.model = build_model(cfg.model, num_classes=ds.num_classes, in_channels=ds.input_shape[0],
                                 input_shape=ds.input_shape).to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # what the loop calls: the model, or its torch.compile'd form (same parameters, same module state)
        self.forward = compiled(self.model, cfg.compile) if cfg.compile else self.model
        from lrkit.policies import parse

        policy = parse(cfg.policy)
        if cfg.layer_mults:
            from .models import caffe_param_groups

            params = caffe_param_groups(self.model, cfg.weight_decay)
        else:
            params = self.model.parameters()
        self.optimizer = make_optimizer(cfg, params, lr=policy(0))
        env = environment(str(self.device), cfg.runtime.to_dict())
        from .registry import model_origin

        origin = model_origin(cfg.model, self.model)
        if origin is not None:  # which object a registered or imported name stood for
            env["model"] = origin
        if ds.origin is not None:
            env["dataset"] = ds.origin
        record = RunRecord(config=cfg.to_dict(), environment=env)
        self.monitor = LRMonitor(policy, self.optimizer, target_acc=cfg.target_acc, stop_at_target=cfg.stop_at_target,
                                 divergence_factor=cfg.divergence_factor, record=record)
        self.progress = progress
        if db is not None and db is not False and not (hasattr(db, "start") and hasattr(db, "finish")):
            raise TypeError(f"Run: field 'db' must be None, False or a recorder (start/finish), got {type(db).__name__}; "
                            "record by URL with lrkit.db.recorder.RunRecorder.open(url) or lrkit.run.execute(plan, db=url)")
        self.db = db
        self.on_eval = on_eval
        self.on_step = on_step
        self.run_id: int | None = None
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.t = 0

    # thread-safe controls
    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def run(self) -> RunRecord:
        cfg, mon, model, opt = self.cfg, self.monitor, self.forward, self.optimizer
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.iters, disable=not self.progress, desc=f"{cfg.model}/{cfg.dataset} {mon.record.policy}"[:60],
                   leave=False, mininterval=0.5)
        pending_losses: list[torch.Tensor] = []
        probe = MoptProbe(self.model.parameters(), cfg.mopt_every, mon) if cfg.mopt_every else None
        flush_every = 1 if self.device.type == "cpu" else 50  # avoid a host sync every step on GPUs
        status, message = "complete", ""
        recorder = self.db or None
        if recorder is not None:
            self.run_id = recorder.start(mon.record)
        model.train()
        try:
            for t in range(cfg.iters):
                if not self._running.is_set():
                    self._running.wait()
                if self._stop.is_set():
                    status, message = "stopped", f"stopped by request at iteration {t}"
                    break
                first_t = t - len(pending_losses)
                lr = mon.lr_for(t)
                if probe is not None:
                    probe.before_update(t, lr)
                x, y = self.train_batches.next()
                if cfg.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                loss = train_step(model, opt, x, y)
                if probe is not None:
                    probe.after_update(t)
                self.t = t + 1
                if self.on_step is not None:
                    self.on_step(t)
                pending_losses.append(loss.detach())
                end_of_eval = (t + 1) % cfg.eval_every == 0 or t + 1 == cfg.iters
                if len(pending_losses) >= flush_every or end_of_eval:
                    values = torch.stack(pending_losses).tolist()
                    pending_losses.clear()
                    if any(mon.log_loss(first_t + i, v) for i, v in enumerate(values)):
                        status = "diverged"
                        break
                    bar.set_postfix(lr=f"{lr:.3g}", loss=f"{values[-1]:.3f}", refresh=False)
                bar.update(1)
                if end_of_eval:
                    top1, top5, tl = evaluate(model, self.test_batches, cfg.eval_batch_size)
                    stop = mon.log_eval(t + 1, top1, top5, tl)
                    if self.on_eval is not None:
                        self.on_eval(t + 1, top1, top5, tl)
                    bar.set_postfix(lr=f"{lr:.3g}", top1=f"{top1:.4f}", refresh=False)
                    if stop:
                        status, message = "complete", f"target accuracy {cfg.target_acc} reached at iteration {t + 1}"
                        break
        except Exception as e:  # record what was computed, then re-raise
            record = mon.finish("failed", f"{type(e).__name__}: {e}")
            if recorder is not None:
                recorder.finish(record)
            bar.close()
            raise
        if pending_losses and status != "diverged":  # a stop request can leave losses not yet fetched
            first_t = self.t - len(pending_losses)
            for i, v in enumerate(torch.stack(pending_losses).tolist()):
                mon.log_loss(first_t + i, v)
        bar.close()
        record = mon.finish(status, message)
        if recorder is not None:
            recorder.finish(record)
        return record


def train(cfg: TrainConfig | dict, data=None, progress: bool = True, db=None) -> RunRecord:
    """Train one run to the end (or target/divergence) and return its :class:`RunRecord`; with a
    recorder (``db=``, see :class:`Run`) the run is written there as it happens."""
    if isinstance(cfg, dict):
        cfg = TrainConfig.from_dict(cfg)
    return Run(cfg, data=data, progress=progress, db=db).run()
