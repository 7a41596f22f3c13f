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

import io
import math
import threading
import traceback
from pathlib import Path

from lrkit.policies import SCALE, PolicyError, lookup, parse
from lrkit.train.engine import Run, TrainConfig

from . import controls as C

#: the errors an edit can raise: bad spec/value (PolicyError, ValueError), a policy the device
#: schedule cannot compile (ProgramError, a TypeError), an unknown parameter name (TypeError)
EDIT_ERRORS = (PolicyError, ValueError, TypeError)


class LivePanel:
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

    # ---- the training thread ----------------------------------------------------------------
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

    # ---- controls (any thread) -----------------------------------------------------------------
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

    # ---- widgets ------------------------------------------------------------------------------
    def _build(self) -> None:
        import ipywidgets as W

        lam, base = C.unwrap(self.monitor.policy)
        families = C.editable_families()
        fam = getattr(base, "name", None)
        self.w_family = W.Dropdown(options=families + ([fam] if fam not in families else []), value=fam,
                                   description="policy", style={"description_width": "initial"})
        self.w_lam = W.FloatLogSlider(value=min(max(lam, 1e-3), 1e3), base=10, min=-3, max=3, step=0.01,
                                      description="λ", readout_format=".3g", continuous_update=False)
        self.w_restart = W.Checkbox(value=False, description="new stage (t restarts at 0)", indent=False)
        self.w_auto = W.Checkbox(value=True, description="apply on change", indent=False)
        self.w_apply = W.Button(description="Apply", button_style="primary", icon="check")
        self.w_spec = W.Text(value=str(self.monitor.policy), description="spec", continuous_update=False,
                             layout=W.Layout(width="100%"), style={"description_width": "initial"})
        self.w_apply_spec = W.Button(description="Apply spec", icon="code")
        self.w_pause = W.Button(description="Pause", icon="pause")
        self.w_resume = W.Button(description="Resume", icon="play")
        self.w_stop = W.Button(description="Stop", icon="stop", button_style="danger")
        self.w_snapshot = W.Button(description="Snapshot", icon="camera")
        self.w_status = W.HTML()
        self.w_error = W.HTML()
        self.w_history = W.HTML()
        self.w_params = W.VBox()
        self.w_image = W.Image(format="png", layout=W.Layout(width="100%", max_width="900px"))
        self.w_log = W.Output(layout=W.Layout(max_height="160px", overflow="auto", border="1px solid #ddd"))
        self.param_controls: dict = {}
        self._make_param_controls(base)

        self.w_family.observe(self._on_family, names="value")
        self.w_lam.observe(self._on_control, names="value")
        self.w_apply.on_click(lambda _: self._apply_controls())
        self.w_apply_spec.on_click(lambda _: self.apply(self.w_spec.value, restart=self.w_restart.value,
                                                        raise_errors=False))
        self.w_pause.on_click(lambda _: self.pause())
        self.w_resume.on_click(lambda _: self.resume())
        self.w_stop.on_click(lambda _: self.stop())
        self.w_snapshot.on_click(lambda _: self._safe(self.snapshot))
        edit = W.VBox([W.HBox([self.w_family, self.w_lam]), self.w_params,
                       W.HBox([self.w_restart, self.w_auto, self.w_apply]),
                       W.HBox([self.w_spec, self.w_apply_spec], layout=W.Layout(width="100%"))])
        buttons = W.HBox([self.w_pause, self.w_resume, self.w_stop, self.w_snapshot])
        self.widget = W.VBox([self.w_status, self.w_error, W.HBox([edit]), buttons, self.w_image,
                              W.Accordion(children=[W.VBox([self.w_history, self.w_log])], titles=("history and log",),
                                          selected_index=0)])
        self.widget.add_class("lrkit-live-panel")
        self.refresh(plot=False)

    def _make_param_controls(self, policy) -> None:
        cls = _proto_type(policy)
        if getattr(cls, "family", "") == "composite" or not hasattr(cls, "parameters"):
            self.param_controls = {}
            self.w_params.children = []
            return
        if isinstance(policy, _Proto):
            values = policy.params()
        else:
            values = C.default_values(cls, like=policy, lr=self._last_lr(), iters=self.cfg.iters)
        ctrls = {}
        for f in cls.parameters():
            w = C.make_control(f, values[f.name])
            w.observe(self._on_control, names="value")
            w.add_class(f"lrkit-param-{f.name}")
            ctrls[f.name] = (f, w)
        self.param_controls = ctrls
        self.w_params.children = [w for _, w in ctrls.values()]

    def controls(self) -> dict:
        """``{parameter name: widget}`` of the family shown."""
        return {k: w for k, (_, w) in self.param_controls.items()}

    def _on_family(self, change) -> None:
        if self._syncing:
            return
        try:
            _, base = C.unwrap(self.current_policy())
            cls = lookup(change["new"])
            if type(base) is cls:
                self._make_param_controls(base)
            else:
                values = C.default_values(cls, like=base, lr=self._last_lr(), iters=self.cfg.iters)
                self._make_param_controls(_Proto(cls, values))
        except Exception as e:  # noqa: BLE001 - a widget callback must never raise
            self._error(f"{type(e).__name__}: {e}")

    def _on_control(self, change) -> None:
        if self._syncing or not self.w_auto.value:
            return
        self._apply_controls()

    def _apply_controls(self):
        """Apply what the controls show (family, parameters, λ, new stage); errors go to the panel."""
        try:
            values = {name: C.read_control(f, w) for name, (f, w) in self.param_controls.items()}
        except Exception as e:  # noqa: BLE001
            self._error(f"{type(e).__name__}: {e}")
            return None
        if not values:
            return self.apply(self.w_spec.value, restart=self.w_restart.value, lam=self.w_lam.value,
                              raise_errors=False)
        try:
            pol = lookup(self.w_family.value)(**values)
        except EDIT_ERRORS as e:
            self._error(f"{type(e).__name__}: {e}")
            return None
        return self.apply(pol, restart=self.w_restart.value, lam=self.w_lam.value, raise_errors=False)

    def _sync_controls(self, policy) -> None:
        """Show an applied policy in the controls without triggering another edit."""
        lam, base = C.unwrap(policy)
        self._syncing = True
        try:
            self.w_spec.value = str(policy)
            self.w_lam.value = min(max(lam, 1e-3), 1e3)
            name = getattr(base, "name", None)
            if name not in self.w_family.options:
                self.w_family.options = list(self.w_family.options) + [name]
            if self.w_family.value != name or set(self.param_controls) != set(base.params() if hasattr(base, "params") else {}):
                self.w_family.value = name
                self._make_param_controls(base)
            else:
                params = base.params()
                for k, (_, w) in self.param_controls.items():
                    C.set_control(w, params[k])
        finally:
            self._syncing = False

    def _safe(self, fn):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001
            self._error(f"{type(e).__name__}: {e}")

    # ---- feedback -----------------------------------------------------------------------------
    def log(self, text: str) -> None:
        """Append a line to the panel's log (safe from any thread: no cell's output is involved)."""
        self.w_log.append_stdout(text.rstrip("\n") + "\n")

    def _error(self, msg: str) -> None:
        self.errors.append(msg)
        self.w_error.value = f'<div class="lrkit-live-error" style="color:#b00020"><b>not applied:</b> {_esc(msg)}</div>'

    def _clear_error(self) -> None:
        self.w_error.value = ""

    def refresh(self, plot: bool | None = None) -> None:
        """Redraw the labels (and the plot unless ``plot=False``); the refresher calls it."""
        st = self.state
        lr, loss, top1 = st["lr"], st["loss"], st["top1"]
        pend = st["pending"]
        self.w_status.value = (
            f'<div class="lrkit-live-status"><b>{_esc(st["status"])}</b> · iteration '
            f'<span class="lrkit-live-iteration">{st["iteration"]}</span>/{self.cfg.iters} · lr {_fmt(lr)} · '
            f'loss {_fmt(loss)} · top-1 {_fmt(top1)}<br>policy: <code class="lrkit-live-policy">{_esc(st["policy"])}</code>'
            + (f' (from t−{st["offset"]})' if st["offset"] else "")
            + (f'<br>next iteration: <code>{_esc(pend["policy"])}</code> ({pend["time"]})' if pend else "") + "</div>")
        rows = "".join(f'<li>t={h["iteration"]} ({h["time"]}): <code>{_esc(h["policy"])}</code></li>' for h in st["history"])
        self.w_history.value = f'<div class="lrkit-live-history"><b>edit history</b><ol start="0">{rows}</ol></div>'
        if plot is None:
            plot = self.plot
        if plot:
            self._draw()

    def _refresh_loop(self) -> None:
        while True:
            finished = self._done.wait(self.refresh_s)
            if finished and self._thread is not None:
                self._thread.join()  # the record is final: show it
            try:
                self.refresh()
            except Exception as e:  # noqa: BLE001 - keep refreshing; say why once per kind
                msg = f"refresh: {type(e).__name__}: {e}"
                if msg not in self.errors:
                    self.errors.append(msg)
                    self.log(msg)
            if finished:
                return

    def _draw(self) -> None:
        rec = self.monitor.record
        key = (len(rec.curves["lr"]), len(rec.evals["iteration"]), len(rec.history), self.monitor.current()[2] is not None)
        if key == self._drawn:
            return
        self.w_image.value = render_png(rec, self.monitor, self.cfg.iters)
        self._drawn = key
        self.frames += 1

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


class _Proto:
    """Stand-in policy (class + values) to build controls for a family before it is applied."""

    def __init__(self, cls, values):
        self._cls, self._values = cls, values

    def params(self):
        return dict(self._values)


def _proto_type(obj):
    return obj._cls if isinstance(obj, _Proto) else type(obj)


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


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.4g}"


def _esc(s) -> str:
    import html

    return html.escape(str(s))


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

