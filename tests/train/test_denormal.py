"""Flushing subnormal floats on every torch CPU thread (lrkit.train.denormal), and in a training run."""

import subprocess
import sys
import textwrap

import pytest
import torch

from lrkit.train import TrainConfig


def _in_fresh_process(code: str) -> str:
    """Run ``code`` in a new interpreter: the FTZ/DAZ mode is per thread and outlives a test, and the
    case under test is a thread pool that already exists when the flag is set."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.skipif(not torch.backends.openmp.is_available(), reason="torch here does not thread with OpenMP")
def test_every_thread_of_a_running_pool_flushes():
    out = _in_fresh_process("""
        import torch
        from lrkit.train.denormal import flushed_share, set_flush_denormal
        torch.set_num_threads(2)
        print(flushed_share())          # the pool starts here, nothing flushed
        torch.set_flush_denormal(True)  # torch's own switch: the calling thread only
        print(flushed_share())
        print(set_flush_denormal(True), flushed_share())
        print(set_flush_denormal(False), flushed_share())
        torch.set_num_threads(1); set_flush_denormal(True); torch.set_num_threads(2)
        print(flushed_share())          # the idle worker was set too
    """).split("\n")
    assert float(out[0]) == 0.0
    assert float(out[1]) == pytest.approx(0.5, abs=0.01)  # what set_flush_denormal fixes: half the work unflushed
    n, share = out[2].split()
    assert int(n) == 2 and float(share) == 1.0
    n, share = out[3].split()
    assert int(n) == 2 and float(share) == 0.0
    assert float(out[4]) == 1.0


def test_config_field_is_checked():
    with pytest.raises(ValueError, match="field 'flush_denormal' must be True or False"):
        TrainConfig(flush_denormal="yes")


def test_a_run_turns_it_on_and_the_next_run_off():
    out = _in_fresh_process("""
        import numpy as np
        import torch
        from lrkit.train import Run, TrainConfig
        from lrkit.train.data import Dataset
        from lrkit.train.denormal import flushed_share
        torch.set_num_threads(2)
        rng = np.random.default_rng(0)
        ds = Dataset(name="toy", x_train=rng.integers(0, 256, (200, 1, 28, 28), dtype=np.uint8),
                     y_train=rng.integers(0, 10, 200), x_test=rng.integers(0, 256, (100, 1, 28, 28), dtype=np.uint8),
                     y_test=rng.integers(0, 10, 100), num_classes=10, mean=(0.5,), std=(0.25,), input_shape=(1, 28, 28))
        kw = dict(policy="FIX(k=0.01)", iters=4, eval_every=4, batch_size=50, eval_batch_size=100)
        rec = Run(TrainConfig(flush_denormal=True, **kw), data=ds, progress=False, db=False).run()
        print(rec.status, rec.config["flush_denormal"], flushed_share())
        rec = Run(TrainConfig(**kw), data=ds, progress=False, db=False).run()
        print(rec.status, rec.config["flush_denormal"], flushed_share())
    """).split("\n")
    assert out == ["complete True 1.0", "complete False 0.0"]
