"""The live panel's widgets: the controls built from the policy, their callbacks, labels and redraws.

:class:`_PanelView` is the widget half of :class:`lrkit.widgets.LivePanel`; it edits the run only
through the panel's :meth:`~lrkit.widgets.LivePanel.apply`.
"""

from __future__ import annotations

import math

from lrkit.policies import lookup

from . import controls as C
from .controls import EDIT_ERRORS
from .figure import render_png


class _PanelView:
    """The widgets of a :class:`~lrkit.widgets.LivePanel` (built by :meth:`_build`)."""

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


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.4g}"


def _esc(s) -> str:
    import html

    return html.escape(str(s))
