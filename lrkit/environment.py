"""Where code runs and which code it is: the device check, the CPU's name, the code's identity and the
environment block of every record.

This module sits at the bottom of the import graph (it imports torch and the standard library only),
so every layer — the engine, the executors, the benchmarks, the LLM loop — shares one definition.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

#: the package's folder; its parent is the repository root in a source checkout
PACKAGE_DIR = Path(__file__).resolve().parent
#: the sources whose content makes a record's ``source_hash`` (the Python package and the C++/CUDA ops)
_SOURCE_GLOBS = (("lrkit", "**/*.py"), ("lrkit", "**/*.toml"), ("csrc", "**/*.h"), ("csrc", "**/*.cuh"),
                 ("csrc", "**/*.cpp"), ("csrc", "**/*.cu"))


def check_device(device) -> torch.device:
    """``torch.device(device)`` if torch can train on it here, else a ValueError naming the device,
    the reason and the devices this machine has: a string that is not a device ("gpu"), CUDA
    asked of a CPU-only torch build or where no GPU is visible, a GPU index past the last one, or
    MPS where it is absent. Runs and sweeps call it before any work, so a wrong ``--device`` fails
    at once instead of as a "failed" row or trial per configuration."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device {device!r} is not a torch device string; e.g. 'cpu', 'cuda' or 'cuda:1'") from None
    here = ["cpu"]
    if torch.cuda.is_available():
        here += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        here.append("mps")
    if dev.type == "cuda":
        if torch.version.cuda is None and torch.version.hip is None:
            why = f"this torch ({torch.__version__}) is built without CUDA"
        elif not torch.cuda.is_available():
            why = "torch sees no CUDA GPU (CUDA_VISIBLE_DEVICES, driver?)"
        elif dev.index is not None and dev.index >= torch.cuda.device_count():
            why = f"there are only {torch.cuda.device_count()} CUDA device(s)"
        else:
            return dev
        raise ValueError(f"device {device!r}: {why}; devices here: {', '.join(here)}")
    if dev.type == "mps" and "mps" not in here:
        raise ValueError(f"device {device!r}: MPS is not available; devices here: {', '.join(here)}")
    return dev


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (CUDA runs asynchronously; a CPU has nothing to wait
    for), so that a clock read afterwards times the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what the platform says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def device_name(device: str) -> str:
    """The GPU's name for a CUDA device string, else the CPU's."""
    if str(device).startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return cpu_name()


def device_label(device) -> str:
    """How a benchmark's heading names where it ran: the GPU's name, or the CPU's with the thread count
    (a CPU timing depends on it as much as on the chip)."""
    device = torch.device(device)
    if device.type == "cuda":
        return device_name(str(device))
    return f"{cpu_name()} ({torch.get_num_threads()} threads)"


def source_hash(root: Path | None = None) -> str:
    """A short SHA-256 of the package's Python sources and the C++/CUDA ops (paths and contents, in
    sorted order): the code's identity where there is no git checkout (an installed wheel)."""
    root = Path(root) if root is not None else PACKAGE_DIR.parent
    h = hashlib.sha256()
    files = sorted({p for base, pattern in _SOURCE_GLOBS for p in (root / base).glob(pattern) if p.is_file()})
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        h.update(b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def code_version(root: str | None = None) -> dict:
    """Which code this is: ``{"commit": git HEAD or None, "dirty": True when the package or csrc differ
    from it, "source_hash": see :func:`source_hash`}``. The commit is read only when the package sits in
    the root of a git checkout (so an installed copy never reports a stranger's repository). Cached per
    process: a record names the code its process started with."""
    base = Path(root) if root is not None else PACKAGE_DIR.parent
    commit = dirty = None
    if (base / ".git").exists() and (base / "lrkit").is_dir():
        commit = _git(base, "rev-parse", "HEAD")
        if commit is not None:
            status = _git(base, "status", "--porcelain", "--untracked-files=no", "--", "lrkit", "csrc")
            dirty = bool(status) if status is not None else None
    return {"commit": commit, "dirty": dirty, "source_hash": source_hash(base)}


def environment(device: str, runtime: dict | None = None) -> dict:
    """Where and with which code a run ran, for its record: the package version, the code's commit
    (or source hash), the numerics version, torch and Python, the device and its name, the thread
    count, and ``runtime`` (how it ran: threads, channels-last, compile, denormal flushing), whose keys
    are copied in as they are."""
    import lrkit
    from lrkit.numerics import NUMERICS_VERSION

    env = {
        "lrkit": lrkit.__version__,
        **code_version(),
        "numerics_version": NUMERICS_VERSION,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": str(device),
        "device_name": device_name(str(device)),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if str(device).startswith("cuda") and torch.cuda.is_available():
        env["cuda"] = torch.version.cuda
    if runtime:
        env["runtime"] = dict(runtime)
    return env


def benchmark_environment(device) -> dict:
    """:func:`environment` as a benchmark's document carries it: with the thread count as ``threads``,
    the CUDA version (None on a CPU-only build) and the date cut to the day the table names."""
    env = environment(str(device))
    return dict(env, threads=env["torch_threads"], cuda=torch.version.cuda, date=env["date"][:10])
