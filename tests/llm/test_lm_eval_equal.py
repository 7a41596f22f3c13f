"""lrkit.llm.eval scores every item as lm-evaluation-harness does: both harnesses score the tiny
seeded Llama on the same items of the same local files, 0-shot and 2-shot, and must agree on every
choice's log-likelihood (float tolerance) and on acc / acc_norm / mc1 / mc2 of every item.

The lm-eval side is lm-eval's own task configs (its YAML files: prompt templates, choices, targets,
HellaSwag's ``process_docs``, TruthfulQA's mc2 ``process_results``), with only the data source
replaced by the local files. The few-shot examples are fixed on both sides to the first k other
items of the split (lm-eval's ``first_n`` sampler; lrkit's draw is replaced by the same rule), since
the local ARC and HellaSwag files have no training split to draw from.
"""

import bz2
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

lm_eval = pytest.importorskip("lm_eval", reason="the equality test needs lm-evaluation-harness: pip install -e '.[test]'")
datasets = pytest.importorskip("datasets")

from lm_eval import evaluator  # noqa: E402
from lm_eval.api.metrics import aggregate_subtask_metrics  # noqa: E402
from lm_eval.api.task import ConfigurableTask  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402
from lm_eval.tasks._yaml_loader import load_yaml  # noqa: E402

from lrkit.llm.eval import evaluate  # noqa: E402
from lrkit.llm.eval import harness as H  # noqa: E402
from lrkit.llm.eval import tasks as T  # noqa: E402
from lrkit.llm.models import tiny_llama  # noqa: E402

LM_EVAL_TASKS = Path(lm_eval.__file__).parent / "tasks"
N = 3                                        # items per task (per subject for MMLU)
SUBJECTS = ("abstract_algebra", "anatomy")
LL_ATOL = 1e-4                               # nats, float32 forwards batched differently


@pytest.fixture(scope="module")
def eval_dir():
    env = os.environ.get("LRKIT_DATA_DIR")
    if not env or not (Path(env) / "llm" / "eval").is_dir():
        pytest.fail("LRKIT_DATA_DIR must point at the shared data folder (with llm/eval/ in it), "
                    "e.g. LRKIT_DATA_DIR=/work/shared/data; this test reads the real evaluation sets")
    return Path(env) / "llm" / "eval"


def _standard(path: str, **override) -> dict:
    """lm-eval's own task config (includes and ``!function`` resolved), the data source overridden."""
    cfg = load_yaml(LM_EVAL_TASKS / path)
    for key in ("tag", "group", "dataset_name"):
        cfg.pop(key, None)
    cfg.update(override)
    return cfg


def _hellaswag_dataset(path, **_):
    # The local file holds lm-eval's cleaned context line; ctx_a = it without the activity label, ctx_b
    # empty, so lm-eval's process_docs rebuilds the same line ("label: ctx_a " stripped).
    with bz2.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().rstrip("\n").split("\n")
    rows = []
    for i in range(0, 6 * (N + 2), 6):
        label, _, ctx = lines[i].partition(": ")
        rows.append({"activity_label": label, "ctx_a": ctx, "ctx_b": "", "endings": lines[i + 2:i + 6],
                     "label": lines[i + 1]})
    return datasets.DatasetDict({"validation": datasets.Dataset.from_list(rows[:N]),
                                 "train": datasets.Dataset.from_list(rows[N:])})


def _truthfulqa_dataset(path, **_):
    # The local file keeps each target set as {answer: label}; lm-eval reads {"choices", "labels"}.
    with open(path, encoding="utf-8") as f:
        docs = json.load(f)

    def targets(d):
        return {"choices": list(d), "labels": [int(v) for v in d.values()]}

    rows = [{"question": d["question"], "mc1_targets": targets(d["mc1_targets"]),
             "mc2_targets": targets(d["mc2_targets"])} for d in docs]
    return datasets.DatasetDict({"validation": datasets.Dataset.from_list(rows)})


def _mmlu_docs(dataset):
    return dataset.map(lambda d: {"choices": [d[f"choice{j}"] for j in range(4)]})


def lm_eval_tasks(eval_dir: Path, truthfulqa: bool = True) -> dict[str, ConfigurableTask]:
    first_n = {"sampler": "first_n"}
    cfgs = {
        "arc": _standard("arc/arc_easy.yaml", task="lrkit_arc", dataset_path="json",
                         dataset_kwargs={"data_files": {"test": str(eval_dir / T.FILES["arc"])}},
                         training_split=None, validation_split=None, test_split="test", fewshot_split="test",
                         fewshot_config=first_n,
                         # the local file is lm-eval's v0.3 ARC form: "query" already reads "Question: {q}"
                         doc_to_text="{{query}}\nAnswer:", doc_to_choice="{{choices}}", doc_to_target="{{gold}}",
                         doc_to_decontamination_query="{{query}}"),
        "hellaswag": _standard("hellaswag/hellaswag.yaml", task="lrkit_hellaswag", dataset_path="json",
                               custom_dataset=_hellaswag_dataset,
                               dataset_kwargs={"path": str(eval_dir / T.FILES["hellaswag"])},
                               fewshot_config=first_n),
    }
    tqa = {
        "truthfulqa_mc1": _standard("truthfulqa/truthfulqa_mc1.yaml", task="lrkit_tqa_mc1", dataset_path="json",
                                    custom_dataset=_truthfulqa_dataset,
                                    dataset_kwargs={"path": str(eval_dir / T.FILES["truthfulqa"])}),
        "truthfulqa_mc2": _standard("truthfulqa/truthfulqa_mc2.yaml", task="lrkit_tqa_mc2", dataset_path="json",
                                    custom_dataset=_truthfulqa_dataset,
                                    dataset_kwargs={"path": str(eval_dir / T.FILES["truthfulqa"])}),
    }
    if truthfulqa:
        cfgs.update(tqa)
    for s in SUBJECTS:
        cfgs[f"mmlu_{s}"] = _standard(
            f"mmlu/default/mmlu_{s}.yaml", task=f"lrkit_mmlu_{s}", dataset_path="csv", process_docs=_mmlu_docs,
            dataset_kwargs={"data_files": {"test": str(eval_dir / "mmlu" / "test" / f"{s}_test.csv"),
                                           "dev": str(eval_dir / "mmlu" / "dev" / f"{s}_dev.csv")}})
    return {name: ConfigurableTask(config=cfg) for name, cfg in cfgs.items()}


def fixed_shots(n, i, k, seed, task=""):
    """The examples lm-eval's first_n sampler gives: ARC, the first k items of the split other than
    item i; HellaSwag, items N..N+k-1 (its "train" split above: the items after the evaluated ones)."""
    if task == "hellaswag":
        return list(range(N, N + k))
    return [j for j in range(k + 1) if j != i][:k]


@pytest.fixture(scope="module")
def model():
    return tiny_llama(hidden_size=32, layers=1, heads=2)


def run_both(model, eval_dir, k, monkeypatch):
    m, tok = model
    lm = HFLM(pretrained=m, tokenizer=tok, batch_size=8, device="cpu")
    # TruthfulQA is 0-shot whatever k (lm-eval's configs fix num_fewshot: 0), so it runs once
    out = evaluator.simple_evaluate(model=lm, tasks=list(lm_eval_tasks(eval_dir, truthfulqa=k == 0).values()),
                                    num_fewshot=k, task_manager=TaskManager(include_defaults=False),
                                    limit=N, log_samples=True, bootstrap_iters=0, random_seed=0,
                                    numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=0)
    theirs = {name: {s["doc_id"]: s for s in samples} for name, samples in out["samples"].items()}
    monkeypatch.setattr(T, "fewshot_indices", fixed_shots)
    ours = evaluate(m, tok, tasks=("arc", "hellaswag", "mmlu") + (("truthfulqa",) if k == 0 else ()), limit=N,
                    subjects=list(SUBJECTS), data_dir=eval_dir, progress=False,
                    num_fewshot={"arc": k, "hellaswag": k, "mmlu": k, "truthfulqa": 0})
    return ours, theirs


def lls_of(sample):
    return [float(ll) for ll, _ in sample["filtered_resps"]]


def assert_lls(ours, theirs, where):
    assert len(ours) == len(theirs), where
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=LL_ATOL, err_msg=where)


@pytest.mark.parametrize("k", [0, 2])
def test_every_item_scores_as_lm_eval(model, eval_dir, k, monkeypatch):
    ours, theirs = run_both(model, eval_dir, k, monkeypatch)

    for task in ("arc", "hellaswag"):
        d = ours.details[task]
        assert list(d["index"]) == sorted(theirs[f"lrkit_{task}"]) == list(range(N))
        for _, row in d.iterrows():
            s = theirs[f"lrkit_{task}"][row["index"]]
            assert_lls(row["lls"], lls_of(s), f"{task} item {row['index']}, {k}-shot")
            assert row["acc"] == s["acc"] and row["acc_norm"] == s["acc_norm"], (task, row["index"])

    d = ours.details["mmlu"]
    assert sorted(set(d["subject"])) == list(SUBJECTS)
    for _, row in d.iterrows():
        s = theirs[f"lrkit_mmlu_{row['subject']}"][row["index"]]
        assert_lls(row["lls"], lls_of(s), f"mmlu {row['subject']} item {row['index']}, {k}-shot")
        assert row["acc"] == s["acc"]

    for _, row in ours.details["truthfulqa"].iterrows() if k == 0 else ():
        i = row["index"]
        s1, s2 = theirs["lrkit_tqa_mc1"][i], theirs["lrkit_tqa_mc2"][i]
        n1 = len(s1["filtered_resps"])
        assert_lls(row["lls"], lls_of(s1) + lls_of(s2), f"truthfulqa item {i}")
        assert row["mc1"] == s1["acc"]
        assert math.isclose(row["mc2"], s2["acc"], rel_tol=0, abs_tol=1e-6), (i, row["mc2"], s2["acc"])
        assert n1 == len(T.load_truthfulqa(eval_dir)[i]["mc1"]["choices"])

    # the per-task means are the same numbers too
    for task, name, metric in (("arc", "lrkit_arc", "acc_norm"), ("hellaswag", "lrkit_hellaswag", "acc_norm")):
        mine = ours.table[(ours.table.task == task) & (ours.table.metric == metric)].value.iloc[0]
        assert mine == pytest.approx(np.mean([s[metric] for s in theirs[name].values()]))


def test_mmlu_both_ways_as_lm_eval_groups():
    """MMLU's ``acc`` is the unweighted mean over subjects, ``acc_weighted`` (= the mean over items)
    lm-eval's ``mmlu`` group score (subjects weighted by size), on subjects of unequal size."""
    rng = np.random.default_rng(0)
    sizes = {"a": 3, "b": 11, "c": 40}
    per_item = pd.DataFrame([{"subject": s, "acc": float(rng.random() < p)}
                             for (s, n), p in zip(sizes.items(), (0.9, 0.5, 0.2)) for _ in range(n)])
    rows = {r["metric"]: r for r in H._mmlu_rows(per_item, 2, "dev split, first 2") if r["task"] == "mmlu"}
    subject_acc = [per_item[per_item.subject == s].acc.mean() for s in sizes]
    n = list(sizes.values())
    assert rows["acc"]["value"] == pytest.approx(aggregate_subtask_metrics(subject_acc, n, weight_by_size=False))
    assert rows["acc_weighted"]["value"] == pytest.approx(aggregate_subtask_metrics(subject_acc, n, weight_by_size=True))
    assert rows["acc"]["value"] != pytest.approx(rows["acc_weighted"]["value"])
