"""The training engine on real MNIST (small budgets): records, repeatability, divergence, targets,
live edits and stop requests from other threads."""

import dataclasses
import os
import threading
import time

import numpy as np
import pytest

from lrkit.policies import parse
from lrkit.train import Run, TrainConfig, train

@pytest.fixture(scope="module")
def mnist():
    from lrkit.train.data import load_dataset

    if not os.environ.get("LRKIT_DATA_DIR"):
        pytest.skip("LRKIT_DATA_DIR is not set: these tests train on the real MNIST (CI sets it)")
    ds = load_dataset("mnist")
    return dataclasses.replace(ds, x_test=ds.x_test[:1000], y_test=ds.y_test[:1000])  # faster evals


def cfg(**kw):
    base = dict(policy="SIN2(k0=0.01, k1=0.06, l=20)", iters=60, eval_every=30, threads=2)
    base.update(kw)
    return TrainConfig(**base)


def test_run_record(mnist):
    rec = train(cfg(), data=mnist, progress=False)
    assert rec.status == "complete"
    p = parse("SIN2(k0=0.01, k1=0.06, l=20)")
    np.testing.assert_array_equal(rec.curves["lr"], p(np.arange(60)))
    assert len(rec.curves["loss"]) == 60 and rec.curves["loss"][-1] < rec.curves["loss"][0]
    assert rec.evals["iteration"] == [30, 60]
    s = rec.summary
    assert s["iterations"] == 60 and s["highest_top1"] > 0.6 and s["highest_top5"] >= s["highest_top1"]
    assert rec.config["model"] == "lenet" and rec.environment["torch"] and rec.policy == str(p)


def test_seeded_runs_repeat(mnist):
    a = train(cfg(iters=20, eval_every=20), data=mnist, progress=False)
    b = train(cfg(iters=20, eval_every=20), data=mnist, progress=False)
    c = train(cfg(iters=20, eval_every=20, seed=1), data=mnist, progress=False)
    assert a.curves["loss"] == b.curves["loss"] and a.evals["top1"] == b.evals["top1"]
    assert a.curves["loss"] != c.curves["loss"]


def test_divergence_stops_the_run(mnist):
    rec = train(cfg(policy="FIX(k=50)", iters=200, eval_every=100), data=mnist, progress=False)
    assert rec.status == "diverged" and rec.summary["iterations"] < 200 and rec.message


def test_cost_effective_mode_stops_at_target(mnist):
    rec = train(cfg(policy="FIX(k=0.02)", iters=300, eval_every=20, target_acc=0.8, stop_at_target=True),
                data=mnist, progress=False)
    assert rec.status == "complete" and "target" in rec.message
    it = rec.summary["iterations_to_target"]
    assert it is not None and it < 300 and rec.summary["iterations"] == it and rec.evals["top1"][-1] >= 0.8


def test_live_edit_and_stop_from_another_thread(mnist):
    run = Run(cfg(policy="FIX(k=0.01)", iters=100000, eval_every=50), data=mnist, progress=False)
    done = {}
    th = threading.Thread(target=lambda: done.setdefault("rec", run.run()))
    th.start()
    while run.t < 10:  # poll, not spin: a busy loop would starve the training thread of the GIL
        time.sleep(0.001)
    run.monitor.set_policy("FIX(k=0.03)")
    while run.t < 40:
        time.sleep(0.001)
    run.stop()
    th.join(timeout=60)
    rec = done["rec"]
    assert rec.status == "stopped"
    lrs = np.array(rec.curves["lr"])
    edit_at = rec.history[1]["iteration"]
    assert 10 <= edit_at <= 40 and np.all(lrs[:edit_at] == 0.01) and np.all(lrs[edit_at:] == 0.03)
    np.testing.assert_array_equal(parse(str(run.monitor.replay_policy()))(np.arange(len(lrs))), lrs)


@pytest.mark.parametrize("kw,match", [
    (dict(optimizer="rmsprop"), "field 'optimizer' must be one of sgd, momentum, adam"),
    (dict(iters=0), "field 'iters' must be an int > 0"),
    (dict(target_acc=99.1), "field 'target_acc' must be a fraction"),
    (dict(policy="SIN2(k0=0.01)"), "SIN2: missing parameter 'k1'"),
    (dict(augment="mixup"), "field 'augment'"),
    (dict(normalize="minmax"), "field 'normalize' must be one of scale, standardize, mean"),
    (dict(eval_samples=0), "field 'eval_samples' must be None or an int >= 1"),
    (dict(compile="fast"), "field 'compile' must be None or one of 'default', 'reduce-overhead'"),
    (dict(layer_mults=True, optimizer="fused_adam"), "field 'layer_mults' must be False with optimizer 'fused_adam'"),
    (dict(model="lenet5"), "field 'model' must be one of lenet, cnn3, resnet32, resnet18"),
    (dict(device="gpu"), "field 'device' must be a torch device string, e.g. 'cpu', 'cuda'"),
])
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        cfg(**kw)
    with pytest.raises(ValueError, match="unknown field"):
        TrainConfig.from_dict({"datset": "mnist"})


def test_config_checks_the_device_format_only_and_models_case_insensitively():
    """A record made on a GPU machine still loads on a CPU one: TrainConfig checks the device string,
    not whether the device is here (that is :func:`check_device`'s job, at the start of a run)."""
    assert cfg(device="cuda:3").device == "cuda:3"
    assert cfg(model="LeNet").model == "LeNet"


def test_check_device_says_why_and_what_is_here(monkeypatch):
    import torch

    from lrkit.environment import check_device

    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"device 'gpu' is not a torch device string; e\.g\. 'cpu', 'cuda'"):
        check_device("gpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device 'cuda': this torch \(.*\) is built without CUDA; devices here: cpu$"):
        check_device("cuda")
    with pytest.raises(ValueError, match=r"device 'mps': MPS is not available; devices here: cpu$"):
        check_device("mps")
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    with pytest.raises(ValueError, match=r"device 'cuda:0': torch sees no CUDA GPU .*; devices here: cpu$"):
        check_device("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("cuda:1") == torch.device("cuda:1") and check_device("cuda") == torch.device("cuda")
    here = "devices here: cpu, cuda, cuda:0, cuda:1$"
    with pytest.raises(ValueError, match=r"'cuda:2': there are only 2 CUDA device\(s\); " + here):
        check_device("cuda:2")


def test_a_run_on_a_missing_device_fails_before_training():
    with pytest.raises(ValueError, match="device 'cuda:99'"):
        Run(cfg(device="cuda:99"), data=object(), progress=False)  # the data is never touched


def test_caffe_layer_mults_and_mean_subtraction():
    """CNN3 as Caffe's cifar10_full trains it: each parameter's LR is η(t)·lr_mult and its L2 decay
    weight_decay·decay_mult (ip1 weights ×250, biases lr ×2, ip1 bias no decay); inputs are x − 255·mean."""
    import torch

    from lrkit.train.data import Dataset

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, size=40)
    mean = tuple(float(v) for v in x.mean(axis=(0, 2, 3)) / 255)
    ds = Dataset("toy", x, y, x[:20], y[:20], 10, mean, (0.25, 0.25, 0.25), (3, 32, 32))
    run = Run(TrainConfig(dataset="toy", model="cnn3", policy="EXP(k=0.001, gamma=0.5)", iters=3, eval_every=3,
                          weight_decay=0.004, normalize="mean", layer_mults=True, threads=2), data=ds, progress=False)
    groups = {(g["lr_mult"], g["weight_decay"]): sum(p.numel() for p in g["params"]) for g in run.optimizer.param_groups}
    m = run.model
    assert groups == {(1.0, 0.004): m.conv1.weight.numel() + m.conv2.weight.numel() + m.conv3.weight.numel() + 64,
                      (2.0, 0.004): 64, (1.0, 0.004 * 250): m.ip1.weight.numel(), (2.0, 0.0): 10}
    seen = []
    orig = run.optimizer.step

    def step(*a, **k):
        seen.append({g["lr_mult"]: g["lr"] for g in run.optimizer.param_groups})
        return orig(*a, **k)

    run.optimizer.step = step
    rec = run.run()
    assert rec.curves["lr"] == pytest.approx([0.001, 0.0005, 0.00025])  # the record keeps the policy's η(t)
    assert [s[2.0] for s in seen] == pytest.approx([0.002, 0.001, 0.0005]) and [s[1.0] for s in seen] == pytest.approx(rec.curves["lr"])
    xb, _ = run.test_batches.next()
    want = torch.from_numpy(x[:20].astype(np.float32)) - 255 * torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    torch.testing.assert_close(xb[:20], want, rtol=0, atol=1e-3)
    # eval_samples: the evaluation sees the first N test samples only
    few = Run(TrainConfig(dataset="toy", model="cnn3", iters=1, eval_every=1, eval_samples=7, threads=2), data=ds,
              progress=False)
    assert few.test_batches.num_samples == 7 and run.test_batches.num_samples == 20
    with pytest.raises(ValueError, match="layer_mults: model LeNet has no Caffe multipliers"):
        Run(TrainConfig(dataset="toy", model="lenet", iters=1, eval_every=1, layer_mults=True), data=ds, progress=False)


def test_a_compiled_model_trains_as_the_eager_one(mnist):
    """compile: the loop calls torch.compile'd LeNet (inductor on this CPU); the losses, LRs and evals
    follow the eager run's (fusion may change the last bits, so close, not equal), and the step count,
    callbacks and the module's parameters are the run's own."""
    steps = []
    eager = train(cfg(iters=12, eval_every=6), data=mnist, progress=False)
    run = Run(cfg(iters=12, eval_every=6, compile="default"), data=mnist, progress=False, on_step=steps.append)
    assert run.forward is not run.model and list(run.forward.parameters())[0] is next(run.model.parameters())
    rec = run.run()
    assert rec.status == "complete" and steps == list(range(12)) and rec.config["compile"] == "default"
    assert rec.curves["lr"] == eager.curves["lr"]
    np.testing.assert_allclose(rec.curves["loss"][:4], eager.curves["loss"][:4], rtol=1e-5)
    np.testing.assert_allclose(rec.curves["loss"], eager.curves["loss"], rtol=2e-3)  # SGD amplifies last-bit differences
    np.testing.assert_allclose(rec.evals["top1"], eager.evals["top1"], atol=2e-3)  # 1000 test images: 2 may flip
    assert run.model.training
