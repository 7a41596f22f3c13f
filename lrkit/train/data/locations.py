"""Where the data sets live: the data and cache folders, and what each named data set needs there.

:func:`data_dir` is ``$LRKIT_DATA_DIR`` (else ``~/.lrkit/data``); :func:`cache_dir` holds data
decoded once (the CIFAR-10 JPEG pack). :func:`data_present` says whether a named data set is there.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The dataset folder: ``$LRKIT_DATA_DIR`` if set (and non-empty), else ``~/.lrkit/data``."""
    env = os.environ.get("LRKIT_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".lrkit" / "data"


def cache_dir() -> Path:
    """The cache folder for decoded data: ``$LRKIT_CACHE_DIR`` if set, else ``~/.cache/lrkit``."""
    env = os.environ.get("LRKIT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lrkit"


def _root(root) -> Path:
    return data_dir() if root is None else Path(root).expanduser()


#: the CIFAR-10 JPEG pack, relative to the data folder
_CIFAR_SOURCE = Path("cifar10-jpeg") / "cifar10_jpeg.npz"

#: the files each named dataset needs under the data directory (what :func:`data_present` checks)
_NEEDS = {"mnist": ("MNIST",), "cifar10": (str(_CIFAR_SOURCE),),
          "svhn": ("svhn/train_32x32.mat", "svhn/test_32x32.mat"), "imagenet": ("imagenet/train", "imagenet/val")}


def data_present(name: str, root=None) -> tuple[bool, str]:
    """Whether the data of ``name`` (one of mnist, cifar10, svhn, imagenet) is in the data directory
    (``root`` or :func:`data_dir`), and a line saying what was looked for where — for notebooks that
    show the paper's numbers with a "data not present" note instead of failing."""
    key = name.strip().lower()
    if key not in _NEEDS:
        raise ValueError(f"data_present: name must be one of {', '.join(_NEEDS)}, got {name!r}")
    base = _root(root)
    missing = [str(base / p) for p in _NEEDS[key] if not (base / p).exists()]
    if not missing:
        return True, f"{key}: found under {base}"
    return False, f"{key}: data not present (looked for {', '.join(missing)}; set LRKIT_DATA_DIR to the data folder)"
