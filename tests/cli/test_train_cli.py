"""``lrkit train``: a run on a tiny npz dataset, and bad input that exits 2 with one line naming it."""

from __future__ import annotations

import json

import pytest

from lrkit.cli.main import main
from tests.tiny_data import write_tiny_npz


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


def argv(tiny, out, *extra):
    return ["train", "--dataset", tiny, "--model", "lenet", "--policy", "FIX(k=0.01)", "--iters", "6",
            "--batch-size", "20", "--eval-every", "3", "--threads", "2", "--out", str(out), "--no-progress", *extra]


def test_train_writes_the_record_creating_its_folder(tiny, tmp_path, capsys):
    assert main(argv(tiny, tmp_path / "runs" / "a" / "run.json")) == 0
    assert "status: complete" in capsys.readouterr().out
    rec = json.loads((tmp_path / "runs" / "a" / "run.json").read_text())
    assert rec["config"]["dataset"] == tiny and len(rec["curves"]["lr"]) == 6


@pytest.mark.parametrize("extra,needle", [
    (["--dataset", "mnistt"], "unknown dataset name 'mnistt'; allowed: mnist, cifar10, npz:<path>, svhn, imagenet"),
    (["--dataset", "npz:/nonexistent/x.npz"], "npz dataset not found: /nonexistent/x.npz"),
    (["--model", "lenet5"], "field 'model' must be one of lenet, cnn3, resnet32, resnet18"),
    (["--optimizer", "rmsprop"], "field 'optimizer' must be one of sgd, momentum, adam, fused_adam"),
    (["--device", "gpu"], "field 'device' must be a torch device string"),
    (["--device", "cuda:99"], "device 'cuda:99': "),  # no CUDA build, or no 100th GPU: either way before training
    (["--policy", "FIX(kk=0.01)"], "FIX: unknown parameter 'kk'"),
])
def test_bad_input_exits_2_naming_it(tiny, tmp_path, capsys, extra, needle):
    assert main(argv(tiny, tmp_path / "run.json", *extra)) == 2
    cap = capsys.readouterr()
    assert cap.err.startswith("lrkit train: ") and needle in cap.err and "Traceback" not in cap.err + cap.out
    assert "devices here: cpu" in cap.err or "cuda:99" not in extra
    assert not (tmp_path / "run.json").exists()
