"""The plain fine-tuning loop on a tiny random Llama and real Dolly examples."""

import json

import pytest
import torch

from lrkit.llm.data import load_instructions
from lrkit.llm.finetune import FinetuneConfig, finetune
from lrkit.llm.models import tiny_llama
from lrkit.policies import parse


@pytest.fixture(scope="module")
def examples(data_dir):
    return load_instructions("dolly", limit=12, seed=1)


def run(examples, tmp_path=None, **kw):
    model, tok = tiny_llama()
    base = dict(model="tiny", policy="LINEAR(lr=3e-3, total={total})", epochs=2, batch_size=4, max_length=160)
    base.update(kw)
    cfg = FinetuneConfig(**base, out=str(tmp_path) if tmp_path else None)
    return finetune(cfg, model=model, tokenizer=tok, examples=examples, progress=False, db=False), model


def test_policy_drives_every_step_and_loss_falls(examples, tmp_path):
    res, model = run(examples, tmp_path)
    rec = res.record
    total = rec.config["iters"]
    assert total == 2 * rec.config["steps_per_epoch"] == 2 * 3  # 12 examples / batch 4, 2 epochs
    pol = parse(rec.policy)
    assert pol == parse(f"LINEAR(lr=3e-3, total={total})")
    assert rec.curves["lr"] == pytest.approx([pol(t) for t in range(total)])
    assert len(rec.curves["loss"]) == total and rec.status == "complete"
    assert rec.curves["loss"][-1] < rec.curves["loss"][0]
    assert rec.summary["tokens_per_s"] > 0 and rec.summary["train_tokens"] == 2 * rec.config["tokens_per_epoch"]
    # a checkpoint per epoch, loadable as a normal HF model; the record beside it
    from transformers import AutoModelForCausalLM

    assert [p.rsplit("/", 1)[1] for p in res.checkpoints] == ["epoch-1", "epoch-2"]
    again = AutoModelForCausalLM.from_pretrained(res.checkpoints[-1])
    for a, b in zip(again.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["status"] == "complete" and saved["curves"]["lr"] == pytest.approx(rec.curves["lr"])


def test_gradient_accumulation_equals_the_big_batch(examples):
    big, m1 = run(examples, batch_size=4, epochs=1)
    acc, m2 = run(examples, batch_size=2, grad_accum=2, epochs=1)
    assert big.record.config["iters"] == acc.record.config["iters"] == 3
    assert acc.record.curves["loss"] == pytest.approx(big.record.curves["loss"], rel=1e-5)
    for a, b in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=2e-5)  # Adam magnifies float round-off


def test_packing_runs_and_counts_full_rows(examples):
    res, _ = run(examples, batching="packing", max_length=64, epochs=1)
    assert res.record.status == "complete"
    assert res.record.config["iters"] == res.record.config["steps_per_epoch"] >= 1


def test_divergence_is_recorded_not_raised(examples, tmp_path):
    res, _ = run(examples, tmp_path, policy="FIX(k=50.0)", optimizer="sgd", epochs=3)
    assert res.record.status == "diverged" and "iteration" in res.record.message
    assert len(res.record.curves["loss"]) < res.record.config["iters"]
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "diverged"


def test_fused_adam_matches_torch_adamw(examples):
    ref, m1 = run(examples, optimizer="adamw", epochs=1, max_grad_norm=None)
    fused, m2 = run(examples, optimizer="fused_adam", epochs=1, max_grad_norm=None)
    assert fused.record.curves["lr"] == pytest.approx(ref.record.curves["lr"])
    assert fused.record.curves["loss"] == pytest.approx(ref.record.curves["loss"], rel=1e-4)
    for a, b in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_fused_adam_trains_bf16_params_with_fp32_states(examples):
    model, tok = tiny_llama()
    model.to(torch.bfloat16)
    cfg = FinetuneConfig(model="tiny", policy="FIX(k=3e-3)", epochs=2, batch_size=4, max_length=160, optimizer="fused_adam")
    res = finetune(cfg, model=model, tokenizer=tok, examples=examples, progress=False, db=False)
    assert res.record.status == "complete" and res.record.curves["loss"][-1] < res.record.curves["loss"][0]
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    # the optimizer's moments are float32 whatever the parameter dtype
    from lrkit.optim import FusedAdam

    assert isinstance(res.optimizer, FusedAdam)
    states = [s for s in res.optimizer.state.values() if "exp_avg" in s]
    assert states and all(s["exp_avg"].dtype == s["exp_avg_sq"].dtype == torch.float32 for s in states)


def test_bitsandbytes_8bit_adamw_trains(examples):
    res, _ = run(examples, optimizer="adamw_8bit", epochs=1)
    assert res.record.status == "complete"
    assert res.record.curves["loss"][-1] < res.record.curves["loss"][0]


def test_lora_trains_only_the_adapters(examples):
    model, tok = tiny_llama()
    before = [(p, p.detach().clone()) for p in model.parameters()]
    cfg = FinetuneConfig(model="tiny", policy="FIX(k=1e-2)", epochs=1, batch_size=4, max_length=160, lora={"r": 4})
    res = finetune(cfg, model=model, tokenizer=tok, examples=examples, progress=False, db=False)
    assert res.record.status == "complete"
    params = res.record.config["parameters"]
    assert 0 < params["trainable"] < params["total"] / 5
    # the base weights are untouched (peft wraps the same modules in place), the adapters moved
    assert all(torch.equal(p, old) for p, old in before)
    lora_b = [p for n, p in res.model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # B starts at zero


def test_run_is_recorded_in_the_database(examples, tmp_path):
    from lrkit.db import Database

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    model, tok = tiny_llama()
    cfg = FinetuneConfig(model="tiny-llama", policy="preset:table5-cosine-2e-5", batch_size=4, max_length=160)
    assert cfg.epochs == 3
    finetune(cfg, model=model, tokenizer=tok, examples=examples, progress=False, db=url)
    rows = Database(url).runs(dataset="dolly").to_dict("records")
    assert len(rows) == 1 and rows[0]["status"] == "complete" and rows[0]["model"] == "tiny-llama"
    assert rows[0]["policy"] == str(parse("COSINE(lr=2e-5, total=9)"))
    assert rows[0]["extra"]["tokens_per_s"] > 0


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="'optimizer' must be one of adamw"):
        FinetuneConfig(model="m", optimizer="lion")
    with pytest.raises(ValueError, match="'epochs'"):
        FinetuneConfig(model="m", epochs=0)
    with pytest.raises(ValueError, match="'quantize'"):
        FinetuneConfig(model="m", quantize="3bit")
    with pytest.raises(ValueError, match="LoRA"):
        FinetuneConfig(model="m", quantize="4bit")
    with pytest.raises(ValueError, match="'r'"):
        FinetuneConfig(model="m", lora={"r": 0})
    with pytest.raises(ValueError, match=r"finetune: field 'eval_fewshot' keys must be among arc, hellaswag, mmlu, truthfulqa"):
        FinetuneConfig(model="m", eval_fewshot={"gsm8k": 5})
    with pytest.raises(ValueError, match=r"finetune: field 'eval_fewshot' of arc must be an int >= 0, got -1"):
        FinetuneConfig(model="m", eval_fewshot={"arc": -1})
    from lrkit.llm.models import load_model

    with pytest.raises(ValueError, match="CUDA"):
        load_model("x", quantize="4bit", device="cpu")


def test_an_interrupted_run_resumes_from_its_last_epoch_and_equals_the_whole_run(examples, tmp_path):
    """Stopped after its first epoch (the state is kept in resume.pt), a run given resume=True trains
    only the later epochs and ends with the losses, LRs and weights of the uninterrupted run; the state
    file goes once the run is complete, and another config does not pick it up."""
    whole, whole_model = run(examples, tmp_path / "whole", policy="SIN(k0=1e-3, k1=4e-3, l=2)", epochs=3)

    def stop_after_first(epoch, info):
        if epoch == 1:
            raise KeyboardInterrupt

    out = tmp_path / "parts"
    cfg = FinetuneConfig(model="tiny", policy="SIN(k0=1e-3, k1=4e-3, l=2)", epochs=3, batch_size=4, max_length=160,
                         out=str(out))
    model, tok = tiny_llama()
    first = finetune(cfg, model=model, tokenizer=tok, examples=examples, progress=False, db=False, on_epoch=stop_after_first)
    assert first.record.status == "stopped" and len(first.record.curves["loss"]) == 3
    assert (out / "resume.pt").exists()

    other = FinetuneConfig(**{**cfg.to_dict(), "seed": 1, "out": str(tmp_path / "other")})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "resume.pt").write_bytes((out / "resume.pt").read_bytes())
    fresh = finetune(other, model=tiny_llama()[0], tokenizer=tok, examples=examples, progress=False, db=False, resume=True)
    assert len(fresh.record.curves["loss"]) == 9  # another config's state is not taken: all 3 epochs train

    model, tok = tiny_llama()  # a new process would load the pretrained model again
    steps = []
    rest = finetune(cfg, model=model, tokenizer=tok, examples=examples, progress=False, db=False, resume=True,
                    on_epoch=lambda epoch, info: steps.append(info["step"]))
    assert steps == [6, 9]  # epochs 2 and 3 only
    assert rest.record.status == "complete"
    assert rest.record.curves["loss"] == whole.record.curves["loss"]
    assert rest.record.curves["lr"] == whole.record.curves["lr"]
    assert rest.record.summary["train_tokens"] == whole.record.summary["train_tokens"]
    assert rest.record.summary["train_time_s"] > first.record.summary["train_time_s"] > 0
    for a, b in zip(model.parameters(), whole_model.parameters()):
        assert torch.equal(a, b)
    assert [p.rsplit("/", 1)[1] for p in rest.checkpoints] == ["epoch-1", "epoch-2", "epoch-3"]
    assert not (out / "resume.pt").exists()
