"""Resumable scoring for long Table V runs (a profile with ``staged = true``): every (stage, task) is
scored and stored on its own, and a task's items are checkpointed in chunks while it is scored
(``<task>.partial.jsonl``, :mod:`lrkit.llm.eval.checkpoint`), so a run interrupted anywhere loses at most
one chunk of items or one policy's fine-tuning.

Layout under a policy's run folder ``runs/<key>/``: ``run.json`` (the fine-tuning, without
in-loop evaluation), ``epoch-N/`` (the checkpoint of epoch N, deleted once all its tasks are scored
unless the profile keeps checkpoints) and ``scores/epoch-N/<task>.csv`` + ``<task>.json`` (the tidy
rows and the timing of one task at one stage) + ``<task>.items.jsonl`` (each item's log-likelihoods and
metrics, one JSON object a line: what a paired comparison of two stages reads, :mod:`lrkit.llm.compare`).
The baseline's are ``scores/baseline/`` under ``OUT``.
A stored task is reused only if its ``.json`` records the same evaluation settings and model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable


def score_stage(folder: Path, load: Callable, eval_kw: dict, settings: dict) -> tuple:
    """Score every task of ``eval_kw["tasks"]`` not yet stored in ``folder`` (``load()`` gives
    ``(model, tokenizer)``, called only if something is scored) and return ``(table, timing, scored)``:
    the tidy rows of all tasks, ``{task: timing}``, and how many tasks this call scored."""
    import pandas as pd

    from .eval import evaluate

    folder.mkdir(parents=True, exist_ok=True)
    frames, timing, model, scored = [], {}, None, 0
    for task in eval_kw["tasks"]:
        csv, meta = folder / f"{task}.csv", folder / f"{task}.json"
        stored = json.loads(meta.read_text()) if csv.exists() and meta.exists() else None
        if stored is None or stored.get("settings") != settings:
            if model is None:
                model = load()
            res = evaluate(*model, **{**eval_kw, "tasks": [task]}, checkpoint_dir=folder)
            res.table.to_csv(csv, index=False)
            write_items(folder / f"{task}.items.jsonl", res.details[task])
            meta.write_text(json.dumps({"settings": settings, "timing": res.timing[task]}, indent=1))
            (folder / f"{task}.partial.jsonl").unlink(missing_ok=True)  # its items are in <task>.items.jsonl now
            scored += 1
            stored = json.loads(meta.read_text())
        frames.append(pd.read_csv(csv))
        timing[task] = stored["timing"]
    return pd.concat(frames, ignore_index=True), timing, scored


def write_items(path: Path, details) -> None:
    """A task's per-item results (``EvalResult.details[task]``) as JSON lines, written whole before the
    task's ``.json`` marks it stored."""
    tmp = path.with_name(path.name + ".tmp")
    details.to_json(tmp, orient="records", lines=True)
    tmp.replace(path)


def read_items(path: Path):
    """The per-item results :func:`write_items` stored, or None where the task has none (scored before
    items were kept)."""
    import pandas as pd

    return pd.read_json(path, orient="records", lines=True) if Path(path).exists() else None


def stage_done(folder: Path, tasks, settings: dict) -> bool:
    """Every task of the stage is stored under the given settings."""
    for task in tasks:
        meta = folder / f"{task}.json"
        if not ((folder / f"{task}.csv").exists() and meta.exists()
                and json.loads(meta.read_text()).get("settings") == settings):
            return False
    return True


def score_epochs(run_dir: Path, epochs, steps_per_epoch: int, load_model: Callable, eval_kw: dict,
                 settings: dict, keep_checkpoints: bool) -> tuple:
    """Score the checkpoints of ``epochs`` (epoch numbers) of a finished fine-tuning run (what is stored
    is reused) and return ``(evals, timings)``: the tidy rows with stage/epoch/step, one timing dict per
    epoch. Checkpoints of epochs not scored are deleted too unless checkpoints are kept."""
    import pandas as pd

    frames, timings = [], []
    if not keep_checkpoints:
        for ck in run_dir.glob("epoch-*"):
            if ck.is_dir() and ck.name.split("-", 1)[1].isdigit() and int(ck.name.split("-", 1)[1]) not in epochs:
                shutil.rmtree(ck)
    for e in epochs:
        ck = run_dir / f"epoch-{e}"
        table, timing, _ = score_stage(run_dir / "scores" / f"epoch-{e}", lambda: load_model(str(ck)), eval_kw, settings)
        if not keep_checkpoints and ck.exists():
            shutil.rmtree(ck)  # every task of this epoch is stored: the checkpoint is no longer needed
        table.insert(0, "stage", f"epoch {e}")
        table.insert(1, "epoch", e)
        table.insert(2, "step", e * steps_per_epoch)
        frames.append(table)
        timings.append({"stage": f"epoch {e}", **timing})
    return pd.concat(frames, ignore_index=True), timings


def needs_training(run_dir: Path, epochs, tasks, settings: dict) -> bool:
    """The fine-tuning must run (again) unless it finished and every epoch of ``epochs`` is either
    scored or still has its checkpoint."""
    rec = run_dir / "run.json"
    if not rec.exists() or json.loads(rec.read_text()).get("status") != "complete":
        return True
    return any(not stage_done(run_dir / "scores" / f"epoch-{e}", tasks, settings) and not (run_dir / f"epoch-{e}").exists()
               for e in epochs)
