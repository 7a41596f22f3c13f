"""Run a table: every row of a profile, ``repeats`` seeds each, through the run store."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lrkit.reproduce.recipe import Recipe, get_recipe, recipes_dir
from lrkit.reproduce.report import markdown, plot, summarise


def reproduce(name: str, profile: str = "quick", repeats: int = 1, device: str = "cpu", out: str | Path = "out",
              progress: bool = True, threads: int | None = None, data=None, only: list[str] | None = None,
              resume: bool = False, reuse=(), cache: str | Path | None = None, missing: str = "train",
              speed: dict | None = None, other_numerics: bool = False, executor=None, workers: int | None = None,
              db=None, batch="auto") -> dict:
    """Run every row of a table's profile ``repeats`` times; write results.json, table.md and curves.png.

    The runs go through the execution layer (:func:`lrkit.run.execute`): this function plans them
    (rows × seeds) and reduces the records to the table. only: run just the rows whose policy is one of
    these specs (as written in the table). resume: reuse the finished runs already in
    ``out/results.json`` (an interrupted table goes on where it stopped); every write then keeps the
    stored runs of the rows not run (yet) in this call, so neither an interrupt nor ``only`` drops what
    the file held. reuse: more run records to take finished runs from (files or folders, e.g.
    ``reproductions/results``). cache: a folder of run records read and written, shared between tables
    and sessions (default: ``$LRKIT_RUN_CACHE`` if set). A run is reused only when its task matches
    (policy, optimizer, budget, seed…) and it was made by the current numerics version
    (:mod:`lrkit.numerics`); ``other_numerics=True`` reuses runs of another version too, and the table
    marks those rows. Every reused result records where it came from (``reused_from``, see
    :func:`provenance`); every run trained here records the table it was trained for (``trained_for``).
    missing: ``"train"`` (default) runs what the store does not hold; ``"skip"`` only shows the stored
    runs and lists the others as "not run" (how the committed notebooks open without training for hours).
    speed: how the runs execute, ``{"channels_last": bool, "compile": mode, "flush_denormal": bool}``
    (runtime fields of TrainConfig; see ``lrkit bench train`` and :mod:`lrkit.train.denormal`): they are
    recorded in each record and shown by the table when its runs differ in them, but are not part of
    a run's key. executor / workers: where the runs train (:func:`lrkit.run.make_executor`; default in
    this process). db: a policy database every trained run is recorded in.
    """
    from lrkit.run import RunStore, execute

    if missing not in ("train", "skip"):
        raise ValueError(f"missing must be 'train' or 'skip', got {missing!r}")
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
    # the table's own results first: the store keeps the first record of a run, so a resumed table
    # names its own file as the source of its runs, not another table's copy of them
    sources = ([out_dir / "results.json"] if resume else []) + list(reuse)
    store = RunStore(sources, cache=cache if cache is not None else os.environ.get("LRKIT_RUN_CACHE") or None)
    position = {id(spec): next(i for i, s in enumerate(every_row) if s == spec) for spec in runs}
    trained_for = f"{recipe.id}/{profile}"

    def config(spec, rep: int) -> dict:
        return dict(spec["config"], **speed, device=device, seed=rep, threads=threads)

    def reduce(spec, outcomes) -> dict:  # a row's records, as results.json holds them
        records = []
        for o in outcomes:
            if o.record is None:
                continue
            rec = dict(o.record)
            if o.reused:
                source = provenance(rec, o.origin, out_dir)
                rec.pop("reused_from", None)
                if source is not None:
                    rec["reused_from"] = source
                if o.other_numerics:
                    rec["other_numerics"] = True
            elif rec.get("status") != "failed":
                rec.setdefault("trained_for", trained_for)
            if o.stale:
                rec["stale_numerics"] = list(o.stale)
            records.append(rec)
        return {"config": spec["config"], "row": spec["row"], "records": records}

    def stored_rows() -> dict[int, dict]:  # on resume: the rows of every_row not run in this call, as stored
        if not resume:
            return {}
        others = [spec for spec in every_row if all(spec is not s for s in runs)]
        plan = [config(spec, rep) for spec in others for rep in range(repeats)]
        got = execute(plan, store=store, missing="skip", other_numerics=other_numerics, progress=False)
        rows = {}
        for k, spec in enumerate(others):
            row = reduce(spec, [o for o in got[k * repeats:(k + 1) * repeats] if o.reused])
            if row["records"]:
                rows[next(i for i, s in enumerate(every_row) if s is spec)] = row
        return rows

    finished = stored_rows()
    plan = [config(spec, rep) for spec in runs for rep in range(repeats)]
    outcomes: dict[int, object] = {}

    def on_outcome(i: int, outcome) -> None:  # write the table as each row completes: nothing computed is lost
        outcomes[i] = outcome
        k = i // repeats
        if all(k * repeats + r in outcomes for r in range(repeats)):
            spec = runs[k]
            finished[position[id(spec)]] = reduce(spec, [outcomes[k * repeats + r] for r in range(repeats)])
            if missing == "train":
                _write(out_dir, recipe, profile, [finished[j] for j in sorted(finished)])

    execute(plan, executor=executor, workers=workers, store=store, db=db, source=f"reproduce:{trained_for}",
            data=data, missing=missing, other_numerics=other_numerics, progress=progress,
            desc=f"{recipe.id} ({profile})", on_outcome=on_outcome, batch=batch)
    return _write(out_dir, recipe, profile, [finished[j] for j in sorted(finished)], plots=True)


def provenance(record: dict, origin: str, out_dir: Path) -> str | None:
    """Where a reused run first came from, as written in ``reused_from``; None for the table's own run
    (read back from its own results.json on resume: it was trained for this table, not reused).

    A record read from a results.json that already names its source keeps that source, so a resumed
    table (or one reusing another table's copy) still names the table that trained the run, not the
    file it was last copied from. Paths inside the folder that holds ``out_dir`` (e.g.
    ``reproductions/results``), or inside the checkout's ``reproductions/`` when ``out_dir`` is too (a
    committed table whose runs were made in ``reproductions/sittings/``), are written relative to
    ``out_dir``, so the string does not depend on the working directory (the CLI at the repository
    root, a notebook in ``notebooks/``); others stay as given. A named source that is not a file here is replaced by the file the record was read from.
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
    if source.resolve() == out_dir / "results.json":
        return None
    anchors = [out_dir.parent]
    committed = recipes_dir().resolve()
    if out_dir.is_relative_to(committed):
        anchors.append(committed)
    if not any(source.resolve().is_relative_to(a) for a in anchors):
        return str(source)
    return os.path.relpath(source.resolve(), out_dir)


def _write(out_dir: Path, recipe: Recipe, profile: str, results: list, plots: bool = False) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
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
