"""The papers' numbers a recipe compares with: the transcribed tables of ``lrkit/db/published/``.

Read as files (not through :mod:`lrkit.db`, which needs SQLAlchemy), so a recipe loads wherever lrkit does.
"""

from __future__ import annotations

import json
from pathlib import Path

#: the folder :mod:`lrkit.db.published` reads
PUBLISHED_DIR = Path(__file__).resolve().parents[1] / "db" / "published"

#: published row field -> table recipe ``paper`` field, and the factor it is multiplied by (fraction -> percent)
PAPER_FIELDS = {"highest_top1": ("highest_top1", 100.0), "highest_top1_std": ("std", 100.0),
                "highest_top5": ("highest_top5", 100.0), "highest_top1_iteration": ("iter_at_highest", None),
                "iterations_to_target": ("iters_to_target", None), "target_acc": ("target", None),
                "speedup": ("speedup", None)}


def published_table(name: str) -> dict:
    """The transcribed table ``lrkit/db/published/<name>.json`` (``name`` with or without ``.json``);
    a name that is none of them raises, listing those there are."""
    stem = name[:-5] if name.endswith(".json") else name
    path = PUBLISHED_DIR / f"{stem}.json"
    if not path.exists():
        names = sorted(p.stem for p in PUBLISHED_DIR.glob("*.json"))
        raise ValueError(f"field 'published' must name a table of lrkit/db/published ({', '.join(names)}), got {name!r}")
    return json.loads(path.read_text())


def published_rows(name: str, where: dict | None = None, task: dict | None = None) -> list[dict]:
    """Table recipe rows from a transcribed table: policy, category, label, optimizer and the paper's numbers
    (accuracies in percent).

    where: keep the rows whose task (the table's, with the row's overrides) has these values.
    task: the recipe's task; a row whose optimizer differs from it gets an ``optimizer`` override.
    """
    doc = published_table(name)
    rows = []
    for r in doc["rows"]:
        rtask = {**doc["task"], **r.get("task", {})}
        if where and any(rtask.get(k) != v for k, v in where.items()):
            continue
        row = {"policy": r["policy"], "category": r.get("category", "")}
        if r.get("label"):
            row["label"] = r["label"]
        opt = r.get("task", {}).get("optimizer")
        if opt and opt != (task or {}).get("optimizer"):
            row["optimizer"] = opt
        paper = {}
        for src, (dst, scale) in PAPER_FIELDS.items():
            if src in r:
                v = r[src]
                paper[dst] = None if v is None else (round(v * scale, 6) if scale else v)  # None: never reached
        if r.get("note"):
            paper["note"] = r["note"]
        row["paper"] = paper
        rows.append(row)
    return rows


def published_scores(name: str, tasks: list[str]) -> dict:
    """Per-epoch scores of a table that reports ``metrics`` per epoch (000 Table V): ``{"rows": {label:
    [[score per task] per epoch]}, "baseline": [score per task]}`` (the epoch-0 row of its unparsed rows)."""
    doc = published_table(name)
    rows: dict[str, list] = {}
    for r in sorted(doc["rows"], key=lambda r: r.get("epochs", 0)):
        rows.setdefault(r["label"], []).append([r["metrics"][t] for t in tasks])
    base = next((r for r in doc.get("unparsed", []) if r.get("epochs") == 0 and "metrics" in r), None)
    return {"rows": rows, "baseline": [base["metrics"][t] for t in tasks] if base else None}
