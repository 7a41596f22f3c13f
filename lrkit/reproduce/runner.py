"""Run a table: every row of a profile, ``repeats`` seeds each, through the run store."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lrkit.reproduce.recipe import Recipe, get_recipe
from lrkit.reproduce.report import markdown, plot, summarise
from lrkit.reproduce.store import RunStore


def reproduce(name: str, profile: str = "quick", repeats: int = 1, device: str = "cpu", out: str | Path = "out",
              progress: bool = True, threads: int | None = None, data=None, only: list[str] | None = None,
              resume: bool = False, reuse=(), cache: str | Path | None = None, missing: str = "train",
              speed: dict | None = None) -> dict:
    """Run every row of a table's profile ``repeats`` times; write results.json, table.md and curves.png.

    only: run just the rows whose policy is one of these specs (as written in the table).
    resume: reuse the finished runs already in ``out/results.json`` (an interrupted table goes on
    where it stopped); every write then keeps the stored runs of the rows not run (yet) in this call,
    so neither an interrupt nor ``only`` drops what the file held. reuse: more run records to take
    finished runs from (files or folders, e.g. ``reproductions/results``). cache: a folder of run records read and written, shared between
    tables and sessions (default: ``$LRKIT_RUN_CACHE`` if set). A run is reused only when its whole
    config matches (policy, optimizer, budget, seed, device…); see :mod:`lrkit.reproduce.store`.
    Every reused result records where it came from (``reused_from``, see :func:`provenance`).
    missing: ``"train"`` (default) runs what the store does not hold; ``"skip"`` only shows the stored
    runs and lists the others as "not run" (how the committed notebooks open without training for hours).
    speed: how the runs execute, ``{"channels_last": bool, "compile": mode, "flush_denormal": bool}``
    (TrainConfig fields; see ``lrkit bench train`` and :mod:`lrkit.train.denormal`); they are part of a
    run's config, so its record says how it ran.
    """
    from tqdm.auto import tqdm

    from lrkit.train import TrainConfig, train
    from lrkit.train.engine import check_device

    if missing not in ("train", "skip"):
        raise ValueError(f"missing must be 'train' or 'skip', got {missing!r}")
    if missing == "train":
        check_device(device)  # before any row: a device this machine lacks is an error, not a table of failed rows
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    speed = dict(speed or {})
    allowed = {"channels_last", "compile", "flush_denormal"}
    if set(speed) - allowed:
        raise ValueError(f"speed: unknown option(s) {sorted(set(speed) - allowed)}; allowed: {', '.join(sorted(allowed))}")
    recipe = get_recipe(name)
    if profile not in recipe.profiles:
        raise ValueError(f"profile must be one of {', '.join(recipe.profiles)}, got {profile!r}")
    runs = recipe.runs(profile, only)
    every_row = recipe.runs(profile) if only else runs
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    # the table's own results first: the store keeps the first record of a run, so a resumed table
    # names its own file as the source of its runs, not another table's copy of them
    sources = ([out_dir / "results.json"] if resume else []) + list(reuse)
    store = RunStore(sources, cache=cache if cache is not None else os.environ.get("LRKIT_RUN_CACHE") or None)
    finished: dict[int, dict] = {}  # position in every_row -> its result
    position = {id(spec): next(i for i, s in enumerate(every_row) if s == spec) for spec in runs}

    def stored(spec) -> dict | None:  # a row's finished runs in the store, without training
        records = []
        for rep in range(repeats):
            try:
                rec, origin = store.lookup(dict(spec["config"], **speed, device=device, seed=rep, threads=threads))
            except ValueError:  # a row whose config is invalid has no runs (it is recorded as failed when run)
                return None
            if rec is not None:
                records.append(dict(rec, reused_from=provenance(rec, origin, out_dir)))
        return {"config": spec["config"], "row": spec["row"], "records": records} if records else None

    def results() -> list:  # the rows run so far and, on resume, the stored runs of the others
        out = []
        for i, spec in enumerate(every_row):
            res = finished.get(i) or (stored(spec) if resume else None)
            if res is not None:
                out.append(res)
        return out

    shared_data = data
    bar = tqdm(total=len(runs) * repeats, desc=f"{recipe.id} ({profile})", disable=not progress)
    for spec in runs:
        records = []
        for rep in range(repeats):
            cfg = dict(spec["config"], **speed, device=device, seed=rep, threads=threads)
            try:
                tc = TrainConfig.from_dict(cfg)
                done, origin = store.lookup(cfg)
                if done is not None:
                    rec = dict(done, reused_from=provenance(done, origin, out_dir))
                elif missing == "skip":
                    bar.update(1)
                    continue
                else:
                    if shared_data is None:
                        from lrkit.train.data import load_dataset

                        shared_data = load_dataset(tc.dataset, root=tc.data_root)
                    rec = json.loads(train(tc, data=shared_data, progress=progress).to_json())
                    store.add(rec)
                records.append(rec)
            except Exception as e:  # a failed run is recorded; the table goes on
                records.append({"status": "failed", "message": f"{type(e).__name__}: {e}", "config": cfg,
                                "summary": {"wall_time_s": 0.0}, "curves": {"lr": [], "loss": []},
                                "evals": {"iteration": [], "top1": []}})
            bar.update(1)
        finished[position[id(spec)]] = {"config": spec["config"], "row": spec["row"], "records": records}
        _write(out_dir, recipe, profile, results())  # nothing computed is lost if a later row fails
    bar.close()
    return _write(out_dir, recipe, profile, results(), plots=True)


def provenance(record: dict, origin: str, out_dir: Path) -> str:
    """Where a reused run first came from, as written in ``reused_from``.

    A record read from a results.json that already names its source keeps that source, so a resumed
    table (or one reusing another table's copy) still names the table that trained the run, not the
    file it was last copied from. Paths inside the folder that holds ``out_dir`` (e.g.
    ``reproductions/results``) are written relative to ``out_dir``, so the string does not depend on
    the working directory (the CLI at the repository root, a notebook in ``notebooks/``); others stay
    as given. A named source that no longer exists is replaced by the file the record was read from.
    "run store" means a run added earlier in this call.
    """
    if not origin:
        return "run store"
    source = Path(origin)
    prior = record.get("reused_from")
    if prior and prior != "run store":
        named = Path(prior) if Path(prior).is_absolute() else source.parent / prior
        source = named if named.exists() else source
    out_dir = Path(out_dir).resolve()
    try:
        source.resolve().relative_to(out_dir.parent)
    except ValueError:
        return str(source)
    return os.path.relpath(source.resolve(), out_dir)


def _write(out_dir: Path, recipe: Recipe, profile: str, results: list, plots: bool = False) -> dict:
    table = summarise(recipe, results, profile)
    doc = {"recipe": recipe.id, "title": recipe.title, "source": recipe.source, "profile": profile,
           "metric": recipe.metric, "target": recipe.target_for(profile), "table": table, "results": results}
    tmp = out_dir / "results.json.tmp"
    tmp.write_text(json.dumps(doc))
    tmp.replace(out_dir / "results.json")
    (out_dir / "table.md").write_text(markdown(recipe, table, profile, results))
    if plots:
        doc["plots"] = plot(results, out_dir, target=recipe.target_for(profile))
    return doc


def load_results(path: str | Path) -> dict:
    """A ``results.json`` written by :func:`reproduce` (the file or its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    return json.loads(path.read_text())
