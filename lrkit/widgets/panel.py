"""A live panel: train in a background thread and edit the LR policy with widgets while it runs.

>>> from lrkit.train import TrainConfig
>>> from lrkit.widgets import live
>>> panel = live(TrainConfig(policy="TRI2(k0=0.01, k1=0.06, l=500)", iters=3000))   # doctest: +SKIP
>>> panel.apply(k1=0.03)                     # a parameter, from the next iteration   # doctest: +SKIP
>>> panel.apply("COS(k0=0.001, k1=0.02, l=400)", restart=True)   # a new stage          # doctest: +SKIP
>>> panel.wait(); panel.replay()             # the edited run as one MULTI policy     # doctest: +SKIP

The training loop runs in a daemon thread, so the kernel keeps answering widget events. Edits go to
the run's :class:`~lrkit.train.LRMonitor` (handed over under its lock, applied at the next
iteration, written to ``record.history``); a bad value never reaches the loop: the policy library's
error is shown in the panel (and raised to a Python caller). A second daemon thread redraws the plot
(a PNG in an ``ipywidgets.Image``) and the status labels at ``refresh_s``; widget updates from
threads are plain trait changes, which ipykernel sends on its IOPub thread. Text from the threads goes
to the panel's own log (an ``Output`` widget filled with ``append_stdout``), never to whichever cell
happens to be running.
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path

from lrkit.policies import SCALE, PolicyError, lookup, parse
from lrkit.train.engine import Run, TrainConfig

from . import controls as C
from .controls import EDIT_ERRORS
from .figure import render_png
from .view import _PanelView

__all__ = ["EDIT_ERRORS", "LivePanel", "live", "render_png"]


class LivePanel(_PanelView):
    """Train ``cfg`` (a :class:`TrainConfig`, its dict, or a ready :class:`Run`) in a background
    thread with a widget panel to edit the policy.

    Args:
        run: what to train.
        data: the dataset (passed to :class:`Run` when ``run`` is a config).
        db: the policy database the run is recorded to (see :class:`Run`); the edit history is part
            of the record, so the database gets it with the finished run.
        refresh_s: seconds between redraws of the plot and labels.
        plot: draw the LR / loss / accuracy plot (False: labels only, e.g. in fast tests).
        snapshot_dir: where :meth:`snapshot` writes when no path is given (default: the cwd).
        start: start training now (else call :meth:`start`).
    """

    def __init__(self, run, data=None, db=None, refresh_s: float = 1.0, plot: bool = True,
                 snapshot_dir=None, start: bool = True):
        if isinstance(run, dict):
            run = TrainConfig.from_dict(run)
        if isinstance(run, TrainConfig):
            from lrkit.db.recorder import RunRecorder

            run = Run(run, data=data, progress=False, db=RunRecorder.open(db))  # None: $LRKIT_DB_URL when set
        if not isinstance(run, Run):
            raise TypeError(f"LivePanel: expected a TrainConfig, its dict or a Run, got {type(run).__name__}")
        self.run = run
        self.monitor = run.monitor
        self.cfg = run.cfg
        self.refresh_s = float(refresh_s)
        self.plot = plot
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir is not None else Path(".")
        self.errors: list[str] = []
        self.snapshots: list[str] = []
        self.record = None
        self.exception: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._refresher: threading.Thread | None = None
        self._done = threading.Event()
        self._edit_lock = threading.Lock()  # one edit at a time (widgets and Python callers)
        self._syncing = False  # True while controls mirror an applied edit (no auto-apply then)
        self._drawn = None
        self.frames = 0  # plot redraws so far
        self._build()
        if start:
            self.start()

    def start(self) -> "LivePanel":
        """Start training in a daemon thread, and the refresher; returns the panel."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._train, name="lrkit-live-train", daemon=True)
        self._refresher = threading.Thread(target=self._refresh_loop, name="lrkit-live-refresh", daemon=True)
        self._thread.start()
        self._refresher.start()
        return self

    def _train(self) -> None:
        try:
            self.record = self.run.run()
            self.log(f"run finished: {self.record.status} {self.record.message}".rstrip())
        except BaseException as e:  # noqa: BLE001 - shown in the panel, never lost in a thread
            self.exception = e
            self.record = self.monitor.record
            msg = f"training failed: {type(e).__name__}: {e}"
            self._error(msg)
            self.log("".join(traceback.format_exception(e)))
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None):
        """Block until the run ends (or ``timeout`` s); returns the :class:`RunRecord` (None if still
        running). Redraws the panel once more at the end."""
        if self._thread is None:
            self.start()
        if not self._done.wait(timeout):
            return None
        self._thread.join()
        if self._refresher is not None:
            self._refresher.join(timeout=10)
        self.refresh()
        return self.record

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def pause(self) -> None:
        self.run.pause()
        self.refresh(plot=False)

    def resume(self) -> None:
        self.run.resume()
        self.refresh(plot=False)

    def stop(self) -> None:
        self.run.stop()
        self.refresh(plot=False)

    def current_policy(self):
        """The policy in force, or the edit waiting for the next iteration."""
        pol, _, pending = self.monitor.current()
        return pending[0] if pending else pol

    def apply(self, spec=None, restart: bool = False, lam: float | None = None, family: str | None = None,
              raise_errors: bool = True, **params) -> str | None:
        """Edit the running policy from the next iteration on; returns the applied spec.

        spec: a new policy (spec string, dict or Policy); else the running policy is edited:
        ``family`` switches to another policy family (its parameters from ``params``, then same-named
        values of the running policy, then defaults), ``params`` change parameters, e.g.
        ``apply(k1=0.03)``. lam: the coefficient λ (the policy becomes ``λ·P``; None keeps the
        current λ unless ``spec`` is given). restart: start a new composite stage — the policy sees
        t = 0 at the next iteration (default: it sees the global iteration, keeping the curve's phase).

        A bad spec or value leaves the run untouched; the policy library's message is shown in the
        panel and raised (``raise_errors=False``: returned as None instead).
        """
        try:
            pol = self._build_policy(spec, lam, family, params)
            with self._edit_lock:
                self.monitor.set_policy(pol, restart=restart)
        except EDIT_ERRORS as e:
            self._error(f"{type(e).__name__}: {e}")
            if raise_errors:
                raise
            return None
        text = str(pol)
        self._clear_error()
        self.log(f"edit at iteration ≥ {self.run.t}: {text}" + (" (new stage)" if restart else ""))
        self._sync_controls(pol)
        self.refresh(plot=False)
        return text

    def _build_policy(self, spec, lam, family, params):
        if spec is not None:
            pol = parse(spec)
            if family is not None:
                raise PolicyError("apply: give either a spec or a family, not both")
            cur_lam, base = C.unwrap(pol)
            if params:
                base = base.replace(**params)
            lam = cur_lam if lam is None else lam
        else:
            cur_lam, base = C.unwrap(self.current_policy())
            lam = cur_lam if lam is None else lam
            if family is not None and lookup(family).name != getattr(base, "name", None):
                cls = lookup(family)
                values = C.default_values(cls, like=base, lr=self._last_lr() / (lam or 1), iters=self.cfg.iters)
                values.update(params)
                base = cls(**values)
            elif params:
                base = base.replace(**params)
        if lam is None or lam == 1:
            return base
        return SCALE(lam=lam, policy=base)

    def replay(self):
        """The MULTI policy that reproduces the run's LR trace so far (see :func:`lrkit.train.replay_policy`)."""
        return self.monitor.replay_policy()

    def snapshot(self, path=None) -> str:
        """Write the run's record as it stands (JSON, :meth:`RunRecord.load` reads it) and return the
        path; the replay spec is ``replay_policy(record.history)``."""
        if path is None:
            self.snapshot_dir.mkdir(parents=True, exist_ok=True)
            path = self.snapshot_dir / f"live-snapshot-t{self.run.t}.json"
        path = Path(path)
        text = self.monitor.record.to_json(indent=1)
        path.write_text(text)
        self.snapshots.append(str(path))
        self.log(f"snapshot at iteration {self.run.t}: {path}")
        self.refresh(plot=False)
        return str(path)

    @property
    def status(self) -> str:
        if self._thread is None:
            return "not started"
        if self.exception is not None:
            return "failed"
        if self._done.is_set():
            return self.record.status if self.record is not None else "failed"
        if self.run.paused:
            return "paused"
        return "running"

    @property
    def state(self) -> dict:
        """A snapshot of the run for Python callers and tests (any thread)."""
        rec = self.monitor.record
        pol, offset, pending = self.monitor.current()
        lrs, losses, ev = rec.curves["lr"], rec.curves["loss"], rec.evals
        return {
            "iteration": self.run.t,
            "status": self.status,
            "policy": str(pol),
            "offset": offset,
            "pending": None if pending is None else {"policy": str(pending[0]), "time": pending[1]},
            "lr": lrs[-1] if lrs else None,
            "loss": losses[-1] if losses else None,
            "top1": ev["top1"][-1] if ev["top1"] else None,
            "history": [dict(h) for h in list(rec.history)],
            "errors": list(self.errors),
            "snapshots": list(self.snapshots),
        }

    def _last_lr(self) -> float:
        lrs = self.monitor.record.curves["lr"]
        if lrs:
            return float(lrs[-1])
        try:
            return float(self.monitor.policy(0))
        except Exception:  # noqa: BLE001 - state-based policy
            return 0.01


def live(cfg, data=None, db=None, display: bool = True, **kw) -> LivePanel:
    """Start ``cfg`` training in the background with a :class:`LivePanel`, display it (in IPython)
    and return it."""
    panel = LivePanel(cfg, data=data, db=db, **kw)
    if display:
        try:
            from IPython import get_ipython
            from IPython.display import display as show

            if get_ipython() is not None:
                show(panel.widget)
        except ImportError:
            pass
    return panel
