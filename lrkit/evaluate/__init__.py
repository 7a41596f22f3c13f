"""Evaluating LR policies (004 §4): metrics and ranking, verification, M-opt, the LR value range test.

    metrics.py      utility, cost and robustness of runs (pure functions)
    evaluator.py    evaluate_policy: one policy over seeds and λ-scalings
    ranking.py      top_k: the best stored policies for a task, with fallback to similar tasks
    verify.py       verify: the three-phase verification (train; compare with top-N; range test)
    mopt.py         mopt_summary: the M-opt LR (Formula 7) against the applied LR
    range_test/     range_test_grid (Fig. 4), lr_sweep / range_test_sweep, recommend_policies
"""

from .evaluator import evaluate_policy
from .metrics import LAMBDAS, cost, lambda_drop, mean_std, utility
from .mopt import mopt_summary
from .range_test import lr_sweep, pick_range, range_test_grid, range_test_sweep, recommend_policies
from .ranking import LEVELS, METRICS, Ranking, top_k
from .verify import Verification, verify

__all__ = ["evaluate_policy", "LAMBDAS", "cost", "lambda_drop", "mean_std", "utility", "mopt_summary", "lr_sweep",
           "pick_range", "range_test_grid", "range_test_sweep", "recommend_policies", "LEVELS", "METRICS", "Ranking",
           "top_k", "Verification", "verify"]
