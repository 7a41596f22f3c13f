"""The evaluation runner: :func:`evaluate` scores a causal LM on the paper's four tasks and returns an
:class:`EvalResult`.

One number per task goes into Table V (:meth:`EvalResult.scores`), the choices of the Open LLM
Leaderboard (v1), which ran the same lm-eval tasks with the same shot counts:

* ``arc``        — acc_norm (25-shot ARC-Challenge)
* ``hellaswag``  — acc_norm (10-shot)
* ``mmlu``       — acc averaged over the 57 subjects (unweighted, as the Open LLM Leaderboard did); the
  table also has ``acc_weighted``, the subjects weighted by their sizes (= the mean over items), which
  is what lm-eval's ``mmlu`` group reports (its ``weight_by_size: True``, lm-eval 0.4.13)
* ``truthfulqa`` — mc2 (0-shot)

The table's ``stderr`` is lm-eval's standard error of a mean (sample std / sqrt(n)); for MMLU's
subject average it is ``sqrt(sum_s stderr_s^2) / S`` (the standard error of a mean of independent
subject means). Formats, few-shot draws and metric formulas: :mod:`lrkit.llm.eval.tasks`; scoring:
:mod:`lrkit.llm.eval.scoring`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

import numpy as np
import pandas as pd

from lrkit.train.jsonsafe import json_safe

from .checkpoint import item_key
from .scoring import loglikelihood
from .tasks import DEFAULT_FEWSHOT, PRIMARY_METRIC, SPECS, TASKS, mean_stderr

COLUMNS = ["task", "metric", "value", "stderr", "n", "num_fewshot", "fewshot_source"]


@dataclass
class EvalResult:
    """What :func:`evaluate` returns.

    Attributes:
        table: tidy DataFrame, one row per (task, metric): task, metric, value, stderr, n, num_fewshot,
            fewshot_source. MMLU adds one ``mmlu_<subject>`` row per subject.
        timing: ``{task: {"items", "requests", "seconds", "items_per_s"}}``.
        config: the settings of the run.
        details: ``{task: DataFrame}`` of per-item results (index, subject, gold, lls, metrics).
    """

    table: pd.DataFrame
    timing: dict[str, dict[str, float]]
    config: dict[str, Any] = field(default_factory=dict)
    details: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def scores(self) -> dict[str, float]:
        """The Table V number of each evaluated task (arc/hellaswag acc_norm, mmlu subject-mean acc,
        truthfulqa mc2)."""
        out = {}
        for task in self.config.get("tasks", TASKS):
            row = self.table[(self.table.task == task) & (self.table.metric == PRIMARY_METRIC[task])]
            if len(row):
                out[task] = float(row.value.iloc[0])
        return out

    def to_dict(self, details: bool = False) -> dict[str, Any]:
        """JSON-serialisable: ``{"scores", "table" (records), "timing", "config"[, "details"]}``; NaN → None."""
        d = {"scores": self.scores(), "table": self.table.to_dict(orient="records"), "timing": self.timing,
             "config": self.config}
        if details:
            d["details"] = {t: df.to_dict(orient="records") for t, df in self.details.items()}
        return json_safe(d, nonfinite="null")

    def to_json(self, path=None, details: bool = False, indent: int = 2) -> str:
        """The :meth:`to_dict` as JSON text, also written to ``path`` when given."""
        text = json.dumps(self.to_dict(details=details), indent=indent)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return text

    def summary(self) -> pd.DataFrame:
        """The table without MMLU's per-subject rows."""
        return self.table[self.table.task.isin(TASKS)].reset_index(drop=True)

    def __repr__(self) -> str:
        return f"EvalResult(scores={self.scores()})\n{self.summary().to_string(index=False)}"

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def check_tasks(tasks) -> tuple[str, ...]:
    """``tasks`` (a name or names among :data:`TASKS`) as a tuple without repeats, or a ValueError naming the field."""
    if isinstance(tasks, str):
        tasks = (tasks,)
    tasks = tuple(tasks)
    if not tasks:
        raise ValueError(f"evaluate: field 'tasks' must name at least one of {', '.join(TASKS)}")
    for t in tasks:
        if t not in TASKS:
            raise ValueError(f"evaluate: field 'tasks' must be among {', '.join(TASKS)}, got {t!r}")
    return tuple(dict.fromkeys(tasks))


def _check_fewshot(num_fewshot: Optional[Mapping[str, int]], field: str = "evaluate: field 'num_fewshot'") -> dict[str, int]:
    """The shots per task: the defaults with ``num_fewshot``'s overrides; a bad value raises, naming ``field``."""
    ks = dict(DEFAULT_FEWSHOT)
    if num_fewshot is None:
        return ks
    if not isinstance(num_fewshot, Mapping):
        raise ValueError(f"{field} must be a dict {{task: k}} over {', '.join(TASKS)}, got {num_fewshot!r}")
    for t, k in num_fewshot.items():
        if t not in TASKS:
            raise ValueError(f"{field} keys must be among {', '.join(TASKS)}, got {t!r}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"{field} of {t} must be an int >= 0, got {k!r}")
        ks[t] = int(k)
    return ks


def _rows(task: str, metrics: Iterable[str], per_item: pd.DataFrame, k: int, source: str) -> list[dict]:
    return [{"task": task, "metric": m, "value": float(per_item[m].mean()), "stderr": mean_stderr(per_item[m]),
             "n": int(len(per_item)), "num_fewshot": k, "fewshot_source": source} for m in metrics]


def _mmlu_rows(per_item: pd.DataFrame, k: int, source: str) -> list[dict]:
    subjects = [_rows(f"mmlu_{s}", ["acc"], df, k, source)[0] for s, df in per_item.groupby("subject", sort=True)]
    accs = np.array([r["value"] for r in subjects])
    ses = np.array([r["stderr"] for r in subjects])
    macro = {"task": "mmlu", "metric": "acc", "value": float(accs.mean()),
             "stderr": float(math.sqrt(float(np.sum(ses ** 2))) / len(ses)), "n": int(len(per_item)),
             "num_fewshot": k, "fewshot_source": source}
    weighted = _rows("mmlu", ["acc"], per_item, k, source)[0]  # subjects weighted by size = the mean over items
    weighted["metric"] = "acc_weighted"
    return [macro, weighted] + subjects


def _item_lls(model, tokenizer, items, **score) -> list[list[float]]:
    """Each item's continuation log-likelihoods, in item order."""
    results = loglikelihood(model, tokenizer, [r for it in items for r in it.requests], **score)
    out, pos = [], 0
    for it in items:
        out.append([ll for ll, _ in results[pos:pos + len(it.continuations)]])
        pos += len(it.continuations)
    return out


def _item_lls_checkpointed(model, tokenizer, items, path: Path, settings: dict, chunk_items: int, t0: float, *,
                           progress: bool, desc: str, **score) -> tuple[list[list[float]], float]:
    """:func:`_item_lls` over the items not yet in the checkpoint at ``path``, ``chunk_items`` at a time,
    each chunk appended as it finishes; returns every item's log-likelihoods and the seconds of all
    sittings (this one's from ``t0``)."""
    from tqdm.auto import tqdm

    from .checkpoint import TaskCheckpoint

    ck = TaskCheckpoint(path, settings)
    todo = [it for it in items if not ck.done(it.subject, it.index)]
    with tqdm(total=len(items), initial=len(items) - len(todo), desc=desc, disable=not progress, unit="item") as bar:
        for start in range(0, len(todo), chunk_items):
            chunk, c0 = todo[start:start + chunk_items], time.perf_counter()
            lls = _item_lls(model, tokenizer, chunk, progress=False, **score)
            ck.append([{"index": it.index, "subject": it.subject, "lls": ll} for it, ll in zip(chunk, lls)],
                      time.perf_counter() - (t0 if start == 0 else c0))  # the first chunk carries the set-up
            bar.update(len(chunk))
    lls = [[float(v) for v in ck.records[item_key(it.subject, it.index)]["lls"]] for it in items]
    return lls, ck.seconds if todo else ck.seconds + (time.perf_counter() - t0)


def evaluate(model, tokenizer, tasks: Union[str, Iterable[str]] = TASKS, *,
             limit: Union[None, int, Mapping[str, Optional[int]]] = None, subjects: Optional[Iterable[str]] = None,
             seed: int = 1234, num_fewshot: Optional[Mapping[str, int]] = None, batch_size: int = 8, data_dir=None,
             device=None, progress: bool = True, fast: bool = True, max_length: Optional[int] = None,
             checkpoint_dir=None, chunk_items: int = 50) -> EvalResult:
    """Score ``model`` on the paper's LLM tasks by log-likelihood, as lm-evaluation-harness does.

    Args:
        model, tokenizer: a Hugging Face causal LM (peft-wrapped or not) and its tokenizer.
        tasks: any of ``"arc"``, ``"hellaswag"``, ``"mmlu"``, ``"truthfulqa"`` (all four by default).
        limit: evaluate only the first ``limit`` items of each task — of each *subject* for MMLU (so
            ``limit=3`` scores 57 x 3 MMLU items); the few-shot pool stays the whole split. A mapping
            ``{task: n}`` gives each task its own limit (a task left out: no limit).
        subjects: MMLU only: score these subjects (file stems, e.g. ``"anatomy"``), not all 57; the
            reported acc is then their mean (the table's ``fewshot_source`` is unchanged, ``n`` says how many).
        seed: seeds the few-shot draws of ARC and HellaSwag (from other items of the same split).
        num_fewshot: ``{task: k}`` overriding the paper's 25 / 10 / 2 / 0 shots (truthfulqa only 0).
        batch_size: contexts per forward (fast path) or sequences per forward (reference path).
        data_dir: the folder of the evaluation files; None = ``$LRKIT_DATA_DIR/llm/eval``.
        device: where inputs go (None = the model's device; the model is not moved).
        progress: tqdm bars.
        fast: the KV-cache scoring path (each context once); False = the reference path. Equal results.
        max_length: longest model input (None = from the model's config).
        checkpoint_dir: a folder where each task's scored items are appended, ``chunk_items`` at a time,
            to ``<task>.partial.jsonl`` (:mod:`lrkit.llm.eval.checkpoint`); a later call with the same
            settings scores only the items not there, and the timing adds up the seconds of every
            sitting. The files stay: delete them once the results are stored. None = no checkpoint.
        chunk_items: items per checkpointed chunk.

    Returns:
        :class:`EvalResult` (``.table``, ``.scores()``, ``.timing``, ``.to_dict()``).
    """
    tasks = check_tasks(tasks)
    ks = _check_fewshot(num_fewshot)
    limits = dict(limit) if isinstance(limit, Mapping) else {t: limit for t in tasks}
    bad = sorted(set(limits) - set(TASKS))
    if bad:
        raise ValueError(f"evaluate: field 'limit' names unknown task(s) {bad}; allowed: {', '.join(TASKS)}")
    for lim in limits.values():
        if lim is not None and (isinstance(lim, bool) or not isinstance(lim, (int, np.integer)) or lim < 1):
            raise ValueError(f"evaluate: field 'limit' must be None, a positive int or {{task: int}}, got {limit!r}")
    limits = {t: None if limits.get(t) is None else int(limits[t]) for t in tasks}
    subjects = None if subjects is None else [subjects] if isinstance(subjects, str) else list(subjects)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"evaluate: field 'seed' must be an int, got {seed!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"evaluate: field 'batch_size' must be a positive int, got {batch_size!r}")
    if isinstance(chunk_items, bool) or not isinstance(chunk_items, int) or chunk_items < 1:
        raise ValueError(f"evaluate: field 'chunk_items' must be a positive int, got {chunk_items!r}")
    base = getattr(model, "get_base_model", lambda: model)()
    model_name = getattr(getattr(base, "config", None), "_name_or_path", None) or type(base).__name__

    rows: list[dict] = []
    timing: dict[str, dict[str, float]] = {}
    details: dict[str, pd.DataFrame] = {}
    for task in tasks:
        spec, k = SPECS[task], ks[task]
        t0 = time.perf_counter()
        items = spec.build(data_dir, k, int(seed), limits[task])
        if task == "mmlu" and subjects is not None:
            known = sorted({it.subject for it in items})
            unknown = [x for x in subjects if x not in known]
            if unknown:
                raise ValueError(f"evaluate: field 'subjects' must name MMLU subjects ({', '.join(known)}), got {unknown}")
            items = [it for it in items if it.subject in set(subjects)]
        score = dict(batch_size=batch_size, device=device, fast=fast, max_length=max_length)
        if checkpoint_dir is None:
            lls = _item_lls(model, tokenizer, items, progress=progress, desc=task, **score)
            seconds = time.perf_counter() - t0
        else:
            settings = {"task": task, "num_fewshot": k, "seed": int(seed), "limit": limits[task], "subjects": subjects,
                        "model": model_name, "fast": bool(fast), "max_length": max_length}
            lls, seconds = _item_lls_checkpointed(model, tokenizer, items, Path(checkpoint_dir) / f"{task}.partial.jsonl",
                                                  settings, chunk_items, t0, progress=progress, desc=task, **score)
        records = [{"index": it.index, "subject": it.subject, "gold": it.gold, "lls": ll, **spec.item_metrics(it, ll)}
                   for it, ll in zip(items, lls)]
        per_item = pd.DataFrame.from_records(records)
        source = spec.fewshot_source(k, int(seed))
        rows += _mmlu_rows(per_item, k, source) if task == "mmlu" else _rows(task, spec.metrics, per_item, k, source)
        n_requests = sum(len(it.continuations) for it in items)
        timing[task] = {"items": len(items), "requests": n_requests, "seconds": seconds,
                        "items_per_s": len(items) / seconds if seconds > 0 else float("inf")}
        details[task] = per_item
    config = {"tasks": list(tasks), "limit": limits, "subjects": subjects, "seed": int(seed), "num_fewshot": {t: ks[t] for t in tasks},
              "batch_size": batch_size, "fast": bool(fast), "max_length": max_length, "model": model_name}
    table = pd.DataFrame(rows, columns=COLUMNS)
    return EvalResult(table=table, timing=timing, config=config, details=details)
