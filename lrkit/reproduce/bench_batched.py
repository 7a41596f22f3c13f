"""Batched vs single training throughput: ``lrkit bench batched``.

For each case (LeNet/MNIST, CNN3/CIFAR-10, ResNet-32/CIFAR-10: the ``full`` task of Tables 4, 5 and 6,
:func:`lrkit.reproduce.bench.recipe_config`) and each K, one process times

* the single engine: one :class:`lrkit.train.Run` (K single runs take K times as long, one after another,
  so their throughput in replica-iterations per second is that of one run), and
* the batched engine: one :class:`lrkit.train.batched.BatchedRun` of K replicas (the task's policy, seed
  0: one shared batch per iteration, as a table's rows share it),

in interleaved rounds (single, batched, for every case and K, then again), ``steps`` timed iterations
after ``warmup`` each, the training loop only (no evaluation). The best round of each engine is
reported; ``speedup`` is batched over single. A K whose activations would need more than
``max_memory_gb`` (an estimate: three float32 copies of every module output per sample), or whose
timing would take longer than ``max_case_s`` (extrapolated from the K before), is skipped with its
reason. An interrupt (the GPU script's time limit) keeps what was measured.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import torch

from lrkit.environment import benchmark_environment
from lrkit.optim.bench import close_table

#: case name -> the table recipe whose full task it times
CASES = {"lenet": "table4", "cnn3": "table5", "resnet32": "table6"}
KS = (1, 4, 16, 64)


def _activation_bytes_per_sample(cfg: dict, data) -> int:
    """Three float32 copies (output, saved for backward, its gradient) of every module output, per sample."""
    from lrkit.train.models import build_model

    model = build_model(cfg["model"], num_classes=data.num_classes, in_channels=data.input_shape[0],
                        input_shape=data.input_shape)
    total = [0]
    hooks = [m.register_forward_hook(lambda m, i, o: total.__setitem__(0, total[0] + o.numel()))
             for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        model(torch.zeros(2, *data.input_shape))
    for h in hooks:
        h.remove()
    return 3 * 4 * total[0] // 2


def _timed_cfg(base: dict, device: str, threads, warmup: int, steps: int) -> dict:
    n = warmup + steps + 2  # the stop lands before the only evaluation
    return dict(base, device=device, threads=threads, iters=n, eval_every=n, eval_samples=1000, target_acc=None,
                stop_at_target=False, seed=0)


def bench_batched(cases=tuple(CASES), ks=KS, device: str = "cpu", steps: int = 3, warmup: int = 1, rounds: int = 2,
                  threads: int | None = None, max_memory_gb: float = 4.0, max_case_s: float = 120.0,
                  progress: bool = True, checkpoint=None) -> dict:
    """Time both engines for every case and K (see the module doc); returns the results document.
    ``checkpoint(doc)`` is called after every measurement (to write what is measured so far)."""
    from tqdm.auto import tqdm

    from lrkit.run.batching import iterations_per_second
    from lrkit.train import TrainConfig
    from lrkit.train.batched import BatchedRun
    from lrkit.train.data import load_dataset
    from lrkit.train.engine import Run

    from .bench import recipe_config

    bad = [c for c in cases if c not in CASES]
    if bad:
        raise ValueError(f"bench batched: unknown case(s) {bad}; allowed: {', '.join(CASES)}")
    if any(not isinstance(k, int) or k < 1 for k in ks) or steps < 1 or warmup < 1 or rounds < 1:
        raise ValueError(f"bench batched: ks must be ints >= 1 and steps, warmup, rounds >= 1, got ks={list(ks)}, "
                         f"steps={steps}, warmup={warmup}, rounds={rounds}")
    if threads:
        torch.set_num_threads(threads)
    rows, data, bases, skipped = {}, {}, {}, {}
    for name in cases:
        base = recipe_config(CASES[name])
        key = (base["dataset"], base.get("data_root"))
        if key not in data:
            data[key] = load_dataset(*key)
        bases[name] = (_timed_cfg(base, device, threads, warmup, steps), data[key])
        per_sample = _activation_bytes_per_sample(base, data[key])
        for k in ks:
            rows[(name, k)] = {"case": name, "model": base["model"], "dataset": base["dataset"],
                               "batch_size": base["batch_size"], "optimizer": base["optimizer"], "K": k,
                               "single": [], "batched": []}
            need = per_sample * base["batch_size"] * k / 2**30
            if need > max_memory_gb:
                skipped[(name, k)] = f"needs about {need:.1f} GB of activations (limit {max_memory_gb:g} GB)"
    doc = {"cases": list(rows.values()), "environment": benchmark_environment(device),
           "settings": {"steps": steps, "warmup": warmup, "rounds": rounds, "device": device}}
    bar = tqdm(total=rounds * len(rows) * 2, desc="bench batched", disable=not progress)
    try:
        for _ in range(rounds):
            for name in cases:
                cfg, ds = bases[name]
                tc = TrainConfig.from_dict(cfg)
                last = None  # (K, seconds of a batched timing) of the K before
                for k in ks:
                    row = rows[(name, k)]
                    if (name, k) in skipped:
                        bar.update(2)
                        continue
                    if last and last[1] * k / last[0] > max_case_s:
                        skipped[(name, k)] = f"a timing would take about {last[1] * k / last[0]:.0f} s (limit {max_case_s:g} s)"
                        bar.update(2)
                        continue
                    single = partial(Run, tc, data=ds, progress=False, db=False)
                    row["single"].append(iterations_per_second(lambda cb, make=single: make(on_step=cb), 1, warmup,
                                                               steps, device))
                    bar.update(1)
                    t0 = time.perf_counter()
                    batched = partial(BatchedRun, [tc] * k, data=ds, progress=False)
                    row["batched"].append(iterations_per_second(lambda cb, make=batched: make(on_step=cb), k, warmup,
                                                                steps, device))
                    last = (k, time.perf_counter() - t0)
                    bar.update(1)
                    _summarise(doc, rows, skipped)
                    if checkpoint is not None:
                        checkpoint(doc)
    except KeyboardInterrupt:  # e.g. `timeout --signal=INT`: keep what was measured
        doc["interrupted"] = "stopped by an interrupt; the timings made before it are kept"
    finally:
        bar.close()
    _summarise(doc, rows, skipped)
    return doc


def _summarise(doc: dict, rows: dict, skipped: dict) -> None:
    for key, row in rows.items():
        if key in skipped:
            row["skipped"] = skipped[key]
        if row["single"] and row["batched"]:
            row["single_its_per_s"], row["batched_its_per_s"] = max(row["single"]), max(row["batched"])
            row["speedup"] = row["batched_its_per_s"] / row["single_its_per_s"]


def table(doc: dict) -> str:
    """The results as a Markdown table (what ``lrkit bench batched`` prints)."""
    from lrkit.recipes.render import table_lines

    from .bench import machine

    st = doc["settings"]
    rows = []
    for r in doc["cases"]:
        case = [f"{r['model']} / {r['dataset']}", f"{r['batch_size']}", f"{r['K']}"]
        if "speedup" in r:
            rows.append(case + [f"{r['single_its_per_s']:.2f}", f"{r['batched_its_per_s']:.2f}", f"{r['speedup']:.2f}×"])
        else:
            rows.append(case + ["—", "—", f"{r.get('skipped', 'not timed')}"])
    columns = ["model / data", "batch", "K", "K single runs (it/s)", "one batched run (it/s)", "batched / single"]
    heading = (f"Batched vs single training on {machine(doc['environment'])}: replica-iterations per second, best of "
               f"{st['rounds']} interleaved rounds of {st['steps']} iterations (after {st['warmup']}); the training loop "
               "only.")
    return close_table([heading, "", *table_lines(columns, rows)], doc)


def write(doc: dict, out: str | Path) -> None:
    """``doc`` as JSON at ``out`` and its table beside it (``.md``)."""
    from .bench import write as write_doc

    write_doc(doc, out, render=table)
