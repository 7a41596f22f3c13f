"""The training engine: iteration-based training of a model under an LR policy, with the monitor.

One loop, read top to bottom (as nanoGPT's): config → data → model → optimizer → for each
iteration t: LR from the monitor, a batch, forward/backward/step, loss to the monitor; every
``eval_every`` iterations the test top-1/top-5 go to the monitor, which may stop the run
(target reached in cost-effective mode, divergence, or a stop request from another thread).
With ``mopt_every`` set, a :class:`MoptProbe` measures the M-opt LR (004 §4.2, Formula 7) on the way.
"""

from __future__ import annotations

import dataclasses

import os
import platform
import random
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from lrkit.optim.mopt import mopt_lr

from .monitor import LRMonitor, RunRecord

OPTIMIZERS = ("sgd", "momentum", "adam", "fused_adam")
COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
NORMALIZE = ("scale", "standardize", "mean", "none")
AUGMENT = (None, "crop_flip")


def check_device(device) -> torch.device:
    """``torch.device(device)`` if torch can train on it here, else a ValueError naming the device,
    the reason and the devices this machine has: a string that is not a device ("gpu"), CUDA
    asked of a CPU-only torch build or where no GPU is visible, a GPU index past the last one, or
    MPS where it is absent. Runs and sweeps call it before any work, so a wrong ``--device`` fails
    at once instead of as a "failed" row or trial per configuration."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device {device!r} is not a torch device string; e.g. 'cpu', 'cuda' or 'cuda:1'") from None
    here = ["cpu"]
    if torch.cuda.is_available():
        here += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        here.append("mps")
    if dev.type == "cuda":
        if torch.version.cuda is None and torch.version.hip is None:
            why = f"this torch ({torch.__version__}) is built without CUDA"
        elif not torch.cuda.is_available():
            why = "torch sees no CUDA GPU (CUDA_VISIBLE_DEVICES, driver?)"
        elif dev.index is not None and dev.index >= torch.cuda.device_count():
            why = f"there are only {torch.cuda.device_count()} CUDA device(s)"
        else:
            return dev
        raise ValueError(f"device {device!r}: {why}; devices here: {', '.join(here)}")
    if dev.type == "mps" and "mps" not in here:
        raise ValueError(f"device {device!r}: MPS is not available; devices here: {', '.join(here)}")
    return dev


@dataclass
class TrainConfig:
    """One training run. Iterations are optimizer steps; accuracies are fractions in [0, 1]."""

    dataset: str = "mnist"
    model: str = "lenet"
    optimizer: str = "momentum"  # sgd | momentum (0.9) | adam | fused_adam (lrkit FusedAdam: the schedule runs in the step)
    policy: str = "FIX(k=0.01)"
    iters: int = 10000
    batch_size: int = 100
    eval_every: int = 500
    eval_batch_size: int = 1000
    target_acc: float | None = None
    stop_at_target: bool = False
    momentum: float = 0.9
    weight_decay: float = 0.0005
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    normalize: str = "scale"  # scale: ×1/256 (Caffe LeNet); standardize: (x/255 − mean)/std; mean: x − 255·mean (Caffe cifar10); none: as given
    augment: str | None = None  # None | crop_flip (pad-4 random crop + horizontal flip)
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    data_root: str | None = None
    divergence_factor: float = 10.0
    channels_last: bool = False
    mopt_every: int | None = None  # measure the M-opt LR η* (004 Formula 7) every M iterations; observes only
    layer_mults: bool = False  # the model's Caffe prototxt lr_mult / decay_mult per parameter (CNN3)
    eval_samples: int | None = None  # evaluate on the first N test samples only (quick profiles); None: all
    compile: str | None = None  # torch.compile the model with this mode (COMPILE_MODES; "reduce-overhead": CUDA graphs)
    flush_denormal: bool = False  # CPU: subnormal floats flushed to 0 on every torch thread (lrkit.train.denormal; Adam speed)

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        def bad(name, rule):
            raise ValueError(f"TrainConfig: field '{name}' must be {rule}, got {getattr(self, name)!r}")

        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", "one of " + ", ".join(OPTIMIZERS))
        if self.normalize not in NORMALIZE:
            bad("normalize", "one of " + ", ".join(NORMALIZE))
        if self.layer_mults and self.optimizer == "fused_adam":
            bad("layer_mults", "False with optimizer 'fused_adam' (its schedule has one LR per group and no multipliers)")
        try:
            torch.device(self.device)  # the format only: a record from a GPU machine still loads on a CPU one
        except (RuntimeError, TypeError, ValueError):
            bad("device", "a torch device string, e.g. 'cpu', 'cuda' or 'cuda:1'")
        from .models import MODELS
        from .registry import is_user_model

        if not isinstance(self.model, str) or (self.model.strip().lower() not in MODELS and not is_user_model(self.model)):
            bad("model", "one of " + ", ".join(MODELS) + " (case-insensitive), a name given to lrkit.register_model, "
                "or an import path 'package.module:function'")
        if self.compile not in COMPILE_MODES:
            bad("compile", "None or one of " + ", ".join(repr(m) for m in COMPILE_MODES[1:]))
        if not isinstance(self.flush_denormal, bool):
            bad("flush_denormal", "True or False")
        if self.augment not in AUGMENT:
            bad("augment", "None or 'crop_flip'")
        for name in ("iters", "batch_size", "eval_every", "eval_batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                bad(name, "an int > 0")
        n = self.eval_samples
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            bad("eval_samples", "None or an int >= 1 (the first N test samples)")
        m = self.mopt_every
        if m is not None and (not isinstance(m, int) or isinstance(m, bool) or m < 2):
            bad("mopt_every", "None or an int >= 2 (iterations between M-opt measurements)")
        if self.target_acc is not None and not 0 < self.target_acc <= 1:
            bad("target_acc", "a fraction in (0, 1] (e.g. 0.991 for 99.1%)")
        if self.stop_at_target and self.target_acc is None:
            bad("stop_at_target", "False unless target_acc is set")
        if not 0 <= self.momentum < 1:
            bad("momentum", "in [0, 1)")
        if self.weight_decay < 0:
            bad("weight_decay", ">= 0")
        self.betas = tuple(self.betas)
        from lrkit.policies import parse

        parse(self.policy)  # raises PolicyError naming the policy and parameter

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"TrainConfig: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(names))}")
        return cls(**d)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d


def environment(device: str) -> dict:
    """Where a run ran: versions and the device, for the result record."""
    import lrkit

    env = {
        "lrkit": lrkit.__version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["device_name"] = torch.cuda.get_device_name(torch.device(device))
        env["cuda"] = torch.version.cuda
    else:
        env["device_name"] = _cpu_name()
    return env


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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
    ``pause()`` and ``resume()`` are thread-safe. ``db``: the policy database the run is recorded
    to as it happens (a :class:`lrkit.db.Database` or URL; ``None``: ``$LRKIT_DB_URL`` when set;
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
        env = environment(str(self.device))
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
        recorder = None
        if self.db is not False and (self.db is not None or os.environ.get("LRKIT_DB_URL")):
            from lrkit.db.recorder import RunRecorder  # SQLAlchemy is imported only when a run is recorded

            recorder = RunRecorder.open(self.db)
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
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
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
    database configured (``db=`` or ``$LRKIT_DB_URL``) the run is recorded there as it happens."""
    if isinstance(cfg, dict):
        cfg = TrainConfig.from_dict(cfg)
    return Run(cfg, data=data, progress=progress, db=db).run()
