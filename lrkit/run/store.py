"""The run store: finished runs looked up by what was trained, so no run is computed twice.

A run is identified by its key (:func:`lrkit.train.config.run_key`): its :class:`~lrkit.train.config.Task`
— what is trained — and the numerics version of the code that trained it (:mod:`lrkit.numerics`).
Where and how it ran (device, threads, compile, channels-last, denormal flushing) is its runtime,
recorded in the record and shown by the tables when runs of one table differ in it; it is not part
of the key. Two tables that share a run (Table 10 reads its MNIST rows off Table 4's runs) share the
record, and a table interrupted half-way resumes from the runs already in its ``results.json``.

A stored run of another numerics version is not reused: :meth:`RunStore.lookup` says so (``stale``)
and the run is trained again, unless the caller asks for ``other_numerics=True``, in which case the
old record is handed out and the caller marks it.

Sources are read-only: run-record JSON files (``lrkit train --out``), ``results.json`` files written
by :func:`lrkit.reproduce.reproduce`, or folders searched for both. A ``cache`` folder is read and
written (one ``<key>.json`` per run). Only complete and diverged runs are reused; failed or stopped
runs are run again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lrkit.numerics import NUMERICS_VERSION, record_version
from lrkit.train.config import run_key

from .records import USABLE

REUSABLE = USABLE


@dataclass
class Found:
    """What a lookup found: the record (or None), the file it was read from ("" for a run added in
    this session), and the numerics versions of stored runs of the same task that were not used."""

    record: dict | None
    origin: str = ""
    stale: tuple = ()
    other_numerics: bool = False


class RunStore:
    """Finished run records by :func:`run_key` of their config and their numerics version."""

    def __init__(self, sources=(), cache: str | Path | None = None):
        self.records: dict[str, dict] = {}
        self.origin: dict[str, str] = {}
        self.versions: set[int] = set()
        self.cache = Path(cache) if cache else None
        for s in list(sources) + ([self.cache] if self.cache else []):
            self.read(s)

    def __len__(self) -> int:
        return len(self.records)

    def read(self, source: str | Path) -> int:
        """Add the reusable records of a file or folder (searched recursively); returns how many."""
        source = Path(source)
        if not source.exists():
            return 0
        files = sorted(source.rglob("*.json")) if source.is_dir() else [source]
        n = 0
        for f in files:
            try:
                doc = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and "results" in doc and "recipe" in doc:  # a results.json
                recs = [r for res in doc["results"] for r in res.get("records", [])]
            elif isinstance(doc, dict) and "config" in doc and "summary" in doc:  # one run record
                recs = [doc]
            else:
                continue
            for r in recs:
                n += self.add(r, origin=str(f), write=False)
        return n

    def add(self, record: dict, origin: str = "", write: bool = True) -> bool:
        """Keep a finished record (and write it to the cache folder); False if it is not reusable."""
        if record.get("status") not in REUSABLE or not record.get("config"):
            return False
        version = record_version(record)
        try:
            key = run_key(record["config"], version)
        except (ValueError, TypeError):
            return False
        self.records.setdefault(key, record)
        self.origin.setdefault(key, origin)
        self.versions.add(version)
        if write and self.cache is not None:
            self.cache.mkdir(parents=True, exist_ok=True)
            path = self.cache / f"{key}.json"
            if not path.exists():
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(record))
                tmp.replace(path)
        return True

    def find(self, config: dict, other_numerics: bool = False) -> Found:
        """The stored run of this config made by the current numerics version; with ``other_numerics``
        the newest one of another version when there is none of this one (``Found.other_numerics``)."""
        key = run_key(config)
        if key in self.records:
            return Found(self.records[key], self.origin[key])
        stale = []
        for v in sorted(self.versions - {NUMERICS_VERSION}, reverse=True):
            k = run_key(config, v)
            if k in self.records:
                if other_numerics:
                    return Found(self.records[k], self.origin[k], (v,), other_numerics=True)
                stale.append(v)
        return Found(None, "", tuple(stale))

    def get(self, config: dict) -> dict | None:
        """The finished record of this run (current numerics version), or None."""
        return self.find(config).record

    def lookup(self, config: dict) -> tuple[dict | None, str]:
        """(record or None, the file it was read from — "" for runs added in this session)."""
        found = self.find(config)
        return found.record, found.origin

    def where(self, config: dict) -> str:
        """The file a stored run was read from ("" for runs added in this session)."""
        return self.find(config).origin
