"""benchmarks/gpu_session.sh without a GPU: a dry run whose GPU steps say "no GPU", and a run where the build
fails, whose later steps say why they did not run. Every step writes its line to steps.tsv either way."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from lrkit.optim import _ext

ROOT = Path(__file__).resolve().parents[2]
BUILD_STEPS = ["GPU tests", "memcheck of a mixed step", "bench fused-adam fp32", "bench fused-adam bf16",
               "bench train LeNet, CNN3, ResNet-32"]  # the GPU steps that load the extension the build step made
GPU_STEPS = [*BUILD_STEPS, "bench batched LeNet, CNN3, ResNet-32"]  # batched training needs no extension


def run_session(tmp_path, python, **env):
    out = tmp_path / "out"
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_session.sh")], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OUT": str(out), "PYTHON": python, **env})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = (out / "steps.tsv").read_text().splitlines()
    assert lines[0] == "step\tresult\tseconds"
    steps = {name: result for name, result, _ in (line.split("\t") for line in lines[1:])}
    assert (out / "gpu_session.log").read_text().count("\n-- ") == len(steps)
    return steps, out


def test_a_dry_run_builds_the_cpu_ops_and_reports_no_gpu_for_every_gpu_step(tmp_path):
    assert _ext.load(), f"the lrkit extension did not build: {_ext.error()}"  # the session's build is then a cache hit
    steps, out = run_session(tmp_path, sys.executable)
    assert steps == {"machine": "gpu none", "build": "ok", **{s: "no GPU" for s in GPU_STEPS}}
    assert sorted(p.name for p in out.iterdir()) == ["gpu_session.log", "steps.tsv"]


def test_a_failed_build_is_recorded_and_every_later_step_still_writes_its_result(tmp_path):
    # a python that reports a compute capability 9.0 device, so the GPU steps are not skipped as "no GPU"
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/bash\nif [[ "$*" == *get_device_capability* ]]; then echo 9.0; exit 0; fi\n'
                    f'exec {sys.executable} "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    steps, _ = run_session(tmp_path, str(fake), LRKIT_NO_EXT="1", TORCH_CUDA_ARCH_LIST="")
    assert steps["machine"] == "gpu 9.0" and steps["build"] == "failed (exit 1)"
    assert {steps[s] for s in BUILD_STEPS} == {"not run: the build failed"}
    assert steps["bench batched LeNet, CNN3, ResNet-32"] != "not run: the build failed"  # it does not need the build


def test_steps_past_the_budget_record_that_they_did_not_run(tmp_path):
    steps, _ = run_session(tmp_path, sys.executable, BUDGET_S="3")  # under a step's 5 s minimum from the start
    assert steps["build"] == "not run: the script's 3 s budget is spent"
    assert {steps[s] for s in GPU_STEPS} == {"no GPU"}
