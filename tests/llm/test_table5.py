"""The Table V / Fig. 7 runner end to end on a tiny random Llama (the real model runs in the notebook test)."""

import json
import sys

import pytest

from lrkit.llm.models import save_tiny_llama
from lrkit.llm.table5 import (load_recipe, markdown, paper_frame, profile_config, profile_rows, reproduce_table5, table_frame,
                              throughput)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return save_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama")


def test_recipe_has_the_papers_table():
    r = load_recipe()
    assert [row["key"] for row in r["rows"]] == ["linear-2e-5", "linear-6e-5", "cosine", "fixed"]
    assert r["paper_baseline"]["scores"] == [0.5119, 0.7776, 0.3414, 0.3407]
    assert all(len(row["paper"]) == 3 for row in r["rows"])
    cfg = profile_config(r, "full")
    assert cfg["batch_size"] * cfg["grad_accum"] == 128 and cfg["epochs"] == 3  # the paper's batch 128
    with pytest.raises(ValueError, match="'profile' must be one of"):
        profile_config(r, "medium")
    # a profile may run a subset of the policies (CI's quick runs two); rows are not a FinetuneConfig field
    assert profile_rows(r, "quick") == ["linear-6e-5", "fixed"] and "rows" not in profile_config(r, "quick")
    assert profile_rows(r, "cpu") == profile_rows(r, "full") == ["linear-2e-5", "linear-6e-5", "cosine", "fixed"]
    # the cpu profile: about 600 items per task (MMLU: 11 of each of the 57 subjects), staged, the final epoch
    cpu = r["profiles"]["cpu"]
    assert cpu["staged"] and cpu["score_epochs"] == [3] and "staged" not in profile_config(r, "cpu")
    lim = cpu["eval_limit"]
    assert min(lim["arc"], lim["hellaswag"], lim["truthfulqa"], 57 * lim["mmlu"]) >= 600 and "eval_subjects" not in cpu
    assert 1.96 * (0.25 / 600) ** 0.5 <= 0.0401  # the half-width of a proportion near 0.5 on 600 items
    r["profiles"]["quick"]["rows"] = ["linear-6e-5", "step"]
    with pytest.raises(ValueError, match=r"field 'rows' of profile 'quick' must name rows of the recipe .*'step'"):
        profile_rows(r, "quick")


def test_reproduce_runs_every_stage_and_resumes(tiny_dir, tmp_path, data_dir, monkeypatch):
    recipe = load_recipe()
    recipe["profiles"]["test"] = {"model": tiny_dir, "limit": 4, "batch_size": 4, "max_length": 256, "eval_limit": 1,
                                  "eval_subjects": ["high_school_mathematics", "marketing"],
                                  "eval_fewshot": {"arc": 3, "hellaswag": 2}, "eval_batch_size": 8, "save_checkpoints": False}
    import matplotlib.pyplot as plt

    open_before = set(plt.get_fignums())  # figures other tests left open
    doc = reproduce_table5("test", tmp_path, rows=["linear-6e-5"], recipe=recipe, progress=False)
    # a second policy later: the baseline and the finished run are kept, only the new row is computed
    doc = reproduce_table5("test", tmp_path, rows=["linear-6e-5", "fixed"], recipe=recipe, progress=False)
    assert [r["reused"] for r in doc["runs"]] == [True, False]
    df = table_frame(doc)
    # baseline + 2 policies x 3 epochs, one column per task
    assert list(df.index) == [("Pre-trained LLM", "baseline")] + [
        (lab, f"epoch {e}") for lab in ("6e-05 (linear)", "1e-05 (fixed)") for e in (1, 2, 3)]
    # the headers carry the shots scored with: the profile's for ARC and HellaSwag, the paper's for the others
    assert list(df.columns) == ["ARC(3)", "HellaSwag(2)", "MMLU(2)", "TruthfulQA(0)"]
    assert list(paper_frame(doc).columns) == ["ARC(25)", "HellaSwag(10)", "MMLU(2)", "TruthfulQA(0)"]
    import pandas as pd

    ev = pd.DataFrame(doc["evals"])
    shots = ev[ev["task"].isin(["arc", "hellaswag", "mmlu", "truthfulqa"])].groupby("task")["num_fewshot"].unique()
    assert {t: list(k) for t, k in shots.items()} == {"arc": [3], "hellaswag": [2], "mmlu": [2], "truthfulqa": [0]}
    assert ((df >= 0) & (df <= 1)).all().all()
    runs = {r["key"]: r for r in doc["runs"]}
    n = 3 * runs["fixed"]["steps_per_epoch"]
    assert runs["linear-6e-5"]["steps"] == n and runs["linear-6e-5"]["curves"]["lr"][0] == pytest.approx(6e-5)
    assert runs["fixed"]["curves"]["lr"] == pytest.approx([1e-5] * n)
    md = (tmp_path / "table5.md").read_text()
    assert "| ARC(3) | HellaSwag(2) | MMLU(2) | TruthfulQA(0) |" in md
    assert "set by the profile, not the paper's: arc 3 (paper 25), hellaswag 2 (paper 10)" in md
    # one item per task: no cell has an interval (n/a), so no best is claimed
    table, diffs = [block for block in md.split("\n\n") if block.startswith("|")]
    assert "**" not in table and table.count("± n/a") == 7 * 4
    # nor is any difference between the compared rows (baseline and the two policies' last epochs) significant
    assert "**" not in diffs and diffs.count("± n/a") == 3 * 4 and "Bold: significant (the interval excludes 0): 0 of 12." in md
    # the recipe's claims are checked on these scores: linear-2e-5 did not run, so they stay open
    assert "**6e-05 (linear) is worse than 2e-05 (linear) on ARC** (best of each): open" in md
    assert (tmp_path / "fig7.png").stat().st_size > 10_000
    assert set(plt.get_fignums()) <= open_before  # Fig. 7 is saved and closed, never left open for a notebook to show
    tp = throughput(doc)
    assert tp["tokens_per_s"] > 0 and set(tp["eval_items_per_s"]) == {"arc", "hellaswag", "mmlu", "truthfulqa"}
    assert json.loads((tmp_path / "results.json").read_text())["table"] == doc["table"]
    # resume: finished runs and the baseline are read back, not recomputed
    again = reproduce_table5("test", tmp_path, rows=["linear-6e-5", "fixed"], recipe=recipe, progress=False)
    assert all(r["reused"] for r in again["runs"]) and again["table"] == doc["table"]
    # read-back runs keep the throughput they measured, and the document keeps the date it was computed
    assert throughput(again) == tp and "tokens/s (median over runs)" in markdown(again)
    stamped = json.loads((tmp_path / "results.json").read_text())
    (tmp_path / "results.json").write_text(json.dumps({**stamped, "date": "2001-02-03", "wall_time_s": 1234.5}))
    read_back = reproduce_table5("test", tmp_path, rows=["linear-6e-5", "fixed"], recipe=recipe, progress=False)
    assert read_back["date"] == "2001-02-03" and read_back["wall_time_s"] == 1234.5  # a read-back rewrites nothing
    # on another machine the model lives elsewhere: committed results are still read back, the model never loaded
    recipe["profiles"]["test"]["model"] = str(tmp_path / "elsewhere" / "tiny-llama")
    moved = reproduce_table5("test", tmp_path, rows=["linear-6e-5", "fixed"], recipe=recipe, progress=False)
    assert all(r["reused"] for r in moved["runs"]) and moved["table"] == doc["table"]
    with pytest.raises(ValueError, match="'rows'"):
        reproduce_table5("test", tmp_path, rows=["step"], recipe=recipe, progress=False)
    # a stored run or baseline computed under other settings is not resumed but computed again
    class Recomputed(Exception):
        pass

    def recompute(*a, **k):
        raise Recomputed

    monkeypatch.setattr(sys.modules["lrkit.llm.finetune"], "finetune", recompute)  # (lrkit.llm.finetune is also a function)
    monkeypatch.setattr(sys.modules["lrkit.llm.models"], "load_model", recompute)
    recipe["profiles"]["test"]["model"] = tiny_dir
    reproduce_table5("test", tmp_path, rows=["linear-6e-5", "fixed"], recipe=recipe, progress=False)  # all read back
    run_json = tmp_path / "runs" / "fixed" / "run.json"
    stored = json.loads(run_json.read_text())
    run_json.write_text(json.dumps({**stored, "config": {**stored["config"], "epochs": 5}}))
    with pytest.raises(Recomputed):
        reproduce_table5("test", tmp_path, rows=["fixed"], recipe=recipe, progress=False)
    run_json.write_text(json.dumps(stored))
    run_json.write_text(json.dumps({**stored, "config": {**stored["config"], "eval_fewshot": None}}))  # paper's shots
    with pytest.raises(Recomputed):
        reproduce_table5("test", tmp_path, rows=["fixed"], recipe=recipe, progress=False)
    run_json.write_text(json.dumps(stored))
    recipe["profiles"]["test"]["eval_fewshot"] = {"arc": 25, "hellaswag": 2}  # the baseline was scored with ARC 3-shot
    with pytest.raises(Recomputed):
        reproduce_table5("test", tmp_path, rows=[], recipe=recipe, progress=False)  # the baseline alone
    recipe["profiles"]["test"]["eval_fewshot"] = {"arc": 3, "hellaswag": 2}
    recipe["profiles"]["test"]["eval_limit"] = 2  # the baseline was scored on 1 item per task
    with pytest.raises(Recomputed):
        reproduce_table5("test", tmp_path, rows=[], recipe=recipe, progress=False)  # the baseline alone


def test_a_device_this_machine_lacks_is_an_error_before_any_model_loads(tiny_dir, tmp_path, data_dir, monkeypatch):
    def never(*a, **k):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(sys.modules["lrkit.llm.models"], "load_model", never)
    recipe = load_recipe()
    recipe["profiles"]["test"] = {"model": tiny_dir, "limit": 4, "eval_limit": 1}
    with pytest.raises(ValueError, match="device 'cuda:99': "):
        reproduce_table5("test", tmp_path, rows=["fixed"], recipe=recipe, progress=False, device="cuda:99")


def test_throughput_is_the_median_so_one_slowed_run_does_not_set_it():
    timing = lambda s: {"arc": {"items": 10, "seconds": s}}  # noqa: E731
    doc = {"baseline_timing": timing(10.0),
           "runs": [{"tokens_per_s": v, "eval_timing": [timing(10.0)]} for v in (10.0, 90.0, 95.0)]
           + [{"tokens_per_s": None, "eval_timing": [timing(100.0)]}]}
    tp = throughput(doc)
    assert tp["tokens_per_s"] == 90.0 and tp["eval_items_per_s"] == {"arc": 1.0}


def test_paper_frame_marks_the_papers_winners():
    doc = {"paper": {"baseline": [0.5119, 0.7776, 0.3414, 0.3407],
                     "rows": {r["label"]: r["paper"] for r in load_recipe()["rows"]}}}
    p = paper_frame(doc)
    from lrkit.llm.report import best_per_column

    best = best_per_column(p.drop(index="Pre-trained LLM", level=0))
    assert best["ARC(25)"] == ("1e-05 (fixed)", "epoch 2")  # 0.5503
    assert best["MMLU(2)"] == ("2e-05 (cosine)", "epoch 3")  # 0.4194
    assert best["TruthfulQA(0)"] == ("6e-05 (linear)", "epoch 2")  # 0.4113


def test_best_is_marked_only_where_the_interval_separates_it():
    import pandas as pd

    from lrkit.llm.report import separated_best

    idx = ["x", "y", "z"]
    wide = pd.DataFrame({"clear": [0.60, 0.50, 0.10], "close": [0.52, 0.50, 0.10], "tie": [0.5, 0.5, 0.2],
                         "one_item": [0.9, 0.1, 0.1]}, index=idx)
    se = pd.DataFrame({"clear": [0.01, 0.01, 0.01], "close": [0.02, 0.02, 0.02], "tie": [0.01, 0.01, 0.01],
                       "one_item": [float("nan")] * 3}, index=idx)
    # clear: 0.10 > 1.96·√2·0.01 = 0.028; close: 0.02 < 0.055; a tie never; no stderr, no claim
    assert separated_best(wide, se) == {"clear": "x"}
    se.loc["y", "clear"] = 0.05  # 0.10 < 1.96·√(0.01² + 0.05²) = 0.0999…: just inside
    assert separated_best(wide, se) == {"clear": "x"}
    se.loc["y", "clear"] = 0.0511
    assert separated_best(wide, se) == {}


def _score_rows(text: str) -> list[str]:
    """The body lines of the score table in a rendered table5.md (its header and rule left out)."""
    table = next(block for block in text.split("\n\n") if block.startswith("| model |"))
    return table.splitlines()[2:]


def test_committed_table_shows_an_interval_in_every_cell_and_no_unseparated_best():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "reproductions" / "results" / "table5-cpu-small" / "results.json"
    doc = json.loads(path.read_text())
    text = markdown(doc)
    rows = _score_rows(text)
    assert len(rows) == 13
    for line in rows:
        cells = line.strip("| ").split(" | ")[2:]
        assert len(cells) == 4 and all(" ± " in c for c in cells), line
    # 10 ARC items: every interval is about ±26 pp, so no difference between policies is claimed
    assert "**" not in text and "no column has one here" in text
    assert "lm-evaluation-harness 0.4.13" in text and "Widest 95% interval" in text


def test_committed_cpu_table_has_every_interval_within_4pp_and_its_items_and_time():
    """The ``cpu`` profile's committed Table V: the baseline and each policy's final epoch, each cell shown
    with its 95% interval of at most ±4 pp, the items scored per task and the compute time stated, and a
    best marked only in the columns where it is separated from the next."""
    from pathlib import Path

    from lrkit.llm.table5 import significant_best, stderr_frame

    path = Path(__file__).resolve().parents[2] / "reproductions" / "results" / "table5-cpu" / "results.json"
    doc = json.loads(path.read_text())
    assert doc["profile"] == "cpu" and all(r["status"] == "complete" for r in doc["runs"])
    assert sorted(r["key"] for r in doc["runs"]) == sorted(["linear-2e-5", "linear-6e-5", "cosine", "fixed"])
    text = markdown(doc)
    rows = _score_rows(text)
    assert len(rows) == 5 and sum("| epoch 3 |" in line for line in rows) == 4
    for line in rows:
        cells = line.strip("| ").split(" | ")[2:]
        assert len(cells) == 4, line
        half_widths = [float(c.strip("*").split(" ± ")[1]) for c in cells]
        assert all(h <= 0.0400 for h in half_widths), line  # as displayed, four decimals
    assert (1.96 * stderr_frame(doc)).max().max() < 0.0401
    # the items behind every cell: 600 ARC, HellaSwag and TruthfulQA items, 11 of each of the 57 MMLU subjects
    timings = [doc["baseline_timing"]] + [t for r in doc["runs"] for t in r["eval_timing"]]
    assert len(timings) == 5
    assert all({k: t[k]["items"] for k in doc["tasks"]} == {"arc": 600, "hellaswag": 600, "mmlu": 627, "truthfulqa": 600}
               for t in timings)  # a policy's entry also names its stage
    assert doc["compute_time_s"] > 3600 and "Compute time:" in text
    bold = {line.split(" | ")[0].strip("| ") for line in rows if "**" in line}
    assert bold == {run for run, _ in significant_best(doc).values()}


@pytest.mark.parametrize("folder", ["table5-cpu", "table5-cpu-small"])
def test_fig7_is_redrawn_from_the_committed_run_with_its_scores(tmp_path, folder):
    import shutil
    from pathlib import Path

    import matplotlib.pyplot as plt

    from lrkit.cli.main import main

    committed = Path(__file__).resolve().parents[2] / "reproductions" / "results" / folder
    shutil.copy(committed / "results.json", tmp_path / "results.json")
    before = (tmp_path / "results.json").read_text()
    assert main(["llm", "table5", "--redraw", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "results.json").read_text() == before  # nothing recomputed or restamped
    from lrkit.llm.table5 import current_checks

    # drawn with the claims today's recipe states, checked on the committed scores
    assert (tmp_path / "table5.md").read_text() == markdown(json.loads(before), checks=current_checks(json.loads(before)))
    assert "The paper's claims checked on our scores" in (tmp_path / "table5.md").read_text()
    from lrkit.llm.table5 import plot_fig7_of

    fig = plot_fig7_of(json.loads(before))
    lr_ax, loss_ax, score_ax = fig.axes[:3]
    assert len(lr_ax.get_lines()) >= 4  # the four policies' LR curves
    # (c): the baseline and the four policies, one error-bar series each, 4 tasks per series
    series = [c for c in score_ax.containers]
    assert len(series) == 5 and all(len(c.lines[0].get_xdata()) == 4 for c in series)
    plt.close(fig)
    assert main(["llm", "table5", "--redraw", "--out", str(tmp_path / "empty")]) == 2


def test_staged_run_resumes_where_it_was_interrupted(tiny_dir, tmp_path, data_dir, monkeypatch):
    """A ``staged`` profile stores every (stage, task): interrupted while scoring, the next call neither
    fine-tunes again nor rescores a stored task, and the checkpoints go once their epoch is scored."""
    import lrkit.llm.eval as E

    recipe = load_recipe()
    recipe["tasks"] = ["arc", "truthfulqa"]  # two tasks keep it short; the stages are what is tested
    recipe["profiles"]["test"] = {"model": tiny_dir, "staged": True, "epochs": 2, "limit": 4, "batch_size": 4,
                                  "max_length": 128, "eval_limit": 1, "eval_subjects": ["marketing"],
                                  "eval_fewshot": {"arc": 1, "hellaswag": 1}, "save_checkpoints": False}
    calls = []
    real = E.evaluate

    class Interrupted(Exception):
        pass

    def counting(*a, **k):
        calls.append((k["tasks"][0]))
        if len(calls) == 2 + 2:  # the baseline's two tasks, then the second task of epoch 1
            raise Interrupted
        return real(*a, **k)

    monkeypatch.setattr(E, "evaluate", counting)
    with pytest.raises(Interrupted):
        reproduce_table5("test", tmp_path, rows=["fixed"], recipe=recipe, progress=False)
    run = tmp_path / "runs" / "fixed"
    assert (run / "run.json").exists() and (run / "epoch-1").exists()
    assert sorted(p.name for p in (run / "scores" / "epoch-1").glob("*.csv")) == ["arc.csv"]

    def never(*a, **k):
        raise AssertionError("fine-tuned again")

    monkeypatch.setattr(sys.modules["lrkit.llm.finetune"], "finetune", never)  # (lrkit.llm.finetune is also a function)
    calls.clear()
    doc = reproduce_table5("test", tmp_path, rows=["fixed"], recipe=recipe, progress=False)
    # epoch 1's missing task and epoch 2's two: nothing stored is scored again
    assert calls == ["truthfulqa", "arc", "truthfulqa"]
    assert not (run / "epoch-1").exists() and not (run / "epoch-2").exists()  # scored: checkpoints deleted
    df = table_frame(doc)
    assert list(df.index) == [("Pre-trained LLM", "baseline"), ("1e-05 (fixed)", "epoch 1"), ("1e-05 (fixed)", "epoch 2")]
    assert df.notna().all().all() and doc["compute_time_s"] > 0 and "Compute time:" in markdown(doc)
    # every stored task keeps its items (a paired comparison reads them), and no partial checkpoint is left
    from lrkit.llm.staged import read_items

    for stage in (tmp_path / "scores" / "baseline", run / "scores" / "epoch-1", run / "scores" / "epoch-2"):
        assert not list(stage.glob("*.partial.jsonl"))
        arc, tqa = read_items(stage / "arc.items.jsonl"), read_items(stage / "truthfulqa.items.jsonl")
        assert len(arc) == 1 and {"index", "lls", "acc", "acc_norm"} <= set(arc.columns)
        assert len(tqa) == 1 and {"mc1", "mc2"} <= set(tqa.columns) and len(tqa["lls"].iloc[0]) > 2
    assert read_items(stage / "hellaswag.items.jsonl") is None
    # the baseline against the policy's last stage, on both tasks (one item each: no paired error yet)
    assert sorted((e["task"], tuple(e["a"]), tuple(e["b"])) for e in doc["differences"]) == [
        (t, ("Pre-trained LLM", "baseline"), ("1e-05 (fixed)", "epoch 2")) for t in ("arc", "truthfulqa")]
    calls.clear()
    again = reproduce_table5("test", tmp_path, rows=["fixed"], recipe=recipe, progress=False)
    assert calls == [] and again["table"] == doc["table"] and again["runs"][0]["reused"]


def test_staged_profile_scores_only_the_chosen_epochs(tmp_path):
    import pandas as pd

    from lrkit.llm import staged
    from lrkit.llm.recipe import score_epochs as _score_epochs

    recipe = load_recipe()
    recipe["profiles"]["p"] = {"staged": True, "score_epochs": [3]}
    assert _score_epochs(recipe, "p", 3) == [3]
    recipe["profiles"]["p"]["score_epochs"] = [0, 3]
    with pytest.raises(ValueError, match=r"field 'score_epochs' of profile 'p' must list epochs among 1..3"):
        _score_epochs(recipe, "p", 3)
    # epoch 3 stored, checkpoints of epochs 1-3 on disk: nothing is loaded, every checkpoint goes
    settings = {"model": "m", "tasks": ["arc"]}
    for e in (1, 2, 3):
        (tmp_path / f"epoch-{e}").mkdir()
    stage = tmp_path / "scores" / "epoch-3"
    stage.mkdir(parents=True)
    pd.DataFrame([{"task": "arc", "metric": "acc_norm", "value": 0.5, "stderr": 0.02}]).to_csv(stage / "arc.csv", index=False)
    (stage / "arc.json").write_text(json.dumps({"settings": settings, "timing": {"items": 1, "seconds": 2.0}}))

    def never(path):
        raise AssertionError("a checkpoint was loaded")

    (tmp_path / "run.json").write_text(json.dumps({"status": "complete"}))
    assert not staged.needs_training(tmp_path, [3], ["arc"], settings)
    evals, timings = staged.score_epochs(tmp_path, [3], 10, never, {"tasks": ["arc"]}, settings, keep_checkpoints=False)
    assert list(evals["stage"]) == ["epoch 3"] and list(evals["step"]) == [30] and timings[0]["arc"]["seconds"] == 2.0
    assert not any((tmp_path / f"epoch-{e}").exists() for e in (1, 2, 3))
    # a stored task of other settings is not trusted, and without its checkpoint the run must train again
    assert staged.needs_training(tmp_path, [3], ["arc"], {**settings, "model": "other"})
