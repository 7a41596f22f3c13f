"""Import and export: the papers' published tables, run records, results files and export documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lrkit.train.jsonsafe import json_safe

from .models import Curve, Run, pack_curve, unpack_curve
from .queries import _run_dict
from .schema import SCHEMA_VERSION
from .session import DatabaseError
from .tasks import TASK_FIELDS

EXPORT_FORMAT = "lrkit-db-export"


class _Transfer:
    """Import and export (a part of :class:`lrkit.db.Database`)."""

    def import_published(self, paths: Iterable[str | Path] | None = None) -> int:
        """Load the papers' tables shipped in ``lrkit/db/published`` (or ``paths``); a table already
        imported (same source) is skipped. Each table is written in one transaction, so an interrupted
        import never leaves half a table behind. Returns the number of rows added."""
        from .published import load_tables

        def import_table(s, table) -> int:
            source = table["source_label"]
            if s.scalar(select(Run.id).where(Run.source == source).limit(1)) is not None:
                return 0
            for row in table["rows"]:
                self._add_result(s, row["task"], row["policy"], row["summary"], source=source, label=row.get("label"),
                                 extra=row.get("extra"))
            return len(table["rows"])

        return sum(self._write(lambda s, t=table: import_table(s, t)) for table in load_tables(paths))

    def import_file(self, path: str | Path) -> int:
        """Import a file: an ``lrkit db export`` document, a published table, a run record, or a
        reproduction's ``results.json``. Returns the number of runs added."""
        from .published import is_table, load_table

        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise DatabaseError(f"cannot read {path}: {e}") from e
        if isinstance(doc, dict) and doc.get("format") == EXPORT_FORMAT:
            return self._import_export(doc)
        if is_table(doc):
            load_table(path)  # validates it
            return self.import_published([path])
        if isinstance(doc, dict) and "curves" in doc and "config" in doc:
            self.record_run(doc, source=f"file:{path.name}")
            return 1
        if isinstance(doc, dict) and isinstance(doc.get("runs"), list):  # lrkit reproduce results.json
            n = 0
            for r in doc["runs"]:
                rec = r.get("record", r)
                if isinstance(rec, dict) and "config" in rec:
                    self.record_run(rec, source=f"file:{path.name}")
                    n += 1
            return n
        raise DatabaseError(f"{path}: not an lrkit export, published table, run record or results.json")

    def export(self, *, curves: bool = False, **filters) -> dict:
        """Every run matching ``filters`` (see :meth:`runs`) as one JSON-safe document."""
        out = []
        with self._session() as s:
            for run in s.scalars(self._run_query(**filters).options(selectinload(Run.curves))):
                d = _run_dict(run)
                if curves:
                    d["curves"] = {c.name: json_safe(unpack_curve(c.length, c.data).tolist()) for c in run.curves}
                out.append(d)
        return {"format": EXPORT_FORMAT, "version": SCHEMA_VERSION, "runs": out}

    def _import_export(self, doc: dict) -> int:
        n = 0
        for r in doc["runs"]:
            task = {f: r["task"].get(f) for f in TASK_FIELDS}
            if r.get("curves") or r["status"] == "running":
                rid = self.start_run(task, r["policy"], seed=r.get("seed"), device=r.get("device"), config=r.get("config"),
                                     environment=r.get("environment"), source=r.get("source", "import"),
                                     label=r.get("label"))
                if r["status"] != "running":
                    self.finish_run(rid, {"curves": {}, "evals": {}}, status=r["status"], summary=r.get("summary") or {},
                                    message=r.get("message"))
                    if r.get("curves"):
                        self._put_curves(rid, r["curves"])
            else:
                self.add_result(task, r["policy"], r.get("summary") or {}, status=r["status"],
                                source=r.get("source", "import"), label=r.get("label"), seed=r.get("seed"))
            n += 1
        return n

    def _put_curves(self, run_id: int, curves: Mapping[str, list]) -> None:
        def work(s):
            run = s.get(Run, run_id)
            for name, values in curves.items():
                n, blob = pack_curve(values)
                run.curves.append(Curve(name=name, length=n, data=blob))

        self._write(work)
