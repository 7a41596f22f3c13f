"""The run store: finished runs looked up by what was run, so no run is computed twice.

A run is identified by its :class:`~lrkit.train.TrainConfig` (policy in canonical form; the fields
that do not change what is trained left out: ``threads`` and ``data_root`` say where, ``mopt_every``
only observes the training, ``flush_denormal`` moves values below 1.2e-38 to 0 — less than another thread
count changes through the order of its sums). Two tables that share a run (Table 10 reads
its MNIST rows off Table 4's runs, Table 11's Momentum column is Table 4) share the record, and a
table interrupted half-way resumes from the rows already in its ``results.json``.

Sources are read-only: run-record JSON files (``lrkit train --out``), ``results.json`` files
written by :func:`lrkit.reproduce.reproduce`, or folders searched for both. A ``cache`` folder is
read and written (one ``<key>.json`` per run). Only complete and diverged runs are reused; failed or
stopped runs are run again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

REUSABLE = ("complete", "diverged")
#: TrainConfig fields that do not change what is trained (so not part of a run's key): where it runs
#: (``threads``, ``data_root``), what is observed on the way (``mopt_every``) and the CPU's handling of
#: subnormal floats (``flush_denormal``: a speed setting, see :mod:`lrkit.train.denormal`). A field added
#: here leaves the keys of stored runs, which lack it, unchanged.
_NOT_WHAT_IS_TRAINED = ("threads", "data_root", "mopt_every", "flush_denormal")
#: Fields added after runs were stored: left out of the key while they hold this default, so the
#: keys of the stored runs (which lack them) do not change.
_ADDED_LATER = {"layer_mults": False, "eval_samples": None, "compile": None}


def run_key(config: dict) -> str:
    """A stable hash of what a run is (device and seed included: they change the numbers)."""
    from lrkit.policies import parse
    from lrkit.train import TrainConfig

    d = TrainConfig.from_dict(config).to_dict()
    d["policy"] = str(parse(d["policy"]))
    for k in _NOT_WHAT_IS_TRAINED:
        d.pop(k, None)
    for k, default in _ADDED_LATER.items():
        if d.get(k) == default:
            d.pop(k, None)
    blob = json.dumps(d, sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class RunStore:
    """Finished run records by :func:`run_key` of their config."""

    def __init__(self, sources=(), cache: str | Path | None = None):
        self.records: dict[str, dict] = {}
        self.origin: dict[str, str] = {}
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
        try:
            key = run_key(record["config"])
        except (ValueError, TypeError):
            return False
        self.records.setdefault(key, record)
        self.origin.setdefault(key, origin)
        if write and self.cache is not None:
            self.cache.mkdir(parents=True, exist_ok=True)
            path = self.cache / f"{key}.json"
            if not path.exists():
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(record))
                tmp.replace(path)
        return True

    def get(self, config: dict) -> dict | None:
        """The finished record of this run, or None."""
        return self.lookup(config)[0]

    def lookup(self, config: dict) -> tuple[dict | None, str]:
        """(record or None, the file it was read from — "" for runs added in this session)."""
        key = run_key(config)
        return self.records.get(key), self.origin.get(key, "")

    def where(self, config: dict) -> str:
        """The file a stored run was read from ("" for runs added in this session)."""
        return self.lookup(config)[1]
