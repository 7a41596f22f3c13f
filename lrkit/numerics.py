"""The numerics version: which numbers the engine computes for a task.

A run's key is what is trained (:class:`lrkit.run.Task`) and this version. Bump it in the same change
as anything that alters a run's numbers for the same task — initialisation, data order, augmentation,
the loss, the optimizer math, the evaluation — and store the new golden curve
(``lrkit/numerics_golden.json``, written by ``python -m lrkit.run.golden --write``): the golden test
fails until both are done, and stored runs of the old version are then trained again rather than
reused (unless asked; the tables mark such rows). A record that names no version is version 1
(:data:`FIRST_VERSION`).
"""

from __future__ import annotations

import json
from pathlib import Path

NUMERICS_VERSION = 1
#: the version a record without one was made with
FIRST_VERSION = 1
GOLDEN_PATH = Path(__file__).with_name("numerics_golden.json")
#: the golden run: 50 iterations of LeNet on MNIST, momentum SGD, one thread, evaluated on 1,000 images
GOLDEN_CONFIG = {"dataset": "mnist", "model": "lenet", "optimizer": "momentum", "policy": "TRI(k0=0.01, k1=0.06, l=20)",
                 "iters": 50, "batch_size": 64, "eval_every": 50, "eval_samples": 1000, "seed": 3, "threads": 1}


def record_version(record: dict) -> int:
    """The numerics version a run record was made with (:data:`FIRST_VERSION` when it names none)."""
    env = record.get("environment") or {}
    v = env.get("numerics_version")
    return FIRST_VERSION if v is None else int(v)


def stored_golden() -> dict:
    """``{version: {"loss": [...], "top1": ...}}`` as stored beside the code."""
    return {int(k): v for k, v in json.loads(GOLDEN_PATH.read_text()).items()}
