"""LLM fine-tuning with any lrkit policy driving the LR of every optimizer step (000 §V, Table V).

The plain loop (:func:`finetune`): the LR schedule monitor sets ``lr = policy(t)`` before optimizer
step ``t`` (t = 0 is the first optimizer step; one step = ``grad_accum`` micro-batches), records LR and
training loss of every step, and marks a diverging run (NaN/inf loss, or 10× its start) as
``diverged`` — the record, the checkpoints and the evaluations made so far are kept. The loss of a
step is the mean over its response tokens (all micro-batches of the step together: each micro-batch
sums its token losses and the step divides by the step's token count, so accumulation equals one big
batch). After every epoch the model is saved (``out/epoch-N``) and, when tasks are given, evaluated
(:func:`lrkit.llm.eval.evaluate`); the pretrained model is evaluated first (Table V's baseline row).

The same run through Hugging Face ``Trainer`` is :func:`lrkit.llm.hf.trainer_finetune`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch

from lrkit.train.monitor import LRMonitor, RunRecord

from . import resume as resume_state
from .data import BATCHING, build_data, load_instructions
from .models import DTYPES, QUANT, LoraConfig, count_parameters, load_model
from .presets import get_preset, resolve_policy

OPTIMIZERS = ("adamw", "adam", "fused_adam", "adamw_8bit", "paged_adamw_8bit", "sgd")


@dataclass
class FinetuneConfig:
    """One fine-tuning run. ``policy`` is a spec (``{total}``/``{steps_per_epoch}``/``{epochs}`` are
    filled in), a :class:`~lrkit.policies.Policy`, or ``"preset:NAME"``; ``epochs=None`` takes the
    preset's epochs (else 3, as in Table V)."""

    model: str
    policy: Any = "preset:table5-linear-2e-5"
    data: str = "dolly"
    limit: Optional[int] = None
    data_seed: int = 0
    epochs: Optional[int] = None
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 512
    batching: str = "padding"
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    betas: Sequence[float] = (0.9, 0.999)
    max_grad_norm: Optional[float] = 1.0
    bf16: bool = False  # bf16 autocast of the forward pass (weights stay in `dtype`)
    dtype: str = "float32"
    quantize: Optional[str] = None
    lora: Optional[dict] = None  # LoraConfig fields, e.g. {"r": 8}
    gradient_checkpointing: bool = False
    device: str = "cpu"
    seed: int = 0
    threads: Optional[int] = None
    out: Optional[str] = None
    save_checkpoints: bool = True
    eval_tasks: Sequence[str] = ()
    eval_limit: Any = None  # items per task (per subject for MMLU), or {task: n}
    eval_subjects: Optional[Sequence[str]] = None  # MMLU subjects to score (None: all 57)
    eval_fewshot: Optional[dict] = None  # {task: k} overriding the paper's 25/10/2/0 shots (None: the paper's)
    eval_baseline: bool = True
    eval_batch_size: int = 8
    eval_seed: int = 1234
    label: Optional[str] = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        def bad(name, allowed):
            return ValueError(f"finetune: field '{name}' must be {allowed}, got {getattr(self, name)!r}")

        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", "one of " + ", ".join(OPTIMIZERS))
        if self.batching not in BATCHING:
            raise bad("batching", "one of " + ", ".join(BATCHING))
        if self.dtype not in DTYPES:
            raise bad("dtype", "one of " + ", ".join(DTYPES))
        if self.quantize not in QUANT:
            raise bad("quantize", "one of None, 4bit, 8bit")
        for name in ("batch_size", "grad_accum", "max_length"):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
                raise bad(name, "a positive int")
        if self.epochs is None:
            self.epochs = (get_preset(self.policy.split(":", 1)[1]).epochs
                           if isinstance(self.policy, str) and self.policy.startswith("preset:") else 3)
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            raise bad("epochs", "a positive int")
        if self.quantize is not None and self.lora is None:
            raise ValueError("finetune: a quantized model (field 'quantize') trains only with LoRA adapters (field 'lora')")
        if self.lora is not None:
            LoraConfig(**self.lora)  # validates
        if self.eval_fewshot is not None:
            from .eval.harness import _check_fewshot

            _check_fewshot(self.eval_fewshot, field="finetune: field 'eval_fewshot'")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["policy"] = str(self.policy)
        d["betas"] = list(self.betas)
        d["eval_tasks"] = list(self.eval_tasks)
        return d


@dataclass
class FinetuneResult:
    record: RunRecord
    evals: Any  # pandas DataFrame, tidy: stage, epoch, step, task, metric, value, stderr, n
    checkpoints: list[str]
    out: Optional[str]
    model: Any = None  # the trained model (peft-wrapped with LoRA)
    optimizer: Any = None

    def scores(self):
        """Table V's layout: one row per stage (baseline, epoch 1, …), one column per task."""
        from .report import table5_scores

        return table5_scores(self.evals)


def make_optimizer(name: str, params, *, policy, lr0: float, weight_decay: float, betas) -> torch.optim.Optimizer:
    """The optimizer ``name`` (see :data:`OPTIMIZERS`) over ``params``. ``fused_adam`` is lrkit's
    FusedAdam in AdamW form: the policy runs inside the step (bf16 params keep fp32 Adam states)."""
    params = [p for p in params if p.requires_grad]
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr0, betas=tuple(betas), weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr0, betas=tuple(betas), weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr0, momentum=0.9, weight_decay=weight_decay)
    if name == "fused_adam":
        from lrkit.optim import FusedAdam

        return FusedAdam(params, policy=policy, betas=tuple(betas), weight_decay=weight_decay, adamw=True)
    import bitsandbytes as bnb

    cls = bnb.optim.AdamW8bit if name == "adamw_8bit" else bnb.optim.PagedAdamW8bit
    return cls(params, lr=lr0, betas=tuple(betas), weight_decay=weight_decay)


def environment(device: str) -> dict:
    """:func:`lrkit.environment.environment` plus the keys fine-tuning records have always carried."""
    from lrkit.environment import environment as base

    env = dict(base(str(device)), machine=platform.machine(), processor=platform.processor() or platform.machine(),
               threads=torch.get_num_threads())
    try:
        import transformers

        env["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover
        pass
    if str(device).startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


def _autocast(cfg: FinetuneConfig):
    if not cfg.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(cfg.device).type, dtype=torch.bfloat16)


def _evaluate(model, tok, cfg, stage, epoch, step, progress):
    from .eval import evaluate

    res = evaluate(model, tok, tasks=list(cfg.eval_tasks), limit=cfg.eval_limit, subjects=cfg.eval_subjects,
                   seed=cfg.eval_seed, num_fewshot=cfg.eval_fewshot,
                   batch_size=cfg.eval_batch_size, device=cfg.device, progress=progress)
    table = res.table.copy()
    table.insert(0, "stage", stage)
    table.insert(1, "epoch", epoch)
    table.insert(2, "step", step)
    return table, res.timing


def finetune(cfg: FinetuneConfig, *, model=None, tokenizer=None, examples: Optional[list] = None, db=None,
             progress: bool = True, on_epoch: Optional[Callable[[int, dict], None]] = None,
             resume: bool = False) -> FinetuneResult:
    """Fine-tune ``cfg.model`` (or the given ``model``/``tokenizer``) on instruction data.

    ``examples`` overrides ``cfg.data``/``cfg.limit``; ``db`` records the run in the policy database
    (a URL, a :class:`lrkit.db.Database`, ``False`` never, ``None`` = ``$LRKIT_DB_URL`` if set);
    ``on_epoch(epoch, info)`` is called after each epoch (``info``: step, mean loss, eval scores).
    With ``cfg.out`` and ``cfg.save_checkpoints``, the state after each epoch is kept in ``out/resume.pt``
    until the run ends; ``resume=True`` goes on from it when it was made under the same config
    (:mod:`lrkit.llm.resume`), giving the records of the uninterrupted run.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from lrkit.db.recorder import RunRecorder
    from lrkit.environment import check_device

    check_device(cfg.device)  # a missing device or bad data fail before the model loads
    if examples is None:
        examples = load_instructions(cfg.data, limit=cfg.limit, seed=cfg.data_seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    if model is None:
        model, tokenizer = load_model(cfg.model, dtype=cfg.dtype, quantize=cfg.quantize,
                                      lora=LoraConfig(**cfg.lora) if cfg.lora else None, device=cfg.device,
                                      gradient_checkpointing=cfg.gradient_checkpointing)
    elif cfg.lora:
        from .models import apply_lora

        model = apply_lora(model, LoraConfig(**cfg.lora))
    if tokenizer is None:
        raise ValueError("finetune: a model given directly needs its tokenizer too")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    data = build_data(tokenizer, examples, max_length=cfg.max_length, batch_size=cfg.batch_size, batching=cfg.batching)
    steps_per_epoch = math.ceil(data.num_batches(0, cfg.seed) / cfg.grad_accum)
    total = steps_per_epoch * cfg.epochs
    policy = resolve_policy(cfg.policy, total=total, steps_per_epoch=steps_per_epoch, epochs=cfg.epochs)
    optimizer = make_optimizer(cfg.optimizer, model.parameters(), policy=policy, lr0=float(policy(0)),
                               weight_decay=cfg.weight_decay, betas=cfg.betas)
    out = Path(cfg.out) if cfg.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)

    model_name = Path(cfg.model).name if os.path.exists(str(cfg.model)) else str(cfg.model)
    config = {**cfg.to_dict(), "dataset": Path(cfg.data).stem if os.path.exists(cfg.data) else cfg.data,
              "model": model_name, "model_path": str(cfg.model), "policy": str(policy),
              "batch_size": cfg.batch_size * cfg.grad_accum, "iters": total, "steps_per_epoch": steps_per_epoch,
              "examples": len(data.examples), "examples_dropped": data.dropped, "tokens_per_epoch": data.tokens,
              "parameters": count_parameters(model)}
    record = RunRecord(config=config, environment=environment(cfg.device))
    monitor = LRMonitor(policy, optimizer, record=record)
    recorder = RunRecorder.open(db)
    if recorder:
        recorder.start(record)

    evals: list = []
    timings: list = []
    checkpoints: list[str] = []
    t, start_epoch, train_time, train_tokens = 0, 0, 0.0, 0
    keep_state = out is not None and cfg.save_checkpoints
    state = resume_state.load_state(out, cfg.to_dict()) if resume and keep_state else None
    if state is not None:
        resume_state.restore(state, model, optimizer, monitor)
        t, start_epoch = state["step"], state["epoch"]
        train_time, train_tokens, timings = state["train_time"], state["train_tokens"], state["timings"]
        evals = [pd.DataFrame.from_records(e) for e in state["evals"]]
        checkpoints = [str(out / f"epoch-{e}") for e in range(1, start_epoch + 1) if (out / f"epoch-{e}").exists()]
    elif cfg.eval_tasks and cfg.eval_baseline:
        table, timing = _evaluate(model, tokenizer, cfg, "baseline", 0, 0, progress)
        evals.append(table)
        timings.append({"stage": "baseline", **timing})

    model.train()
    status, message = "complete", ""
    params = [p for p in model.parameters() if p.requires_grad]
    bar = tqdm(total=total, initial=t, desc=f"fine-tune {policy}", disable=not progress, unit="step")
    try:
        for epoch in range(start_epoch, cfg.epochs):
            batches = list(data.batches(epoch, cfg.seed))
            epoch_losses = []
            for s in range(0, len(batches), cfg.grad_accum):
                group = batches[s:s + cfg.grad_accum]
                n_target = sum(int((b["labels"][:, 1:] != -100).sum()) for b in group)
                t0 = time.perf_counter()
                monitor.lr_for(t)
                loss_sum = 0.0
                for b in group:
                    b = {k: v.to(cfg.device) for k, v in b.items()}
                    with _autocast(cfg):
                        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
                    loss = torch.nn.functional.cross_entropy(
                        logits[:, :-1].float().reshape(-1, logits.shape[-1]), b["labels"][:, 1:].reshape(-1),
                        ignore_index=-100, reduction="sum")
                    (loss / n_target).backward()
                    loss_sum += float(loss.detach())
                    train_tokens += int(b["attention_mask"].sum())
                if cfg.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                train_time += time.perf_counter() - t0
                step_loss = loss_sum / max(1, n_target)
                epoch_losses.append(step_loss)
                bar.update(1)
                bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{record.curves['lr'][-1]:.3g}")
                diverged = monitor.log_loss(t, step_loss)
                t += 1
                if diverged:
                    raise _Diverged(record.message)
            info = {"epoch": epoch + 1, "step": t, "mean_loss": sum(epoch_losses) / len(epoch_losses)}
            if out and cfg.save_checkpoints:
                ck = out / f"epoch-{epoch + 1}"
                model.save_pretrained(ck)
                tokenizer.save_pretrained(ck)
                checkpoints.append(str(ck))
            if cfg.eval_tasks:
                table, timing = _evaluate(model, tokenizer, cfg, f"epoch {epoch + 1}", epoch + 1, t, progress)
                evals.append(table)
                timings.append({"stage": f"epoch {epoch + 1}", **timing})
                info["scores"] = _scores_row(table)
                model.train()
            if keep_state and epoch + 1 < cfg.epochs:
                resume_state.save_state(out, cfg.to_dict(), epoch=epoch + 1, step=t, model=model, optimizer=optimizer,
                                        losses=record.curves["loss"], train_time=train_time,
                                        train_tokens=train_tokens, evals=evals, timings=timings)
            if on_epoch:
                on_epoch(epoch + 1, info)
    except _Diverged as e:
        status, message = "diverged", str(e)
    except KeyboardInterrupt:
        status, message = "stopped", "interrupted"
    except Exception as e:  # noqa: BLE001 - record the failure, then re-raise
        status, message = "failed", f"{type(e).__name__}: {e}"
        _finish(monitor, record, recorder, status, message, evals, timings, train_time, train_tokens, out)
        raise
    finally:
        bar.close()
    _finish(monitor, record, recorder, status, message, evals, timings, train_time, train_tokens, out)
    if status != "stopped":
        resume_state.discard(out)  # a finished or diverged run has nothing to go on from
    table = pd.concat(evals, ignore_index=True) if evals else pd.DataFrame()
    if out is not None and not table.empty:
        table.to_csv(out / "evals.csv", index=False)
    model.eval()
    return FinetuneResult(record, table, checkpoints, str(out) if out else None, model, optimizer)


class _Diverged(Exception):
    pass


def _scores_row(table) -> dict:
    from .report import table5_scores

    s = table5_scores(table)
    return {k: float(v) for k, v in s.iloc[-1].items()} if len(s) else {}


def _finish(monitor, record, recorder, status, message, evals, timings, train_time, train_tokens, out):
    monitor.finish(status, message)
    s = record.summary
    s["train_time_s"] = train_time
    s["train_tokens"] = train_tokens
    s["tokens_per_s"] = train_tokens / train_time if train_time > 0 else None
    s["eval_timing"] = timings
    if evals:
        import pandas as pd

        table = pd.concat(evals, ignore_index=True)
        s["llm_evals"] = json.loads(table.to_json(orient="records"))
    if recorder:
        recorder.finish(record)
    if out is not None:
        record.save(out / "run.json")
