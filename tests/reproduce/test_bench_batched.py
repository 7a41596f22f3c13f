"""The batched-engine benchmark (lrkit bench batched): both engines timed per case and K, guards that skip
what would not fit, bad options named."""

import json
import os

import pytest

from lrkit.cli.main import main
from lrkit.reproduce.bench_batched import bench_batched, table


@pytest.fixture(scope="module", autouse=True)
def _data():
    if not os.environ.get("LRKIT_DATA_DIR"):
        pytest.skip("LRKIT_DATA_DIR is not set: the benchmark trains on the real MNIST (CI sets it)")


def test_the_cli_times_both_engines_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bb.json"
    assert main(["bench", "batched", "--cases", "lenet", "--ks", "1", "2", "--steps", "1", "--rounds", "1",
                 "--threads", "1", "--no-progress", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    rows = {r["K"]: r for r in doc["cases"]}
    assert set(rows) == {1, 2}
    for r in rows.values():
        assert r["single_its_per_s"] > 0 and r["batched_its_per_s"] > 0
        assert r["speedup"] == pytest.approx(r["batched_its_per_s"] / r["single_its_per_s"])
    assert "| lenet / mnist | 100 | 2 |" in capsys.readouterr().out and out.with_suffix(".md").exists()


def test_a_k_that_would_not_fit_is_skipped_with_its_reason():
    doc = bench_batched(["lenet"], [1, 64], steps=1, rounds=1, threads=1, max_memory_gb=0.05, progress=False)
    big = next(r for r in doc["cases"] if r["K"] == 64)
    assert "GB of activations" in big["skipped"] and not big["batched"]
    assert "GB of activations" in table(doc)


def test_bad_options_are_named(capsys):
    assert main(["bench", "batched", "--ks", "0", "--no-progress"]) == 2
    assert "ks must be ints >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown case"):
        bench_batched(["vgg"], progress=False)
