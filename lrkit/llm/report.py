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


#: the two-sided 95% normal quantile: a cell's interval is value ± Z95 · stderr
Z95 = 1.959963984540054


def table5_scores(evals, columns: str = "task", values: str = "value"):
    """``evals`` (tidy: stage, task, metric, value, stderr, …; optionally a ``run`` column) → a DataFrame
    indexed by (run,) stage with one column per task (``columns="paper"``: Table V's headers);
    ``values="stderr"`` gives the standard errors in the same layout."""
    import pandas as pd

    if evals is None or len(evals) == 0:
        return pd.DataFrame()
    rows = evals[evals["metric"] == evals["task"].map(TABLE5_METRIC)]
    index = ["run", "stage"] if "run" in rows.columns else ["stage"]
    wide = rows.pivot_table(index=index, columns="task", values=values, sort=False)
    wide = wide[[t for t in TABLE5_METRIC if t in wide.columns]]
    wide.columns.name = None
    if columns == "paper":
        wide = wide.rename(columns=TABLE5_COLUMNS)
    return wide


def best_per_column(wide):
    """{column: index label of its highest value} (Table V marks the best of each column; the first
    of tied rows — :func:`best_cells` gives all of them)."""
    return {c: wide[c].idxmax() for c in wide.columns if wide[c].notna().any()}



def separated_best(wide, stderr, z: float = Z95, paired: dict | None = None) -> dict:
    """{column: index label} of the columns whose best cell is separated from the next best: the
    difference of the two exceeds ``z`` times its standard error. That error is the paired one of
    ``paired[(best, next, column)]`` (an entry of :mod:`lrkit.llm.compare`) where the two rows kept
    their items, else ``sqrt(se_best² + se_next²)`` (the two scores taken as independent, which for
    scores of the same items overstates the error, so a separation found holds). Columns without one
    (ties, overlapping intervals, missing errors) are left out: no best is claimed there."""
    import math

    out = {}
    for c in wide.columns:
        col = wide[c].dropna().sort_values(ascending=False, kind="stable")
        if len(col) < 2:
            continue
        (i1, v1), (i2, v2) = list(col.items())[:2]
        entry = (paired or {}).get((i1, i2, c))
        if entry is not None and entry.get("se") is not None:
            se = entry["se"]
        else:
            s1, s2 = stderr.loc[i1, c], stderr.loc[i2, c]
            se = math.sqrt(s1 ** 2 + s2 ** 2)
        if se == se and v1 - v2 > z * se:
            out[c] = i1
    return out
