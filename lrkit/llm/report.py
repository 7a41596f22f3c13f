"""Table V's layout from tidy evaluation rows: one row per stage, one column per task.

Each task contributes the number Table V (and the Open LLM Leaderboard of its time) reports:
ARC acc_norm, HellaSwag acc_norm, MMLU acc averaged over subjects, TruthfulQA mc2.
"""

from __future__ import annotations

from .eval.tasks import DEFAULT_FEWSHOT

TABLE5_METRIC = {"arc": "acc_norm", "hellaswag": "acc_norm", "mmlu": "acc", "truthfulqa": "mc2"}
TASK_NAMES = {"arc": "ARC", "hellaswag": "HellaSwag", "mmlu": "MMLU", "truthfulqa": "TruthfulQA"}
PAPER_FEWSHOT = DEFAULT_FEWSHOT  # Table V's shots (its headers) are the evaluation's defaults


def table5_columns(fewshot=None) -> dict:
    """{task: header}: Table V's ``ARC(25)`` etc., with the shot counts of ``fewshot`` ({task: k}) where a
    profile overrides the paper's (CI's quick profile scores with fewer shots)."""
    ks = {**PAPER_FEWSHOT, **(fewshot or {})}
    return {t: f"{name}({ks[t]})" for t, name in TASK_NAMES.items()}


TABLE5_COLUMNS = table5_columns()


def table5_scores(evals, columns: str = "task"):
    """``evals`` (tidy: stage, task, metric, value, …; optionally a ``run`` column) → a DataFrame
    indexed by (run,) stage with one column per task (``columns="paper"``: Table V's headers)."""
    import pandas as pd

    if evals is None or len(evals) == 0:
        return pd.DataFrame()
    rows = evals[evals["metric"] == evals["task"].map(TABLE5_METRIC)]
    index = ["run", "stage"] if "run" in rows.columns else ["stage"]
    wide = rows.pivot_table(index=index, columns="task", values="value", sort=False)
    wide = wide[[t for t in TABLE5_METRIC if t in wide.columns]]
    wide.columns.name = None
    if columns == "paper":
        wide = wide.rename(columns=TABLE5_COLUMNS)
    return wide


def best_per_column(wide):
    """{column: index label of its highest value} (Table V marks the best of each column; the first
    of tied rows — :func:`best_cells` gives all of them)."""
    return {c: wide[c].idxmax() for c in wide.columns if wide[c].notna().any()}


def best_cells(wide, rel_tol: float = 1e-9) -> set:
    """{(index label, column)} of every cell equal to its column's maximum (ties all marked)."""
    out = set()
    for c in wide.columns:
        col = wide[c]
        if col.notna().any():
            top = col.max()
            out |= {(i, c) for i, v in col.items() if v == v and abs(v - top) <= rel_tol * max(1.0, abs(top))}
    return out
