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


def test_a_case_that_does_not_fit_in_memory_is_skipped_and_says_why(monkeypatch):
    from lrkit.optim import bench

    # 2,000 fp32 params: ours and torch fused hold 16 B/param (32 kB), foreach 20 (40 kB), the reference 36 (72 kB)
    assert bench.STEP_BYTES["cpu"]["reference"] == 28 and bench.STEP_BYTES["cpu"]["foreach"] == 12
    monkeypatch.setattr(bench, "free_bytes", lambda device: 50_000)  # 42.5 kB usable
    saved = []
    doc = bench.bench_fused_adam(sizes=[2000], many_small=[], steps=2, warmup=1, skip=("bnb8",), progress=False,
                                 mopt_sizes=[], checkpoint=saved.append)
    by_impl = {r["impl"]: r for r in doc["rows"]}
    assert all("median_ms" in by_impl[k] for k in ("lrkit", "fused", "foreach"))
    ref = by_impl["reference"]
    assert "median_ms" not in ref and ref["skipped"] == "needs about 0.0 GB, 0.0 GB free on cpu"
    assert "| 1 x 2,000 | reference | — | — | — | skipped: needs about" in bench.table(doc)
    assert doc["mopt"] == [] and "interrupted" not in doc
    (partial,) = saved  # written after the case, before the end: a process killed later leaves this much
    assert partial["rows"] == doc["rows"] and "stopped before it ended" in partial["interrupted"]


def test_mopt_bench_times_the_fused_op_alone_where_the_naive_form_does_not_fit(monkeypatch):
    from lrkit.optim import bench

    free = iter([30_000, 10_000, 10**6, 10**6])  # 2,000 params: the snapshots need 24 kB, the naive temporaries 24 kB more
    monkeypatch.setattr(bench, "free_bytes", lambda device: next(free))
    rows = bench.bench_mopt([2000, 100], "cpu", steps=2, warmup=1)
    assert rows[0]["fused_ms"] > 0 and "naive_ms" not in rows[0]
    assert rows[0]["naive_skipped"].startswith("needs about 0.0 GB")
    assert rows[1]["speedup"] > 0
    md = bench.table({"device": "d", "dtype": "float32", "copy_bandwidth_gb_s": 1.0, "policy": "p", "rows": [],
                      "mopt": rows, "environment": {"torch": "t", "date": "d"}})
    assert "| 2,000 |" in md and "naive skipped: needs about" in md


def test_an_interrupt_keeps_what_was_measured(monkeypatch, tmp_path, capsys):
    from lrkit.optim import bench

    real, calls = bench._median_ms, []

    def flaky(fn, device, steps, warmup):  # the 1st call times the copy bandwidth, the 2nd lrkit, the 3rd is Ctrl-C
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(fn, device, steps, warmup)

    monkeypatch.setattr(bench, "_median_ms", flaky)
    doc = bench.bench_fused_adam(sizes=[1000], many_small=[2], steps=2, warmup=1, skip=("bnb8",), progress=False)
    assert [r["impl"] for r in doc["rows"]] == ["lrkit"] and doc["rows"][0]["median_ms"] > 0
    assert doc["mopt"] == [] and "interrupt" in doc["interrupted"]
    assert bench.table(doc).rstrip().endswith("Incomplete: stopped by an interrupt; the rows measured before it are kept.")
    calls.clear()
    out = tmp_path / "b.json"
    assert main(["bench", "fused-adam", "--sizes", "1000", "--many-small", "--steps", "2", "--skip", "bnb8",
                 "--out", str(out)]) == 130  # written, and the exit status says it is incomplete
    assert json.loads(out.read_text())["interrupted"]


def test_cli_mopt_sizes_choose_the_m_opt_cases(tmp_path):
    out = tmp_path / "m.json"
    assert main(["bench", "fused-adam", "--sizes", "1000", "--mopt-sizes", "500", "700", "--many-small", "--steps", "2",
                 "--skip", "bnb8", "foreach", "reference", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [r["params"] for r in doc["mopt"]] == [500, 700] and "interrupted" not in doc
