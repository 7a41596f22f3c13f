"""The papers' published results, shipped as JSON tables in ``lrkit/db/published/`` (format in its
README.md), turned into database rows so recommendations work on a fresh install.

Each row is stored as a ``complete`` run without curves whose ``source`` names the paper file and
table (``paper:004_c2aa064785a8cb4d.txt#Table 4``) and whose summary holds the table's numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from .tasks import TASK_FIELDS
from .writes import SUMMARY_FIELDS

PUBLISHED_DIR = Path(__file__).with_name("published")
_RENAMED = {"lambda": "lam"}
_ROW_KEYS_NOT_SUMMARY = ("policy", "task", "label")


def is_table(doc) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("source"), dict) and isinstance(doc.get("rows"), list) \
        and "task" in doc


def table_files() -> list[Path]:
    return sorted(PUBLISHED_DIR.glob("*.json"))


def source_label(source: dict) -> str:
    return f"paper:{source['file']}#{source['table']}"


def load_table(path: str | Path) -> dict:
    """One table as ``{"source_label", "source", "rows": [{"task", "policy", "summary", "label", "extra"}]}``."""
    path = Path(path)
    doc = json.loads(path.read_text())
    if not is_table(doc):
        raise ValueError(f"{path}: not a published table (needs 'source', 'task' and 'rows')")
    rows = []
    for i, r in enumerate(doc["rows"]):
        if not r.get("policy"):
            raise ValueError(f"{path}: row {i} has no 'policy'")
        task = {**doc["task"], **(r.get("task") or {})}
        extra = {k: task.pop(k) for k in list(task) if k not in TASK_FIELDS}
        summary, row_extra = {}, {}
        for k, v in r.items():
            if k in _ROW_KEYS_NOT_SUMMARY:
                continue
            k2 = _RENAMED.get(k, k)
            scalar = v is None or isinstance(v, (int, float))
            if k2 in SUMMARY_FIELDS and scalar:
                summary[k2] = v
            else:  # other numbers, and a list where the table gives several (e.g. the λ of a search)
                row_extra[k if k2 in SUMMARY_FIELDS else k2] = v
        if task.get("iterations") is not None and summary.get("iterations") is None:
            summary["iterations"] = task["iterations"]
        rows.append({"task": task, "policy": r["policy"], "summary": summary, "label": r.get("label"),
                     "extra": {**extra, **row_extra}})
    return {"source_label": source_label(doc["source"]), "source": doc["source"], "rows": rows, "path": str(path)}


def load_tables(paths: Iterable[str | Path] | None = None) -> list[dict]:
    """Every shipped table (or the given files)."""
    return [load_table(p) for p in (table_files() if paths is None else paths)]
