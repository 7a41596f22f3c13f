"""Per-item checkpoints of a task's scoring, so that a long evaluation interrupted anywhere keeps every
chunk of items it finished.

A checkpoint is a JSON-lines file: a header line ``{"settings": ...}`` (what makes the scores: task,
shots, seed, limits, model, scoring path), then one line per finished chunk ``{"seconds": s,
"records": [...]}`` holding each item's log-likelihoods and metrics. A line is appended only when its
chunk is done and is written whole, so a reader trusts every complete line and drops a torn last one.
A header that differs from the current settings means the file describes other scores: it is started
afresh.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional

from lrkit.train.jsonsafe import json_safe


def item_key(subject: Optional[str], index: int) -> str:
    """An item's identity within one task (MMLU numbers its items per subject)."""
    return f"{subject or ''}/{int(index)}"


class TaskCheckpoint:
    """The scored items of one task under one set of settings, kept in ``path``."""

    def __init__(self, path: Path, settings: dict):
        self.path = Path(path)
        self.settings = json_safe(settings)
        self.records: dict[str, dict] = {}
        self.seconds = 0.0
        if self.path.exists():
            self._read()
        if not self.records:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"settings": self.settings}) + "\n")

    def _read(self) -> None:
        lines = self.path.read_text().split("\n")
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError:
            return
        if header.get("settings") != self.settings:
            return
        complete = 0
        for line in lines[1:]:
            try:
                chunk = json.loads(line)
            except json.JSONDecodeError:
                break  # an empty or torn last line: the chunk it was writing did not finish
            complete += 1
            self.seconds += float(chunk["seconds"])
            for rec in chunk["records"]:
                self.records[item_key(rec["subject"], rec["index"])] = rec
        if self.records:  # rewrite without a torn tail, so the next append starts on a fresh line
            self.path.write_text("\n".join(lines[:1 + complete]) + "\n")

    def done(self, subject: Optional[str], index: int) -> bool:
        return item_key(subject, index) in self.records

    def append(self, records: Iterable[dict], seconds: float) -> None:
        """Store a finished chunk of item records and the seconds it took."""
        records = [json_safe(r) for r in records]
        with self.path.open("a") as f:
            f.write(json.dumps({"seconds": seconds, "records": records}) + "\n")
            f.flush()
        self.seconds += seconds
        for rec in records:
            self.records[item_key(rec["subject"], rec["index"])] = rec
