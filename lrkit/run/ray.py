"""The Ray Tune executor: the runs of a plan as Ray Tune trials, on this machine or a cluster.

Uses Ray Tune's current API: ``tune.Tuner`` over a ``tune.grid_search`` of the trial configs,
``tune.report`` from the trainable (after every eval — ``top1`` — and once more at the end with the
whole run record), resources per trial via ``tune.with_resources`` (fractional GPUs allowed), and
optionally ASHA early stopping on ``top1``. ``ray.init()`` starts a local Ray unless Ray is already
running or ``address`` names a cluster. A driver-side callback hands every finished trial to
``on_result`` as soon as it finishes (the search writes it to the database then), so an interrupted
search keeps what was computed. Trials stopped by ASHA are recorded as ``stopped`` with the metrics
they reported. A trial can be a batch (a list of configs, :mod:`lrkit.run.batching`): it trains as one
batched run, reports the best top-1 of its replicas, and hands back one record per replica (ASHA stops
the whole batch).
"""

from __future__ import annotations

import json
import tempfile
import uuid
from typing import Callable, Sequence

from .executors import failed_unit
from .records import failed_record

# Tune pickles its callbacks with the experiment state: the callback keeps a token, the driver-side
# sink (which holds a database connection) stays here.
_SINKS: dict[str, Callable[[int, dict], None]] = {}
#: the one line a missing Ray gives (the CLI prints it and exits 2)
MISSING_RAY = "the ray executor needs Ray Tune, which is not installed: pip install 'lrkit[ray]' (or 'ray[tune]')"


try:  # the callback class must live at module level: Tune pickles it by reference
    from ray.tune import Callback as _CallbackBase
except ImportError:  # pragma: no cover - without ray only run_ray fails, saying so
    _CallbackBase = object


class _Deliver(_CallbackBase):
    """Driver side: hands each finished trial's record to the search's sink (by token)."""

    def __init__(self, token: str):
        self.token = token

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._deliver(trial, None)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._deliver(trial, "the Ray trial raised (see Ray's logs)")

    def _deliver(self, trial, error):
        index = trial.config["trial"]["index"]
        cfg = trial.config["trial"]["cfg"]
        last = trial.last_result or {}
        sink = _SINKS[self.token]
        if last.get("record_json"):
            sink(index, json.loads(last["record_json"]))
            return
        if error:
            sink(index, failed_unit(cfg, error))
            return
        best = last.get("best_top1")
        stopped = {"status": "stopped", "summary": {"highest_top1": best if best is not None and best >= 0 else None}}
        message = f"stopped early by ASHA after iteration {last.get('iteration')}"
        sink(index, [{**failed_record(c, message), **stopped} for c in cfg] if isinstance(cfg, list)
             else {**failed_record(cfg, message), **stopped})


def _trainable(config: dict) -> None:
    from ray import tune

    from .executors import train_config

    cfg = config["trial"]["cfg"]
    best = {"top1": -1.0}

    def on_eval(*args):  # (iteration, top1, top5, test_loss), a batch's with the replica first
        iteration, top1 = args[-4], args[-3]
        best["top1"] = max(best["top1"], float(top1))
        tune.report({"iteration": int(iteration), "top1": float(top1), "best_top1": best["top1"], "done": False})

    rec = train_config(cfg, on_eval=on_eval)  # a run that raises comes back as a failed record
    record = json.dumps(rec)
    status = rec["status"] if isinstance(rec, dict) else ",".join(sorted({r["status"] for r in rec}))
    tune.report({"iteration": -1, "top1": max(best["top1"], 0.0), "best_top1": best["top1"], "done": True,
                 "status": status, "record_json": record})


def run_ray(cfgs: Sequence[dict], on_result: Callable[[int, dict], None], *, address: str | None = None,
            num_cpus: int | None = None, cpus_per_trial: float = 1, gpus_per_trial: float = 0, asha: bool = False,
            max_concurrent: int | None = None, env: dict | None = None, name: str = "lrkit",
            storage_path: str | None = None) -> None:
    """Run every config as a Ray Tune trial; ``on_result(index, record)`` in the driver as each ends."""
    try:
        import ray
        from ray import tune
    except ImportError as e:
        raise ImportError(MISSING_RAY) from e
    if gpus_per_trial < 0 or cpus_per_trial <= 0:
        raise ValueError(f"run_ray: cpus_per_trial must be > 0 and gpus_per_trial >= 0, got {cpus_per_trial}, "
                         f"{gpus_per_trial}")
    if not ray.is_initialized():
        ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=False, runtime_env={"env_vars": dict(env or {})}, configure_logging=False)

    token = uuid.uuid4().hex
    _SINKS[token] = on_result

    scheduler = None
    if asha:
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(metric="top1", mode="max", grace_period=1, reduction_factor=2)
    resources = {"cpu": cpus_per_trial, "gpu": gpus_per_trial}
    space = {"trial": tune.grid_search([{"index": i, "cfg": c} for i, c in enumerate(cfgs)])}
    tuner = tune.Tuner(
        tune.with_resources(_trainable, resources),
        param_space=space,
        tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=max_concurrent),
        run_config=tune.RunConfig(name=name, storage_path=storage_path or tempfile.mkdtemp(prefix="lrkit-ray-"),
                                  callbacks=[_Deliver(token)], verbose=0),
    )
    try:
        tuner.fit()
    finally:
        _SINKS.pop(token, None)


class Ray:
    """The Ray Tune executor (see the module doc); ``options``: keyword arguments of :func:`run_ray`."""

    name = "ray"

    def __init__(self, env: dict | None = None, **options):
        try:
            import ray  # noqa: F401
            from ray import tune  # noqa: F401
        except ImportError as e:
            raise ImportError(MISSING_RAY) from e
        self.env = env
        self.options = options

    def run(self, cfgs: Sequence[dict], on_result: Callable[[int, dict], None], data: dict | None = None,
            progress: bool = False) -> None:
        import os

        env = self.env if self.env is not None else {k: v for k, v in os.environ.items()
                                                     if k.startswith("LRKIT_") and k != "LRKIT_DB_URL"}
        run_ray(list(cfgs), on_result=on_result, env=env, **self.options)
