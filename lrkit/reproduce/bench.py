"""Training throughput: iterations per second of a table's task, eager and with the speed options.

``lrkit bench train --recipe table5 table6 --device cuda`` times the training loop itself
(:class:`lrkit.train.Run`: the LR from the monitor, a batch from the device-resident data, forward,
backward, optimizer step) for each *variant* of how the model runs:

- ``eager`` — the model as it is;
- ``channels_last`` — model and batches in ``torch.channels_last`` (NHWC convolutions);
- ``compile`` — ``torch.compile`` (inductor), with and without channels-last;
- ``cuda-graphs`` — ``torch.compile(mode="reduce-overhead")``: forward and backward replayed as CUDA
  graphs (GPU only; the optimizer step and the LR stay eager, so live policy edits still apply).

A case is a recipe's ``full`` task (dataset, model, batch size, optimizer, normalisation, Caffe
multipliers) with the policy of its quick profile's first row (see :func:`recipe_config`). Each variant trains ``warmup + steps`` iterations of a
fresh run; the clock runs over the last ``steps`` (compilation and cuDNN autotuning fall in the
warm-up, reported apart as ``warmup_s``), with the device synchronised at both ends. Evaluation is
left out (one eval on 1,000 images after the clock stops). ``budget_min`` projects the paper's
iteration budget at that speed: the minutes a full-profile row needs, evaluations not counted.
A variant that cannot run here (CUDA graphs on a CPU, a compiler error) is reported with its reason
and the others go on.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from lrkit.environment import benchmark_environment, synchronize
from lrkit.optim.bench import close_table
from lrkit.optim.bench import write as write_document
from lrkit.recipes.render import table_lines

#: variant name -> TrainConfig fields
VARIANTS = {
    "eager": {},
    "channels_last": {"channels_last": True},
    "compile": {"compile": "default"},
    "compile+channels_last": {"compile": "default", "channels_last": True},
    "cuda-graphs": {"compile": "reduce-overhead"},
    "cuda-graphs+channels_last": {"compile": "reduce-overhead", "channels_last": True},
}
GPU_ONLY = ("cuda-graphs", "cuda-graphs+channels_last")


def recipe_config(name: str) -> dict:
    """The ``full`` task of a table recipe with the policy of its ``quick`` profile's first row (a row CI
    trains, so it does not diverge at once as, say, Table 5's FIX(k=0.1) does), else its first row's."""
    from lrkit.reproduce import get_recipe

    recipe = get_recipe(name)
    runs = recipe.runs("full")
    if not runs:
        raise ValueError(f"recipe {name!r} has no rows in its full profile")
    quick = recipe.runs("quick") if "quick" in recipe.profiles else []
    pick = next((r for r in runs if quick and r["row"] == quick[0]["row"]), runs[0])
    return dict(pick["config"])


def time_variant(base: dict, variant: str, data, device: str = "cpu", steps: int = 100, warmup: int = 20,
                 threads: int | None = None) -> dict:
    """Iterations per second of one variant of the task ``base`` (a TrainConfig dict); see the module doc."""
    from lrkit.train.engine import Run, TrainConfig

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    if not (isinstance(steps, int) and steps >= 1 and isinstance(warmup, int) and warmup >= 1):
        raise ValueError(f"steps and warmup must be ints >= 1, got steps={steps!r}, warmup={warmup!r}")
    dev = torch.device(device)
    if variant in GPU_ONLY and dev.type != "cuda":
        return {"variant": variant, "error": "CUDA graphs need a CUDA device"}
    n = warmup + steps
    cfg = TrainConfig.from_dict(dict(base, **VARIANTS[variant], device=device, iters=n, eval_every=n,
                                     eval_samples=1000, threads=threads, target_acc=None, stop_at_target=False))
    marks: dict[str, float] = {}

    def on_step(t: int) -> None:
        if t == warmup - 1 or t == n - 1:
            synchronize(dev)
            marks["start" if t == warmup - 1 else "end"] = time.perf_counter()

    try:
        t_build = time.perf_counter()
        run = Run(cfg, data=data, progress=False, db=False, on_step=on_step)
        rec = run.run()
    except Exception as e:  # noqa: BLE001 - a variant that cannot run here is reported, the others go on
        return {"variant": variant, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
    if rec.status != "complete" or "end" not in marks:
        return {"variant": variant, "error": f"run {rec.status}: {rec.message}"}
    secs = marks["end"] - marks["start"]
    return {"variant": variant, "it_per_s": steps / secs, "ms_per_it": 1e3 * secs / steps,
            "warmup_s": marks["start"] - t_build, "steps": steps, "warmup": warmup,
            "final_loss": rec.curves["loss"][-1]}


def bench_train(recipes=("table5", "table6"), variants=("eager", "channels_last", "compile"), device: str = "cpu",
                steps: int = 100, warmup: int = 20, threads: int | None = None, progress: bool = True) -> dict:
    """Time every variant on every recipe's task; returns the results document (see :func:`table`)."""
    from tqdm.auto import tqdm

    from lrkit.train.data import load_dataset

    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise ValueError(f"variants: unknown {bad}; allowed: {', '.join(VARIANTS)}")
    if threads:
        torch.set_num_threads(threads)
    cases, datasets, interrupted = [], {}, None
    bar = tqdm(total=len(recipes) * len(variants), desc="bench train", disable=not progress)
    try:
        for name in recipes:
            base = recipe_config(name)
            if base["dataset"] not in datasets:
                datasets[base["dataset"]] = load_dataset(base["dataset"], root=base.get("data_root"))
            for v in variants:
                r = time_variant(base, v, datasets[base["dataset"]], device=device, steps=steps, warmup=warmup,
                                 threads=threads)
                r.update(recipe=name, model=base["model"], dataset=base["dataset"], batch_size=base["batch_size"],
                         optimizer=base["optimizer"], budget_iters=base["iters"])
                if "it_per_s" in r:
                    r["budget_min"] = base["iters"] / r["it_per_s"] / 60
                cases.append(r)
                bar.update(1)
    except KeyboardInterrupt:  # e.g. `timeout --signal=INT`: keep the variants timed so far
        interrupted = "stopped by an interrupt; the variants timed before it are kept"
    finally:
        bar.close()
    for name in recipes:  # speed-up over the recipe's eager run
        eager = next((c for c in cases if c["recipe"] == name and c["variant"] == "eager" and "it_per_s" in c), None)
        for c in cases:
            if c["recipe"] == name and eager and "it_per_s" in c:
                c["vs_eager"] = c["it_per_s"] / eager["it_per_s"]
    doc = {"cases": cases, "environment": benchmark_environment(device)}
    if interrupted:
        doc["interrupted"] = interrupted
    return doc


def machine(env: dict) -> str:
    """Where a training benchmark ran, as its table's heading says it: device, threads, torch, the day."""
    return f"{env['device_name']} ({env['device']}, {env['threads']} threads), torch {env['torch']}, {env['date']}"


def table(doc: dict) -> str:
    """The results as a Markdown table (what ``lrkit bench train`` prints)."""
    rows = []
    for c in doc["cases"]:
        case = [f"{c['recipe']}", f"{c['model']} / {c['dataset']}", f"{c['batch_size']}", f"{c['variant']}"]
        if "error" in c:
            rows.append(case + ["—"] * 4 + [f"{c['budget_iters']:,}", f"does not run here: {c['error']}"])
        else:
            vs = f"{c['vs_eager']:.2f}×" if "vs_eager" in c else "—"
            rows.append(case + [f"{c['it_per_s']:.2f}", f"{c['ms_per_it']:.1f}", vs, f"{c['warmup_s']:.1f}",
                                f"{c['budget_iters']:,}", _duration(c["budget_min"])])
    columns = ["recipe", "model / data", "batch", "variant", "it/s", "ms/it", "vs eager", "warm-up (s)", "paper's budget",
               "at this speed"]
    heading = (f"Training throughput on {machine(doc['environment'])}: the training loop only (LR, batch, forward, "
               "backward, step); no evaluations.")
    return close_table([heading, "", *table_lines(columns, rows)], doc)


def _duration(minutes: float) -> str:
    return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def write(doc: dict, out: str | Path, render=None) -> None:
    """``doc`` as JSON at ``out`` and as a Markdown table beside it (``render(doc)``, default :func:`table`)."""
    write_document(doc, out, render or table)
