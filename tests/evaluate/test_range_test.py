"""The LR value range test (004 §4.1, Fig. 4), the LR sweep and the range → policies step.

Training tests use a tiny learnable npz (class = which quadrant holds a bright patch) and LeNet
for a handful of iterations, so the file runs in seconds on a CPU.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from lrkit.evaluate.range_test import (
    GridRangeResult,
    OpenRangeError,
    SweepResult,
    default_ks,
    load_result,
    lr_sweep,
    pick_range,
    range_test_grid,
    range_test_sweep,
    recommend_policies,
    search_space_reduction,
    sweep_suggestions,
)
from lrkit.policies import parse
from lrkit.train import Run, TrainConfig
from lrkit.train.data import load_dataset


def make_patch_npz(path, n_train: int = 256, n_test: int = 128, classes: int = 4, seed: int = 0):
    """A tiny learnable dataset: 1×28×28 noise images, the class is the quadrant of a bright 8×8 patch."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = rng.integers(0, classes, n)
        x = rng.integers(0, 60, (n, 1, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            r, q = divmod(int(c), 2)
            x[i, 0, 4 + 12 * r: 12 + 12 * r, 4 + 12 * q: 12 + 12 * q] = 255
        return x, y

    xt, yt = split(n_train)
    xs, ys = split(n_test)
    np.savez(path, x_train=xt, y_train=yt, x_test=xs, y_test=ys)
    return path


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    return make_patch_npz(tmp_path_factory.mktemp("rt") / "patch.npz")


@pytest.fixture(scope="module")
def data(npz):
    return load_dataset(f"npz:{npz}")


@pytest.fixture
def cfg(npz):
    return TrainConfig(dataset=f"npz:{npz}", model="lenet", iters=20, batch_size=32, eval_batch_size=128)


# ----------------------------------------------------------------------------------- pick_range

PAPER_KS = [1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 3e-3, 6e-3, 1e-2, 5e-2, 1e-1]
# Fig. 4's shape: rising, a plateau, a sharp fall after k = 0.006 (diverged at chance level 0.1)
PAPER_CURVES = {
    140: [0.35, 0.55, 0.68, 0.78, 0.80, 0.81, 0.79, 0.70, 0.35, 0.10],
    70: [0.30, 0.50, 0.64, 0.75, 0.78, 0.79, 0.77, 0.66, 0.30, 0.10],
    20: [0.25, 0.45, 0.60, 0.72, 0.75, 0.76, 0.74, 0.62, 0.30, 0.10],
}


def test_pick_range_paper_shape_gives_paper_range():
    lo, hi = pick_range(PAPER_KS, PAPER_CURVES, chance=0.1)
    assert (lo, hi) == (0.0005, 0.006)
    assert search_space_reduction(lo, hi) == pytest.approx(99.45)
    assert search_space_reduction(0.00005, 0.006) == pytest.approx(99.405)  # the paper's "99.4 %"


def test_pick_range_order_nan_and_tolerances():
    perm = [3, 0, 9, 5, 1, 7, 2, 8, 4, 6]  # ks in any order
    curves = {b: [a[i] for i in perm] for b, a in PAPER_CURVES.items()}
    assert pick_range([PAPER_KS[i] for i in perm], curves) == (0.0005, 0.006)
    # a failed run (NaN / None) inside the plateau is skipped, not a fall-off
    holed = {b: a[:5] + [None] + a[6:] for b, a in PAPER_CURVES.items()}
    holed[140][5] = float("nan")
    assert pick_range(PAPER_KS, holed) == (0.0005, 0.006)
    # tighter tolerances shrink the range around the peak (3e-3)
    assert pick_range(PAPER_KS, PAPER_CURVES, drop=0.015, stable=0.015) == (0.001, 0.003)


def test_pick_range_combines_budgets_conservatively():
    ks = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    long = [0.80, 0.90, 0.91, 0.90, 0.1]  # good 1e-4 … 1e-1
    short = [0.30, 0.85, 0.90, 0.50, 0.1]  # good 1e-3 … 1e-2
    assert pick_range(ks, {1000: long, 100: short}) == (0.001, 0.01)
    # a budget that learned nothing (all at chance) is ignored
    assert pick_range(ks, {1000: long, 100: short, 10: [0.1] * 5}, chance=0.1) == (0.001, 0.01)


def test_pick_range_disagreeing_budgets_fall_back_to_mean_curve():
    ks = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]
    a = [0.2, 0.9, 0.6, 0.5, 0.4, 0.1]  # good only at 1e-3
    b = [0.2, 0.4, 0.5, 0.6, 0.9, 0.1]  # good only at 1.0
    lo, hi = pick_range(ks, {1: a, 2: b}, drop=0.1, stable=0.1)
    mean = [(x + y) / 2 for x, y in zip(a, b)]
    assert (lo, hi) == pick_range(ks, mean, drop=0.1, stable=0.1)
    assert lo <= hi


def test_pick_range_monotone_curves_are_open():
    ks = [1e-4, 1e-3, 1e-2, 1e-1]
    with pytest.raises(OpenRangeError, match="no fall-off .* largest k tested \\(0.1\\): add larger ks"):
        pick_range(ks, [0.2, 0.5, 0.8, 0.9])
    with pytest.raises(ValueError, match="smallest k tested \\(0.0001\\): add smaller ks"):
        pick_range(ks, [0.9, 0.7, 0.4, 0.1])
    assert pick_range(ks, [0.2, 0.5, 0.8, 0.9], open_ok=True) == (0.1, 0.1)
    assert pick_range(ks, [0.2, 0.88, 0.9, 0.9], open_ok=True) == (0.001, 0.1)
    try:
        pick_range(ks, [0.2, 0.88, 0.9, 0.9])
    except OpenRangeError as e:
        assert (e.lo, e.hi) == (0.001, 0.1)


def test_pick_range_all_diverged_or_bad_input_is_a_clear_error():
    ks = [1e-3, 1e-2, 1e-1]
    with pytest.raises(ValueError, match="no budget trained above chance"):
        pick_range(ks, {10: [0.1, 0.1, 0.1], 20: [0.1, 0.1, 0.1]}, chance=0.1)
    with pytest.raises(ValueError, match="no budget trained above chance"):
        pick_range(ks, {10: [None, float("nan"), None]})
    with pytest.raises(ValueError, match="ks must be finite LRs > 0"):
        pick_range([0.0, 1e-2, 1e-1], [0.5, 0.9, 0.1])
    with pytest.raises(ValueError, match="budget 10 has 2 accuracies for 3 ks"):
        pick_range(ks, {10: [0.5, 0.9]})
    with pytest.raises(ValueError, match="drop must be"):
        pick_range(ks, [0.5, 0.9, 0.1], drop=2)


def test_default_ks_is_a_log_grid():
    ks = default_ks()
    assert len(ks) == 16 and ks[0] == 1e-5 and ks[-1] == 1.0 and ks[3] == 1e-4
    assert np.allclose(np.diff(np.log10(ks)), 1 / 3, atol=2e-3)


# ----------------------------------------------------------------------------------- grid (training)


def test_grid_records_divergence_and_goes_on(cfg, data, monkeypatch):
    import lrkit.train

    seen_data = []
    real_train = lrkit.train.train

    def spy(run_cfg, data=None, progress=True, db=None):
        seen_data.append(data)
        assert run_cfg.eval_every == run_cfg.iters and run_cfg.policy.startswith("FIX(")
        return real_train(run_cfg, data=data, progress=progress, db=db)

    monkeypatch.setattr(lrkit.train, "train", spy)  # every executor trains through lrkit.train.train
    ks = [1e-5, 1e-2, 1e-1, 1e3]
    res = range_test_grid(cfg, ks=ks, budgets=[10, 5], data=data, progress=False)
    df = res.runs
    assert len(df) == 8 and all(d is data for d in seen_data)
    assert list(df.columns[:6]) == ["k", "budget", "seed", "top1", "status", "iterations"]
    huge = df[df["k"] == 1e3]
    assert (huge["status"] == "diverged").all() and (huge["top1"] == 0.25).all()  # chance level, 4 classes
    assert (huge["iterations"] < huge["budget"]).all()
    ok = df[df["k"] < 1e3]
    assert (ok["status"] == "complete").all() and (ok["iterations"] == ok["budget"]).all()
    assert res.budgets == [5, 10] and res.chance == 0.25
    # the large LRs train, the tiny one does not, 1e3 diverges → the range sits in the middle
    assert (res.lo, res.hi) == (1e-2, 1e-1) and res.best_k in (1e-2, 1e-1)
    assert res.reduction == pytest.approx((1 - (0.1 - 0.01)) * 100)
    assert res.error == "" and res.note == ""
    # JSON round trip
    d = json.loads(json.dumps(res.to_dict()))
    back = load_result(d)
    assert isinstance(back, GridRangeResult) and (back.lo, back.hi, back.best_k) == (res.lo, res.hi, res.best_k)
    assert back.table().equals(res.table()) and back.table().loc[1000.0, "5 it"] == "diverged"
    # the plot: one line per budget and the range as two red dashed vertical lines
    ax = res.plot()
    red = [ln for ln in ax.lines if ln.get_color() == "red" and ln.get_linestyle() == "--"]
    assert sorted(ln.get_xdata()[0] for ln in red) == [1e-2, 1e-1]
    assert ax.get_xscale() == "log" and len(ax.get_legend().get_texts()) == 2
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_grid_failed_run_is_recorded_and_others_kept(cfg, data, monkeypatch):
    import lrkit.train

    real_train = lrkit.train.train

    def flaky(run_cfg, data=None, progress=True, db=None):
        if run_cfg.policy == "FIX(k=0.01)":
            raise RuntimeError("CUDA out of memory (simulated)")
        return real_train(run_cfg, data=data, progress=progress, db=db)

    monkeypatch.setattr(lrkit.train, "train", flaky)
    with pytest.warns(UserWarning, match="open-ended range"):  # only k = 0.1 is left: no bracket
        res = range_test_grid(cfg, ks=[1e-2, 1e-1], budgets=[3], repeats=2, data=data, progress=False)
    assert (res.lo, res.hi) == (0.1, 0.1) and "do not bracket" in res.note
    df = res.runs
    assert len(df) == 4 and sorted(df["seed"].unique()) == [0, 1]
    failed = df[df["status"] == "failed"]
    assert list(failed["k"]) == [1e-2, 1e-2] and failed["top1"].isna().all()
    assert failed["message"].str.contains("RuntimeError: CUDA out of memory").all()
    assert (df[df["k"] == 1e-1]["status"] == "complete").all()
    json.dumps(res.to_dict())  # NaN stored as null


def test_grid_bad_input(cfg, data):
    with pytest.raises(ValueError, match="ks must be"):
        range_test_grid(cfg, ks=[1e-2, -1.0], budgets=[3], data=data, progress=False)
    with pytest.raises(ValueError, match="budgets must be .* integers > 0"):
        range_test_grid(cfg, ks=[1e-2], budgets=[0], data=data, progress=False)
    with pytest.raises(ValueError, match="unknown rule argument"):
        range_test_grid(cfg, ks=[1e-2], budgets=[3], data=data, progress=False, tolerance=0.1)
    with pytest.raises(ValueError, match="device 'cuda:99': "):  # not a grid of runs that all "failed"
        range_test_grid(dataclasses.replace(cfg, device="cuda:99"), ks=[1e-2], budgets=[3], data=data, progress=False)


# ----------------------------------------------------------------------------------- sweep


def _snapshot(model, opt):
    return ({k: v.detach().clone() for k, v in model.state_dict().items()},
            {i: {k: (v.clone() if torch.is_tensor(v) else v) for k, v in s.items()}
             for i, s in opt.state_dict()["state"].items()},
            [dict(g) for g in opt.state_dict()["param_groups"]])


def _assert_same(before, model, opt):
    m0, s0, g0 = before
    m1 = model.state_dict()
    assert m0.keys() == m1.keys() and all(torch.equal(m0[k], m1[k]) for k in m0)
    s1 = opt.state_dict()["state"]
    assert s0.keys() == s1.keys()
    for i in s0:
        assert s0[i].keys() == s1[i].keys()
        for k in s0[i]:
            a, b = s0[i][k], s1[i][k]
            assert torch.equal(a, b) if torch.is_tensor(a) else a == b
    assert opt.state_dict()["param_groups"] == g0


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_sweep_restores_state_exactly_and_stops_on_divergence(cfg, data, optimizer):
    run = Run(TrainConfig(**{**cfg.to_dict(), "optimizer": optimizer}), data=data, progress=False)
    model, opt = run.model, run.optimizer
    for _ in range(3):  # give the optimizer state (momentum buffers / Adam moments)
        x, y = run.train_batches.next()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad()
    before = _snapshot(model, opt)
    assert before[1], "the optimizer should have state"
    stream = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in run.train_batches.state_dict().items()}
    expected_x, _ = run.train_batches.next()
    run.train_batches.load_state_dict(stream)
    model.eval()
    res = lr_sweep(model, opt, run.train_batches, start_lr=1e-4, end_lr=1e6, num_iter=40, progress=False)
    _assert_same(before, model, opt)
    assert not model.training  # mode restored
    assert torch.equal(run.train_batches.next()[0], expected_x)  # batch stream restored
    if optimizer == "momentum":  # (Adam can drive this separable toy data to loss 0 and stay there)
        assert res.stopped_early and ("> 5 × best" in res.stop_reason or "loss became" in res.stop_reason)
        assert len(res.lrs) < 40
    assert len(res.lrs) >= 3 and len(res.losses) == len(res.smoothed) == len(res.lrs)
    ratio = (1e6 / 1e-4) ** (1 / 39)
    assert res.lrs[0] == 1e-4 and np.allclose(np.diff(np.log(res.lrs)), math.log(ratio))
    for name in ("steepest", "valley"):
        assert res.lrs[0] <= res.suggestions[name] <= res.lrs[-1]
    assert res.lo == pytest.approx(res.hi / 10) and res.hi == res.suggestions["valley"]


def test_sweep_stops_early_on_divergence_deterministic():
    """Least squares with plain SGD diverges once lr > 2/λ_max: the sweep must stop there."""
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
    model = torch.nn.Linear(4, 1, bias=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    lam_max = torch.linalg.eigvalsh(2 * x.T @ x / 64).max().item()
    before = _snapshot(model, opt)
    res = lr_sweep(model, opt, [(x, y[:, None])], loss_fn=torch.nn.functional.mse_loss, start_lr=1e-3, end_lr=1e3,
                   num_iter=60, diverge_th=4.0, progress=False)
    _assert_same(before, model, opt)
    assert res.stopped_early and len(res.lrs) < 60 and "> 4 × best" in res.stop_reason
    assert res.smoothed[-1] > 4 * min(res.smoothed) and all(s <= 4 * min(res.smoothed[:i + 1])
                                                            for i, s in enumerate(res.smoothed[:-1]))
    assert res.lrs[-1] > 2 / lam_max  # it stopped only after the LR passed the stability limit
    assert res.lrs[0] <= res.suggestions["steepest"] <= res.suggestions["min_loss"] * 1.0001
    assert res.lrs[0] <= res.suggestions["valley"] <= res.lrs[-1]


def test_sweep_full_run_iterable_batches_and_smoothing(data):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    x = torch.as_tensor(data.x_train[:64], dtype=torch.float32) / 256
    y = torch.as_tensor(data.y_train[:64])
    batches = [(x[:32], y[:32]), (x[32:], y[32:])]  # a list: cycled over
    before = _snapshot(model, opt)
    res = lr_sweep(model, opt, batches, start_lr=1e-3, end_lr=1e-1, num_iter=25, smooth=0.1, progress=False)
    _assert_same(before, model, opt)
    assert not res.stopped_early and res.stop_reason == "" and len(res.lrs) == 25
    assert res.lrs[-1] == pytest.approx(1e-1)
    # bias-corrected EMA of the raw losses
    avg = 0.0
    for i, (raw, sm) in enumerate(zip(res.losses, res.smoothed)):
        avg = 0.9 * avg + 0.1 * raw
        assert sm == pytest.approx(avg / (1 - 0.9 ** (i + 1)))
    assert res.smoothed[0] == pytest.approx(res.losses[0])
    d = json.loads(json.dumps(res.to_dict()))
    back = load_result(d)
    assert isinstance(back, SweepResult) and back.suggestions == res.suggestions and back.lo == res.lo

    # a one-shot generator that runs out ends the sweep without error
    gen = (b for b in batches)
    res2 = lr_sweep(model, opt, gen, num_iter=10, progress=False)
    assert len(res2.lrs) == 2 and res2.stop_reason == "ran out of batches after 2 iterations"
    _assert_same(before, model, opt)


def test_sweep_restores_state_on_exception(data):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.as_tensor(data.x_train[:32], dtype=torch.float32) / 256
    y = torch.as_tensor(data.y_train[:32])
    calls = []

    def loss_fn(out, tgt):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("boom")
        return torch.nn.functional.cross_entropy(out, tgt)

    before = _snapshot(model, opt)
    with pytest.raises(RuntimeError, match="boom"):
        lr_sweep(model, opt, [(x, y)], loss_fn=loss_fn, num_iter=10, progress=False)
    _assert_same(before, model, opt)


def test_sweep_bad_arguments(data):
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for kw, field in [({"start_lr": 0}, "start_lr"), ({"end_lr": 1e-9}, "end_lr"), ({"num_iter": 1}, "num_iter"),
                      ({"smooth": 0}, "smooth"), ({"diverge_th": 1}, "diverge_th")]:
        with pytest.raises(ValueError, match=field):
            lr_sweep(model, opt, [], progress=False, **kw)


def test_sweep_suggestions_on_a_known_curve():
    lrs = np.logspace(-6, 1, 71)
    x = np.log10(lrs)
    # flat, a descent centred at 1e-3 (steepest there), a minimum near 1e-1, then a rise
    loss = 2.0 - 1.5 / (1 + np.exp(-(x + 3) * 3)) + np.where(x > -1, (x + 1) ** 2, 0.0)
    s = sweep_suggestions(lrs, loss, num_iter=71)
    assert s["steepest"] == pytest.approx(1e-3, rel=0.3)
    assert 1e-5 < s["valley"] < s["min_loss"] and s["min_loss"] == pytest.approx(1e-1, rel=0.5)
    assert sweep_suggestions([1e-3, 1e-2], [1.0, 0.5]) == {"steepest": None, "valley": None, "min_loss": None}


def test_range_test_sweep_from_config(cfg, data):
    res = range_test_sweep(cfg, data=data, start_lr=1e-5, end_lr=10, num_iter=30, progress=False)
    assert res.config["dataset"] == cfg.dataset and len(res.lrs) >= 3 and res.hi is not None
    assert res.lrs[0] <= res.lo < res.hi <= res.lrs[-1] or res.lo < res.lrs[0]
    ax = res.plot()
    assert ax.get_xscale() == "log"
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


# ----------------------------------------------------------------------------------- recommend


@pytest.mark.parametrize("lo,hi,iters", [(0.0005, 0.006, 70000), (0.0021544346900318843, 0.046415888336127795, 10000),
                                         (1e-4, 0.9, 64000), (0.0049999, 0.0050001, 37), (0.01, 0.1, 3)])
def test_recommend_policies_parse_and_stay_in_range(lo, hi, iters):
    pols = recommend_policies(lo, hi, iters)
    assert 4 <= len(pols) <= 6
    names = [parse(p["policy"]).name for p in pols]
    assert names == ["FIX", "TRI2", "SIN2", "COS", "NSTEP", "EXP"]
    t = np.arange(iters)
    for p in pols:
        pol = parse(p["policy"])
        assert str(pol) == p["policy"] and p["why"] and p["family"] in ("fixed", "cyclic", "decaying")
        v = np.asarray(pol(t), dtype=float)
        assert v.min() >= lo * (1 - 1e-12) and v.max() <= hi * (1 + 1e-12), p["policy"]
    cyc = {parse(p["policy"]).name: parse(p["policy"]) for p in pols}
    assert cyc["TRI2"].l == max(1, round(iters / 5)) and cyc["SIN2"].k0 >= lo and cyc["COS"].k1 <= hi
    exp = cyc["EXP"]
    assert exp(iters) == pytest.approx(exp.k * (cyc["TRI2"].k0 / exp.k), rel=1e-4)  # reaches lo at the end


def test_recommend_policies_paper_values_and_errors():
    pols = {parse(p["policy"]).name: p["policy"] for p in recommend_policies(0.0005, 0.006, 10000)}
    assert pols["TRI2"] == "TRI2(k0=0.0005, k1=0.006, l=2000)"
    assert pols["FIX"] == "FIX(k=0.00173)"
    assert pols["NSTEP"].startswith("NSTEP(k=0.006, gamma=0.2887, l=[5000, 7500])")
    assert parse(recommend_policies(0.01, 0.06, 10000, l=500)[1]["policy"]).l == 500
    single = recommend_policies(0.003, 0.003, 1000)
    assert [p["policy"] for p in single] == ["FIX(k=0.003)"]
    for args, field in [((0, 0.1, 10), "lo"), ((0.1, 0.01, 10), "lo must be <= hi"), ((0.01, float("inf"), 10), "hi"),
                        ((0.01, 0.1, 0), "iters"), ((0.01, 0.1, 2.5), "iters")]:
        with pytest.raises(ValueError, match=field):
            recommend_policies(*args)
