"""The LR policy evaluator (004 §4, component 7): one policy on one task, by every metric.

:func:`evaluate_policy` trains the policy with several seeds and, for robustness to a mis-set LR,
scaled by each λ of :data:`lrkit.evaluate.metrics.LAMBDAS` (η' = λ·η, 000 §V), then reports
    utility     mean ± std (over seeds) of the highest and final top-1 and the highest top-5
    cost        iterations and wall time to the target accuracy (mean over the seeds that reached
                it, and how many did)
    robustness  the std over seeds, mean − std, and the accuracy drop at each λ
Every run is recorded in the database when one is given (or ``$LRKIT_DB_URL`` is set), so the
ranking's ``robustness`` metric sees the seeds.
"""

from __future__ import annotations

from lrkit.train.engine import TrainConfig
from lrkit.train.monitor import RunRecord

from .metrics import LAMBDAS, cost, lambda_drop, mean_std, robust_score, utility


def evaluate_policy(cfg: TrainConfig | dict, *, seeds=(0, 1, 2), lams=LAMBDAS, target_acc: float | None = None,
                    db=None, data=None, progress: bool = True) -> dict:
    """Train ``cfg.policy`` for each seed (and each λ with the first seed); returns
    ``{"policy", "runs", "utility", "cost", "robustness", "records"}`` (accuracies are fractions)."""
    from lrkit.policies import SCALE, parse

    cfg = TrainConfig.from_dict(cfg) if isinstance(cfg, dict) else cfg
    seeds = list(seeds)
    if not seeds or any(not isinstance(s, int) or isinstance(s, bool) for s in seeds):
        raise ValueError(f"evaluate_policy: field 'seeds' must be a non-empty list of ints, got {seeds!r}")
    lams = [float(x) for x in lams]
    if any(not x > 0 for x in lams):
        raise ValueError(f"evaluate_policy: field 'lams' must hold numbers > 0, got {lams!r}")
    if target_acc is not None and not 0 < target_acc <= 1:
        raise ValueError(f"evaluate_policy: field 'target_acc' must be a fraction in (0, 1], got {target_acc!r}")
    policy = parse(cfg.policy)
    base = cfg.to_dict()
    base.update(policy=str(policy), target_acc=target_acc, stop_at_target=False)
    from lrkit.run import execute

    plan = {("seed", s): {**base, "seed": s} for s in seeds}
    plan.update({("lam", lam): {**base, "seed": seeds[0], "policy": str(SCALE(lam=lam, policy=policy))} for lam in lams})
    outcomes = execute(list(plan.values()), db=db, data=data, progress=progress, desc=str(policy))
    records = {k: RunRecord.from_dict(o.record) for k, o in zip(plan, outcomes)}
    seed_recs = [records[("seed", s)] for s in seeds]
    utils = [utility(r) for r in seed_recs]
    out_u = {}
    for key in ("highest_top1", "final_top1", "highest_top5"):
        m, sd, n = mean_std(u[key] for u in utils)
        out_u[key] = {"mean": m, "std": sd, "n": n}
    out_c = None
    if target_acc is not None:
        costs = [cost(r, target_acc) for r in seed_recs]
        its, _, reached = mean_std(c["iterations_to_target"] for c in costs)
        wall, _, _ = mean_std(c["wall_time_to_target_s"] for c in costs)
        out_c = {"target_acc": target_acc, "iterations_to_target": its, "wall_time_to_target_s": wall,
                 "reached": reached, "of": len(seeds)}
    base_acc = utility(seed_recs[0])["highest_top1"] or 0.0
    scaled = {lam: utility(records[("lam", lam)])["highest_top1"] for lam in lams}
    hm = out_u["highest_top1"]
    out_r = {"std_top1": hm["std"], "robust_score": robust_score(hm["mean"], hm["std"]),
             "lambda": {**lambda_drop(base_acc, scaled), "accuracy": scaled, "base_seed": seeds[0]},
             "diverged": [k for k, r in records.items() if r.status == "diverged"]}
    return {"policy": str(policy), "runs": len(records), "utility": out_u, "cost": out_c, "robustness": out_r,
            "records": records}
