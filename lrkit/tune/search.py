"""Running a search: trials → executor → policy database → results, Top-K and heat map.

A :class:`Search` is the task (a :class:`~lrkit.train.TrainConfig` without policy and seed), the
trials (:mod:`lrkit.tune.space`), the objective and the threads each trial uses. :func:`run_search`
trains the trials on an executor — ``"local"`` (one after another in this process, or ``workers``
spawned processes) or ``"ray"`` (:mod:`lrkit.run.ray`, Ray Tune) — and writes every
finished trial to the policy database as soon as it finishes (label ``trial:<run key>``), so an
interrupted search resumes without re-running finished trials (``resume=True``). Diverged trials
are recorded as diverged and failed ones as failed, with their message; the search goes on.

Objectives (:data:`OBJECTIVES`):
    highest_acc   the highest test top-1 within the budget (000 Table IV, Fig. 6; 004 Tables 7–9)
    cost          iterations to ``target_acc``: every trial stops at the target (cost-effective
                  tuning, 004 Table 10); trials that never reach it rank last

Results are aggregated per (policy, λ) over the seeds: mean ± std (sample std, ddof = 1).
Each trial trains with ``threads_per_trial`` CPU threads (default 1) on every executor, so the same
search gives the same numbers for the same seeds wherever it runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from .space import Trial

from lrkit.run.executors import EXECUTORS
from lrkit.run.records import USABLE

OBJECTIVES = ("highest_acc", "cost")


@dataclass
class Search:
    """What to search. ``base``: the task as TrainConfig fields (dataset, model, optimizer, iters,
    batch size, eval interval, device, …; its policy and seed are replaced per trial)."""

    base: dict
    trials: list
    objective: str = "highest_acc"
    target_acc: float | None = None
    threads_per_trial: int = 1
    name: str = "search"

    def __post_init__(self):
        from lrkit.train import TrainConfig

        if hasattr(self.base, "to_dict"):
            self.base = self.base.to_dict()
        self.base = dict(self.base)
        self.trials = [t if isinstance(t, Trial) else Trial(**t) for t in self.trials]
        if not self.trials:
            raise ValueError("Search: field 'trials' is empty")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"Search: field 'objective' must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.objective == "cost" and self.target_acc is None:
            raise ValueError("Search: objective 'cost' needs field 'target_acc' (a fraction, e.g. 0.991)")
        if self.target_acc is not None and not 0 < self.target_acc <= 1:
            raise ValueError(f"Search: field 'target_acc' must be a fraction in (0, 1], got {self.target_acc!r}")
        t = self.threads_per_trial
        if not isinstance(t, int) or isinstance(t, bool) or t < 1:
            raise ValueError(f"Search: field 'threads_per_trial' must be an int >= 1, got {t!r}")
        TrainConfig.from_dict(self.configs()[0])  # the task is valid

    def configs(self) -> list[dict]:
        """The TrainConfig dict of each trial."""
        out = []
        for t in self.trials:
            d = {**self.base, "policy": t.spec, "seed": t.seed, "threads": self.threads_per_trial,
                 "target_acc": self.target_acc, "stop_at_target": self.objective == "cost"}
            out.append(d)
        return out

    def to_dict(self) -> dict:
        return {"base": self.base, "trials": [t.to_dict() for t in self.trials], "objective": self.objective,
                "target_acc": self.target_acc, "threads_per_trial": self.threads_per_trial, "name": self.name}

    @classmethod
    def from_dict(cls, d: dict) -> "Search":
        return cls(**d)


# ---- results -----------------------------------------------------------------------------------

RESULT_COLUMNS = ["trial", "policy", "lam", "seed", "spec", "status", "highest_top1", "final_top1", "highest_top5",
                  "iterations_to_target", "iterations", "wall_time_s", "run_id", "reused", "message"]


def _row(i: int, trial: Trial, summary: dict, status: str, run_id, reused: bool, message: str = "") -> dict:
    return {"trial": i, "policy": trial.policy, "lam": trial.lam, "seed": trial.seed, "spec": trial.spec,
            "status": status, "highest_top1": summary.get("highest_top1"), "final_top1": summary.get("final_top1"),
            "highest_top5": summary.get("highest_top5"), "iterations_to_target": summary.get("iterations_to_target"),
            "iterations": summary.get("iterations"), "wall_time_s": summary.get("wall_time_s"), "run_id": run_id,
            "reused": reused, "message": message}


@dataclass
class SearchResult:
    """``trials``: one row per trial (see :data:`RESULT_COLUMNS`)."""

    search: Search
    trials: pd.DataFrame
    executor: str = "local"
    notes: list = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """Per (policy, λ): runs, mean/std of the highest and final top-1, iterations to the target
        (mean over the seeds that reached it, and how many did), diverged and failed counts."""
        rows = []
        df = self.trials
        for (pol, lam), g in df.groupby(["policy", df["lam"].fillna(1.0)], sort=False):
            ok = g[g["status"].isin(USABLE)]
            acc = ok["highest_top1"].astype(float)
            its = ok["iterations_to_target"].dropna().astype(float)
            rows.append({"policy": pol, "lam": lam, "spec": g["spec"].iloc[0], "runs": len(ok),
                         "mean_top1": acc.mean() if len(acc) else None,
                         "std_top1": acc.std(ddof=1) if len(acc) > 1 else None,
                         "mean_final_top1": ok["final_top1"].astype(float).mean() if len(ok) else None,
                         "iterations_to_target": its.mean() if len(its) else None, "reached": len(its),
                         "diverged": int((g["status"] == "diverged").sum()), "failed": int((g["status"] == "failed").sum())})
        return pd.DataFrame(rows)

    def top_k(self, k: int = 5) -> pd.DataFrame:
        """The best ``k`` (policy, λ) by the search's objective: mean highest top-1, or (cost) the
        fewest mean iterations to the target among those whose seeds all reached it, then the rest."""
        s = self.summary()
        if self.search.objective == "cost":
            s = s.assign(_all=s["reached"] == s["runs"], _its=s["iterations_to_target"].astype(float).fillna(float("inf")))
            s = s.sort_values(["_all", "_its", "mean_top1"], ascending=[False, True, False]).drop(columns=["_all", "_its"])
        else:
            s = s.sort_values("mean_top1", ascending=False, na_position="last")
        s = s.head(k).reset_index(drop=True)
        s.insert(0, "rank", range(1, len(s) + 1))
        return s

    def best(self) -> Trial:
        r = self.top_k(1).iloc[0]
        return Trial(r["policy"], None if r["lam"] == 1.0 else float(r["lam"]), int(self.search.trials[0].seed))

    def heatmap(self, ax=None, value: str = "mean_top1", title: str | None = None):
        """000 Fig. 6: policies (rows) × λ (columns), cells = ``value`` (mean over the seeds)."""
        from .heatmap import plot_heatmap

        return plot_heatmap(self.summary(), value=value, ax=ax, title=title or self.search.name)

    def to_markdown(self, k: int | None = None) -> str:
        s = self.top_k(k or len(self.summary()))
        cols = ["rank", "policy", "lam", "runs", "mean_top1", "std_top1", "iterations_to_target", "reached", "diverged",
                "failed"]
        lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
        for _, r in s.iterrows():
            lines.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
        return "\n".join(lines)

    def save(self, out: str | Path) -> Path:
        """results.json (search + trials), table.md (Top-K) and heatmap.png in ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        doc = {"search": self.search.to_dict(), "executor": self.executor, "notes": self.notes,
               "trials": json.loads(self.trials.to_json(orient="records"))}
        (out / "results.json").write_text(json.dumps(doc, indent=1))
        (out / "table.md").write_text(f"# {self.search.name} ({self.search.objective})\n\n{self.to_markdown()}\n")
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 1.2 + 0.45 * max(1, self.summary()["policy"].nunique())))
        self.heatmap(ax=fig.subplots())
        fig.tight_layout()
        fig.savefig(out / "heatmap.png", dpi=120)
        return out


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    if isinstance(v, float):
        return f"{v:.4f}" if v < 10 else f"{v:,.0f}"
    return str(v)


def run_search(search: Search, executor: str = "local", *, workers: int | None = None, db=None, resume: bool = True,
               progress: bool = True, ray_options: dict | None = None, batch="auto") -> SearchResult:
    """Run ``search`` on ``executor`` ("local" or "ray"), recording every trial in ``db`` (a
    :class:`lrkit.db.Database`, a URL, or None: ``$LRKIT_DB_URL`` / ``~/.lrkit/lrkit.db``).
    ``workers``: local processes (default 1: this process). ``ray_options``: keyword arguments of
    :func:`lrkit.run.ray.run_ray` (``address``, ``num_cpus``, ``cpus_per_trial``, ``gpus_per_trial``,
    ``asha``, ``max_concurrent``). The trials run through the execution layer (:func:`lrkit.run.execute`),
    labelled ``trial:<run key>`` in the database, so a resumed search trains only what it lacks.
    ``batch``: ``"auto"``, a batch size, or 1 — how runs of one task family train together (:func:`lrkit.run.execute`)."""
    from lrkit.db import Database
    from lrkit.run import execute, make_executor, run_key

    if executor not in EXECUTORS:
        raise ValueError(f"run_search: field 'executor' must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    ex = make_executor(executor, workers, **({"name": search.name, **(ray_options or {})} if executor == "ray" else {}))
    if not isinstance(db, Database):
        db = Database(db)
    cfgs = search.configs()
    outcomes = execute(cfgs, executor=ex, db=db, source=f"tune:{search.name}", labels=["trial:" + run_key(c) for c in cfgs],
                       resume_db=resume, progress=progress, desc="trials", batch=batch)
    rows = [_row(i, search.trials[i], o.record.get("summary") or {}, o.record["status"], o.run_id, o.reused,
                 o.record.get("message") or "") for i, o in enumerate(outcomes)]
    notes = []
    reused = sum(o.reused for o in outcomes)
    if reused:
        notes.append(f"resumed: {reused} of {len(cfgs)} trials were already in the database")
    return SearchResult(search, pd.DataFrame(rows, columns=RESULT_COLUMNS), executor, notes)


def load_result(path: str | Path) -> SearchResult:
    """A :class:`SearchResult` from the ``results.json`` written by :meth:`SearchResult.save`."""
    doc = json.loads(Path(path).read_text())
    return SearchResult(Search.from_dict(doc["search"]), pd.DataFrame(doc["trials"], columns=RESULT_COLUMNS),
                        doc.get("executor", "local"), doc.get("notes", []))


def combine(results: Iterable[SearchResult]) -> pd.DataFrame:
    """Top-K rows of several searches side by side (e.g. grid vs random search, 000 Table IV)."""
    out = []
    for r in results:
        s = r.summary()
        acc = r.trials[r.trials["status"].isin(USABLE)]["highest_top1"].astype(float)
        out.append({"search": r.search.name, "trials": len(r.trials), "mean_top1": acc.mean(),
                    "std_top1": acc.std(ddof=1) if len(acc) > 1 else None, "best": s["mean_top1"].max()})
    return pd.DataFrame(out)
