"""Loading the compiled ops (``torch.ops.lrkit``): the built extension, or a JIT build of ``csrc/``.

``setup.py`` builds ``lrkit._C`` when torch is importable at build time; otherwise (and in an editable
checkout) :func:`load` compiles ``csrc/`` once with ``torch.utils.cpp_extension.load`` (ninja) into
torch's extension cache. Callers fall back to the pure-torch path when neither works and say so once.

A JIT build's nvcc command, and so whether ninja rebuilds, depends on ``TORCH_CUDA_ARCH_LIST``; where it
is unset, :func:`load` pins it to the visible devices' compute capabilities, so every process on the
machine issues the same command and finds the same build. ``LRKIT_EXT_LIBRARY=<path>`` loads a library
built earlier (:func:`library` names it) and never builds: a time-limited step then cannot rebuild.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from pathlib import Path

import torch

CSRC = Path(__file__).resolve().parents[2] / "csrc"
_lock = threading.Lock()
_state: dict = {"loaded": None, "error": None, "warned": False, "library": None}


def _have_ops() -> bool:
    try:
        return hasattr(torch.ops.lrkit, "fused_adam_") and torch.ops.lrkit.fused_adam_ is not None
    except (AttributeError, RuntimeError):
        return False


def load(verbose: bool = False) -> bool:
    """True once ``torch.ops.lrkit`` is usable. ``LRKIT_NO_EXT=1`` disables the extension (tests use it)."""
    loaded = _state["loaded"]  # asked on every optimizer step: once decided, no lock
    if loaded is not None:
        return loaded
    with _lock:
        if _state["loaded"] is not None:
            return _state["loaded"]
        if os.environ.get("LRKIT_NO_EXT") == "1":
            _state.update(loaded=False, error="disabled by LRKIT_NO_EXT=1")
            return False
        try:
            prebuilt = os.environ.get("LRKIT_EXT_LIBRARY")
            if prebuilt:
                if not Path(prebuilt).is_file():
                    raise FileNotFoundError(f"LRKIT_EXT_LIBRARY={prebuilt} is not a file (build it first, without "
                                            "LRKIT_EXT_LIBRARY, and pass the path lrkit.optim._ext.library() names)")
                torch.ops.load_library(prebuilt)
                _state["library"] = prebuilt
            else:
                try:
                    import lrkit._C  # noqa: F401  (built by setup.py; registers the ops on import)
                    _state["library"] = lrkit._C.__file__
                except ImportError:
                    _state["library"] = _jit_build(verbose)
            _state["loaded"] = _have_ops()
            if _state["loaded"]:
                from lrkit.optim import ops

                ops.register_fakes()
            else:
                _state["error"] = "the extension loaded but registered no lrkit ops"
        except Exception as e:  # a missing compiler or headers: the pure-torch path is used
            _state.update(loaded=False, error=f"{type(e).__name__}: {e}")
        return _state["loaded"]


def cuda_arch_list(capabilities) -> str:
    """``TORCH_CUDA_ARCH_LIST`` for devices of these compute capabilities, e.g. ``[(9, 0)]`` -> ``"9.0"``:
    each distinct one, ascending, real code only (no PTX: the build runs on the machine that built it)."""
    caps = sorted({(int(a), int(b)) for a, b in capabilities})
    if not caps:
        raise ValueError("cuda_arch_list: field 'capabilities' must name at least one (major, minor) pair, got none")
    return ";".join(f"{a}.{b}" for a, b in caps)


def pin_cuda_arch() -> str | None:
    """Sets ``TORCH_CUDA_ARCH_LIST`` from the visible devices where it is unset; returns the value in use."""
    if not os.environ.get("TORCH_CUDA_ARCH_LIST") and torch.cuda.is_available():
        caps = [torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())]
        os.environ["TORCH_CUDA_ARCH_LIST"] = cuda_arch_list(caps)
    return os.environ.get("TORCH_CUDA_ARCH_LIST")


def library() -> str | None:
    """The path of the loaded extension library (None before :func:`load` or without one)."""
    return _state["library"]


def _jit_build(verbose: bool) -> str:
    from torch.utils.cpp_extension import load as cpp_load

    if not (CSRC / "cpu").is_dir():
        raise FileNotFoundError(f"no csrc/ next to the lrkit package ({CSRC}); install lrkit with its extension")
    sources = [str(CSRC / "ops.cpp")] + sorted(str(p) for p in (CSRC / "cpu").glob("*.cpp"))
    name = "lrkit_ops_cpu"
    cuda_flags = None
    if torch.cuda.is_available() and torch.version.cuda and os.environ.get("LRKIT_NO_CUDA_EXT") != "1":
        sources += sorted(str(p) for p in (CSRC / "cuda").glob("*.cu")) + sorted(str(p) for p in (CSRC / "cuda").glob("*.cpp"))
        name = "lrkit_ops_cuda"
        cuda_flags = ["-O3", "-std=c++17", f"-I{CSRC / 'include'}"]
        pin_cuda_arch()
    return cpp_load(name=name, sources=sources, extra_include_paths=[str(CSRC / "include")], extra_cflags=cxx_flags(),
             extra_ldflags=openmp_flags(), extra_cuda_cflags=cuda_flags, is_python_module=False, verbose=verbose)


def openmp_flags() -> list[str]:
    """``-fopenmp`` where torch's CPU threads are OpenMP's (Linux wheels): ``at::parallel_for`` is a
    header template, and compiled without it runs its whole range on the calling thread."""
    return ["-fopenmp"] if torch.backends.openmp.is_available() and sys.platform.startswith("linux") else []


def cxx_flags(native: bool | None = None) -> list[str]:
    """Flags of the C++ sources. No FMA contraction, so results round like the reference and torch's
    kernels; no errno, so sqrt vectorises; OpenMP for the threads. A JIT build runs on the machine
    that built it, so it may use that CPU's vector units (``-march=native``, 512-bit where the CPU has
    AVX-512, as torch's own AVX512 kernels); ``LRKIT_PORTABLE_BUILD=1`` (and ``setup.py``) leave it out."""
    flags = ["-O3", "-std=c++20", "-fno-math-errno", "-ffp-contract=off", *openmp_flags()]
    if native is None:
        native = os.environ.get("LRKIT_PORTABLE_BUILD") != "1"
    if native:
        flags += ["-march=native", "-mprefer-vector-width=512"]
    return flags


def has_cuda_kernel(op: str = "fused_adam_") -> bool:
    """Whether the CUDA kernel of ``lrkit::<op>`` is built and registered (the Adam step by default;
    ``"mopt_l1"``: the M-opt sums)."""
    if not load():
        return False
    known = _state.setdefault("cuda_kernels", {})  # asked on every optimizer step: looked up once per op
    if op not in known:
        try:
            known[op] = torch._C._dispatch_has_kernel_for_dispatch_key(f"lrkit::{op}", "CUDA")
        except RuntimeError:
            known[op] = False
    return known[op]


def error() -> str | None:
    """Why the extension is not in use (None when it is, or before :func:`load`)."""
    return _state["error"]


def warn_fallback(what: str, reason: str | None = None) -> None:
    """One warning per process that ``what`` runs on the pure-torch path, and why: ``reason`` where the
    extension is there but cannot take these tensors, else why the extension is not available."""
    if not _state["warned"]:
        _state["warned"] = True
        why = reason or f"the lrkit extension is not available ({_state['error']})"
        warnings.warn(f"{what}: {why}; using the pure-torch implementation of the same math (slower)",
                      RuntimeWarning, stacklevel=3)
