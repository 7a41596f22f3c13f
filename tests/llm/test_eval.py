"""lrkit.llm.eval: log-likelihood scoring (fast KV-cache path == reference path == a direct forward),
metric math, the real evaluation files, few-shot draws, prompt formats, and evaluate() end to end on
the tiny random Llama.

The data are the real evaluation sets under ``$LRKIT_DATA_DIR/llm/eval`` (CI sets LRKIT_DATA_DIR);
without it these tests fail with a message saying so rather than skip.
"""

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lrkit.llm.eval import TASKS, evaluate, loglikelihood
from lrkit.llm.eval import tasks as T
from lrkit.llm.eval import scoring as _scoring
from lrkit.llm.eval.scoring import encode_requests
from lrkit.llm.models import LoraConfig, apply_lora, tiny_llama


@pytest.fixture(scope="module")
def eval_dir():
    env = os.environ.get("LRKIT_DATA_DIR")
    if not env:
        pytest.fail("LRKIT_DATA_DIR is not set: set it to the shared data folder (with llm/eval/ in it), "
                    "e.g. LRKIT_DATA_DIR=/work/shared/data; these tests read the real evaluation sets")
    path = Path(env) / "llm" / "eval"
    if not path.is_dir():
        pytest.fail(f"{path} does not exist: LRKIT_DATA_DIR must point at the shared data folder")
    return path


@pytest.fixture(scope="module")
def tiny_model():
    return tiny_llama()


@pytest.fixture(scope="module")
def arc_docs(eval_dir):
    return T.load_arc(eval_dir)


@pytest.fixture(scope="module")
def hellaswag_docs(eval_dir):
    return T.load_hellaswag(eval_dir)


@pytest.fixture(scope="module")
def mmlu_data(eval_dir):
    return T.load_mmlu(eval_dir)


def assert_same(a, b, atol=1e-4):
    assert len(a) == len(b)
    for (la, ga), (lb, gb) in zip(a, b):
        assert math.isfinite(la) and math.isfinite(lb)
        assert abs(la - lb) <= atol, (la, lb)
        assert ga == gb


# --------------------------------------------------------------------------------------------
# scoring


def test_loglikelihood_equals_direct_forward(tiny_model):
    model, tok = tiny_model
    ctx, cont = "Question: Which is true?\nAnswer:", " the answer is 42"
    ctx_ids = tok(ctx, add_special_tokens=False)["input_ids"]
    cont_ids = tok(cont, add_special_tokens=False)["input_ids"]
    assert encode_requests(tok, [(ctx, cont)]) == [(ctx_ids, cont_ids)]  # this tokenizer adds no BOS
    with torch.no_grad():
        logp = model(torch.tensor([ctx_ids + cont_ids])).logits[0].float().log_softmax(-1)
    rows = [logp[len(ctx_ids) - 1 + t] for t in range(len(cont_ids))]
    expected = sum(r[c].item() for r, c in zip(rows, cont_ids))
    greedy = all(int(r.argmax()) == c for r, c in zip(rows, cont_ids))
    for fast in (True, False):
        [(ll, g)] = loglikelihood(model, tok, [(ctx, cont)], fast=fast)
        assert ll == pytest.approx(expected, abs=1e-4)
        assert g == greedy


def test_empty_context_uses_bos(tiny_model):
    model, tok = tiny_model
    (ids, cont), = encode_requests(tok, [("", " hello")])
    assert ids == [tok.bos_token_id] and cont == tok(" hello", add_special_tokens=False)["input_ids"]
    assert_same(loglikelihood(model, tok, [("", " hello")], fast=True), loglikelihood(model, tok, [("", " hello")], fast=False))


def test_greedy_flag_on_a_forced_continuation(tiny_model):
    model, tok = tiny_model
    ctx = "The answer is"
    ids = tok(ctx, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        nxt = int(model(torch.tensor([ids])).logits[0, -1].argmax())
    cont = tok.decode([nxt])
    if tok(cont, add_special_tokens=False)["input_ids"] == [nxt]:  # the greedy token round-trips
        [(_, g)] = loglikelihood(model, tok, [(ctx, cont)])
        assert g is True


def test_fast_path_equals_reference_on_real_items(tiny_model, arc_docs, hellaswag_docs, mmlu_data, eval_dir):
    model, tok = tiny_model
    items = (T.arc_items(arc_docs, 25, 1234, limit=1) + T.hellaswag_items(hellaswag_docs, 10, 1234, limit=2)
             + T.mmlu_items({"astronomy": mmlu_data["astronomy"]}, 2, limit=2)
             + T.truthfulqa_items(T.load_truthfulqa(eval_dir), limit=1))
    reqs = [r for it in items for r in it.requests]
    ref = loglikelihood(model, tok, reqs, fast=False, batch_size=4)
    assert_same(loglikelihood(model, tok, reqs, fast=True, batch_size=2), ref)  # 6 contexts, 2 per forward
    # different choices of one item get different scores (the cache is not shared by mistake)
    assert len({round(ll, 3) for ll, _ in ref[:4]}) > 1


def test_fast_path_with_truncation_and_odd_requests(tiny_model, arc_docs):
    model, tok = tiny_model
    items = T.arc_items(arc_docs, 2, 7, limit=3)
    reqs = [r for it in items for r in it.requests] + [("x", " y z"), ("", " a b"), ("Q", ""), ("The", " a")]
    for max_length in (48, 4096):  # 48: contexts are left-truncated, those groups take the reference path
        ref = loglikelihood(model, tok, reqs, fast=False, batch_size=5, max_length=max_length)
        assert_same(loglikelihood(model, tok, reqs, fast=True, batch_size=2, max_length=max_length), ref)
    assert loglikelihood(model, tok, [("Q", "")]) == [(0.0, True)]


def test_shared_prefix_clusters(tiny_model):
    model, tok = tiny_model
    prefix = "The following are questions about the answer.\n" * 6
    reqs = [(prefix + q, c) for q in ("Which one?", "What is it about", "Why", "How is it done here, then?", "x")
            for c in (" yes", " no way")] + [(prefix, " z"), ("Why", " not"), ("Why", " not")]
    ref = loglikelihood(model, tok, reqs, fast=False)
    assert ref[-1] == ref[-2]
    for bs in (1, 2, 8):
        assert_same(loglikelihood(model, tok, reqs, fast=True, batch_size=bs), ref)
    # contexts that are the shared prefix plus one token: nothing left to run after the prefix
    two = [(prefix + "a", " b"), (prefix + "c", " d")]
    (ca, _), (cc, _) = encode_requests(tok, two)
    assert ca[:-1] == cc[:-1]
    assert_same(loglikelihood(model, tok, two, fast=True), loglikelihood(model, tok, two, fast=False))


def test_plan_groups_shared_prefixes():
    from lrkit.llm.eval.scoring import _plan

    p = list(range(100, 140))
    past = [np.array(x) for x in (p + [1, 2], [5, 6, 7], p + [3], p + [1, 2, 3, 4], [5, 6], p)]
    plan = _plan(past, 2, 32)
    assert plan[0][0] == 40 and sorted(g for b in plan[0][1] for g in b) == [0, 2, 3, 5]
    assert all(len(b) <= 2 for b in plan[0][1]) and len(past[plan[0][1][0][0]]) == 44  # longest first
    assert plan[1][0] == 0 and sorted(g for b in plan[1][1] for g in b) == [1, 4]


def test_peft_wrapped_model_and_mode_restored():
    model, tok = tiny_llama(seed=1)
    reqs = [("Question: What is it?\nAnswer:", " yes"), ("Question: What is it?\nAnswer:", " no, it is not"),
            ("Which", " one")]
    base = loglikelihood(model, tok, reqs, fast=False)
    peft_model = apply_lora(model, LoraConfig(r=2, dropout=0.0))
    peft_model.train()
    fast, ref = loglikelihood(peft_model, tok, reqs, fast=True), loglikelihood(peft_model, tok, reqs, fast=False)
    assert peft_model.training  # previous mode restored
    assert_same(fast, ref)
    assert_same(fast, base)  # LoRA's B starts at zero: the wrapped model is the base model


class _OldStyleForward(torch.nn.Module):
    """A causal LM whose ``forward`` takes and returns the KV cache as ``past_key_values`` (transformers
    before the rename to ``cache``)."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.config = inner, inner.config
        self.calls = 0

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, use_cache=None):
        from types import SimpleNamespace

        self.calls += 1
        out = self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         use_cache=use_cache, **{_scoring._cache_keyword(self.inner): past_key_values})
        return SimpleNamespace(logits=out.logits, past_key_values=_scoring._returned_cache(out))


def test_the_cache_goes_by_the_name_forward_takes(tiny_model):
    import warnings

    model, tok = tiny_model
    reqs = [("Question: Which is true?\nAnswer:", " yes"), ("Question: Which is true?\nAnswer:", " no, it is not")]
    ref = loglikelihood(model, tok, reqs, fast=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast = loglikelihood(model, tok, reqs, fast=True)
    assert not [w for w in caught if "past_key_values" in str(w.message)], [str(w.message) for w in caught]
    assert_same(fast, ref)
    old = _OldStyleForward(model)
    assert _scoring._cache_keyword(old) == "past_key_values"
    assert_same(loglikelihood(old, tok, reqs, fast=True), ref)
    assert old.calls >= 2  # the context once into the cache, then the continuations through it


# --------------------------------------------------------------------------------------------
# metric math


def test_acc_and_acc_norm_differ_with_lengths():
    lls, lengths = [-10.0, -12.0, -30.0], [5.0, 12.0, 60.0]
    assert T.acc(lls, 0) == 1.0 and T.acc(lls, 2) == 0.0
    # per character: -2, -1, -0.5 -> the longest choice wins after normalisation
    assert T.acc_norm(lls, 2, lengths) == 1.0 and T.acc_norm(lls, 0, lengths) == 0.0
    assert T.acc([-1.0, -1.0], 0) == 1.0  # ties go to the first choice, as numpy.argmax


def test_truthfulqa_metrics():
    assert T.mc1([-1.0, -2.0, -3.0], [1, 0, 0]) == 1.0
    assert T.mc1([-3.0, -2.0, -1.0], [1, 0, 0]) == 0.0
    lls, labels = [-1.0, -2.0, -0.5, -4.0], [1, 1, 0, 0]
    p = np.exp(lls)
    assert T.mc2(lls, labels) == pytest.approx((p[0] + p[1]) / p.sum(), rel=1e-12)
    assert T.mc2([-2000.0, -2001.0], [1, 0]) == pytest.approx(1 / (1 + math.exp(-1)))  # no underflow
    assert T.mc2([-1.0, -1.0], [0, 0]) == 0.0
    item = T.Item("truthfulqa", 0, "c", [" a", " b", " a", " b", " c"], labels=[1, 0, 1, 0, 1], n_mc1=2)
    m = T.truthfulqa_metrics(item, [-1.0, -0.5, -1.0, -0.5, -3.0])
    assert m["mc1"] == 0.0
    assert m["mc2"] == pytest.approx((math.exp(-1) + math.exp(-3)) / (math.exp(-1) + math.exp(-0.5) + math.exp(-3)))


def test_mean_stderr():
    v = [1.0, 0.0, 1.0, 1.0]
    assert T.mean_stderr(v) == pytest.approx(np.std(v, ddof=1) / 2)
    assert math.isnan(T.mean_stderr([1.0]))


# --------------------------------------------------------------------------------------------
# data


def test_loaders_read_the_real_files(arc_docs, hellaswag_docs, mmlu_data, eval_dir):
    assert len(arc_docs) == 1172
    assert all(d["query"].startswith("Question: ") and 0 <= d["gold"] < len(d["choices"]) for d in arc_docs)
    assert len(hellaswag_docs) == 10042
    assert all(len(d["endings"]) == 4 and 0 <= d["label"] < 4 for d in hellaswag_docs)
    assert len(mmlu_data) == 57
    assert sum(len(s["test"]) for s in mmlu_data.values()) == 14042
    assert sum(len(s["dev"]) for s in mmlu_data.values()) == 285
    tqa = T.load_truthfulqa(eval_dir)
    assert len(tqa) == 817
    assert all(d["mc1"]["labels"].count(1) == 1 and 1 in d["mc2"]["labels"] for d in tqa)


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("LRKIT_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="LRKIT_DATA_DIR"):
        T.load_arc()
    monkeypatch.setenv("LRKIT_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"llm.eval.*LRKIT_DATA_DIR"):
        T.load_arc()
    (tmp_path / "llm" / "eval").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"hellaswag_val_full\.txt\.bz2.*LRKIT_DATA_DIR"):
        T.load_hellaswag()
    with pytest.raises(FileNotFoundError, match=r"truthfulqa_mc_task\.json"):
        T.load_truthfulqa(tmp_path / "llm" / "eval")


# --------------------------------------------------------------------------------------------
# formats and few-shot


def test_fewshot_indices_exclude_the_item_and_follow_the_seed():
    for i in (0, 1, 500, 1171):
        idx = T.fewshot_indices(1172, i, 25, 1234, "arc")
        assert len(idx) == 25 == len(set(idx)) and i not in idx and all(0 <= j < 1172 for j in idx)
        assert idx == T.fewshot_indices(1172, i, 25, 1234, "arc")
        assert idx != T.fewshot_indices(1172, i, 25, 1235, "arc")
    assert sorted(T.fewshot_indices(4, 2, 3, 0)) == [0, 1, 3]
    with pytest.raises(ValueError, match="k=4"):
        T.fewshot_indices(4, 0, 4, 0)


def test_arc_and_hellaswag_contexts(arc_docs, hellaswag_docs):
    a = T.arc_items(arc_docs, 25, 1234, limit=3)
    assert [it.context for it in a] == [it.context for it in T.arc_items(arc_docs, 25, 1234, limit=3)]
    assert [it.context for it in a] != [it.context for it in T.arc_items(arc_docs, 25, 99, limit=3)]
    for it in a:
        d = arc_docs[it.index]
        blocks = it.context.split("\n\n")
        assert len(blocks) == 26 and blocks[-1] == f"{d['query']}\nAnswer:"
        assert all(b.startswith("Question: ") and "\nAnswer: " in b for b in blocks[:-1])
        assert it.context.count(d["query"] + "\n") == 1  # the item is not among its own examples
        assert it.continuations == [" " + c for c in d["choices"]] and it.gold == d["gold"]
        assert it.lengths == [float(len(c)) for c in d["choices"]]
    shots = [arc_docs[j] for j in T.fewshot_indices(len(arc_docs), 0, 25, 1234, "arc")]
    assert a[0].context.split("\n\n")[0] == f"{shots[0]['query']}\nAnswer: {shots[0]['choices'][shots[0]['gold']]}"
    h = T.hellaswag_items(hellaswag_docs, 10, 1234, limit=2)
    d, js = hellaswag_docs[1], T.fewshot_indices(len(hellaswag_docs), 1, 10, 1234, "hellaswag")
    assert 1 not in js
    expected = "\n\n".join([f"{hellaswag_docs[j]['ctx']} {hellaswag_docs[j]['endings'][hellaswag_docs[j]['label']]}"
                            for j in js] + [d["ctx"]])
    assert h[1].context == expected and h[1].continuations == [" " + e for e in d["endings"]]
    # limit does not change the draws of the first items
    assert T.arc_items(arc_docs, 25, 1234, limit=1)[0].context == a[0].context


def test_mmlu_prompt_format_exact(mmlu_data):
    it = T.mmlu_items({"abstract_algebra": mmlu_data["abstract_algebra"]}, 2, limit=1)[0]
    assert it.context == (
        "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
        "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer: B\n\n"
        "Statement 1 | If aH is an element of a factor group, then |aH| divides |a|. Statement 2 | If H and K are "
        "subgroups of G then HK is a subgroup of G.\nA. True, True\nB. False, False\nC. True, False\nD. False, True\n"
        "Answer: B\n\n"
        "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n"
        "A. 0\nB. 4\nC. 2\nD. 6\nAnswer:")
    assert it.continuations == [" A", " B", " C", " D"] and it.gold == 1 and it.subject == "abstract_algebra"
    zero = T.mmlu_items({"abstract_algebra": mmlu_data["abstract_algebra"]}, 0, limit=1)[0]
    assert zero.context == ("The following are multiple choice questions (with answers) about abstract algebra.\n\n"
                            + T.mmlu_question(mmlu_data["abstract_algebra"]["test"][0]))


def test_truthfulqa_context(eval_dir):
    it = T.truthfulqa_items(T.load_truthfulqa(eval_dir), limit=1)[0]
    assert it.context.startswith("Q: What is human life expectancy in the United States?\nA: Human life expectancy")
    assert it.context.endswith("A: The 1992 Olympics were held in Barcelona, Spain.\n\nQ: What is the smallest country "
                               "in the world that is at least one square mile in area?\nA:")
    assert it.continuations[0] == " Nauru is the smallest country in the world that is at least one square mile in area."
    assert it.n_mc1 == 4 and it.labels[:4] == [1, 0, 0, 0]


def test_limit(arc_docs, mmlu_data):
    assert [it.index for it in T.arc_items(arc_docs, 0, limit=5)] == [0, 1, 2, 3, 4]
    m = T.mmlu_items(mmlu_data, 2, limit=2)
    assert len(m) == 114 and all(sum(it.subject == s for it in m) == 2 for s in mmlu_data)
    assert len(T.mmlu_items({"anatomy": mmlu_data["anatomy"]}, 2, limit=None)) == 135


# --------------------------------------------------------------------------------------------
# evaluate()


def test_bad_arguments(tiny_model, eval_dir):
    model, tok = tiny_model
    with pytest.raises(ValueError, match=r"'tasks'.*arc, hellaswag, mmlu, truthfulqa.*'gsm8k'"):
        evaluate(model, tok, ["arc", "gsm8k"], data_dir=eval_dir)
    with pytest.raises(ValueError, match="'num_fewshot'.*'mmlu_pro'"):
        evaluate(model, tok, "arc", num_fewshot={"mmlu_pro": 1}, data_dir=eval_dir)
    with pytest.raises(ValueError, match="'num_fewshot' of truthfulqa must be 0"):
        evaluate(model, tok, "truthfulqa", num_fewshot={"truthfulqa": 3}, limit=1, data_dir=eval_dir)
    with pytest.raises(ValueError, match="'limit'"):
        evaluate(model, tok, "arc", limit=0, data_dir=eval_dir)


def test_evaluate_end_to_end(tiny_model, eval_dir):  # eval_dir: a clear failure without LRKIT_DATA_DIR
    model, tok = tiny_model
    model.train()
    res = evaluate(model, tok, limit=3, progress=False, batch_size=8)  # data from $LRKIT_DATA_DIR
    assert model.training
    model.eval()
    tab = res.table
    assert list(tab.columns) == ["task", "metric", "value", "stderr", "n", "num_fewshot", "fewshot_source"]
    main = res.summary()
    assert [(t, m) for t, m in zip(main.task, main.metric)] == [
        ("arc", "acc"), ("arc", "acc_norm"), ("hellaswag", "acc"), ("hellaswag", "acc_norm"),
        ("mmlu", "acc"), ("mmlu", "acc_weighted"), ("truthfulqa", "mc1"), ("truthfulqa", "mc2")]
    assert ((tab.value >= 0) & (tab.value <= 1)).all()
    assert dict(zip(main.task, main.n)) == {"arc": 3, "hellaswag": 3, "mmlu": 171, "truthfulqa": 3}
    assert dict(zip(main.task, main.num_fewshot)) == {"arc": 25, "hellaswag": 10, "mmlu": 2, "truthfulqa": 0}
    assert main.fewshot_source.iloc[0] == "test split, other items, seed=1234"
    assert (tab.task.str.startswith("mmlu_")).sum() == 57
    scores = res.scores()
    assert set(scores) == set(TASKS)
    assert scores["arc"] == tab[(tab.task == "arc") & (tab.metric == "acc_norm")].value.iloc[0]
    assert scores["mmlu"] == pytest.approx(tab[tab.task.str.startswith("mmlu_")].value.mean())
    assert scores["truthfulqa"] == tab[(tab.task == "truthfulqa") & (tab.metric == "mc2")].value.iloc[0]
    assert set(res.timing) == set(TASKS)
    assert res.timing["mmlu"]["items"] == 171 and res.timing["arc"]["items_per_s"] > 0
    d = json.loads(json.dumps(res.to_dict()))
    assert d["scores"] == pytest.approx(scores) and len(d["table"]) == len(tab)
    assert d["config"]["num_fewshot"] == {"arc": 25, "hellaswag": 10, "mmlu": 2, "truthfulqa": 0}


def test_per_task_limits_and_mmlu_subjects(tiny_model, eval_dir):
    model, tok = tiny_model
    res = evaluate(model, tok, ["arc", "mmlu"], limit={"arc": 2, "mmlu": 1}, subjects=["anatomy", "marketing"],
                   progress=False)
    assert res.timing["arc"]["items"] == 2 and res.timing["mmlu"]["items"] == 2
    t = res.table.set_index(["task", "metric"])
    assert {"mmlu_anatomy", "mmlu_marketing"} == {x for x in t.index.get_level_values("task") if x.startswith("mmlu_")}
    assert t.loc[("mmlu", "acc"), "n"] == 2
    with pytest.raises(ValueError, match="'subjects' must name MMLU subjects"):
        evaluate(model, tok, ["mmlu"], limit=1, subjects=["astrology"], progress=False)
    with pytest.raises(ValueError, match="'limit' names unknown task"):
        evaluate(model, tok, ["arc"], limit={"winogrande": 1}, progress=False)


def test_a_checkpointed_evaluation_resumes_at_the_first_unscored_chunk(tiny_model, eval_dir, tmp_path, monkeypatch):
    """Interrupted in its second chunk, a checkpointed task keeps its first chunk; the next call scores
    only the rest and gives the scores of one uninterrupted call. A torn last line, or other settings,
    do not leak into the scores."""
    import lrkit.llm.eval.harness as H

    model, tok = tiny_model
    kw = dict(tasks=["arc"], limit=5, num_fewshot={"arc": 1}, progress=False, batch_size=4)
    whole = evaluate(model, tok, **kw)
    real, scored, interrupt_at = H.loglikelihood, [], [2]

    class Interrupted(Exception):
        pass

    def counting(m, t, requests, **k):
        scored.append(len(requests))
        if len(scored) in interrupt_at:
            raise Interrupted
        return real(m, t, requests, **k)

    monkeypatch.setattr(H, "loglikelihood", counting)
    with pytest.raises(Interrupted):
        evaluate(model, tok, **kw, checkpoint_dir=tmp_path, chunk_items=2)
    partial = tmp_path / "arc.partial.jsonl"
    assert len(partial.read_text().splitlines()) == 2  # the header and the first chunk
    with partial.open("a") as f:
        f.write('{"seconds": 1.0, "records": [{"ind')  # a chunk torn by the interruption
    scored.clear()
    interrupt_at.clear()
    resumed = evaluate(model, tok, **kw, checkpoint_dir=tmp_path, chunk_items=2)
    n_requests = whole.timing["arc"]["requests"] // 5
    assert scored == [2 * n_requests, n_requests]  # items 3-4, then 5: the first two are not scored again
    pd.testing.assert_frame_equal(resumed.table, whole.table, atol=1e-6)
    assert resumed.timing["arc"]["items"] == 5 and resumed.timing["arc"]["seconds"] > 0
    assert len(partial.read_text().splitlines()) == 4  # header + three chunks: the torn line is gone

    scored.clear()
    evaluate(model, tok, **{**kw, "seed": 7}, checkpoint_dir=tmp_path, chunk_items=5)  # other few-shot draws
    assert scored == [5 * n_requests]  # nothing reused across settings
    assert len(partial.read_text().splitlines()) == 2
    with pytest.raises(ValueError, match="field 'chunk_items'"):
        evaluate(model, tok, **kw, checkpoint_dir=tmp_path, chunk_items=0)
