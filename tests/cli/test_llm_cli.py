"""``lrkit llm``: finetune, eval, presets from the shell (tiny random Llama saved as an HF dir)."""

import json

import pytest

pytest.importorskip("transformers", reason="lrkit llm needs the [llm] extra")

from lrkit.cli.main import main  # noqa: E402


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from lrkit.llm.models import save_tiny_llama

    return save_tiny_llama(tmp_path_factory.mktemp("m") / "tiny-llama")


def test_finetune_then_eval(tiny_dir, tmp_path, capsys, monkeypatch):
    import os

    assert os.environ.get("LRKIT_DATA_DIR"), "LRKIT_DATA_DIR must point at the shared data (CI sets it)"
    out = tmp_path / "ft"
    rc = main(["llm", "finetune", "--model", tiny_dir, "--limit", "8", "--batch-size", "4", "--max-length", "256",
               "--policy", "COSINE(lr=1e-3, total={total}, warmup=1)", "--epochs", "2", "--eval", "arc,truthfulqa",
               "--eval-limit", "1", "--out", str(out), "--db", f"sqlite:///{tmp_path / 'r.db'}"])
    text = capsys.readouterr().out
    assert rc == 0, text
    rec = json.loads((out / "run.json").read_text())
    total = rec["config"]["iters"]
    assert rec["status"] == "complete" and rec["policy"] == f"COSINE(lr=0.001, total={total}, warmup=1)"
    assert (out / "epoch-2" / "config.json").exists() and (out / "fig7.png").exists()
    assert "tokens/s" in text and "truthfulqa" in text
    import pandas as pd

    ev = pd.read_csv(out / "evals.csv")
    assert list(ev["stage"].unique()) == ["baseline", "epoch 1", "epoch 2"]
    rc = main(["llm", "eval", "--model", str(out / "epoch-2"), "--tasks", "hellaswag,mmlu", "--limit", "1",
               "--num-fewshot", "hellaswag=3, mmlu=0", "--out", str(tmp_path / "ev.json")])
    text = capsys.readouterr().out
    assert rc == 0 and "items/s" in text
    doc = json.loads((tmp_path / "ev.json").read_text())
    rows = {(r["task"], r["metric"]): r for r in doc["table"]}
    assert rows["hellaswag", "acc_norm"]["num_fewshot"] == 3 and rows["mmlu", "acc"]["num_fewshot"] == 0
    assert doc["config"]["num_fewshot"] == {"hellaswag": 3, "mmlu": 0}
    # MMLU both ways: the mean over subjects and the subjects weighted by size (one item each: equal)
    assert rows["mmlu", "acc"]["value"] == pytest.approx(rows["mmlu", "acc_weighted"]["value"])


def test_presets_and_errors(capsys):
    assert main(["llm", "presets", "--total", "100"]) == 0
    text = capsys.readouterr().out
    assert "vicuna" in text and "COSINE(lr=2e-05, total=100, warmup=3)" in text
    assert main(["llm", "finetune", "--model", "x", "--optimizer", "lion", "--out", "o"]) == 2
    assert "'optimizer' must be one of" in capsys.readouterr().err
    assert main(["llm", "finetune", "--model", "x", "--policy", "FIX(k=1)", "--preset", "dolly", "--out", "o"]) == 2


@pytest.mark.parametrize("argv,needle", [
    (["eval", "--model", "smollm2", "--tasks", "arc,nope"], "field 'tasks' must be among arc, hellaswag, mmlu, truthfulqa"),
    (["eval", "--model", "smollm2", "--device", "cuda:99"], "device 'cuda:99': "),
    (["eval", "--model", "smollm2", "--num-fewshot", "arc=two"], "--num-fewshot must be TASK=K[,TASK=K...] with TASK among"),
    (["eval", "--model", "smollm2", "--num-fewshot", "winogrande=5"], "--num-fewshot keys must be among arc, hellaswag"),
    (["eval", "--model", "/nonexistent/model"], "model '/nonexistent/model': no such folder; give an HF model folder"),
    (["finetune", "--model", "./no-such-model", "--out", "{out}"], "model './no-such-model': no such folder"),
    (["finetune", "--model", "smollm2", "--device", "cuda:99", "--out", "{out}"], "device 'cuda:99': "),
    (["finetune", "--model", "{tiny}", "--data", "/nonexistent.json", "--out", "{out}"], "data: field 'source' must be"),
])
def test_bad_input_exits_2_before_any_model_loads(argv, needle, tiny_dir, tmp_path, capsys, monkeypatch):
    import importlib

    def never(*a, **k):
        raise AssertionError("a model was loaded")

    for module in ("lrkit.llm.models", "lrkit.llm.finetune"):  # the module, not the function lrkit.llm exports
        monkeypatch.setattr(importlib.import_module(module), "load_model", never)
    argv = [a.replace("{out}", str(tmp_path / "o")).replace("{tiny}", str(tiny_dir)) for a in argv]
    assert main(["llm", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lrkit llm {argv[0]}: ") and needle in err
