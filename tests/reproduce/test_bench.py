"""The training-throughput benchmark (lrkit bench train): it times the loop of a table's task for
each variant, reports variants that cannot run here with their reason, and projects the budget."""

import json
import os

import pytest

from lrkit.cli.main import main
from lrkit.reproduce.bench import VARIANTS, bench_train, recipe_config, table, time_variant


@pytest.fixture(scope="module")
def mnist():
    if not os.environ.get("LRKIT_DATA_DIR"):
        pytest.skip("LRKIT_DATA_DIR is not set: the benchmark trains on the real MNIST (CI sets it)")
    from lrkit.train.data import load_dataset

    return load_dataset("mnist")


def test_recipe_config_is_the_full_task_of_the_first_row():
    c = recipe_config("table5")
    assert (c["model"], c["dataset"], c["batch_size"], c["iters"], c["layer_mults"]) == ("cnn3", "cifar10", 100, 70000, True)
    assert c["policy"] == "FIX(k=0.001)"  # the quick profile's first row (the table's first, FIX(k=0.1), diverges)
    assert recipe_config("table6")["model"] == "resnet32"
    with pytest.raises(ValueError, match="unknown table 'table99'"):
        recipe_config("table99")


def test_time_variant_times_the_loop_and_says_what_cannot_run(mnist, monkeypatch):
    from lrkit.train import engine

    base = recipe_config("table4")
    steps = []

    class Spy(engine.Run):
        def __init__(self, cfg, **kw):
            steps.append(cfg)
            super().__init__(cfg, **kw)

    monkeypatch.setattr(engine, "Run", Spy)
    r = time_variant(base, "channels_last", mnist, steps=4, warmup=2, threads=2)
    assert r["variant"] == "channels_last" and r["it_per_s"] > 0 and r["ms_per_it"] == pytest.approx(1e3 / r["it_per_s"])
    assert r["warmup_s"] > 0 and r["steps"] == 4
    cfg = steps[0]
    assert cfg.channels_last and cfg.iters == 6 and cfg.eval_every == 6 and cfg.eval_samples == 1000 and cfg.policy == base["policy"]
    assert time_variant(base, "cuda-graphs", mnist) == {"variant": "cuda-graphs", "error": "CUDA graphs need a CUDA device"}
    with pytest.raises(ValueError, match="variant must be one of eager, channels_last"):
        time_variant(base, "turbo", mnist)
    with pytest.raises(ValueError, match="field 'model' must be one of lenet"):  # bad input: named, raised
        time_variant(dict(base, model="nonet"), "eager", mnist, steps=1, warmup=1)
    from lrkit.train import models

    def no_memory(*a, **k):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(models, "build_model", no_memory)
    bad = time_variant(base, "eager", mnist, steps=1, warmup=1)
    assert bad == {"variant": "eager", "error": "RuntimeError: out of memory (simulated)"}  # reported, not raised


def test_bench_train_document_table_and_cli(mnist, tmp_path, capsys):
    doc = bench_train(["table4"], ["eager", "channels_last", "cuda-graphs"], steps=3, warmup=1, threads=2, progress=False)
    eager, cl, graphs = doc["cases"]
    assert eager["vs_eager"] == 1.0 and cl["vs_eager"] == pytest.approx(cl["it_per_s"] / eager["it_per_s"])
    assert eager["budget_min"] == pytest.approx(10000 / eager["it_per_s"] / 60) and eager["model"] == "lenet"
    assert "error" in graphs and doc["environment"]["device"] == "cpu"
    md = table(doc)
    assert "| table4 | lenet / mnist | 100 | eager |" in md and "does not run here: CUDA graphs need a CUDA device" in md
    out = tmp_path / "b.json"
    assert main(["bench", "train", "--recipe", "table4", "--variants", "eager", "--steps", "2", "--warmup", "1",
                 "--no-progress", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["cases"][0]["it_per_s"] > 0 and out.with_suffix(".md").is_file()
    assert "| table4 | lenet / mnist |" in capsys.readouterr().out
    assert main(["bench", "train", "--recipe", "table99", "--steps", "2"]) == 2
    assert "unknown table 'table99'" in capsys.readouterr().err
    assert main(["bench", "train", "--steps", "0"]) == 2
    assert set(VARIANTS) >= {"eager", "channels_last", "compile", "cuda-graphs"}


def test_an_interrupt_keeps_the_variants_timed_so_far(mnist, monkeypatch, tmp_path):
    from lrkit.reproduce import bench

    real, calls = bench.time_variant, []

    def flaky(*a, **kw):  # Ctrl-C (or `timeout --signal=INT`) during the second variant
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(bench, "time_variant", flaky)
    doc = bench_train(["table4"], ["eager", "channels_last"], steps=2, warmup=1, threads=2, progress=False)
    assert [c["variant"] for c in doc["cases"]] == ["eager"] and doc["cases"][0]["it_per_s"] > 0
    assert "interrupt" in doc["interrupted"] and table(doc).rstrip().endswith("the variants timed before it are kept.")
    calls.clear()
    out = tmp_path / "b.json"
    assert main(["bench", "train", "--recipe", "table4", "--variants", "eager", "channels_last", "--steps", "2",
                 "--warmup", "1", "--no-progress", "--out", str(out)]) == 130
    assert json.loads(out.read_text())["cases"][0]["variant"] == "eager"


def test_training_and_the_benchmark_need_no_database_packages(mnist, tmp_path):
    """A GPU machine may lack SQLAlchemy (nothing can be installed there): training, the table recipes and
    the benchmark import it only when a run is recorded to a database."""
    import subprocess
    import sys

    script = tmp_path / "nodb.py"
    script.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('sqlalchemy', 'ray', 'ipywidgets'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from lrkit.cli.main import main\n"
        "sys.exit(main(['bench', 'train', '--recipe', 'table4', '--variants', 'eager', '--steps', '1', '--warmup', '1',"
        " '--no-progress']))\n")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("LRKIT_DB_URL", None)
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "| table4 | lenet / mnist | 100 | eager |" in p.stdout
