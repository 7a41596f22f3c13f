"""The one-run LR sweep ("LR finder", Smith 2017): the LR grows exponentially over one run."""

from __future__ import annotations

import copy
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from lrkit.train.engine import Run, TrainConfig, train_step

from .results import SweepResult


def _valley_index(losses: np.ndarray) -> int:
    """fastai's ``valley`` (fastai ≥ 2.4): the middle of the longest descending stretch.

    ``lds[i]`` = the length of the longest strictly decreasing subsequence of ``losses`` ending at
    i; ``end`` = the first i with the largest ``lds``, ``start = max(0, end − lds[end])`` (as fastai), and
    the suggestion is index ``start + ⌊(end − start)/3⌋ + ⌊(end − start)/6⌋`` (about the middle,
    a little past it when the stretch is short). Unlike fastai's loop, ``start`` uses the final
    ``lds[end]``.
    """
    n = len(losses)
    lds = np.ones(n, dtype=int)
    for i in range(1, n):
        higher = losses[:i] > losses[i]
        if higher.any():
            lds[i] = lds[:i][higher].max() + 1
    end = int(np.argmax(lds))
    start = max(0, end - int(lds[end]))
    span = end - start
    return min(n - 1, start + span // 3 + span // 6)


def sweep_suggestions(lrs: Sequence[float], smoothed: Sequence[float], num_iter: int | None = None) -> dict:
    """Suggested LRs from a sweep's smoothed loss curve (pure function).

    Points used: as fastai, the first ``num_iter // 10`` points (the planned length; noisy start)
    and the last 5 (a blow-up) are dropped, unless fewer than 5 points would remain (then all are
    used); non-finite points are dropped. With fewer than 3 points, both are None.

    * ``"steepest"``: the LR at the most negative gradient of the smoothed loss w.r.t. log10 LR
      (``numpy.gradient``, central differences) — Smith's "LR where the loss falls fastest".
    * ``"valley"``: :func:`_valley_index` on the smoothed losses (fastai's default suggestion).
    * ``"min_loss"``: the LR at the smallest smoothed loss (for reference: too large to train at).
    """
    lr = np.asarray(lrs, dtype=float)
    sm = np.asarray(smoothed, dtype=float)
    ok = np.isfinite(lr) & np.isfinite(sm) & (lr > 0)
    lr, sm = lr[ok], sm[ok]
    s0 = (num_iter if num_iter is not None else len(lr)) // 10
    if len(lr) - 5 - s0 >= 5:
        lr, sm = lr[s0:len(lr) - 5], sm[s0:len(sm) - 5]
    if len(lr) < 3:
        return {"steepest": None, "valley": None, "min_loss": None}
    grad = np.gradient(sm, np.log10(lr))
    return {"steepest": float(lr[int(np.argmin(grad))]), "valley": float(lr[_valley_index(sm)]),
            "min_loss": float(lr[int(np.argmin(sm))])}


def _batch_source(batches) -> Callable[[], Any]:
    """``batches.next`` if it has one, else a function cycling over the iterable (re-iterating it
    when exhausted; a one-shot iterator raises StopIteration once consumed)."""
    nxt = getattr(batches, "next", None)
    if callable(nxt):
        return nxt
    it = iter(batches)

    def next_batch():
        nonlocal it
        try:
            return next(it)
        except StopIteration:
            again = iter(batches)
            if again is it:
                raise
            it = again
            return next(it)

    return next_batch


def lr_sweep(model: torch.nn.Module, optimizer, batches, loss_fn: Callable = F.cross_entropy,
             start_lr: float = 1e-7, end_lr: float = 10.0, num_iter: int = 100, smooth: float = 0.05,
             diverge_th: float = 5.0, progress: bool = True) -> SweepResult:
    """One training run in which the LR grows exponentially (Smith 2017's LR range test / the LR finder).

    Step i (0 ≤ i < num_iter) uses ``lr_i = start_lr · (end_lr/start_lr)^(i/(num_iter−1))`` (so the
    last step uses ``end_lr``) on every param group; the loss of batch i is computed before step i.
    Smoothing (bias-corrected EMA, as fastai): ``avg_i = (1 − smooth)·avg_{i−1} + smooth·loss_i``,
    ``avg_{−1} = 0``, ``smoothed_i = avg_i / (1 − (1 − smooth)^(i+1))``. The sweep stops early when
    the loss is not finite (that point is not recorded) or ``smoothed_i > diverge_th × min_{j≤i}
    smoothed_j`` (recorded; the check needs a positive minimum). ``batches``: an object with
    ``.next() → (x, y)`` or an iterable of ``(x, y)`` (moved to the model's device).

    Afterwards — also on an exception — the model's and optimizer's ``state_dict``s, the model's
    train/eval mode, the torch RNG state(s) and, if ``batches`` has ``state_dict``/``load_state_dict``,
    the batch stream are restored exactly: the sweep leaves no trace on training.
    """
    from tqdm.auto import tqdm

    from lrkit.train.monitor import set_lr

    if not (isinstance(start_lr, (int, float)) and math.isfinite(start_lr) and start_lr > 0):
        raise ValueError(f"lr_sweep: start_lr must be a finite LR > 0, got {start_lr!r}")
    if not (isinstance(end_lr, (int, float)) and math.isfinite(end_lr) and end_lr > start_lr):
        raise ValueError(f"lr_sweep: end_lr must be a finite LR > start_lr ({start_lr!r}), got {end_lr!r}")
    if isinstance(num_iter, bool) or not isinstance(num_iter, int) or num_iter < 2:
        raise ValueError(f"lr_sweep: num_iter must be an int >= 2 (iterations), got {num_iter!r}")
    if not (isinstance(smooth, (int, float)) and 0 < smooth <= 1):
        raise ValueError(f"lr_sweep: smooth must be in (0, 1] (weight of the newest loss), got {smooth!r}")
    if not (isinstance(diverge_th, (int, float)) and diverge_th > 1):
        raise ValueError(f"lr_sweep: diverge_th must be > 1, got {diverge_th!r}")

    params = next(iter(model.parameters()), None)
    device = params.device if params is not None else torch.device("cpu")
    model_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt_state = copy.deepcopy(optimizer.state_dict())
    was_training = model.training
    rng_cpu = torch.get_rng_state()
    rng_cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    has_stream_state = callable(getattr(batches, "state_dict", None)) and callable(getattr(batches, "load_state_dict", None))
    stream_state = copy.deepcopy(batches.state_dict()) if has_stream_state else None
    next_batch = _batch_source(batches)

    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    stopped_early, reason = False, ""
    beta = 1.0 - smooth
    avg, best = 0.0, math.inf
    ratio = end_lr / start_lr
    bar = tqdm(total=num_iter, desc="LR sweep", disable=not progress, leave=False)
    try:
        model.train()
        for i in range(num_iter):
            lr = start_lr * ratio ** (i / (num_iter - 1))
            set_lr(optimizer, lr)
            try:
                x, y = next_batch()
            except StopIteration:
                reason = f"ran out of batches after {i} iterations"
                break
            if torch.is_tensor(x):
                x = x.to(device)
            if torch.is_tensor(y):
                y = y.to(device)
            v = float(train_step(model, optimizer, x, y, loss_fn).item())
            bar.update(1)
            if not math.isfinite(v):
                stopped_early, reason = True, f"loss became {v} at lr={lr:.4g} (iteration {i})"
                break
            avg = beta * avg + smooth * v
            s = avg / (1.0 - beta ** (i + 1))
            lrs.append(lr)
            losses.append(v)
            smoothed.append(s)
            best = min(best, s)
            bar.set_postfix(lr=f"{lr:.3g}", loss=f"{s:.3f}", refresh=False)
            if best > 0 and s > diverge_th * best:
                stopped_early = True
                reason = f"smoothed loss {s:.4g} > {diverge_th:g} × best {best:.4g} at lr={lr:.4g} (iteration {i})"
                break
    finally:
        bar.close()
        model.load_state_dict(model_state)
        optimizer.load_state_dict(opt_state)
        model.train(was_training)
        torch.set_rng_state(rng_cpu)
        if rng_cuda is not None:
            torch.cuda.set_rng_state_all(rng_cuda)
        if has_stream_state:
            batches.load_state_dict(stream_state)
    return SweepResult(lrs=lrs, losses=losses, smoothed=smoothed,
                       suggestions=sweep_suggestions(lrs, smoothed, num_iter), stopped_early=stopped_early,
                       stop_reason=reason,
                       params=dict(start_lr=start_lr, end_lr=end_lr, num_iter=num_iter, smooth=smooth,
                                   diverge_th=diverge_th))


def range_test_sweep(base_cfg: TrainConfig | dict, data=None, **kw) -> SweepResult:
    """:func:`lr_sweep` on the model, optimizer (``base_cfg.optimizer``, momentum, weight decay)
    and training batches of ``Run(base_cfg)``; ``kw`` go to :func:`lr_sweep`."""
    cfg = TrainConfig.from_dict(base_cfg) if isinstance(base_cfg, Mapping) else base_cfg
    run = Run(cfg, data=data, progress=False)
    res = lr_sweep(run.model, run.optimizer, run.train_batches, **kw)
    res.config = cfg.to_dict()
    return res
