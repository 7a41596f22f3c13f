"""The live panel's figure: LR (applied and planned), training loss and test top-1, as PNG bytes."""

from __future__ import annotations

import io


def render_png(record, monitor, iters: int) -> bytes:
    """The panel's figure as PNG bytes: LR (past, and the planned future of the policy in force or
    pending, dashed), training loss and test top-1, with a marker at every edit. Uses matplotlib's
    object API with the Agg canvas only (no pyplot), so any thread may call it."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lrs = np.asarray(record.curves["lr"], dtype=float)
    losses = np.asarray(record.curves["loss"], dtype=float)
    ev = record.evals
    hist = list(record.history)
    fig = Figure(figsize=(10, 3.0), dpi=80, layout="constrained")
    FigureCanvasAgg(fig)
    ax_lr, ax_loss, ax_acc = fig.subplots(1, 3)
    t_now = len(lrs)
    if t_now:
        ax_lr.plot(np.arange(t_now), lrs, color="C0", lw=1.2, label="applied")
    pol, offset, pending = monitor.current()
    plan_pol, plan_off = (pending[0], t_now if pending[1] == "restart" else 0) if pending else (pol, offset)
    if t_now < iters:
        ts = np.arange(t_now, iters)
        try:
            ax_lr.plot(ts, np.asarray(plan_pol(ts - plan_off), dtype=float), color="C0", ls="--", lw=1, alpha=0.7,
                       label="planned")
        except Exception:  # noqa: BLE001 - a state-based policy has no plan
            pass
    ax_lr.set_title("learning rate")
    ax_lr.set_xlim(0, iters)
    ax_lr.legend(loc="upper right", fontsize=7)
    if len(losses):
        ax_loss.plot(np.arange(len(losses)), losses, color="C1", lw=0.6, alpha=0.5)
        w = max(1, len(losses) // 50)
        if w > 1 and len(losses) >= w:
            smooth = np.convolve(losses, np.ones(w) / w, mode="valid")
            ax_loss.plot(np.arange(w - 1, len(losses)), smooth, color="C1", lw=1.4)
    ax_loss.set_title("training loss")
    ax_loss.set_xlim(0, iters)
    if ev["iteration"]:
        ax_acc.plot(ev["iteration"], ev["top1"], "o-", color="C2", ms=3)
    ax_acc.set_title("test top-1")
    ax_acc.set_xlim(0, iters)
    for h in hist[1:]:
        for ax in (ax_lr, ax_loss, ax_acc):
            ax.axvline(h["iteration"], color="C3", ls=":" if h.get("time") == "global" else "-", lw=1)
    if pending:
        for ax in (ax_lr, ax_loss, ax_acc):
            ax.axvline(t_now, color="C3", ls="--", lw=0.8, alpha=0.5)
    for ax in (ax_lr, ax_loss, ax_acc):
        ax.tick_params(labelsize=7)
        ax.set_xlabel("iteration", fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
