"""The live policy panel driven from Python (no browser): edits mid-run, replay, errors, controls."""

import time

import ipywidgets as W
import numpy as np
import pytest
import torch

from lrkit.optim.fused_adam import FusedAdam
from lrkit.optim.program import ProgramError
from lrkit.policies import PolicyError, parse
from lrkit.train import LRMonitor, RunRecord, TrainConfig
from lrkit.widgets import LivePanel, render_png
from tests.tiny_data import write_tiny_npz


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_npz(tmp_path_factory.mktemp("tiny") / "tiny.npz")


def cfg(tiny, **kw):
    base = dict(dataset=tiny, policy="TRI(k0=0.01, k1=0.05, l=40)", iters=240, batch_size=20, eval_every=60,
                eval_batch_size=100, threads=1)
    base.update(kw)
    return TrainConfig(**base)


def wait_for(panel, t, timeout=60):
    end = time.monotonic() + timeout
    while panel.run.t < t and not panel.done:
        assert time.monotonic() < end, f"training did not reach iteration {t}"
        time.sleep(0.002)
    assert not panel.done, "the run ended before the edit"


def edits(record):
    return [(h["iteration"], parse(h["policy"]), h["time"]) for h in record.history]


def test_two_edits_mid_run_follow_the_new_policies_and_replay_exactly(tiny):
    panel = LivePanel(cfg(tiny), plot=False)
    wait_for(panel, 60)
    assert panel.apply(k1=0.03) == "TRI(k0=0.01, k1=0.03, l=40)"  # global time: keeps the phase
    wait_for(panel, 130)
    assert panel.apply("COS(k0=0.001, k1=0.02, l=30)", restart=True) == "COS(k0=0.001, k1=0.02, l=30)"
    rec = panel.wait(timeout=120)
    assert rec.status == "complete" and panel.state["status"] == "complete" and not panel.errors
    (s0, p0, _), (s1, p1, m1), (s2, p2, m2) = edits(rec)
    assert s0 == 0 and 60 <= s1 < s2 < 240 and s2 >= 130 and (m1, m2) == ("global", "restart")
    lrs = np.asarray(rec.curves["lr"])
    assert len(lrs) == 240
    np.testing.assert_array_equal(lrs[:s1], p0(np.arange(s1)))
    np.testing.assert_array_equal(lrs[s1:s2], p1(np.arange(s1, s2)))  # the new policy at the global t
    np.testing.assert_array_equal(lrs[s2:], p2(np.arange(240 - s2)))  # a new stage: its own t = 0 at s2
    assert lrs[s1] != p0(s1) or lrs[s1 + 10] != p0(s1 + 10)
    replay = panel.replay()
    assert type(replay).__name__ == "MULTI"
    np.testing.assert_array_equal(np.array([replay(t) for t in range(240)]), lrs)
    np.testing.assert_array_equal(parse(str(replay))(np.arange(240)), lrs)  # the spec text replays too
    assert panel.run.optimizer.param_groups[0]["lr"] == lrs[-1]
    assert [h["iteration"] for h in panel.state["history"]] == [0, s1, s2]


def test_bad_edits_are_shown_and_the_run_keeps_going(tiny):
    panel = LivePanel(cfg(tiny), plot=False)
    wait_for(panel, 20)
    with pytest.raises(PolicyError, match="k0"):
        panel.apply(k0=-1)
    assert "parameter &#x27;k0&#x27; must be a finite number &gt;= 0" in panel.w_error.value
    with pytest.raises(PolicyError):
        panel.apply("TRI(k0=0.01, k1=")
    with pytest.raises(PolicyError, match="unknown policy"):
        panel.apply(family="TRIANGLE")
    assert panel.apply(nope=1, raise_errors=False) is None  # unknown parameter: a TypeError, shown
    assert len(panel.state["errors"]) == 4 and "nope" in panel.state["errors"][-1]
    assert panel.state["pending"] is None and len(panel.state["history"]) == 1  # nothing reached the run
    assert not panel.done and panel.status == "running"
    panel.apply(k0=0.02)
    assert panel.w_error.value == ""  # a good edit clears the message
    rec = panel.wait(timeout=120)
    assert rec.status == "complete" and len(rec.curves["lr"]) == 240 and len(rec.history) == 2


def test_pause_resume_stop_and_snapshot(tiny, tmp_path):
    panel = LivePanel(cfg(tiny, iters=100000), plot=False, snapshot_dir=tmp_path)
    wait_for(panel, 10)
    panel.pause()
    time.sleep(0.2)
    t = panel.run.t
    time.sleep(0.3)
    assert panel.run.t <= t + 1 and panel.state["status"] == "paused"
    panel.apply(lam=0.5)  # an edit while paused applies at the next iteration after resume
    panel.resume()
    wait_for(panel, t + 20)
    assert panel.state["status"] == "running"
    path = panel.snapshot()
    snap = RunRecord.load(path)
    assert snap.status == "running" and snap.history[-1]["policy"] == "0.5*TRI(k0=0.01, k1=0.05, l=40)"
    panel.stop()
    rec = panel.wait(timeout=30)
    assert rec.status == "stopped" and panel.state["status"] == "stopped" and len(rec.curves["lr"]) < 100000
    s = rec.history[-1]["iteration"]
    lrs = np.asarray(rec.curves["lr"])
    np.testing.assert_array_equal(lrs[s:], 0.5 * parse("TRI(k0=0.01, k1=0.05, l=40)")(np.arange(s, len(lrs))))
    np.testing.assert_array_equal(panel.replay()(np.arange(len(lrs))), lrs)


def test_lambda_keeps_the_policy_and_a_later_parameter_edit_keeps_lambda(tiny):
    panel = LivePanel(cfg(tiny), plot=False)
    wait_for(panel, 30)
    assert panel.apply(lam=0.25) == "0.25*TRI(k0=0.01, k1=0.05, l=40)"
    wait_for(panel, 100)
    assert panel.apply(l=20) == "0.25*TRI(k0=0.01, k1=0.05, l=20)"
    assert panel.w_lam.value == 0.25 and panel.controls()["l"].value == 20  # controls mirror the edit
    rec = panel.wait(timeout=120)
    np.testing.assert_array_equal(panel.replay()(np.arange(240)), rec.curves["lr"])


def test_fused_adam_gets_each_edit_as_its_device_schedule():
    """The monitor hands FusedAdam the edited policy in global time; the LR the step used is the policy's."""
    w = torch.nn.Parameter(torch.ones(4))
    opt = FusedAdam([w], policy="TRI(k0=0.001, k1=0.01, l=10)")
    mon = LRMonitor("TRI(k0=0.001, k1=0.01, l=10)", opt)
    plan = {15: ("COS(k0=0.002, k1=0.02, l=8)", False), 31: ("0.5*STEP(k=0.01, gamma=0.5, l=5)", True),
            47: ("FIX(k=0.003)", True)}
    for t in range(60):
        if t in plan:
            mon.set_policy(plan[t][0], restart=plan[t][1])
        lr = mon.lr_for(t)
        w.grad = torch.full_like(w, 0.1)
        opt.step()
        assert opt.last_lr()[0] == pytest.approx(lr, rel=1e-12, abs=1e-15), t
    lrs = np.asarray(mon.record.curves["lr"])
    np.testing.assert_array_equal(mon.replay_policy()(np.arange(60)), lrs)
    np.testing.assert_array_equal(lrs[31:47], parse(plan[31][0])(np.arange(16)))
    with pytest.raises(ProgramError):  # a state-based policy cannot run on the device: refused in the caller
        mon.set_policy("ReduceLROnPlateau(k=0.01)")


def test_panel_trains_with_fused_adam(tiny):
    panel = LivePanel(cfg(tiny, optimizer="fused_adam", policy="FIX(k=0.001)", iters=160), plot=False)
    wait_for(panel, 40)
    panel.apply(family="COS", k0=0.0005, k1=0.004, l=30)
    wait_for(panel, 100)
    panel.apply("STEP(k=0.002, gamma=0.5, l=10)", restart=True)
    assert panel.apply("ReduceLROnPlateau(k=0.01)", raise_errors=False) is None  # shown, not applied
    rec = panel.wait(timeout=120)
    assert rec.status == "complete" and "ReduceLROnPlateau" in panel.state["errors"][-1]
    lrs = np.asarray(rec.curves["lr"])
    s = rec.history[-1]["iteration"]
    assert panel.run.optimizer.last_lr()[0] == pytest.approx(lrs[-1], rel=1e-12)
    assert lrs[-1] == parse("STEP(k=0.002, gamma=0.5, l=10)")(159 - s)
    assert panel.run.optimizer.steps() == [160]
    np.testing.assert_array_equal(panel.replay()(np.arange(160)), lrs)


def test_controls_fit_the_parameters_and_a_slider_move_edits_the_run(tiny):
    panel = LivePanel(cfg(tiny, iters=100000), plot=True, refresh_s=0.2)
    try:
        c = panel.controls()
        assert isinstance(c["k0"], W.FloatLogSlider) and isinstance(c["k1"], W.FloatLogSlider)
        assert isinstance(c["l"], W.IntText) and c["l"].value == 40
        assert isinstance(panel.widget, W.VBox) and isinstance(panel.w_family, W.Dropdown)
        assert "MULTI" not in panel.w_family.options and "NSTEP" in panel.w_family.options
        wait_for(panel, 10)
        c["k1"].value = 0.02  # what moving the slider does
        wait_for(panel, panel.run.t + 2)
        assert panel.state["history"][-1]["policy"] == "TRI(k0=0.01, k1=0.02, l=40)"
        c["l"].value = -5  # the library's error in the panel, the run untouched
        assert "parameter &#x27;l&#x27;" in panel.w_error.value
        panel.w_family.value = "NSTEP"  # new controls for the family (not applied until a change / Apply)
        c = panel.controls()
        assert isinstance(c["k"], W.FloatLogSlider) and isinstance(c["l"], W.Text) and isinstance(c["gamma"], W.FloatText)
        c["l"].value = "300, 200"
        assert "strictly increasing" in panel.state["errors"][-1]
        c["l"].value = "300, 600"
        wait_for(panel, panel.run.t + 2)
        assert panel.state["history"][-1]["policy"].startswith("NSTEP(k=")
        assert panel.state["history"][-1]["policy"].endswith("l=[300, 600])")
        panel.w_restart.value = True
        panel.w_apply.click()
        wait_for(panel, panel.run.t + 2)
        assert panel.state["history"][-1]["time"] == "restart"
        end = time.monotonic() + 20
        while panel.frames < 1 and time.monotonic() < end:
            time.sleep(0.05)
        assert panel.frames >= 1 and panel.w_image.value[:4] == b"\x89PNG"
        assert "lrkit-live-status" in panel.w_status.value and "NSTEP" in panel.w_history.value
    finally:
        panel.stop()
        panel.wait(timeout=30)
    hist = panel.record.history
    np.testing.assert_array_equal(panel.replay()(np.arange(len(panel.record.curves["lr"]))), panel.record.curves["lr"])
    assert len(hist) == 4


def test_render_png_marks_edits():
    mon = LRMonitor("FIX(k=0.1)")
    for t in range(50):
        if t == 20:
            mon.set_policy("FIX(k=0.05)")
        mon.lr_for(t)
        mon.log_loss(t, 1.0 / (t + 1))
    mon.log_eval(50, 0.5)
    png = render_png(mon.record, mon, 100)
    assert png[:4] == b"\x89PNG" and len(png) > 1000
