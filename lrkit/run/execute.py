"""The execution layer: a plan (TrainConfig dicts) → an executor → a store and the policy database → records.

Every planner — :func:`lrkit.reproduce.reproduce`, the searches, :func:`lrkit.evaluate.verify`, the
range test, :func:`lrkit.evaluate.evaluate_policy` — hands its runs to :func:`execute`, which alone owns
what they share:

* the preflight: every device of the plan is checked and every data set named, and the in-process
  executor loads each data set once, before the first run (a wrong device or an absent data set is one
  error, not a plan of failed runs);
* reuse: a run whose task the store holds (same numerics version) is not trained again; a stale one
  (another numerics version) is trained again unless ``other_numerics=True``;
* the failed-record format (:func:`lrkit.run.records.failed_record`): a run that raises is recorded
  failed and the plan goes on; a diverging run is recorded diverged;
* recording: every trained run goes to the store (and its cache folder) and, with ``db``, to the
  policy database as soon as it finishes, labelled ``run:<key>`` (or the planner's label); with
  ``resume_db`` the runs already in the database under those labels are not trained again;
* batching: runs of one task family may train together as the replicas of one batched run
  (:mod:`lrkit.run.batching`; ``batch``: ``"auto"``, a size, or 1 for none), each still its own record;
* one progress bar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Sequence

from lrkit.environment import check_device
from lrkit.train.config import TrainConfig, run_key

from .batching import check_batch, plan_units
from .executors import InProcess, make_executor
from .records import USABLE, failed_record
from .store import RunStore


@dataclass
class Outcome:
    """One run of a plan: its record (None when it was not stored and ``missing="skip"``), whether it
    was reused and from where, whether that record is of another numerics version (``other_numerics``)
    or stored runs of other versions were passed over (``stale``), and its id in the database."""

    config: dict
    record: dict | None
    reused: bool = False
    origin: str = ""
    other_numerics: bool = False
    stale: tuple = ()
    run_id: int | None = None
    label: str = ""
    notes: list = field(default_factory=list)


def preflight(cfgs: Sequence[dict], load: bool, elsewhere: str | None = None) -> dict:
    """Check every device and data-set name of ``cfgs`` before any run; with ``load`` load each data set
    (name, root) once and return them by that pair. ``elsewhere``: the runs train in other processes
    (named so), which cannot see models or data sets registered only in this one."""
    from lrkit.train.data import check_dataset_name, load_dataset
    from lrkit.train.registry import check_portable

    for device in sorted({str(c.get("device", "cpu")) for c in cfgs}):
        check_device(device)
    if elsewhere:
        check_portable(cfgs, elsewhere)
    keys = list(dict.fromkeys((check_dataset_name(c["dataset"]), c.get("data_root")) for c in cfgs))
    return {key: load_dataset(key[0], root=key[1]) for key in keys} if load else {}


def _db_record(row, cfg: dict) -> dict:
    """A record of a run as the database holds it (summary, status, message; no curves)."""
    import pandas as pd

    def val(k):
        v = row.get(k)
        return None if v is None or (not isinstance(v, str) and pd.isna(v)) else v

    summary = {k: val(k) for k in ("highest_top1", "final_top1", "highest_top5", "iterations_to_target", "wall_time_s")}
    summary["iterations"] = None if val("iterations_run") is None else int(val("iterations_run"))
    return {"config": cfg, "policy": cfg.get("policy"), "status": row["status"], "message": val("message") or "",
            "summary": summary, "curves": {}, "evals": {}}


def execute(plan: Sequence, *, executor=None, workers: int | None = None, store: RunStore | None = None, db=None,
            source: str = "lrkit", labels: Sequence[str] | None = None, resume_db: bool = False, data=None,
            missing: str = "train", other_numerics: bool = False, progress: bool = True, desc: str = "runs",
            on_outcome: Callable[[int, Outcome], None] | None = None, models: dict | None = None,
            datasets: dict | None = None, batch="auto") -> list[Outcome]:
    """Run a plan and return one :class:`Outcome` per config, in plan order.

    ``plan``: TrainConfig objects or dicts. ``executor``: an executor object, or ``"local"`` / ``"ray"``
    (:func:`lrkit.run.executors.make_executor`; ``workers`` > 1 gives a process pool); default in-process.
    ``store``: a :class:`RunStore` to reuse runs from and add trained runs to. ``db``: a
    :class:`lrkit.db.Database` (or URL; None: ``$LRKIT_DB_URL`` when set; False: none) every trained run is recorded in, under ``source`` and
    ``labels[i]`` (default ``run:<key>``); ``resume_db``: reuse the runs the database holds under those
    labels. ``data``: a loaded data set every config uses (else loaded once per name). ``missing``:
    ``"train"`` or ``"skip"`` (only stored runs; the others come back with ``record=None``).
    ``on_outcome(i, outcome)``: called as each run is known (reused ones first), so a planner can write
    its results as they come. ``models`` / ``datasets``: ``{name: factory}`` / ``{name: data}`` the plan names,
    registered here first (:func:`lrkit.register_model`, :func:`lrkit.register_dataset`; a name already
    registered to another object is replaced). ``batch``: ``"auto"`` (or None: batch a task family when
    the batched engine is faster here, timed), an int K >= 2 (batches of at most K), or 1 (every run
    alone); see :mod:`lrkit.run.batching`. Each record's ``environment["engine"]`` says how it trained."""
    from tqdm.auto import tqdm

    from lrkit.train.registry import register_dataset, register_model

    for name, factory in (models or {}).items():
        register_model(name, factory, replace=True)
    for name, data_ in (datasets or {}).items():
        register_dataset(name, data_, replace=True)

    batch = check_batch(batch)
    if missing not in ("train", "skip"):
        raise ValueError(f"execute: field 'missing' must be 'train' or 'skip', got {missing!r}")
    cfgs, invalid = [], {}
    for i, c in enumerate(plan):
        try:
            cfgs.append(c.to_dict() if isinstance(c, TrainConfig) else TrainConfig.from_dict(dict(c)).to_dict())
        except (ValueError, TypeError) as e:  # an invalid config is a failed run; the plan goes on
            cfgs.append(dict(c))
            invalid[i] = e
    if labels is not None and len(labels) != len(cfgs):
        raise ValueError(f"execute: field 'labels' must have one label per run ({len(cfgs)}), got {len(labels)}")
    labels = list(labels) if labels is not None else [
        "run:" + run_key(c) if i not in invalid else "run:invalid" for i, c in enumerate(cfgs)]
    if db is None and os.environ.get("LRKIT_DB_URL"):
        db = os.environ["LRKIT_DB_URL"]
    db = None if db is False else db
    if db is not None and not hasattr(db, "record_run"):
        from lrkit.db import Database

        db = Database(db)
    out: dict[int, Outcome] = {}

    def done(i: int, outcome: Outcome) -> None:
        out[i] = outcome
        if on_outcome is not None:
            on_outcome(i, outcome)

    for i, e in invalid.items():
        done(i, Outcome(cfgs[i], failed_record(cfgs[i], e), label=labels[i]))
    if resume_db and db is not None:
        stored = db.runs(status=list(USABLE) + ["stopped"], source=source)
        stored = stored[stored["label"].isin(set(labels))].drop_duplicates("label", keep="last").set_index("label")
        for i, lab in enumerate(labels):
            if lab in stored.index:
                row = stored.loc[lab]
                done(i, Outcome(cfgs[i], _db_record(row, cfgs[i]), reused=True, origin=f"database:{source}",
                                run_id=int(row["id"]), label=lab))
    stale: dict[int, tuple] = {}
    if store is not None:
        for i, cfg in enumerate(cfgs):
            if i in out:
                continue
            found = store.find(cfg, other_numerics=other_numerics)
            if found.record is not None:
                done(i, Outcome(cfg, found.record, reused=True, origin=found.origin, other_numerics=found.other_numerics,
                                stale=found.stale, label=labels[i]))
            elif found.stale:
                stale[i] = found.stale
    pending = [i for i in range(len(cfgs)) if i not in out]
    if missing == "skip":
        for i in pending:
            done(i, Outcome(cfgs[i], None, stale=stale.get(i, ()), label=labels[i]))
        pending = []
    if pending:
        if executor is None or isinstance(executor, str):
            executor = make_executor(executor or "local", workers)
        todo = [cfgs[i] for i in pending]
        in_process = isinstance(executor, InProcess)
        elsewhere = None if in_process else ("a Ray worker" if getattr(executor, "name", "") == "ray"
                                             else "a spawned worker process")
        loaded = preflight(todo, load=in_process and data is None, elsewhere=elsewhere)
        if data is not None:
            loaded = {(c["dataset"], c.get("data_root")): data for c in todo}
        units = plan_units(todo, batch, loaded)
        bar = tqdm(total=len(cfgs), initial=len(cfgs) - len(pending), desc=desc, disable=not progress)

        def on_result(u: int, recs) -> None:
            unit = units[u]
            for j, rec in zip(unit.indices, recs if isinstance(recs, list) else [recs]):
                rec = dict(rec)
                env = rec["environment"] = dict(rec.get("environment") or {})
                env["engine"] = {**env.get("engine", {"name": "single"}), "choice": unit.choice}
                finished(pending[j], rec)

        def finished(i: int, rec: dict) -> None:
            if store is not None:
                store.add(rec)
            run_id = db.record_run(rec, source=source, label=labels[i]) if db is not None else None
            done(i, Outcome(cfgs[i], rec, stale=stale.get(i, ()), run_id=run_id, label=labels[i]))
            summ = rec.get("summary") or {}
            bar.set_postfix(status=rec.get("status"), top1=summ.get("highest_top1"), refresh=False)
            bar.update(1)

        items = [[todo[j] for j in u.indices] if u.batched else todo[u.indices[0]] for u in units]
        try:
            executor.run(items, on_result, data=loaded, progress=False)
        finally:
            bar.close()
    for i in range(len(cfgs)):  # a run the executor never reported (e.g. a Ray cluster lost it)
        if i not in out:
            done(i, Outcome(cfgs[i], failed_record(cfgs[i], "no result came back from the executor"), label=labels[i]))
    return [out[i] for i in range(len(cfgs))]
