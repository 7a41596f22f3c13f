"""The benchmark runs end to end and reports what it measured (speed itself is not asserted here)."""

import json

from lrkit.cli.main import main
from lrkit.optim.bench import bench_fused_adam, table


def test_bench_reports_every_implementation_and_case():
    doc = bench_fused_adam(sizes=[2000], many_small=[3], small_size=100, steps=2, warmup=1, skip=("bnb8",), progress=False)
    assert doc["copy_bandwidth_gb_s"] > 0 and doc["dtype"] == "float32"
    cases = {(r["case"], r["impl"]) for r in doc["rows"]}
    assert cases == {(c, i) for c in ("1 x 2,000", "3 x 100") for i in ("lrkit", "reference", "fused", "foreach")}
    for r in doc["rows"]:
        assert r["median_ms"] > 0 and r["gb_s"] > 0 and "error" not in r, r
    fused = [r for r in doc["rows"] if r["impl"] == "fused"]
    assert all(r["speedup_vs_torch_fused"] == 1.0 for r in fused)
    assert doc["mopt"][0]["params"] == 2000 and doc["mopt"][0]["speedup"] > 0
    md = table(doc)
    assert "| 3 x 100 | lrkit FusedAdam (compiled) |" in md and "| M-opt, params |" in md


def test_cli_writes_json_and_markdown(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "fused-adam", "--sizes", "1000", "--many-small", "2", "--small-size", "64", "--steps", "2",
                 "--skip", "bnb8", "foreach", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert {r["impl"] for r in doc["rows"]} == {"lrkit", "reference", "fused"}
    assert out.with_suffix(".md").read_text().startswith("Fused Adam-with-schedule on")
    assert "median step (ms)" in capsys.readouterr().out
