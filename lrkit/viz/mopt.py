"""The M-opt LR against the applied LR during training (004 §4.2, Fig. 7)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _as_records(record_or_records) -> list:
    """One record (RunRecord, JSON dict, or path of a record file) or a list of them, as a list."""
    if isinstance(record_or_records, (list, tuple)):
        items = list(record_or_records)
    else:
        items = [record_or_records]
    return [json.loads(Path(r).read_text()) if isinstance(r, (str, Path)) else r for r in items]


def _field(record, name: str):
    return record.get(name) if isinstance(record, dict) else getattr(record, name, None)


def _label(record, i: int) -> str:
    return str(_field(record, "policy") or f"run {i}")


def plot_mopt(record_or_records, ax=None, title: str | None = None):
    """Applied LR per iteration (a line, from ``curves["lr"]``) and the M-opt η* (points at the measured
    iterations t, from ``record.mopt``) of one run or several, on a log LR axis, like 004 Fig. 7.

    t is the iteration (optimizer step) of Θ_t; η* = η_{t+1} · ‖Θ_{t+1} − Θ_t‖₁ / ‖2Θ_{t+1} − Θ_t − Θ_{t+2}‖₁
    (Formula 7). η* that a log axis cannot show (0, NaN, inf) is left out. Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    from lrkit.evaluate.mopt import mopt_measurements

    records = _as_records(record_or_records)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    single = len(records) == 1
    for i, rec in enumerate(records):
        color = f"C{i % 10}"
        name = _label(rec, i)
        lrs = np.asarray([float(v) for v in ((_field(rec, "curves") or {}).get("lr") or [])], dtype=np.float64)
        ax.plot(np.arange(len(lrs)), lrs, color=color, linewidth=1.2, label="applied LR" if single else f"{name}: LR")
        t, _, eta = mopt_measurements(rec)
        show = np.isfinite(eta) & (eta > 0)
        ax.scatter(t[show], eta[show], color=color, s=14, marker="o", zorder=3,
                   label="M-opt LR η*" if single else f"{name}: M-opt η*")
    ax.set_yscale("log")
    ax.set_xlabel("iteration t")
    ax.set_ylabel("learning rate")
    ax.set_title(title if title is not None else (_label(records[0], 0) if single else "M-opt LR (Formula 7)"))
    ax.legend(fontsize=7)
    return ax
