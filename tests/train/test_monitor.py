"""The LR schedule monitor: LR application, records, divergence, targets, live edits and replay."""

import json
import threading

import numpy as np
import pytest
import torch

from lrkit.policies import MULTI, SHIFT, SIN2, parse
from lrkit.train import LRMonitor, RunRecord, replay_policy


def sgd(lr=1.0):
    return torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=lr)


def test_applies_and_records_the_policy_lr():
    p = parse("SIN2(k0=0.01, k1=0.06, l=50)")
    opt = sgd()
    m = LRMonitor(p, opt)
    for t in range(300):
        lr = m.lr_for(t)
        assert opt.param_groups[0]["lr"] == lr == p(t)
        m.log_loss(t, 1.0)
    rec = m.finish()
    assert rec.status == "complete" and rec.summary["iterations"] == 300
    np.testing.assert_array_equal(rec.curves["lr"], p(np.arange(300)))


def test_tensor_lr_is_filled_in_place():
    opt = torch.optim.Adam([torch.zeros(2, requires_grad=True)], lr=torch.tensor(0.5), fused=True)
    lr_t = opt.param_groups[0]["lr"]
    m = LRMonitor("FIX(k=0.25)", opt)
    m.lr_for(0)
    assert opt.param_groups[0]["lr"] is lr_t and lr_t.item() == 0.25


def test_highest_accuracy_target_and_cost_effective_stop():
    m = LRMonitor("FIX(k=0.1)", target_acc=0.9, stop_at_target=False)
    for it, acc in [(500, 0.5), (1000, 0.92), (1500, 0.95), (2000, 0.91)]:
        assert m.log_eval(it, acc, min(1.0, acc + 0.05)) is False
    s = m.finish().summary
    assert s["highest_top1"] == 0.95 and s["highest_top1_iteration"] == 1500
    assert s["final_top1"] == 0.91 and s["iterations_to_target"] == 1000 and s["highest_top5"] == 1.0
    m2 = LRMonitor("FIX(k=0.1)", target_acc=0.9, stop_at_target=True)
    assert m2.log_eval(500, 0.5) is False and m2.log_eval(1000, 0.9) is True


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 50.0])
def test_divergence_is_detected_and_recorded(bad, tmp_path):
    m = LRMonitor("FIX(k=10)")
    for t in range(20):
        m.lr_for(t)
        assert m.log_loss(t, 2.3) is False
    m.lr_for(20)
    assert m.log_loss(20, bad) is True
    rec = m.finish("complete")
    assert rec.status == "diverged" and "iteration 20" in rec.message
    rec.save(tmp_path / "r.json")  # NaN/inf survive as strings in valid JSON
    back = RunRecord.load(tmp_path / "r.json")
    assert back.status == "diverged" and len(back.curves["loss"]) == 21
    json.loads((tmp_path / "r.json").read_text())


def test_live_edits_from_another_thread_apply_at_the_next_iteration_and_replay_exactly():
    m = LRMonitor("FIX(k=0.1)", sgd())
    go = threading.Event()

    def editor():
        go.wait()
        m.set_policy("SIN2(k0=0.01, k1=0.06, l=20)")  # global time: keeps the phase

    th = threading.Thread(target=editor)
    th.start()
    for t in range(100):
        m.lr_for(t)
        if t == 29:
            go.set()
            th.join()
        if t == 59:
            m.update_params(k1=0.08)  # a slider move: one parameter changed
        if t == 79:
            m.set_policy("FIX(k=0.5)", restart=True)
    lrs = np.array(m.record.curves["lr"])
    assert np.all(lrs[:30] == 0.1)
    s2 = SIN2(k0=0.01, k1=0.06, l=20)
    np.testing.assert_array_equal(lrs[30:60], s2(np.arange(30, 60)))
    np.testing.assert_array_equal(lrs[60:80], s2.replace(k1=0.08)(np.arange(60, 80)))
    assert np.all(lrs[80:] == 0.5)
    assert [h["iteration"] for h in m.record.history] == [0, 30, 60, 80]
    rp = m.replay_policy()
    assert isinstance(rp, MULTI) and isinstance(rp.stages[1][1], SHIFT)
    np.testing.assert_array_equal(rp(np.arange(100)), lrs)
    assert parse(str(rp)) == rp  # the replay spec survives a database round trip


def test_bad_edit_raises_in_the_caller_and_the_run_goes_on():
    m = LRMonitor("FIX(k=0.1)")
    m.lr_for(0)
    with pytest.raises(ValueError, match="SIN2: parameter 'l' must be"):
        m.set_policy("SIN2(k0=0.01, k1=0.06, l=-1)")
    assert m.lr_for(1) == 0.1


def test_replay_of_an_unedited_run_is_the_policy_itself():
    assert replay_policy([{"iteration": 0, "policy": "FIX(k=0.1)"}]) == parse("FIX(k=0.1)")


def test_bad_arguments():
    with pytest.raises(ValueError, match="target_acc must be a fraction"):
        LRMonitor("FIX(k=0.1)", target_acc=99.1)
    with pytest.raises(ValueError, match="status must be one of"):
        LRMonitor("FIX(k=0.1)").finish("done")


def test_state_based_policy_reads_the_training_loss_through_the_monitor():
    opt = sgd()
    m = LRMonitor("ReduceLROnPlateau(k=0.1, factor=0.5, patience=3, min_delta=0.0)", opt)
    for t in range(12):
        m.lr_for(t)
        m.log_loss(t, 1.0)  # flat from the start: the first sets the best, every 3 after reduce
    lrs = m.record.curves["lr"]
    assert lrs[:4] == [0.1] * 4 and lrs[4] == 0.05 and lrs[7] == 0.025 and lrs[10] == 0.0125
    assert opt.param_groups[0]["lr"] == 0.0125
    assert m.record.policy.startswith("ReduceLROnPlateau(")


def test_replay_of_an_edited_run_with_a_state_based_policy_says_why_not():
    history = [{"iteration": 0, "policy": "FIX(k=0.1)"}, {"iteration": 20, "policy": "ReduceLROnPlateau(k=0.05)"}]
    with pytest.raises(ValueError, match=r"state-based ReduceLROnPlateau \(from iteration 20\).*curves\['lr'\]"):
        replay_policy(history)
    never_edited = [{"iteration": 0, "policy": "ReduceLROnPlateau(k=0.05)"}]
    assert str(replay_policy(never_edited)) == "ReduceLROnPlateau(k=0.05)"  # the policy itself
