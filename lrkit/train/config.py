"""A training run's configuration, and its three parts: what is trained, where and how it runs, what observes it.

:class:`TrainConfig` is the flat form every entry point takes (``lrkit train``, recipes, searches).
Its fields fall into three parts, each a frozen view:

* :class:`Task` — what is trained: data set, preprocessing, model, optimizer and its hyper-parameters,
  policy, budget, batch, evaluation schedule, target, seed. It alone (with the numerics version,
  :mod:`lrkit.numerics`) makes the run's key, :func:`run_key`.
* :class:`Runtime` — where and how it runs: device, threads, ``torch.compile``, channels-last,
  denormal flushing, data root. Recorded in every record, never part of the key.
* :class:`Observers` — what watches the run without changing it (the M-opt probe).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

import torch

OPTIMIZERS = ("sgd", "momentum", "adam", "fused_adam")
COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
NORMALIZE = ("scale", "standardize", "mean", "none")
AUGMENT = (None, "crop_flip")


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


    @property
    def task(self) -> "Task":
        """What is trained (the run's key): :class:`Task`."""
        return Task.of(self)

    @property
    def runtime(self) -> "Runtime":
        """Where and how the run executes: :class:`Runtime`."""
        return Runtime.of(self)

    @property
    def observers(self) -> "Observers":
        return Observers.of(self)


#: TrainConfig fields of the runtime (where and how a run executes) and of the observers
RUNTIME_FIELDS = ("device", "threads", "data_root", "channels_last", "compile", "flush_denormal")
OBSERVER_FIELDS = ("mopt_every",)
#: task fields added after runs were stored: left out of the key while they hold this default, so the
#: keys of stored runs, which lack them, stay the same
_KEY_DEFAULTS = {"layer_mults": False, "eval_samples": None}


def task_fields() -> tuple[str, ...]:
    """The TrainConfig fields that say what is trained (every field not of the runtime or observers)."""
    return tuple(f.name for f in fields(TrainConfig) if f.name not in RUNTIME_FIELDS + OBSERVER_FIELDS)


@dataclass(frozen=True)
class Task:
    """What is trained, as a frozen mapping of TrainConfig's task fields (policy in canonical form)."""

    values: tuple

    @classmethod
    def of(cls, cfg: "TrainConfig | dict") -> "Task":
        from lrkit.policies import parse

        d = (TrainConfig.from_dict(cfg) if isinstance(cfg, dict) else cfg).to_dict()
        d["policy"] = str(parse(d["policy"]))
        return cls(tuple((k, _frozen(d[k])) for k in task_fields()))

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.values}

    def key(self, numerics_version: int | None = None) -> str:
        """A stable 20-hex-digit hash of the task and the numerics version (the current one by default)."""
        from lrkit.numerics import FIRST_VERSION, NUMERICS_VERSION

        d = {k: v for k, v in self.to_dict().items() if not (k in _KEY_DEFAULTS and v == _KEY_DEFAULTS[k])}
        version = NUMERICS_VERSION if numerics_version is None else int(numerics_version)
        # a version-1 key leaves the version out, so records that name no version (version 1) keep their keys
        if version != FIRST_VERSION:
            d["numerics_version"] = version
        blob = json.dumps(d, sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Runtime:
    """Where and how a run executes; recorded in every record's ``environment["runtime"]``."""

    device: str = "cpu"
    threads: int | None = None
    data_root: str | None = None
    channels_last: bool = False
    compile: str | None = None
    flush_denormal: bool = False

    @classmethod
    def of(cls, cfg: "TrainConfig | dict") -> "Runtime":
        d = cfg if isinstance(cfg, dict) else cfg.to_dict()
        return cls(**{k: d[k] for k in RUNTIME_FIELDS if k in d})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Observers:
    """What watches a run without changing what is trained."""

    mopt_every: int | None = None

    @classmethod
    def of(cls, cfg: "TrainConfig | dict") -> "Observers":
        d = cfg if isinstance(cfg, dict) else cfg.to_dict()
        return cls(**{k: d[k] for k in OBSERVER_FIELDS if k in d})


def _frozen(v):
    return tuple(v) if isinstance(v, list) else v


def run_key(config: "TrainConfig | dict", numerics_version: int | None = None) -> str:
    """The key of a run: :meth:`Task.key` of its config (the runtime and observers left out)."""
    return Task.of(config).key(numerics_version)
