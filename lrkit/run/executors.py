"""Executors: where the runs of a plan train. Each takes units — a TrainConfig dict (one run), or a list of
them (a batch: replicas of one task family, :mod:`lrkit.run.batching`) — and hands back the unit's records
(a record, or a list of them) through ``on_result(index, records)`` as each unit finishes; a run that raises
comes back as a failed record (:func:`lrkit.run.records.failed_record`) and the others go on.

* :class:`InProcess` — one after another in this process, sharing the loaded data sets.
* :class:`ProcessPool` — ``workers`` spawned processes; CUDA runs spread over the GPUs, CPU runs get an
  equal share of the cores unless their config sets ``threads``.
* :class:`lrkit.run.ray.Ray` — Ray Tune trials, on this machine or a cluster.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

from .records import as_dict, failed_record

OnResult = Callable[[int, dict], None]


def failed_unit(unit, error):
    """The failed record of a unit: one for a config, a list for a batch."""
    return [failed_record(c, error) for c in unit] if isinstance(unit, list) else failed_record(unit, error)


def train_batch(cfgs: list, data=None, progress: bool = False, on_eval=None) -> list:
    """Train ``cfgs`` (one family) as one :class:`lrkit.train.batched.BatchedRun` and return their records as
    dicts; a batch that raises gives a failed record per config. ``on_eval(replica, iteration, top1, top5,
    test_loss)``."""
    try:
        from lrkit.train.batched import BatchedRun

        return [as_dict(r) for r in BatchedRun(cfgs, data=data, progress=progress, on_eval=on_eval).run()]
    except Exception as e:  # noqa: BLE001 - recorded, not raised: the plan goes on
        return failed_unit(list(cfgs), e)


def train_config(cfg, data=None, progress: bool = False, on_eval=None):
    """Train one unit (with an already loaded data set, if given): a config, whose record comes back as a
    dict, or a list of configs, a batch (:func:`train_batch`); a run that raises becomes a failed record.
    Every executor trains through here."""
    import lrkit.train as engine  # looked up at call time: one place to replace the training in tests

    if isinstance(cfg, list):
        return train_batch(cfg, data=data, progress=progress, on_eval=on_eval)

    try:
        from lrkit.train import TrainConfig

        tc = TrainConfig.from_dict(cfg)
        if on_eval is None:
            return as_dict(engine.train(tc, data=data, progress=progress, db=False))
        from lrkit.train.engine import Run

        return as_dict(Run(tc, data=data, progress=progress, db=False, on_eval=on_eval).run())
    except Exception as e:  # noqa: BLE001 - recorded, not raised: the plan goes on
        return failed_record(cfg, e)


class InProcess:
    """Train one config after another in this process; ``data``: loaded data sets by (name, root)."""

    name = "in-process"

    def run(self, cfgs: Sequence[dict], on_result: OnResult, data: dict | None = None, progress: bool = False) -> None:
        data = data or {}
        for i, cfg in enumerate(cfgs):
            first = cfg[0] if isinstance(cfg, list) else cfg
            on_result(i, train_config(cfg, data.get((first.get("dataset"), first.get("data_root"))), progress=progress))


def place(cfg, i: int, workers: int):
    """Unit ``i`` of a process pool: on its own CUDA device when the config asks for ``cuda`` and there
    are several (round robin); on the CPU with its config's threads, or an equal share of the cores. A
    batch's replicas are placed together."""
    if isinstance(cfg, list):
        return [place(c, i, workers) for c in cfg]
    if str(cfg.get("device", "cpu")).startswith("cuda"):
        import torch

        n = torch.cuda.device_count()
        if n > 1 and cfg.get("device") == "cuda":
            return {**cfg, "device": f"cuda:{i % n}"}
        return cfg
    if cfg.get("threads") is None:
        return {**cfg, "threads": max(1, (os.cpu_count() or 1) // workers)}
    return cfg


class ProcessPool:
    """Train the configs in ``workers`` spawned processes (each loads its own data)."""

    name = "process-pool"

    def __init__(self, workers: int):
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"ProcessPool: field 'workers' must be an int >= 1, got {workers!r}")
        self.workers = workers

    def run(self, cfgs: Sequence[dict], on_result: OnResult, data: dict | None = None, progress: bool = False) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn")) as ex:
            futures = {ex.submit(train_config, place(c, i, self.workers)): i for i, c in enumerate(cfgs)}
            for f in as_completed(futures):
                i = futures[f]
                try:
                    rec = f.result()
                except Exception as e:  # noqa: BLE001 - a worker that died (e.g. out of memory) fails its run only
                    rec = failed_unit(cfgs[i], e)
                on_result(i, rec)


EXECUTORS = ("local", "ray")


def make_executor(kind: str = "local", workers: int | None = None, **ray_options):
    """``"local"``: :class:`InProcess` (``workers`` 1 or None) or :class:`ProcessPool`; ``"ray"``:
    :class:`lrkit.run.ray.Ray` with ``ray_options``. A missing Ray is one ImportError naming the extra."""
    if kind not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ValueError(f"executor: field 'workers' must be an int >= 1, got {workers!r}")
    if kind == "ray":
        from .ray import Ray

        return Ray(**ray_options)
    return InProcess() if (workers or 1) <= 1 else ProcessPool(workers)
