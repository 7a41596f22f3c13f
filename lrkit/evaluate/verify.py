"""LR policy verification in three phases (004 §4.2), with M-opt.

    phase 1  train the given policy; if its highest test top-1 reaches the target within the
             budget, the policy is verified and verification ends.
    phase 2  take the top-N stored policies for the task from the database (ranked by highest
             top-1, falling back to similar tasks — :func:`lrkit.evaluate.ranking.top_k`), train
             them on the same task and budget (in parallel processes when ``workers`` > 1, one per
             CUDA device by default), and compare. "Good" means reaching the target within the
             budget (§4.2); among the good ones the highest accuracy wins. If a stored policy beats
             the given one, it is recommended as the replacement and verification ends.
    phase 3  the given policy stays the winner: the LR value range test (:func:`range_test_grid`)
             narrows the LR range and proposes new candidate policies from it
             (:func:`recommend_policies`), for tuning.

M-opt (Formula 7): with ``mopt_every`` the phase-1 run measures η* every M iterations; the report
gives :func:`lrkit.evaluate.mopt.mopt_summary` (does the M-opt LR suggest a larger or smaller LR?)
and :func:`lrkit.viz.plot_mopt` of ``records[policy]`` draws η* against the applied LR (Fig. 7).

A stored policy whose task had another iteration budget is rescaled in time to this budget
(:meth:`lrkit.policies.Policy.rescale_time`: step sizes, half cycles and milestones × budget ratio)
before training, so its schedule has the shape the stored result was obtained with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lrkit.train.engine import TrainConfig
from lrkit.train.monitor import RunRecord


@dataclass
class Verification:
    """What :func:`verify` found. ``outcome``: "verified" (phase 1), "replaced" (phase 2 found a
    better stored policy: ``recommended``), or "range-tested" (phase 3: ``candidates``)."""

    policy: str
    target_acc: float
    outcome: str = ""
    phase1: dict = field(default_factory=dict)
    phase2: list = field(default_factory=list)
    ranking_message: str = ""
    recommended: str | None = None
    range: dict | None = None
    candidates: list = field(default_factory=list)
    mopt: dict | None = None
    records: dict = field(default_factory=dict)  # policy spec -> RunRecord
    message: str = ""

    def report(self) -> str:
        """A Markdown report of the phases."""
        p1 = self.phase1
        lines = [f"# Verification of `{self.policy}` (target top-1 {self.target_acc:.4f})", "",
                 f"**Phase 1**: highest top-1 {_pct(p1.get('highest_top1'))} "
                 f"({'reached' if p1.get('reached') else 'not reached'}; status {p1.get('status')})."]
        if self.mopt:
            m = self.mopt
            lines.append(f"M-opt: {m.get('measurements', 0)} measurements, median η*/η = {_f(m.get('median_ratio'))}"
                         + (f" — suggests a {m['suggests']} LR" if m.get("suggests") else ""))
        if self.phase2 or self.ranking_message:
            lines += ["", f"**Phase 2**: {self.ranking_message}", "",
                      "| policy | stored top-1 | ours top-1 | reached | iterations to target |", "| --- | --- | --- | --- | --- |"]
            for c in [{"policy": self.policy, "stored_top1": None, **p1}] + self.phase2:
                lines.append(f"| `{c['policy']}` | {_pct(c.get('stored_top1'))} | {_pct(c.get('highest_top1'))} | "
                             f"{'yes' if c.get('reached') else 'no'} | {c.get('iterations_to_target') or '—'} |")
        if self.range is not None:
            lines += ["", f"**Phase 3**: LR range [{_f(self.range.get('lo'))}, {_f(self.range.get('hi'))}]"
                      + (f" ({self.range['note']})" if self.range.get("note") else "")
                      + (f" — {self.range['error']}" if self.range.get("error") else "")]
            lines += [f"- `{c['policy']}`: {c['why']}" for c in self.candidates]
        lines += ["", f"**Outcome**: {self.message}"]
        return "\n".join(lines)


def _pct(v) -> str:
    return "—" if v is None else f"{100 * float(v):.2f}%"


def _f(v) -> str:
    return "—" if v is None else f"{float(v):.3g}"


def _summary(record, target: float) -> dict:
    s = record.summary
    best = s.get("highest_top1")
    return {"status": record.status, "highest_top1": best, "iterations_to_target": s.get("iterations_to_target"),
            "reached": best is not None and best >= target}


def _train_many(cfgs: list[TrainConfig], workers: int, db, data, batch="auto") -> list:
    """Train configs through the execution layer: in this process, or in ``workers`` spawned processes
    (each with an equal share of the CPU threads, or its own CUDA device when the configs name cuda);
    every run is recorded in ``db``. Returns the run records in order (a run that raised: failed)."""
    from lrkit.run import execute

    outcomes = execute(cfgs, workers=workers, db=db, data=data if workers <= 1 else None,
                       desc="verify", batch=batch)
    return [RunRecord.from_dict(o.record) for o in outcomes]


def verify(cfg: TrainConfig | dict, target_acc: float, *, db=None, n: int = 3, workers: int | None = None,
           range_ks=None, range_budgets=None, mopt_every: int | None = None, data=None,
           batch="auto") -> Verification:
    """Verify ``cfg.policy`` on ``cfg``'s task against ``target_acc`` (a fraction), in the three
    phases of the module doc. ``db``: a :class:`lrkit.db.Database` or URL (default
    ``$LRKIT_DB_URL`` / ``~/.lrkit/lrkit.db``; the papers' published tables are loaded if missing);
    every run trained here is recorded there. ``n``: how many stored policies phase 2 compares
    (the paper: 3–5). ``workers``: processes for phase 2 (default: the number of CUDA devices, 1
    on CPU). ``range_ks``/``range_budgets``: the phase-3 grid (defaults of :func:`range_test_grid`).
    ``data``: a loaded dataset to share (single-process runs). ``batch``: ``"auto"``, a batch size, or 1 —
    how phase 2's and phase 3's runs of one task family train together (:func:`lrkit.run.execute`)."""
    from lrkit.db import Database
    from lrkit.policies import parse

    from .mopt import mopt_summary
    from .range_test import range_test_grid, recommend_policies
    from .ranking import top_k

    cfg = TrainConfig.from_dict(cfg) if isinstance(cfg, dict) else cfg
    if not 0 < target_acc <= 1:
        raise ValueError(f"verify: field 'target_acc' must be a fraction in (0, 1] (e.g. 0.991), got {target_acc!r}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"verify: field 'n' must be an int >= 1, got {n!r}")
    if not isinstance(db, Database):
        db = Database(db)
    db.import_published()
    if workers is None:
        import torch

        workers = max(1, torch.cuda.device_count()) if cfg.device.startswith("cuda") else 1
    policy = str(parse(cfg.policy))
    v = Verification(policy=policy, target_acc=target_acc)

    # phase 1
    d = cfg.to_dict()
    d.update(policy=policy, target_acc=target_acc, stop_at_target=False, mopt_every=mopt_every or cfg.mopt_every)
    rec = _train_many([TrainConfig.from_dict(d)], 1, db, data)[0]
    v.records[policy] = rec
    v.phase1 = _summary(rec, target_acc)
    if rec.mopt and rec.mopt.get("iteration"):
        v.mopt = mopt_summary(rec)
    if v.phase1["reached"]:
        v.outcome, v.message = "verified", f"{policy} reaches {100 * target_acc:.2f}% within {cfg.iters:,} iterations"
        return v

    # phase 2
    ranking = top_k(db, cfg.dataset, cfg.model, k=n, optimizer=cfg.optimizer, iterations=cfg.iters,
                    exclude=[policy])
    v.ranking_message = ranking.message
    cands, stored = [], {}
    for _, row in ranking.table.iterrows():
        pol = parse(row["policy"])
        budget = _budget(db, row["policy"], cfg)
        if budget and budget != cfg.iters:
            pol = pol.rescale_time(cfg.iters / budget)
        spec = str(pol)
        if spec == policy or spec in stored:
            continue
        stored[spec] = row["mean_top1"]
        cands.append(TrainConfig.from_dict({**d, "policy": spec, "mopt_every": None}))
    records = _train_many(cands, workers, db, data if workers <= 1 else None, batch=batch)
    for c, r in zip(cands, records):
        v.records[c.policy] = r
        v.phase2.append({"policy": c.policy, "stored_top1": stored[c.policy], **_summary(r, target_acc)})
    ours = v.phase1["highest_top1"] or 0.0
    good = [c for c in v.phase2 if c["reached"]] or v.phase2
    winner = max(good, key=lambda c: c["highest_top1"] or 0.0, default=None)
    if winner is not None and (winner["highest_top1"] or 0.0) > ours:
        v.outcome, v.recommended = "replaced", winner["policy"]
        v.message = (f"{winner['policy']} beats {policy}: {_pct(winner['highest_top1'])} vs {_pct(ours)}"
                     + (" and reaches the target" if winner["reached"] else "") + " — recommended as the replacement")
        return v

    # phase 3
    rt = range_test_grid(TrainConfig.from_dict({**d, "mopt_every": None, "target_acc": None}), ks=range_ks,
                         budgets=range_budgets, data=data, batch=batch)
    v.range = {"lo": rt.lo, "hi": rt.hi, "best_k": rt.best_k, "note": rt.note, "error": rt.error,
               "reduction": rt.reduction}
    if rt.lo is not None and rt.hi is not None:
        v.candidates = recommend_policies(rt.lo, rt.hi, cfg.iters)
    v.outcome = "range-tested"
    v.message = (f"{policy} stays the best of {len(v.phase2) + 1} policies but misses the target; "
                 + (f"the range test narrows the LR to [{_f(rt.lo)}, {_f(rt.hi)}] and proposes {len(v.candidates)} "
                    "candidate policies to tune" if v.candidates else f"the range test found no range ({rt.error})"))
    if v.mopt and v.mopt.get("suggests"):
        v.message += f"; M-opt suggests a {v.mopt['suggests']} LR"
    return v


def _budget(db, spec: str, cfg: TrainConfig) -> Any:
    """The iteration budget of the stored task that ranked ``spec`` (the most common one)."""
    runs = db.runs(policy=spec, dataset=cfg.dataset) if cfg.dataset else db.runs(policy=spec)
    if not len(runs):
        runs = db.runs(policy=spec)
    its = [int(x) for x in runs["iterations"] if x is not None and x == x]
    return max(set(its), key=its.count) if its else None
