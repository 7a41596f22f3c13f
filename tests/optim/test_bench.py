"""The benchmark runs end to end and reports what it measured (speed itself is not asserted here)."""

import json

import pytest
import torch

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


def test_amsgrad_times_amsgrad_steps_and_counts_the_maximum_in_the_bytes(monkeypatch):
    from lrkit.optim import FusedAdam

    made = []
    real_step = FusedAdam.step
    monkeypatch.setattr(FusedAdam, "step", lambda self, *a, **k: (made.append(self.param_groups[0]["amsgrad"]),
                                                                   real_step(self, *a, **k))[1])
    doc = bench_fused_adam(sizes=[2000], many_small=[], steps=2, warmup=1, skip=("foreach", "reference"), progress=False,
                           mopt_sizes=[], amsgrad=True)
    assert doc["amsgrad"] is True and made and all(made)
    rows = {r["impl"]: r for r in doc["rows"]}
    assert "AMSGrad" in rows["bnb8"]["error"] and "median_ms" not in rows["bnb8"]
    for key in ("lrkit", "fused"):  # 3·4 B of p and g + 24 B of m, v and the maximum read and written
        r = rows[key]
        assert r["gb_s"] == pytest.approx(2000 * 36 / (r["median_ms"] * 1e-3) / 1e9)
    assert table(doc).startswith("Fused Adam-with-schedule (AMSGrad) on")


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
    assert "| 1 x 2,000 | reference | — | — | — | — | skipped: needs about" in bench.table(doc)
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

    def flaky(fn, device, steps, warmup, times=None, device_times=None):  # the 1st call times the copy bandwidth,
        calls.append(1)  # the 2nd lrkit, the 3rd is Ctrl-C
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(fn, device, steps, warmup, times, device_times)

    monkeypatch.setattr(bench, "_median_ms", flaky)
    doc = bench.bench_fused_adam(sizes=[1000], many_small=[2], steps=2, warmup=1, skip=("bnb8",), progress=False,
                                 interleave=False)
    assert [r["impl"] for r in doc["rows"]] == ["lrkit"] and doc["rows"][0]["median_ms"] > 0
    assert doc["mopt"] == [] and "interrupt" in doc["interrupted"]
    assert bench.table(doc).rstrip().endswith("Incomplete: stopped by an interrupt; the rows measured before it are kept.")
    calls.clear()
    out = tmp_path / "b.json"
    assert main(["bench", "fused-adam", "--sizes", "1000", "--many-small", "--steps", "2", "--skip", "bnb8",
                 "--sequential", "--out", str(out)]) == 130  # written, and the exit status says it is incomplete
    assert json.loads(out.read_text())["interrupted"]


def test_cli_mopt_sizes_choose_the_m_opt_cases(tmp_path):
    out = tmp_path / "m.json"
    assert main(["bench", "fused-adam", "--sizes", "1000", "--mopt-sizes", "500", "700", "--many-small", "--steps", "2",
                 "--skip", "bnb8", "foreach", "reference", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [r["params"] for r in doc["mopt"]] == [500, 700] and "interrupted" not in doc


def test_interleaved_rounds_pair_each_step_with_torch_fused():
    import statistics

    doc = bench_fused_adam(sizes=[3000], many_small=[], steps=5, warmup=1, skip=("bnb8", "foreach"), progress=False,
                           mopt_sizes=[])
    rows = {r["impl"]: r for r in doc["rows"]}
    assert {r["timing"] for r in rows.values()} == {"interleaved"}
    assert all(len(r["times_ms"]) == 5 and r["median_ms"] == statistics.median(r["times_ms"]) for r in rows.values())
    ours, fused = rows["lrkit"], rows["fused"]
    ratios = [b / t for b, t in zip(fused["times_ms"], ours["times_ms"])]
    assert ours["speedup_vs_torch_fused"] == statistics.median(ratios)  # paired, not a ratio of medians
    q1, q3 = ours["speedup_quartiles"]
    assert q1 <= ours["speedup_vs_torch_fused"] <= q3
    assert fused["speedup_vs_torch_fused"] == 1.0
    md = table(doc)
    assert f"{ours['speedup_vs_torch_fused']:.2f}× ({q1:.2f}–{q3:.2f}) |" in md and "median of the per-round ratios" in md


def test_interleaving_rotates_the_order_and_times_slow_steps_three_times(monkeypatch):
    from lrkit.optim import bench

    order = []
    clock = iter(range(0, 10**6, 2))
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))  # every call "takes" two seconds
    fns = {k: (lambda k=k: order.append(k)) for k in "abc"}
    times = {}
    bench._interleaved_ms(fns, torch.device("cpu"), steps=4, warmup=1, times=times)
    assert order[:3] == ["a", "b", "c"]  # the first calls: each took "over a second", so each is slow
    assert order[3:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]  # 3 rounds each, rotated; no 4th round
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}


def test_cases_too_big_to_hold_every_implementation_at_once_are_timed_one_by_one(monkeypatch):
    from lrkit.optim import bench

    # 2,000 params: lrkit and fused hold 32 kB each, 64 kB together; one at a time fits in 0.85 * 50 kB
    monkeypatch.setattr(bench, "free_bytes", lambda device: 50_000)
    doc = bench.bench_fused_adam(sizes=[2000], many_small=[], steps=3, warmup=1, skip=("bnb8", "foreach", "reference"),
                                 progress=False, mopt_sizes=[])
    assert [(r["impl"], r["timing"]) for r in doc["rows"]] == [("lrkit", "sequential"), ("fused", "sequential")]
    ours, fused = doc["rows"]
    assert ours["speedup_vs_torch_fused"] == fused["median_ms"] / ours["median_ms"] and "speedup_quartiles" not in ours
    assert "median of the per-round ratios" not in table(doc)


def test_an_interrupt_during_interleaved_rounds_keeps_the_rounds_timed(monkeypatch):
    from lrkit.optim import bench

    real = bench._interleaved_ms

    def stopped(fns, device, steps, warmup, times, device_times=None):
        real(fns, device, 2, warmup, times, device_times)  # two full rounds, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "_interleaved_ms", stopped)
    doc = bench.bench_fused_adam(sizes=[1000, 2000], many_small=[], steps=6, warmup=1, skip=("bnb8", "foreach"),
                                 progress=False)
    assert [(r["case"], len(r["times_ms"])) for r in doc["rows"]] == [("1 x 1,000", 2)] * 3
    assert "interrupt" in doc["interrupted"] and doc["mopt"] == []


def test_a_step_that_fails_during_the_rounds_is_reported_and_the_case_timed_one_by_one(monkeypatch):
    from lrkit.optim import bench

    real = bench._impls

    def with_a_flaky_one(device, amsgrad=False):
        def flaky(ps):
            calls = []

            def step():  # the 1st call (the check before the rounds) and the 2nd pass, then it fails every time
                calls.append(1)
                if len(calls) > 2:
                    raise RuntimeError("step failed")
            return step, "flaky"
        return [(k, mk) for k, mk in real(device, amsgrad) if k in ("lrkit", "fused")] + [("bnb8", flaky)]

    monkeypatch.setattr(bench, "_impls", with_a_flaky_one)
    doc = bench.bench_fused_adam(sizes=[1000], many_small=[], steps=3, warmup=1, progress=False, mopt_sizes=[])
    rows = {r["impl"]: r for r in doc["rows"]}
    assert len(doc["rows"]) == 3 and {r["timing"] for r in doc["rows"]} == {"sequential"}
    assert rows["lrkit"]["median_ms"] > 0 and rows["fused"]["speedup_vs_torch_fused"] == 1.0
    assert rows["bnb8"]["error"] == "RuntimeError: step failed" and "median_ms" not in rows["bnb8"]
    assert "interrupted" not in doc


@pytest.mark.parametrize("argv,needle", [
    (["--sizes", "-5"], "--sizes takes whole numbers >= 1, got -5.0"),
    (["--sizes", "1.5"], "--sizes takes whole numbers >= 1, got 1.5"),
    (["--sizes", "inf"], "--sizes takes whole numbers >= 1, got inf"),
    (["--sizes", "1000", "--steps", "0"], "--steps takes whole numbers >= 1, got 0"),
    (["--sizes", "1000", "--many-small", "0"], "--many-small takes whole numbers >= 1, got 0"),
    (["--sizes", "1000", "--small-size", "0"], "--small-size takes whole numbers >= 1, got 0"),
    (["--sizes", "1000", "--mopt-sizes", "0"], "--mopt-sizes takes whole numbers >= 1, got 0.0"),
])
def test_cli_bad_sizes_and_counts_exit_2_before_timing_anything(argv, needle, tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", "fused-adam", *argv, "--out", str(out)]) == 2
    cap = capsys.readouterr()
    assert cap.err == f"lrkit bench fused-adam: {needle}\n" and not out.exists()


def test_bad_arguments_name_the_field():
    with pytest.raises(ValueError, match=r"field 'warmup' must be an int >= 0, got -1"):
        bench_fused_adam(sizes=[10], many_small=[], warmup=-1, progress=False)
    with pytest.raises(ValueError, match=r"'skip' takes names among lrkit, fused, foreach, reference, bnb8, got \['adam'\]"):
        bench_fused_adam(sizes=[10], many_small=[], skip=["adam"], progress=False)


def test_device_time_from_events_is_reported_beside_wall_time(monkeypatch):
    """On a GPU every timed step is bracketed by CUDA events; here fake events (a fixed 0.25 ms apart) stand
    in for them: each row reports their median as its device time, and the table prints it."""
    from lrkit.optim import bench

    class Event:
        def record(self):
            pass

        def synchronize(self):
            pass

        def elapsed_time(self, end):
            return 0.25

    monkeypatch.setattr(bench, "_device_events", lambda device: (Event(), Event()))
    doc = bench_fused_adam(sizes=[2000], many_small=[], steps=3, warmup=1, skip=("bnb8", "reference"), progress=False)
    rows = [r for r in doc["rows"] if "median_ms" in r]
    assert rows and all(r["device_median_ms"] == 0.25 and len(r["device_times_ms"]) == 3 for r in rows)
    assert "| device time (ms) |" in table(doc) and "| 0.250 |" in table(doc)
