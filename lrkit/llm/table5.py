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
import os
import shutil
import statistics
import time
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Optional

from .models import resolve_model
from .report import (PAPER_FEWSHOT, TABLE5_COLUMNS, TABLE5_METRIC, Z95, best_per_column, separated_best, table5_columns,
                     table5_scores)

PROFILES = ("quick", "cpu-small", "cpu", "full")
#: profile keys that are not FinetuneConfig fields: ``rows`` (the policies it runs), ``staged`` (score
#: every stage and task on its own, resumable: :mod:`lrkit.llm.staged`) and, with ``staged``,
#: ``score_epochs`` (the epochs scored; default all)
PROFILE_ONLY = ("rows", "staged", "score_epochs")


def recipe_path() -> Path:
    env = os.environ.get("LRKIT_REPRODUCTIONS_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "reproductions"
    p = root / "llm" / "table5_llm_finetune.toml"
    if not p.exists():
        raise FileNotFoundError(f"no Table V recipe at {p}; set LRKIT_REPRODUCTIONS_DIR to the reproductions/ folder")
    return p


def load_recipe(path=None) -> dict:
    with open(path or recipe_path(), "rb") as f:
        return tomllib.load(f)


def profile_config(recipe: dict, profile: str, **overrides) -> dict:
    """The FinetuneConfig fields of a profile: the recipe's [finetune] block, the profile (less its
    ``rows``, see :func:`profile_rows`), then overrides."""
    if profile not in recipe["profiles"]:
        raise ValueError(f"table5: field 'profile' must be one of {', '.join(recipe['profiles'])}, got {profile!r}")
    cfg = {**recipe.get("finetune", {}),
           **{k: v for k, v in recipe["profiles"][profile].items() if k not in PROFILE_ONLY}}
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    cfg["eval_tasks"] = list(recipe["tasks"])
    return cfg


#: the FinetuneConfig fields that decide a run's numbers: a stored run is resumed only if they all match
#: (the model is matched by name, the policy by the row's key; out, device and batch sizes of scoring are not compared)
RESUME_FIELDS = ("data", "limit", "data_seed", "epochs", "batch_size", "grad_accum", "max_length", "batching", "optimizer",
                 "weight_decay", "betas", "max_grad_norm", "bf16", "dtype", "quantize", "lora", "seed", "eval_tasks",
                 "eval_limit", "eval_subjects", "eval_seed", "eval_fewshot")


def _plain(d):
    """``d`` as it reads back from JSON (tuples become lists), so stored and wanted configs compare equal."""
    return json.loads(json.dumps(d))


def _check_rows(recipe: dict, rows, field: str, allow_empty: bool = False) -> list[str]:
    """``rows`` if every key names a row of the recipe, else a ValueError naming ``field`` and the keys."""
    keys = [r["key"] for r in recipe["rows"]]
    bad = [r for r in rows if r not in keys]
    if bad or not (rows or allow_empty):
        raise ValueError(f"table5: {field} must name rows of the recipe ({', '.join(keys)}), got {bad or rows!r}")
    return list(rows)


def profile_rows(recipe: dict, profile: str) -> list[str]:
    """The row keys a profile runs: its ``rows`` (a profile may run a subset: CI's quick does), else all."""
    rows = recipe["profiles"].get(profile, {}).get("rows", [r["key"] for r in recipe["rows"]])
    return _check_rows(recipe, rows, f"field 'rows' of profile {profile!r}")


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
    rows = profile_rows(recipe, profile) if rows is None else _check_rows(recipe, rows, "field 'rows'", allow_empty=True)
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
    # what decides the baseline's scores (the shots only where a profile overrides the paper's, so that a baseline
    # stored before the override existed still matches)
    scored = _plain({k: eval_kw[k] for k in ("tasks", "limit", "subjects", "seed", "num_fewshot")
                     if k != "num_fewshot" or eval_kw[k] is not None})
    stored = json.loads(base_json.read_text()) if resume and base_csv.exists() and base_json.exists() else None
    # (a baseline.json written before "eval" was kept is trusted)
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
        base_json.write_text(json.dumps({"model": model_path(), "eval": scored, "timing": _jsonable(base_timing)}, indent=1))
        del m

    results = []
    for row in chosen:
        run_dir = out / "runs" / row["key"]
        rec_path, ev_path = run_dir / "run.json", run_dir / "evals.csv"
        if resume and rec_path.exists() and ev_path.exists():
            rec = json.loads(rec_path.read_text())
            wanted = _plain(FinetuneConfig(**{**cfg, "policy": row["policy"]}).to_dict())
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
    settings = _plain({"model": model_id, **{k: eval_kw[k] for k in ("tasks", "limit", "subjects", "seed", "num_fewshot")}})
    table, base_timing, n = staged.score_stage(out / "scores" / "baseline",
                                               lambda: load_model(model_path(), dtype=dtype, device=device), eval_kw,
                                               settings)
    computed = n > 0
    baseline = table.copy()
    baseline.insert(0, "stage", "baseline")
    baseline.insert(1, "epoch", 0)
    baseline.insert(2, "step", 0)
    baseline.to_csv(out / "baseline.csv", index=False)
    results = []
    for row in chosen:
        run_dir = out / "runs" / row["key"]
        fc = FinetuneConfig(**{**cfg, "policy": row["policy"],
                               "out": str(run_dir), "eval_tasks": (), "eval_baseline": False, "save_checkpoints": True,
                               "label": row["label"]})
        wanted = _plain(fc.to_dict())
        rec_path = run_dir / "run.json"
        rec = json.loads(rec_path.read_text()) if rec_path.exists() else None
        same = rec is not None and _same_model(rec["config"].get("model_path"), model_id) and all(
            rec["config"].get(k) == wanted[k] for k in RESUME_FIELDS if not k.startswith("eval_"))
        epochs = _score_epochs(recipe, profile, fc.epochs)
        trained = not same or staged.needs_training(run_dir, epochs, eval_kw["tasks"], settings)
        if trained:
            if (run_dir / "scores").exists():
                shutil.rmtree(run_dir / "scores")  # scores of an earlier fine-tuning do not belong to this one
            res = finetune(FinetuneConfig(**{**fc.to_dict(), "model": model_path()}), progress=progress, db=db)
            rec = json.loads(res.record.to_json())
            computed = True
            del res
        evals, timings = staged.score_epochs(run_dir, epochs, rec["config"]["steps_per_epoch"],
                                             lambda path: load_model(path, dtype=dtype, device=device), eval_kw, settings,
                                             keep_checkpoints=bool(cfg.get("save_checkpoints")))
        evals.to_csv(run_dir / "evals.csv", index=False)
        rec.setdefault("summary", {})["eval_timing"] = timings
        results.append({"row": row, "record": rec, "evals": evals, "reused": not trained})
    prior = out / "results.json"
    before = json.loads(prior.read_text()) if prior.exists() else {}
    date = before.get("date", time.strftime("%Y-%m-%d")) if not computed else time.strftime("%Y-%m-%d")
    doc = _document(recipe, profile, {**cfg, "model": model_id}, baseline, base_timing, results, started, date)
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


def _score_epochs(recipe, profile, epochs: int) -> list:
    """The epochs a staged profile scores: its ``score_epochs``, else all; a bad entry raises, naming the field."""
    chosen = recipe["profiles"][profile].get("score_epochs", list(range(1, epochs + 1)))
    if not chosen or any(isinstance(e, bool) or not isinstance(e, int) or not 1 <= e <= epochs for e in chosen):
        raise ValueError(f"table5: field 'score_epochs' of profile {profile!r} must list epochs among 1..{epochs}, "
                         f"got {chosen!r}")
    return sorted(set(chosen))


def redraw_table5(out: str | Path) -> dict:
    """Table V (``table5.md``) and Fig. 7 (``fig7.png``) drawn again from ``OUT/results.json`` alone:
    nothing is trained or scored, and the document (its date, wall time, numbers) is not changed."""
    import matplotlib.pyplot as plt

    out = Path(out)
    path = out / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"table5: no results.json in {out}: run `lrkit llm table5 --out {out}` first")
    doc = json.loads(path.read_text())
    (out / "table5.md").write_text(markdown(doc))
    if doc["runs"]:
        plt.close(plot_fig7_of(doc, out / "fig7.png"))
    return doc


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


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _document(recipe, profile, cfg, baseline, base_timing, results, started, date) -> dict:
    import pandas as pd

    from .finetune import environment

    label = recipe.get("baseline_label", "Pre-trained LLM")
    frames = [baseline.assign(run=label)] + [r["evals"].assign(run=r["row"]["label"]) for r in results]
    evals = pd.concat(frames, ignore_index=True)
    wide = table5_scores(evals)
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
            "config": _jsonable(cfg), "tasks": recipe["tasks"], "metrics": TABLE5_METRIC, "table": table,
            "evals": json.loads(evals.to_json(orient="records")), "baseline_timing": _jsonable(base_timing),
            "runs": runs, "paper": {"baseline": recipe.get("paper_baseline", {}).get("scores"),
                                    "rows": {r["label"]: r.get("paper") for r in recipe["rows"]}},
            "environment": env, "date": date, "wall_time_s": time.time() - started}


def _f(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def table_frame(doc: dict):
    """Table V as a DataFrame indexed by (run, stage), the paper's column names with the shot counts the
    profile scored with (``ARC(25)`` …; a profile's ``eval_fewshot`` shows as e.g. ``ARC(2)``)."""
    import pandas as pd

    df = pd.DataFrame(doc["table"]).set_index(["run", "stage"])
    return df.rename(columns=table5_columns(doc["config"].get("eval_fewshot")))


def paper_frame(doc: dict):
    import pandas as pd

    cols = [TABLE5_COLUMNS[t] for t in ("arc", "hellaswag", "mmlu", "truthfulqa")]
    rows = [(("Pre-trained LLM", "baseline"), doc["paper"]["baseline"])]
    for label, vals in doc["paper"]["rows"].items():
        rows += [((label, f"epoch {i + 1}"), v) for i, v in enumerate(vals or [])]
    return pd.DataFrame([v for _, v in rows], index=pd.MultiIndex.from_tuples([k for k, _ in rows], names=["run", "stage"]),
                        columns=cols)


def throughput(doc: dict) -> dict:
    """Fine-tuning tokens/s and eval items/s per task, each the median over the runs (and eval stages) that
    recorded it — reused runs included, as their numbers were measured when they ran. The median, not the
    mean, so that one run slowed by another job on the machine does not set the figure."""
    tps = [r["tokens_per_s"] for r in doc["runs"] if r.get("tokens_per_s")]
    rates: dict = {}
    timings = [doc["baseline_timing"]] + [t for r in doc["runs"] for t in (r["eval_timing"] or [])]
    for t in timings:
        for task, v in (t or {}).items():
            if isinstance(v, dict) and v.get("seconds"):
                rates.setdefault(task, []).append(v["items"] / v["seconds"])
    return {"tokens_per_s": statistics.median(tps) if tps else None,
            "eval_items_per_s": {t: statistics.median(v) for t, v in rates.items()}}


def stderr_frame(doc: dict):
    """The standard error of every cell of :func:`table_frame` (same index and headers), from the
    document's tidy evaluation rows."""
    import pandas as pd

    se = table5_scores(pd.DataFrame(doc["evals"]), values="stderr")
    se = se.rename(columns=table5_columns(doc["config"].get("eval_fewshot")))
    return se.reindex(index=table_frame(doc).index, columns=table_frame(doc).columns)


def markdown(doc: dict) -> str:
    df, se = table_frame(doc), stderr_frame(doc)
    tuned = df.drop(index="Pre-trained LLM", level=0, errors="ignore")
    best = {(i, c) for c, i in separated_best(tuned, se.loc[tuned.index]).items()}
    cols = list(df.columns)
    lines = [f"### {doc['title']}", "", f"Profile `{doc['profile']}`; model `{Path(doc['config']['model']).name}`; "
             f"{_env_line(doc)}; {doc['date']}. Each cell: score ± the half-width of its 95% interval "
             f"({Z95:.2f} × the standard error over items). Bold: the best fine-tuned row of a column, only where "
             f"it exceeds the next by more than {Z95:.2f} standard errors of the difference"
             + ("" if best else " (no column has one here)") + ".", "",
             "| model | stage | " + " | ".join(cols) + " |", "| --- | --- |" + " --- |" * len(cols)]
    for (run, stage), row in df.iterrows():
        cells = []
        for c, v in row.items():
            if v != v:
                cells.append("–")
                continue
            e = se.loc[(run, stage), c]
            text = f"{v:.4f} ± {Z95 * e:.4f}" if e == e else f"{v:.4f} ± n/a"  # n/a: fewer than 2 items (per subject)
            cells.append(f"**{text}**" if ((run, stage), c) in best else text)
        lines.append(f"| {run} | {stage} | " + " | ".join(cells) + " |")
    widest = float((Z95 * se).max().max()) if se.size else float("nan")
    if widest == widest:
        lines += ["", f"Widest 95% interval: ±{100 * widest:.1f} pp."]
    tp = throughput(doc)
    lines += ["", "Paper (LLaMA-7B, Alpaca-52K): " + _paper_line(doc), ""]
    if doc.get("compute_time_s"):
        lines.append(f"Compute time: {doc['compute_time_s'] / 3600:.2f} h of fine-tuning and scoring, summed over the "
                     f"sittings the run was made in (this sitting's wall time: {doc['wall_time_s'] / 3600:.2f} h).")
    if tp["tokens_per_s"]:
        lines.append(f"Fine-tuning: {tp['tokens_per_s']:.0f} tokens/s (median over runs). Evaluation items/s: "
                     + ", ".join(f"{t} {v:.2f}" for t, v in tp["eval_items_per_s"].items()) + ".")
    lines.append("Items scored: " + _items_line(doc) + "; ARC/HellaSwag few-shot examples drawn (seeded) from other "
                 "items of the same split (no training split here), MMLU's from its dev split.")
    lines.append("Scored as lm-evaluation-harness 0.4.13 scores each item (tested equal per item), with these differences "
                 "from its standard tasks: the ARC/HellaSwag few-shot source above (lm-eval: their training splits); "
                 "HellaSwag's ctx_b keeps its lower-case start (the local file does not mark where ctx_a ends; lm-eval "
                 "capitalises it); MMLU is the unweighted mean over subjects, as the paper's Table V (lm-eval's mmlu group "
                 "weights subjects by size, i.e. the mean over items: the evaluation rows keep it too).")
    shots = doc["config"].get("eval_fewshot")
    if shots:
        lines.append("Few-shot examples per item set by the profile, not the paper's: "
                     + ", ".join(f"{t} {k} (paper {PAPER_FEWSHOT[t]})" for t, k in shots.items()) + ".")
    bad = [r for r in doc["runs"] if r["status"] != "complete"]
    for r in bad:
        lines.append(f"- {r['label']}: {r['status']} — {r['message']}")
    return "\n".join(lines) + "\n"


def _items_line(doc) -> str:
    n = doc["config"].get("eval_limit")
    subj = doc["config"].get("eval_subjects")
    lim = n if isinstance(n, dict) else {t: n for t in doc["tasks"]}
    parts = []
    for t in doc["tasks"]:
        k = lim.get(t)
        if t == "mmlu":
            where = f"{len(subj)} subjects" if subj else "each of the 57 subjects"
            parts.append(f"mmlu {'all' if k is None else f'the first {k}'} of {where}")
        else:
            parts.append(f"{t} {'all' if k is None else f'the first {k}'}")
    return ", ".join(parts)


def _paper_line(doc) -> str:
    p = paper_frame(doc)
    best = best_per_column(p.drop(index="Pre-trained LLM", level=0))
    return "; ".join(f"best {c} {p.loc[best[c], c]:.4f} ({best[c][0]}, {best[c][1]})" for c in p.columns)


def _env_line(doc) -> str:
    e = doc.get("environment") or {}
    dev = e.get("gpu") or f"CPU {e.get('device_name') or e.get('processor', '')} x{e.get('threads', '?')} threads"
    return f"{dev}, torch {e.get('torch', '?')}, transformers {e.get('transformers', '?')}"


def plot_fig7_of(doc: dict, path=None):
    """Fig. 7 of a results document: the runs' LR and loss curves, and (c) their Table V scores at the
    last epoch beside the baseline's, with 95% intervals."""
    import pandas as pd

    from .fig7 import FIG7_COLORS, plot_fig7

    runs = {r["label"]: {"curves": r["curves"]} for r in doc["runs"]}
    colors = {r["label"]: FIG7_COLORS.get(r["key"]) for r in doc["runs"]}
    spe = next((r["steps_per_epoch"] for r in doc["runs"] if r["steps_per_epoch"]), None)
    ev = pd.DataFrame(doc["evals"])
    scores = ev[ev["metric"] == ev["task"].map(TABLE5_METRIC)] if len(ev) else None
    return plot_fig7(runs, steps_per_epoch=spe, colors=colors if all(colors.values()) else None, path=path,
                     title=f"Fig. 7 ({doc['profile']} profile)", scores=scores,
                     baseline=doc.get("baseline_label", "Pre-trained LLM"))
