"""Which runs of a plan train together: tasks that could batch, and the engine each group trains with.

Runs of one task family (:func:`lrkit.train.batched.family`: same data set, model, optimizer, budget,
batch size, evaluation schedule and runtime; any policy and seed) can train as the replicas of one
:class:`lrkit.train.batched.BatchedRun`. ``batch`` picks how:

* ``1`` — every run alone (the single engine);
* ``K >= 2`` — each family in batches of at most K replicas, sizes as even as they can be;
* ``"auto"`` (None) — each family as one batch (at most :data:`AUTO_MAX` replicas) when the batched
  engine is faster on the device at hand: :func:`time_engines` times a few iterations of both, side by
  side, and the batch is used only when its throughput beats the single runs' by :data:`AUTO_MARGIN`.
  Runs shorter than :data:`AUTO_MIN_ITERS` iterations train alone without a probe (it would cost a
  noticeable share of them).

The choice is recorded in every record of the unit, ``environment["engine"]["choice"]``.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

AUTO = "auto"
AUTO_MAX = 64
AUTO_MIN_ITERS = 200
AUTO_MARGIN = 1.1
PROBE_WARMUP, PROBE_ITERS, PROBE_ROUNDS = 2, 5, 2


def check_batch(batch) -> str | int:
    """``batch`` as :func:`lrkit.run.execute` takes it: ``"auto"`` (also for None) or an int >= 1."""
    if batch is None or batch == AUTO:
        return AUTO
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"execute: field 'batch' must be 'auto', None or an int >= 1 (1: no batching), got {batch!r}")
    return batch


@dataclass
class Unit:
    """Runs of a plan that train together: ``indices`` into the plan; ``batched``: by the batched engine
    (else one single run); ``choice``: how the engine was chosen, recorded in each run's environment."""

    indices: list
    batched: bool = False
    choice: dict = field(default_factory=dict)


def families(cfgs: list[dict]) -> list[list[int]]:
    """Indices of ``cfgs`` grouped by task family, in plan order; a run that cannot batch is its own group."""
    from lrkit.train.batched import family, unbatchable

    groups: dict = {}
    for i, c in enumerate(cfgs):
        key = ("alone", i) if unbatchable(c) else family(c)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def split(indices: list, size: int) -> list[list]:
    """``indices`` in ceil(n / size) consecutive chunks whose sizes differ by at most one."""
    n = len(indices)
    parts = -(-n // size)
    bounds = [round(j * n / parts) for j in range(parts + 1)]
    return [indices[a:b] for a, b in itertools.pairwise(bounds)]


def _probe_cfg(cfg: dict) -> dict:
    n = PROBE_WARMUP + PROBE_ITERS + 2  # the stop lands before the only evaluation
    return {**cfg, "iters": n, "eval_every": n, "target_acc": None, "stop_at_target": False}


def iterations_per_second(make_run, replicas: int, warmup: int = PROBE_WARMUP, steps: int = PROBE_ITERS,
                          device: str = "cpu") -> float:
    """Replica-iterations per second of the run ``make_run(on_step)`` builds (a Run or a BatchedRun of
    ``replicas``), timed over ``steps`` iterations after ``warmup``; the run is stopped after them, before
    any evaluation (its config needs ``iters`` > warmup + steps and no eval before). On a GPU the device
    is synchronised at both marks."""
    import torch

    stamps = {}
    run = None
    cuda = str(device).startswith("cuda")

    def on_step(t):
        if t in (warmup, warmup + steps):
            if cuda:
                torch.cuda.synchronize(device)
            stamps[t] = time.perf_counter()
        if t == warmup + steps:
            run.stop()

    run = make_run(on_step)
    run.run()
    return replicas * steps / (stamps[warmup + steps] - stamps[warmup])


def time_engines(cfgs: list[dict], data=None) -> dict:
    """Iterations per second of the single engine (K runs one after another) and of one batched run of
    the K ``cfgs``, on their device: :data:`PROBE_ROUNDS` interleaved rounds of :data:`PROBE_ITERS` timed
    iterations each (after :data:`PROBE_WARMUP`), the best round of each engine."""
    from lrkit.train import TrainConfig
    from lrkit.train.batched import BatchedRun
    from lrkit.train.data import load_dataset
    from lrkit.train.engine import Run

    probe = [TrainConfig.from_dict(_probe_cfg(c)) for c in cfgs]
    if data is None:
        data = load_dataset(probe[0].dataset, root=probe[0].data_root)
    single, batched = 0.0, 0.0
    for _ in range(PROBE_ROUNDS):
        single = max(single, iterations_per_second(
            lambda cb: Run(probe[0], data=data, progress=False, db=False, on_step=cb), 1, device=probe[0].device))
        batched = max(batched, iterations_per_second(
            lambda cb: BatchedRun(probe, data=data, progress=False, on_step=cb), len(probe), device=probe[0].device))
    return {"single_its_per_s": single, "batched_its_per_s": batched, "replicas": len(probe)}


def plan_units(cfgs: list[dict], batch, data: dict | None = None, timer=time_engines) -> list[Unit]:
    """The units ``cfgs`` train in (see the module doc); ``data``: loaded data sets by (name, root);
    ``timer``: what times the engines in automatic mode (a probe result is reused for the same family)."""
    from lrkit.train.batched import family

    batch = check_batch(batch)
    units: list[Unit] = []
    probes: dict = {}
    for group in families(cfgs):
        if batch != AUTO:
            units += [Unit(part, batched=len(part) > 1, choice={"mode": "forced", "batch": batch})
                      for part in split(group, batch)]
            continue
        if len(group) == 1:
            units.append(Unit(group, choice={"mode": AUTO, "reason": "no other run of its family in the plan"}))
            continue
        parts = split(group, AUTO_MAX)
        if cfgs[group[0]]["iters"] < AUTO_MIN_ITERS:
            units += [Unit([i], choice={"mode": AUTO, "reason": f"runs shorter than {AUTO_MIN_ITERS} iterations"})
                      for i in group]
            continue
        for part in parts:
            key = (family(cfgs[part[0]]), len(part))
            if key not in probes:
                first = cfgs[part[0]]
                probes[key] = timer([cfgs[i] for i in part], (data or {}).get((first["dataset"], first.get("data_root"))))
            timing = probes[key]
            faster = timing["batched_its_per_s"] >= AUTO_MARGIN * timing["single_its_per_s"]
            choice = {"mode": AUTO, **timing, "engine": "batched" if faster else "single"}
            units += [Unit(part, batched=True, choice=choice)] if faster else [Unit([i], choice=choice) for i in part]
    return units
