"""The LR value range test (004 §4.1, Fig. 4), the one-run LR sweep (Smith 2017), and starting policies.

Two ways to find the range of good LR values ``[lo, hi]`` (``k`` is a learning rate; budgets
and ``num_iter`` are iterations, i.e. optimizer steps; accuracies are fractions in [0, 1]):

* :func:`range_test_grid` — the paper's test: short runs at FIXED LRs ``FIX(k)`` on a base-10
  log grid of ``k``, for a few short training budgets; top-1 accuracy vs log k, one curve per
  budget (:meth:`GridRangeResult.plot` draws Fig. 4); :func:`pick_range` reads the range off
  the curves. The CNN3/CIFAR-10 example gives [0.0005, 0.006], a search-space reduction of
  (1 − (hi − lo))·100 % of [0, 1] (:func:`search_space_reduction`).
* :func:`lr_sweep` / :func:`range_test_sweep` — the "LR finder": one run in which the LR grows
  exponentially from ``start_lr`` to ``end_lr``; the smoothed training loss vs LR gives the
  suggestions "steepest" and "valley" (fastai) and a range (:attr:`SweepResult.lo`/``hi``).
  Model, optimizer (and, when it can, the batch stream and torch RNG) are restored afterwards.

:func:`recommend_policies` turns a range into a few starting policies (FIX, TRI2, SIN2, COS, NSTEP,
EXP) the way the paper's Tables 4–6 build their policies from the good LR values.

Modules: :mod:`.grid` (the grid test), :mod:`.pick` (reading the range), :mod:`.sweep` (the LR
finder), :mod:`.results` (both results and their JSON form), :mod:`.recommend` (range → policies),
:mod:`.plot` (the figures, matplotlib only, drawn by the results' ``plot`` methods).

>>> pick_range([1e-4, 1e-3, 1e-2, 1e-1], {100: [0.5, 0.9, 0.92, 0.1]})
(0.001, 0.01)
>>> round(search_space_reduction(0.00005, 0.006), 3)   # the paper's 99.4 % for CIFAR-10
99.405
"""

from __future__ import annotations

from .grid import DEFAULT_BUDGET_FRACTIONS, default_ks, range_test_grid
from .pick import OpenRangeError, pick_range, search_space_reduction
from .recommend import recommend_policies
from .results import GridRangeResult, SweepResult, load_result
from .sweep import lr_sweep, range_test_sweep, sweep_suggestions

__all__ = [
    "DEFAULT_BUDGET_FRACTIONS",
    "GridRangeResult",
    "OpenRangeError",
    "SweepResult",
    "default_ks",
    "load_result",
    "lr_sweep",
    "pick_range",
    "range_test_grid",
    "range_test_sweep",
    "recommend_policies",
    "search_space_reduction",
    "sweep_suggestions",
]
