"""The published results of the seed papers (lrkit/db/published/*.json): format, specs and numbers.

(a) every file loads, has the required keys, every policy parses and is stored in canonical form,
    accuracies are fractions in [0, 1], categories and task names come from the allowed sets;
(b) numbers are checked against the paper text (LRKIT_PAPERS_DIR, or ../shared/papers next to the
    repository): every table row's accuracy and iteration count appears in its table's region of
    the paper, plus a few hand-picked spot checks;
(c) together the files cover 004 Tables 3-12 and 000 Tables I-V.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest

from lrkit.policies import parse

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "lrkit" / "db" / "published"
FILES = sorted(PUBLISHED.glob("*.json"))

PAPER_FILES = {"004": "004_c2aa064785a8cb4d.txt", "000": "000_eee46929dc5d361c.txt"}
EXPECTED_TABLES = {("004", f"Table {n}") for n in range(3, 13)} | {
    ("000", f"Table {r}") for r in ("I", "II", "III", "IV", "V")
}

CATEGORIES = {"fixed", "decaying", "cyclic", "composite", "state", "llm"}
DATASETS = {"mnist", "cifar10", "svhn", "imagenet", "alpaca-52k"}
MODELS = {"lenet", "cnn3", "resnet32", "resnet18", "alexnet", "llama-7b"}
FRAMEWORKS = {"caffe", "pytorch", "tensorflow", "keras", None}
OPTIMIZERS = {"sgd", "momentum", "adam", "adamw", None}
TASK_KEYS = {"dataset", "model", "framework", "optimizer", "batch_size", "iterations"}
TASK_OPTIONAL = {"epochs"}
ROW_KEYS = {
    "label", "policy", "category", "highest_top1", "highest_top1_std", "highest_top1_iteration",
    "highest_top5", "final_top1", "iterations_to_target", "target_acc", "repeats", "speedup",
    "metrics", "epochs", "lambda", "note", "task",
}
FRACTION_KEYS = ("highest_top1", "highest_top1_std", "highest_top5", "final_top1", "target_acc")
ITERATION_KEYS = ("highest_top1_iteration", "iterations_to_target")


def _load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


DOCS = {p.name: _load(p) for p in FILES}


def _is_num(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_fraction(where: str, key: str, v) -> None:
    assert _is_num(v) and 0.0 <= v <= 1.0, f"{where}: {key}={v!r} is not a fraction in [0, 1]"


def _check_task(where: str, task: dict) -> None:
    assert task["dataset"] in DATASETS, f"{where}: dataset {task['dataset']!r}"
    assert task["model"] in MODELS, f"{where}: model {task['model']!r}"
    assert task["framework"] in FRAMEWORKS, f"{where}: framework {task['framework']!r}"
    assert task["optimizer"] in OPTIMIZERS, f"{where}: optimizer {task['optimizer']!r}"
    for k in ("batch_size", "iterations"):
        assert task[k] is None or (_is_int(task[k]) and task[k] > 0), f"{where}: {k}={task[k]!r}"
    if "epochs" in task:
        assert _is_int(task["epochs"]) and task["epochs"] > 0, f"{where}: epochs={task['epochs']!r}"
    if task["iterations"] is None:
        assert "epochs" in task, f"{where}: a task without iterations must give epochs"


# ---------------------------------------------------------------------------------------- (a) format


def test_there_are_files():
    assert FILES, f"no JSON files in {PUBLISHED}"


@pytest.mark.parametrize("name", sorted(DOCS))
def test_file_format(name):
    doc = DOCS[name]
    assert set(doc) <= {"source", "task", "note", "rows", "unparsed"}, f"{name}: unknown top-level keys"
    for k in ("source", "task", "note", "rows"):
        assert k in doc, f"{name}: missing {k!r}"
    src = doc["source"]
    assert set(src) == {"paper", "file", "table", "title"}, f"{name}: source keys {sorted(src)}"
    assert src["file"] == PAPER_FILES[src["paper"]]
    assert name.startswith(src["paper"] + "_table"), f"{name}: file name does not start with its paper"
    assert isinstance(doc["note"], str) and doc["note"].strip()

    task = doc["task"]
    assert TASK_KEYS <= set(task) <= TASK_KEYS | TASK_OPTIONAL, f"{name}: task keys {sorted(task)}"
    _check_task(f"{name} task", task)

    assert isinstance(doc["rows"], list) and doc["rows"], f"{name}: no rows"
    for i, row in enumerate(doc["rows"]):
        where = f"{name} row {i} ({row.get('label') or row.get('policy')})"
        assert set(row) <= ROW_KEYS, f"{where}: unknown keys {sorted(set(row) - ROW_KEYS)}"
        assert row["category"] in CATEGORIES, f"{where}: category {row.get('category')!r}"

        spec = row["policy"]
        canonical = str(parse(spec))
        assert spec == canonical, f"{where}: policy is not canonical; store {canonical!r}"

        for k in FRACTION_KEYS:
            if k in row:
                _check_fraction(where, k, row[k])
        if "highest_top1_std" in row:
            assert "highest_top1" in row
        for k, v in row.get("metrics", {}).items():
            _check_fraction(where, f"metrics.{k}", v)
        for k in ITERATION_KEYS:
            if row.get(k) is not None:
                assert _is_int(row[k]) and row[k] >= 0, f"{where}: {k}={row[k]!r}"
        if "iterations_to_target" in row:
            assert "target_acc" in row, f"{where}: iterations_to_target without target_acc"
            if row["iterations_to_target"] is None:
                assert row.get("note"), f"{where}: a target that was not reached needs a note"
        assert any(k in row for k in FRACTION_KEYS + ("metrics", "iterations_to_target")), f"{where}: no result"
        if "repeats" in row:
            assert _is_int(row["repeats"]) and row["repeats"] > 1
        if "speedup" in row:
            assert _is_num(row["speedup"]) and row["speedup"] > 0
        if "epochs" in row:
            assert _is_int(row["epochs"]) and row["epochs"] >= 1
        if "lambda" in row:
            lam = row["lambda"]
            assert lam is None or (_is_num(lam) and lam > 0) or (
                isinstance(lam, list) and lam and all(_is_num(x) and x > 0 for x in lam)
            ), f"{where}: lambda={lam!r}"
        if "task" in row:
            assert set(row["task"]) <= TASK_KEYS | TASK_OPTIONAL, f"{where}: task override keys"
            _check_task(f"{where} task", {**task, **row["task"]})

    for i, entry in enumerate(doc.get("unparsed", [])):
        where = f"{name} unparsed {i}"
        assert entry.get("label") and entry.get("why"), f"{where}: needs a label and a why"
        assert "policy" not in entry
        for k in FRACTION_KEYS:
            if k in entry:
                _check_fraction(where, k, entry[k])
        for k, v in entry.get("metrics", {}).items():
            _check_fraction(where, f"metrics.{k}", v)


# ---------------------------------------------------------------------------------------- (c) coverage


def test_files_cover_the_papers_tables():
    seen = [(d["source"]["paper"], d["source"]["table"]) for d in DOCS.values()]
    assert len(seen) == len(set(seen)), "a paper table is transcribed twice"
    assert set(seen) == EXPECTED_TABLES


# ---------------------------------------------------------------------------------------- (b) numbers


def _papers_dir() -> Path | None:
    env = os.environ.get("LRKIT_PAPERS_DIR")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "papers"]:
        if all((cand / f).is_file() for f in PAPER_FILES.values()):
            return cand
    return None


@pytest.fixture(scope="module")
def papers():
    d = _papers_dir()
    if d is None:
        pytest.skip("the seed papers are not available (set LRKIT_PAPERS_DIR or provide ../shared/papers); "
                    "the transcribed numbers cannot be compared with the paper text")
    return {k: (d / f).read_text(encoding="utf-8") for k, f in PAPER_FILES.items()}


def _region(text: str, paper: str, table: str) -> str:
    """The paper text from a table's caption to the next table caption."""
    if paper == "004":
        start = text.index(f"\n{table}. ")
        nxt = re.compile(r"\nTable \d+\. ")
    else:
        start = text.index("\n" + table.replace("Table", "TABLE") + "\n")
        nxt = re.compile(r"\nTABLE [IVX]+\n")
    m = nxt.search(text, start + 1)
    return text[start: m.start() if m else len(text)]


def _pct(v) -> str:
    return f"{Decimal(repr(v)) * 100:.2f}"


def _find(doc: str, policy_prefix: str, **match) -> dict:
    rows = [r for r in DOCS[doc]["rows"] if r["policy"].startswith(policy_prefix)
            and all(r.get(k, {} if k == "task" else None) == v for k, v in match.items())]
    assert len(rows) == 1, f"{doc}: {len(rows)} rows match {policy_prefix!r} {match}"
    return rows[0]


@pytest.mark.parametrize("name", sorted(DOCS))
def test_numbers_appear_in_the_paper(papers, name):
    doc = DOCS[name]
    paper, table = doc["source"]["paper"], doc["source"]["table"]
    text = papers[paper]
    region = _region(text, paper, table)
    for row in doc["rows"] + doc.get("unparsed", []):
        # rows taken from the text beside a table say so in their note; look for them in the whole paper
        hay = text if "not a table row" in row.get("note", "") or "not a Table" in row.get("note", "") else region
        where = f"{name}: {row.get('label') or row.get('policy')}"
        for k in ("highest_top1", "highest_top5"):
            if k in row:
                s = _pct(row[k])
                if "highest_top1_std" in row and k == "highest_top1":
                    sd = _pct(row["highest_top1_std"])
                    pat = re.escape(s) + r"\s*(?:±|\\pm)\s*" + re.escape(sd)
                    assert re.search(pat, hay), f"{where}: '{s}±{sd}' not in {table}"
                else:
                    assert s in hay, f"{where}: {k} {s}% not in {table}"
        for k in ITERATION_KEYS:
            if row.get(k) is not None:
                assert str(row[k]) in hay, f"{where}: {k} {row[k]} not in {table}"
        for k, v in row.get("metrics", {}).items():
            assert f"{Decimal(repr(v)):.4f}" in hay, f"{where}: {k} {v} not in {table}"


def test_spot_checks(papers):
    t4 = _region(papers["004"], "004", "Table 4")
    assert "99.33" in t4
    sin2 = _find("004_table04.json", "SIN2(")
    assert sin2["highest_top1"] == 0.9933 and sin2["highest_top1_std"] == 0.0002 and sin2["repeats"] == 5
    assert _find("004_table04.json", "FIX(k=0.1)")["highest_top1"] == 0.1135

    t3 = _region(papers["004"], "004", "Table 3")
    assert "60000-64000 iter: TRI ($k_0=0.001, k_1=0.005, l=500$)" in t3 and "92.91" in t3
    multi = _find("004_table03.json", "MULTI(")
    assert multi["highest_top1"] == 0.9291
    assert [s for s, _ in parse(multi["policy"]).stages] == [0, 30000, 60000]

    t10 = _region(papers["004"], "004", "Table 10")
    assert "1500\t6.67×" in t10
    cos = _find("004_table10.json", "COS(")
    assert cos["iterations_to_target"] == 1500 and cos["speedup"] == 6.67 and cos["target_acc"] == 0.991

    t12 = _region(papers["004"], "004", "Table 12")
    assert "\t250\t" in t12 and "79.87\t10.02" in t12
    adam_cos = _find("004_table12.json", "COS(", task={"optimizer": "adam"})
    assert adam_cos["highest_top1"] == 0.1002 and adam_cos["highest_top1_iteration"] == 250

    t9 = _region(papers["004"], "004", "Table 9")
    assert "69.05\t88.76" in t9
    comp = _find("004_table09.json", "MULTI(")
    assert (comp["highest_top1"], comp["highest_top5"]) == (0.6905, 0.8876)

    tI = _region(papers["000"], "000", "Table I")
    assert "92.91%" in tI
    assert _find("000_table1.json", "MULTI(")["highest_top1"] == 0.9291

    tIV = _region(papers["000"], "000", "Table IV")
    assert "99.30 \\pm 0.04" in tIV
    grid = [r for r in DOCS["000_table4.json"]["rows"] if r.get("label", "").startswith("Grid Search")]
    assert len(grid) == 1 and grid[0]["highest_top1"] == 0.993 and grid[0]["highest_top1_std"] == 0.0004

    tV = _region(papers["000"], "000", "Table V")
    assert "2 Epoch\t0.5503\t0.7875" in tV
    fixed2 = _find("000_table5.json", "CONSTANT(lr=1e-05)", epochs=2)
    assert fixed2["metrics"] == {"arc": 0.5503, "hellaswag": 0.7875, "mmlu": 0.3915, "truthfulqa": 0.3916}
