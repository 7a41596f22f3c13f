"""M-opt LR measured during training (004 §4.2, Formula 7): the engine's probe against snapshots taken
by hooks, the quadratic where η* is known, records old and new, the run key, and ``lrkit train``."""

import json
import math

import numpy as np
import pytest
import torch

from lrkit.evaluate.mopt import mopt_summary
from lrkit.optim import _ext, mopt_l1_reference, mopt_lr
from lrkit.policies import parse
from lrkit.run import run_key
from lrkit.train import LRMonitor, Run, RunRecord, TrainConfig
from lrkit.train.engine import MoptProbe

ITERS, M = 24, 5  # measurements at t = 0, 5, 10, 15, 20 (the last uses Θ_20, Θ_21, Θ_22)


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    """A few hundred learnable 1×28×28 images: 4 classes, each a bright square in its own quadrant."""
    rng = np.random.default_rng(0)

    def split(n):
        y = rng.integers(0, 4, n)
        x = rng.integers(0, 60, (n, 1, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            r, q = divmod(int(c), 2)
            x[i, 0, 2 + 14 * r:12 + 14 * r, 2 + 14 * q:12 + 14 * q] += 150
        return x, y.astype(np.int64)

    (xtr, ytr), (xte, yte) = split(300), split(100)
    path = tmp_path_factory.mktemp("mopt") / "quadrants.npz"
    np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return path


@pytest.fixture(scope="module")
def data(npz):
    from lrkit.train.data import load_dataset

    return load_dataset(f"npz:{npz}")


def cfg(npz, **kw):
    base = dict(dataset=f"npz:{npz}", model="lenet", optimizer="sgd", policy="EXP(k=0.05, gamma=0.97)", iters=ITERS,
                batch_size=20, eval_every=1000, eval_batch_size=100, seed=3, threads=1, mopt_every=M)
    base.update(kw)
    return TrainConfig(**base)


def run_with_snapshots(config, data):
    """Train through the engine, keeping Θ_0, Θ_1, … (all trainable params, after each step) by a hook."""
    run = Run(config, data=data, progress=False)
    params = [p for p in run.model.parameters() if p.requires_grad]
    thetas = [[p.detach().clone() for p in params]]
    run.optimizer.register_step_post_hook(lambda *_: thetas.append([p.detach().clone() for p in params]))
    return run, run.run(), thetas


@pytest.fixture(scope="module")
def measured(npz, data):
    return run_with_snapshots(cfg(npz), data)


def test_eta_star_at_every_m_iterations_equals_formula_7_on_the_hooked_snapshots(measured):
    _, rec, thetas = measured
    assert rec.status == "complete" and len(thetas) == ITERS + 1
    m = rec.mopt
    assert m["iteration"] == [0, 5, 10, 15, 20]
    lrs = rec.curves["lr"]
    assert m["lr"] == [lrs[t + 1] for t in m["iteration"]]  # η_{t+1}: the LR of the update Θ_{t+1} → Θ_{t+2}
    for t, eta, got in zip(m["iteration"], m["lr"], m["mopt_lr"]):
        th0, th1, th2 = thetas[t], thetas[t + 1], thetas[t + 2]
        assert got == float(mopt_lr(eta, th0, th1, th2))  # the same op, the same snapshots: bit for bit
        a, b = mopt_l1_reference(th0, th1, th2)  # float64 numpy, independent of the fused op
        assert got == pytest.approx(eta * a / b, rel=1e-9)
        assert math.isfinite(got) and got > 0


def test_measuring_does_not_change_the_training(npz, data, measured):
    _, rec, _ = measured
    plain = Run(cfg(npz, mopt_every=None), data=data, progress=False).run()
    assert plain.curves["loss"] == rec.curves["loss"] and plain.curves["lr"] == rec.curves["lr"]
    assert plain.mopt == {"iteration": [], "lr": [], "mopt_lr": []}


def test_the_torch_fallback_gives_the_same_eta_star(npz, data, measured, monkeypatch):
    """What LRKIT_NO_EXT=1 does: ``_ext.load()`` is False and mopt_l1 sums with torch in float64."""
    monkeypatch.setattr(_ext, "load", lambda verbose=False: False)
    monkeypatch.setitem(_ext._state, "warned", True)
    rec = Run(cfg(npz), data=data, progress=False).run()
    assert rec.mopt["iteration"] == measured[1].mopt["iteration"]
    assert rec.mopt["mopt_lr"] == pytest.approx(measured[1].mopt["mopt_lr"], rel=1e-9)


def test_a_stop_in_the_middle_of_a_measurement_drops_it(npz, data):
    run = Run(cfg(npz, iters=40), data=data, progress=False)
    steps = []

    def stop_after_step_5(*_):  # Θ_5 and Θ_6 are taken; the stop comes before update 6 gives Θ_7
        steps.append(1)
        if len(steps) == 6:
            run.stop()

    run.optimizer.register_step_post_hook(stop_after_step_5)
    rec = run.run()
    assert rec.status == "stopped" and len(rec.curves["lr"]) == 6
    assert rec.mopt["iteration"] == [0] and len(rec.mopt["lr"]) == len(rec.mopt["mopt_lr"]) == 1


def quadratic_run(policy, h=4.0, iters=12, every=3):
    """SGD on f(θ) = ½·h·‖θ‖² driven through the monitor and the engine's probe."""
    theta = torch.tensor([1.5, -2.0, 0.25, 3.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([theta], lr=0.0)
    mon = LRMonitor(policy, opt)
    probe = MoptProbe([theta], every, mon)
    for t in range(iters):
        lr = mon.lr_for(t)
        probe.before_update(t, lr)
        loss = 0.5 * h * (theta**2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        probe.after_update(t)
        mon.log_loss(t, loss.item())
    return mon.finish()


def test_quadratic_fixed_lr_gives_newtons_step():
    rec = quadratic_run("FIX(k=0.05)", h=4.0)
    assert rec.mopt["iteration"] == [0, 3, 6, 9]
    assert rec.mopt["mopt_lr"] == pytest.approx([1 / 4.0] * 4, rel=1e-12)


def test_quadratic_changing_lr_uses_eta_t_plus_1():
    # θ' = (1 − η_t h)θ: Δ1 = −η_t hθ_t, Δ2 = −η_{t+1} h(1 − η_t h)θ_t, so by Formula 7 as printed
    # η* = η_{t+1}·η_t / |η_t − η_{t+1} + η_t η_{t+1} h|  (= 1/h when η_t = η_{t+1})
    h, pol = 4.0, parse("EXP(k=0.1, gamma=0.8)")
    rec = quadratic_run(str(pol), h=h)
    for t, eta1, got in zip(*rec.mopt.values()):
        e0, e1 = float(pol(t)), float(pol(t + 1))
        assert eta1 == e1
        assert got == pytest.approx(e1 * e0 / abs(e0 - e1 + e0 * e1 * h), rel=1e-12)


def test_identical_snapshots_store_nan_like_other_non_finite_numbers(tmp_path):
    rec = quadratic_run("FIX(k=0.0)")  # nothing moves: η* = 0·0/0
    assert len(rec.mopt["mopt_lr"]) == 4 and all(math.isnan(v) for v in rec.mopt["mopt_lr"])
    rec.mopt["mopt_lr"][1] = math.inf
    rec.save(tmp_path / "r.json")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["mopt"]["mopt_lr"] == ["nan", "inf", "nan", "nan"]
    back = RunRecord.load(tmp_path / "r.json")
    s = mopt_summary(back)  # LR 0: no ratio can be formed
    assert s["measurements"] == 4 and s["used"] == 0 and s["suggests"] is None


def test_old_records_without_mopt_still_load(tmp_path, measured):
    doc = json.loads(measured[1].to_json())
    del doc["mopt"]
    doc["config"].pop("mopt_every")
    (tmp_path / "old.json").write_text(json.dumps(doc))
    rec = RunRecord.load(tmp_path / "old.json")
    assert rec.mopt == {"iteration": [], "lr": [], "mopt_lr": []} and rec.curves == measured[1].curves
    assert TrainConfig.from_dict(rec.config).mopt_every is None
    assert mopt_summary(doc) == mopt_summary(rec) and mopt_summary(rec)["measurements"] == 0


def test_a_new_record_round_trips(tmp_path, measured):
    rec = measured[1]
    rec.save(tmp_path / "new.json")
    back = RunRecord.load(tmp_path / "new.json")
    assert back.mopt == rec.mopt and back.config["mopt_every"] == M


def test_mopt_summary_says_which_way_the_lr_should_go():
    rec = {"mopt": {"iteration": [0, 10, 20, 30], "lr": [0.1, 0.1, 0.1, 0.1], "mopt_lr": [0.02, 0.05, 0.3, "nan"]}}
    s = mopt_summary(rec)
    assert s["measurements"] == 4 and s["used"] == 3
    assert s["median_ratio"] == pytest.approx(0.5) and s["fraction_applied_above"] == pytest.approx(2 / 3)
    assert s["applied"] == "above" and s["suggests"] == "smaller" and s["median_mopt_lr"] == pytest.approx(0.05)
    rec["mopt"]["mopt_lr"] = [0.5, "inf", 0.05, 0.2]
    s = mopt_summary(rec)
    assert s["applied"] == "below" and s["suggests"] == "larger" and s["median_ratio"] == pytest.approx(3.5)


def test_the_engine_probe_is_tied_to_the_record(measured):
    s = mopt_summary(measured[1])
    assert s["measurements"] == 5 and s["used"] == 5 and s["suggests"] in ("smaller", "larger")


@pytest.mark.parametrize("bad", [0, 1, -5, True, 2.5, "10"])
def test_mopt_every_is_validated(bad):
    with pytest.raises(ValueError, match="'mopt_every'"):
        TrainConfig(mopt_every=bad)
    assert TrainConfig(mopt_every=2).mopt_every == 2
    assert TrainConfig.from_dict({"mopt_every": 50}).to_dict()["mopt_every"] == 50


def test_run_key_ignores_mopt_every():
    old = TrainConfig(policy="SIN2(k0=0.01, k1=0.06, l=2000)", iters=500).to_dict()
    old.pop("mopt_every")  # a config stored before the field existed
    assert run_key(old) == run_key(dict(old, mopt_every=None)) == run_key(dict(old, mopt_every=50))
    assert run_key(old) != run_key(dict(old, iters=501))


def test_cli_mopt_every_writes_the_plot(npz, tmp_path, capsys):
    from lrkit.cli.main import main
    from lrkit.cli.train import mopt_plot_path

    out = tmp_path / "run.json"
    args = ["train", "--dataset", f"npz:{npz}", "--optimizer", "sgd", "--policy", "FIX(k=0.05)", "--iters", "9",
            "--batch-size", "20", "--eval-every", "1000", "--threads", "1", "--no-progress", "--out", str(out)]
    assert main(args + ["--mopt-every", "4"]) == 0
    text = capsys.readouterr().out
    png = mopt_plot_path(out)
    assert png == tmp_path / "run.mopt.png" and png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    assert "M-opt LR: 2 measurement(s)" in text and "suggests a" in text
    assert json.loads(out.read_text())["mopt"]["iteration"] == [0, 4]
    assert main(args + ["--mopt-every", "1"]) == 2
    assert "mopt_every" in capsys.readouterr().err
