"""Which differences between Table V's rows are significant.

Two rows of Table V score the same items, so the difference of two scores is best judged item by item:
with ``d_i = x_i - y_i`` the per-item difference of the task's metric (acc_norm, acc or mc2) on item
``i`` in both,

* the difference is ``mean_i d_i`` and its standard error ``std(d, ddof=1) / sqrt(n)`` (paired);
* for MMLU's mean over subjects, ``mean_s mean_{i in s} d_i`` with error ``sqrt(sum_s se_s^2) / S``,
  ``se_s`` the paired error within subject ``s`` — the same form as the score's own error
  (:mod:`lrkit.llm.eval.harness`).

The paired error is smaller than the unpaired ``sqrt(se_x^2 + se_y^2)`` wherever the two rows agree on
most items (a fine-tuned model and its base model do). Where either row did not keep its items (a stage
scored before items were stored, or an unstaged profile), the difference falls back to the unpaired
error, which overstates it, so a difference found significant there holds too; each entry says which
it used. A difference is significant when ``|difference| > Z95 * standard error``.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .eval.tasks import mean_stderr
from .report import TABLE5_METRIC, Z95


def paired_difference(a, b, task: str) -> Optional[dict]:
    """``a - b`` for ``task``'s Table V metric over the items both per-item frames hold (matched by
    subject and index), with its paired standard error; None if they share fewer than 2 items."""
    metric = TABLE5_METRIC[task]
    keys = ["subject", "index"]
    left = a[keys + [metric]].assign(subject=a["subject"].map(_subject))
    right = b[keys + [metric]].assign(subject=b["subject"].map(_subject))
    both = left.merge(right, on=keys, suffixes=("_a", "_b"))
    if len(both) < 2:
        return None
    d = both[f"{metric}_a"].to_numpy(float) - both[f"{metric}_b"].to_numpy(float)
    if task == "mmlu":
        groups = [d[(both["subject"] == s).to_numpy()] for s in sorted(both["subject"].unique())]
        diff = float(np.mean([g.mean() for g in groups]))
        errors = np.array([mean_stderr(g) for g in groups])
        se = float(math.sqrt(float(np.sum(errors ** 2))) / len(groups))
    else:
        diff, se = float(d.mean()), mean_stderr(d)
    return {"diff": diff, "se": se, "n": int(len(both)), "paired": True}


def _subject(s) -> str:
    """An item's subject as a join key: MMLU's name, "" for tasks without subjects (None or NaN when read back)."""
    return "" if s is None or s != s else str(s)


def unpaired_difference(value_a: float, se_a: float, value_b: float, se_b: float) -> dict:
    """``a - b`` with the error of two independent scores (an overstatement for scores of the same items)."""
    return {"diff": float(value_a - value_b), "se": float(math.sqrt(se_a ** 2 + se_b ** 2)), "n": None, "paired": False}


def significant(entry: dict, z: float = Z95) -> bool:
    """The entry's 95% interval (``z`` standard errors) excludes 0."""
    se = entry.get("se")
    return se is not None and se == se and abs(entry["diff"]) > z * se


def compared_rows(values, baseline_label: str) -> list:
    """The rows whose differences Table V reports: the baseline's, then each run's last scored stage, in
    table order (``values``: indexed by (run, stage))."""
    last: dict = {}
    for run, stage in values.index:
        last[run] = (run, stage)
    base = [last.pop(baseline_label)] if baseline_label in last else []
    return base + list(last.values())


def stage_differences(values, errors, items: dict, rows: list) -> list[dict]:
    """Every pair of ``rows`` (index labels (run, stage) of ``values``) and every task: the difference of
    the earlier-listed row minus the later, paired where ``items[(row, task)]`` holds both rows' per-item
    frames, else unpaired from ``values`` and ``errors`` (Table V's wide frames, one column per task).
    Pairs with a missing score are left out."""
    out = []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            for task in values.columns:
                va, vb = values.loc[a, task], values.loc[b, task]
                if va != va or vb != vb:
                    continue
                ia, ib = items.get((a, task)), items.get((b, task))
                entry = paired_difference(ia, ib, task) if ia is not None and ib is not None else None
                if entry is None:
                    entry = unpaired_difference(va, errors.loc[a, task], vb, errors.loc[b, task])
                out.append({"task": task, "a": list(a), "b": list(b), **entry})
    return out


def difference_lookup(entries: list[dict]) -> dict:
    """``{(row_a, row_b, task): entry}`` for both orders of each pair (the reversed entry negated)."""
    out = {}
    for e in entries:
        a, b = tuple(e["a"]), tuple(e["b"])
        out[(a, b, e["task"])] = e
        out[(b, a, e["task"])] = {**e, "a": e["b"], "b": e["a"], "diff": -e["diff"]}
    return out
