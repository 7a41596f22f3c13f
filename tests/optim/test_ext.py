"""Loading the compiled ops: the CUDA architecture pinned for every process, and a library built earlier
loaded without building (what benchmarks/gpu_session.sh relies on to build once)."""

import os
import subprocess
import sys

import pytest
import torch

from lrkit.optim import _ext


def test_cuda_arch_list_names_each_capability_once_in_order():
    assert _ext.cuda_arch_list([(9, 0), (8, 0), (9, 0)]) == "8.0;9.0"
    assert _ext.cuda_arch_list([(10, 0)]) == "10.0"
    with pytest.raises(ValueError, match="capabilities"):
        _ext.cuda_arch_list([])


def test_pin_cuda_arch_uses_the_devices_and_keeps_a_value_already_set(monkeypatch):
    monkeypatch.delenv("TORCH_CUDA_ARCH_LIST", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: [(9, 0), (8, 6)][i])
    assert _ext.pin_cuda_arch() == "8.6;9.0" == os.environ["TORCH_CUDA_ARCH_LIST"]
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "9.0+PTX")
    assert _ext.pin_cuda_arch() == "9.0+PTX"


def _load_in_child(env: dict) -> subprocess.CompletedProcess:
    code = "from lrkit.optim import _ext; print(_ext.load(), _ext.library(), _ext.error())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_a_library_built_earlier_loads_without_building(tmp_path):
    assert _ext.load(), f"the lrkit extension did not build: {_ext.error()}"
    built = _ext.library()
    assert built and os.path.isfile(built)
    empty = tmp_path / "no-builds-here"  # an extension cache with nothing in it: a build would land here
    done = _load_in_child({"LRKIT_EXT_LIBRARY": built, "TORCH_EXTENSIONS_DIR": str(empty)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", built, "None"]
    assert not empty.exists()


def test_a_missing_prebuilt_library_is_reported_not_built(tmp_path):
    missing = tmp_path / "nope.so"
    done = _load_in_child({"LRKIT_EXT_LIBRARY": str(missing), "TORCH_EXTENSIONS_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("False None FileNotFoundError: LRKIT_EXT_LIBRARY=")
    assert not (tmp_path / "cache").exists()
