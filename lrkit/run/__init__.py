"""The execution layer: every run is planned, executed, stored and traced the same way.

A planner (a table, a search, a verification, a range test) makes a plan — a list of
:class:`~lrkit.train.TrainConfig` — and hands it to :func:`execute`, which checks devices and data,
reuses stored runs (:class:`RunStore`; the key is the :class:`~lrkit.train.config.Task` and the numerics
version), trains the rest on an executor (:class:`InProcess`, :class:`ProcessPool`, or Ray Tune:
:class:`lrkit.run.ray.Ray`), records every run in the store and the policy database, and hands back
one :class:`Outcome` per config. The planner reduces the records to its table. Runs of one task family may
train together as the replicas of one batched run (:mod:`lrkit.run.batching`, ``execute(..., batch=)``).
"""

from lrkit.train.config import Observers, Runtime, Task, run_key

from .execute import Outcome, execute, preflight
from .executors import EXECUTORS, InProcess, ProcessPool, make_executor, train_config
from .records import STATUSES, USABLE, as_dict, failed_record
from .store import Found, RunStore

__all__ = ["EXECUTORS", "Found", "InProcess", "Observers", "Outcome", "ProcessPool", "RunStore", "Runtime", "STATUSES",
           "Task", "USABLE", "as_dict", "execute", "failed_record", "make_executor", "preflight", "run_key",
           "train_config"]
