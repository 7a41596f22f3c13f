"""Render committed tables again from their runs: ``python -m lrkit.reproduce.render FOLDER...``.

For each folder that holds a table's ``results.json`` (or each such folder under a folder given), the
table is made again by today's code and recipe from the runs it holds — :func:`lrkit.reproduce.reproduce`
with ``resume=True``, ``missing="skip"`` and the folder's siblings as the run store, so nothing trains,
where each run came from (``reused_from``) is worked out again, and ``results.json``, ``table.md`` and
``curves.png`` are rewritten. A test keeps every committed table equal to what the code renders from its
runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .runner import reproduce


def tables_under(path: Path) -> list[Path]:
    """The table folders at or under ``path`` (those whose results.json names a recipe)."""
    path = Path(path)
    candidates = [path] if (path / "results.json").is_file() else sorted(p.parent for p in path.glob("*/results.json"))
    return [p for p in candidates if "recipe" in json.loads((p / "results.json").read_text())]


def render(folder: Path) -> dict:
    """Make ``folder``'s table again from the runs it and its sibling tables hold; returns the document."""
    folder = Path(folder)
    doc = json.loads((folder / "results.json").read_text())
    repeats = max([len(res["records"]) for res in doc["results"]] or [1])
    return reproduce(doc["recipe"], doc["profile"], repeats=repeats, out=folder, progress=False, resume=True,
                     reuse=[folder.parent], missing="skip")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m lrkit.reproduce.render FOLDER [FOLDER ...]", file=sys.stderr)
        return 2
    for folder in [t for a in argv for t in tables_under(Path(a))]:
        render(folder)
        print(f"rendered {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
