"""Reproduction of 000 Table V and Fig. 7 at small scale (recipe: ``reproductions/llm/table5_llm_finetune.toml``).

Stages: the model (a local HF dir, or a GGUF package name made into one by :mod:`lrkit.llm.gguf`) →
the pretrained baseline scored on the four tasks → for each of the four policies a fresh copy of the
model fine-tuned for 3 epochs, scored after every epoch → Table V (best per column marked) beside
the paper's, Fig. 7, tokens/s and eval items/s. Everything lands in ``OUT/``: ``baseline.csv``,
``runs/<key>/run.json`` + ``evals.csv`` (one folder per policy), ``results.json``, ``table5.md``,
``fig7.png``. ``resume=True`` keeps what an earlier run of the same profile finished (a complete run
folder, the baseline) and computes only the rest.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import fields
from pathlib import Path
from typing import Optional

from lrkit.train.jsonsafe import json_safe

from .compare import compared_rows, stage_differences
from .models import resolve_model
from .recipe import (PROFILE_ONLY, PROFILES, check_rows, load_recipe, profile_config, profile_rows, recipe_path,
                     score_epochs)
from .report import TABLE5_METRIC, table5_scores
from .table5_report import (check_claims, claim_entries, differences_frame, markdown, paper_frame, plot_fig7_of,
                            significant_best, stderr_frame, table_frame, throughput)

__all__ = ["PROFILES", "PROFILE_ONLY", "check_claims", "claim_entries", "current_checks", "differences_frame", "load_recipe",
           "markdown", "paper_frame", "plot_fig7_of", "profile_config", "profile_rows", "recipe_path", "redraw_table5",
           "reproduce_table5", "significant_best", "stderr_frame", "table_frame", "throughput"]

#: the FinetuneConfig fields that decide a run's numbers: a stored run is resumed only if they all match
#: (the model is matched by name, the policy by the row's key; out, device and batch sizes of scoring are not compared)
RESUME_FIELDS = ("data", "limit", "data_seed", "epochs", "batch_size", "grad_accum", "max_length", "batching", "optimizer",
                 "weight_decay", "betas", "max_grad_norm", "bf16", "dtype", "quantize", "lora", "seed", "eval_tasks",
                 "eval_limit", "eval_subjects", "eval_seed", "eval_fewshot")


def reproduce_table5(profile: str = "quick", out: str | Path = "out/table5", *, model: Optional[str] = None,
                     device: Optional[str] = None, rows: Optional[list[str]] = None, resume: bool = True,
                     progress: bool = True, db=None, recipe: Optional[dict] = None) -> dict:
    """Run (or finish) the Table V reproduction for ``profile``; returns the results document.

    ``model``/``device`` override the profile's; ``rows`` picks policies by key (linear-2e-5,
    linear-6e-5, cosine, fixed; default: the profile's, :func:`profile_rows`); ``db`` records every
    fine-tuning run in the policy database.
    """
    import pandas as pd

    from lrkit.environment import check_device

    from .data import load_instructions
    from .eval import evaluate
    from .finetune import FinetuneConfig, finetune
    from .models import load_model

    recipe = recipe or load_recipe()
    cfg = profile_config(recipe, profile, model=model, device=device)
    rows = profile_rows(recipe, profile) if rows is None else check_rows(recipe, rows, "field 'rows'", allow_empty=True)
    chosen = [r for r in recipe["rows"] if r["key"] in rows]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    model_id = _model_id(cfg["model"])
    resolved: dict = {}

    def model_path() -> str:  # resolved (GGUF converted, if need be) only when something is computed
        if "path" not in resolved:
            resolved["path"] = resolve_model(cfg["model"], progress)
        return resolved["path"]

    known = {f.name for f in fields(FinetuneConfig)}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f"table5: profile {profile!r} has unknown field(s) {unknown}; allowed: {', '.join(sorted(known))}")
    examples = load_instructions(cfg.get("data", "dolly"), limit=cfg.get("limit"), seed=cfg.get("data_seed", 0))
    eval_kw = dict(tasks=list(recipe["tasks"]), limit=cfg.get("eval_limit"), subjects=cfg.get("eval_subjects"), seed=cfg.get("eval_seed", 1234),
                   num_fewshot=cfg.get("eval_fewshot"), batch_size=cfg.get("eval_batch_size", 8), device=cfg.get("device", "cpu"),
                   progress=progress)

    if recipe["profiles"].get(profile, {}).get("staged"):
        return _reproduce_staged(recipe, profile, cfg, chosen, out, eval_kw, model_id, model_path, started, progress, db)

    computed = False  # anything evaluated or trained in this call (else the document keeps its date)
    # the pretrained baseline (Table V's first row)
    base_csv, base_json = out / "baseline.csv", out / "baseline.json"
    # what decides the baseline's scores: the shots count only where a profile overrides the paper's, so a
    # baseline scored with the paper's shots matches whether or not its document names them
    scored = json_safe({k: eval_kw[k] for k in ("tasks", "limit", "subjects", "seed", "num_fewshot")
                     if k != "num_fewshot" or eval_kw[k] is not None})
    stored = json.loads(base_json.read_text()) if resume and base_csv.exists() and base_json.exists() else None
    # (a baseline.json that names no "eval" settings is taken to match)
    if stored and _same_model(stored.get("model"), model_id) and stored.get("eval", scored) == scored:
        baseline = pd.read_csv(base_csv)
        base_timing = stored["timing"]
    else:
        check_device(cfg.get("device", "cpu"))  # e.g. the full profile's cuda on a CPU machine: one clear error
        m, tok = load_model(model_path(), dtype=cfg.get("dtype", "float32"), device=cfg.get("device", "cpu"))
        res = evaluate(m, tok, **eval_kw)
        baseline = res.table.copy()
        baseline.insert(0, "stage", "baseline")
        baseline.insert(1, "epoch", 0)
        baseline.insert(2, "step", 0)
        base_timing = res.timing
        computed = True
        baseline.to_csv(base_csv, index=False)
        base_json.write_text(json.dumps({"model": model_path(), "eval": scored,
                                         "timing": json_safe(base_timing, nonfinite="null")}, indent=1))
        del m

    results = []
    for row in chosen:
        run_dir = out / "runs" / row["key"]
        rec_path, ev_path = run_dir / "run.json", run_dir / "evals.csv"
        if resume and rec_path.exists() and ev_path.exists():
            rec = json.loads(rec_path.read_text())
            wanted = json_safe(FinetuneConfig(**{**cfg, "policy": row["policy"]}).to_dict())
            if rec.get("status") == "complete" and _same_model(rec["config"].get("model_path"), model_id) \
                    and all(rec["config"].get(k) == wanted[k] for k in RESUME_FIELDS):
                results.append({"row": row, "record": rec, "evals": pd.read_csv(ev_path), "reused": True})
                continue
        fc = FinetuneConfig(**{**cfg, "model": model_path(), "policy": row["policy"], "out": str(run_dir), "eval_baseline": False,
                               "label": row["label"]})
        res = finetune(fc, examples=examples, progress=progress, db=db)
        rec = json.loads(res.record.to_json())
        results.append({"row": row, "record": rec, "evals": res.evals, "reused": False})
        computed = True
        del res

    date = time.strftime("%Y-%m-%d")
    prior = out / "results.json"
    before = json.loads(prior.read_text()) if not computed and prior.exists() else {}
    # everything read back: the date and the wall time stay those of the call that computed it
    date = before.get("date", date)
    doc = _document(recipe, profile, {**cfg, "model": model_id}, baseline, base_timing, results, started, date)
    if "wall_time_s" in before:
        doc["wall_time_s"] = before["wall_time_s"]
    (out / "results.json").write_text(json.dumps(doc, indent=1))
    (out / "table5.md").write_text(markdown(doc))
    if results:
        import matplotlib.pyplot as plt

        plt.close(plot_fig7_of(doc, out / "fig7.png"))  # saved, not shown: a notebook displays fig7.png itself
        doc["figure"] = str(out / "fig7.png")
    return doc


def _reproduce_staged(recipe, profile, cfg, chosen, out, eval_kw, model_id, model_path, started, progress, db) -> dict:
    """reproduce_table5 for a ``staged`` profile: fine-tuning without in-loop evaluation, then every
    (stage, task) scored and stored on its own (:mod:`lrkit.llm.staged`), so the run resumes where it
    was interrupted. The document's ``compute_time_s`` sums the fine-tuning and scoring times of
    every sitting."""
    from . import staged
    from .finetune import FinetuneConfig, finetune
    from .models import load_model

    dtype, device = cfg.get("dtype", "float32"), cfg.get("device", "cpu")
    if cfg.get("threads"):
        import torch

        torch.set_num_threads(int(cfg["threads"]))  # the baseline is scored before any fine-tuning sets it
    settings = json_safe({"model": model_id, **{k: eval_kw[k] for k in ("tasks", "limit", "subjects", "seed", "num_fewshot")}})
    table, base_timing, n = staged.score_stage(out / "scores" / "baseline",
                                               lambda: load_model(model_path(), dtype=dtype, device=device), eval_kw,
                                               settings)
    computed = n > 0
    baseline = table.copy()
    baseline.insert(0, "stage", "baseline")
    baseline.insert(1, "epoch", 0)
    baseline.insert(2, "step", 0)
    baseline.to_csv(out / "baseline.csv", index=False)
    folders = {"baseline": out / "scores" / "baseline"}  # where each compared stage keeps its items
    results = []
    for row in chosen:
        run_dir = out / "runs" / row["key"]
        fc = FinetuneConfig(**{**cfg, "policy": row["policy"],
                               "out": str(run_dir), "eval_tasks": (), "eval_baseline": False, "save_checkpoints": True,
                               "label": row["label"]})
        wanted = json_safe(fc.to_dict())
        rec_path = run_dir / "run.json"
        rec = json.loads(rec_path.read_text()) if rec_path.exists() else None
        same = rec is not None and _same_model(rec["config"].get("model_path"), model_id) and all(
            rec["config"].get(k) == wanted[k] for k in RESUME_FIELDS if not k.startswith("eval_"))
        epochs = score_epochs(recipe, profile, fc.epochs)
        trained = not same or staged.needs_training(run_dir, epochs, eval_kw["tasks"], settings)
        if trained:
            if (run_dir / "scores").exists():
                shutil.rmtree(run_dir / "scores")  # scores of an earlier fine-tuning do not belong to this one
            res = finetune(FinetuneConfig(**{**fc.to_dict(), "model": model_path()}), progress=progress, db=db,
                           resume=True)  # from the last finished epoch of an interrupted sitting
            rec = json.loads(res.record.to_json())
            computed = True
            del res
        evals, timings = staged.score_epochs(run_dir, epochs, rec["config"]["steps_per_epoch"],
                                             lambda path: load_model(path, dtype=dtype, device=device), eval_kw, settings,
                                             keep_checkpoints=bool(cfg.get("save_checkpoints")))
        evals.to_csv(run_dir / "evals.csv", index=False)
        folders[row["key"]] = run_dir / "scores" / f"epoch-{epochs[-1]}"
        rec.setdefault("summary", {})["eval_timing"] = timings
        results.append({"row": row, "record": rec, "evals": evals, "reused": not trained})
    prior = out / "results.json"
    before = json.loads(prior.read_text()) if prior.exists() else {}
    date = before.get("date", time.strftime("%Y-%m-%d")) if not computed else time.strftime("%Y-%m-%d")
    doc = _document(recipe, profile, {**cfg, "model": model_id}, baseline, base_timing, results, started, date,
                    items={(key, task): staged.read_items(folder / f"{task}.items.jsonl")
                           for key, folder in folders.items() for task in eval_kw["tasks"]})
    if not computed and "wall_time_s" in before:
        doc["wall_time_s"] = before["wall_time_s"]
    doc["compute_time_s"] = (sum(t["seconds"] for t in base_timing.values())
                             + sum((r["train_time_s"] or 0) + sum(v["seconds"] for t in (r["eval_timing"] or [])
                                                                  for v in t.values() if isinstance(v, dict))
                                   for r in doc["runs"]))
    (out / "results.json").write_text(json.dumps(doc, indent=1))
    (out / "table5.md").write_text(markdown(doc))
    if results:
        import matplotlib.pyplot as plt

        plt.close(plot_fig7_of(doc, out / "fig7.png"))
    return doc


def redraw_table5(out: str | Path) -> dict:
    """Table V (``table5.md``) and Fig. 7 (``fig7.png``) drawn again from ``OUT/results.json`` alone:
    nothing is trained or scored, and the document (its date, wall time, numbers) is not changed."""
    import matplotlib.pyplot as plt

    out = Path(out)
    path = out / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"table5: no results.json in {out}: run `lrkit llm table5 --out {out}` first")
    doc = json.loads(path.read_text())
    (out / "table5.md").write_text(markdown(doc, checks=current_checks(doc)))
    if doc["runs"]:
        plt.close(plot_fig7_of(doc, out / "fig7.png"))
    return doc


def current_checks(doc: dict) -> list:
    """The claims today's recipe states for the document's table (its own if the recipe is another's)."""
    recipe = load_recipe()
    return recipe.checks if recipe.id == doc.get("id") else doc.get("checks", [])


def _model_id(name_or_path: str) -> str:
    """What identifies the model across machines: a GGUF package's canonical name (its cache folder's
    name), else the folder's or hub name's last part — not the absolute path, so committed results are
    reused on another machine without converting the model."""
    from .gguf import ALIASES, MODELS

    key = str(name_or_path).strip().lower()
    if key in MODELS or key in ALIASES:
        return ALIASES.get(key, key)
    return Path(str(name_or_path)).name


def _same_model(stored_path, model_id: str) -> bool:
    return stored_path is not None and Path(str(stored_path)).name == model_id


def _document(recipe, profile, cfg, baseline, base_timing, results, started, date, items=None) -> dict:
    """The results document; ``items`` ({(row key or "baseline", task): per-item frame or None}) lets the
    differences between the compared stages be paired (:mod:`lrkit.llm.compare`)."""
    import pandas as pd

    from .finetune import environment

    label = recipe.get("baseline_label", "Pre-trained LLM")
    frames = [baseline.assign(run=label)] + [r["evals"].assign(run=r["row"]["label"]) for r in results]
    evals = pd.concat(frames, ignore_index=True)
    wide = table5_scores(evals)
    compared = compared_rows(wide, label)
    keys = {label: "baseline", **{r["row"]["label"]: r["row"]["key"] for r in results}}
    stage_items = {(row, task): frame for row in compared for (key, task), frame in (items or {}).items()
                   if keys.get(row[0]) == key and frame is not None}
    differences = stage_differences(wide, table5_scores(evals, values="stderr").reindex_like(wide), stage_items, compared)
    runs = []
    for r in results:
        rec = r["record"]
        s = rec.get("summary", {})
        runs.append({"key": r["row"]["key"], "label": r["row"]["label"], "policy": rec["policy"], "status": rec["status"],
                     "message": rec.get("message", ""), "steps": len(rec["curves"]["lr"]),
                     "steps_per_epoch": rec["config"].get("steps_per_epoch"),
                     "examples": rec["config"].get("examples"), "tokens_per_s": s.get("tokens_per_s"),
                     "train_tokens": s.get("train_tokens"), "train_time_s": s.get("train_time_s"),
                     "eval_timing": s.get("eval_timing"), "reused": r["reused"],
                     "curves": {"lr": rec["curves"]["lr"], "loss": rec["curves"]["loss"]}, "paper": r["row"].get("paper")})
    table = [{"run": idx[0], "stage": idx[1], **{t: _f(v) for t, v in row.items()}} for idx, row in wide.iterrows()]
    env = (results[-1]["record"].get("environment") if results else None) or environment(cfg.get("device", "cpu"))
    return {"id": recipe["id"], "title": recipe["title"], "profile": profile, "claim": recipe.get("claim"),
            "config": json_safe(cfg, nonfinite="null"), "tasks": recipe["tasks"], "metrics": TABLE5_METRIC, "table": table,
            "evals": json.loads(evals.to_json(orient="records")), "baseline_timing": json_safe(base_timing, nonfinite="null"),
            "runs": runs, "paper": {"baseline": recipe.get("paper_baseline", {}).get("scores"),
                                    "rows": {r["label"]: r.get("paper") for r in recipe["rows"]}},
            "differences": json_safe(differences, nonfinite="null"),
            "environment": env, "date": date, "wall_time_s": time.time() - started,
            **({"checks": list(recipe.get("checks"))} if recipe.get("checks") else {})}


def _f(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
