"""CIFAR-10 as JPEG: decoded once (in parallel where the platform forks) and cached as ``.npz``.

The cache file's name carries the source's path hash, size and mtime, so a changed source is decoded
again; a damaged cache is rebuilt, never trusted; the cache is written atomically.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .locations import _CIFAR_SOURCE, _root
from .locations import (
    cache_dir as _default_cache_dir,  # load_cifar10_jpeg's argument shadows the name
)
from .npz import SPLIT_KEYS, _check_split_arrays

_CIFAR_CACHE_VERSION = 1


def _decode_chunk(blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Decode the JPEGs ``blob[offsets[i] - offsets[0] : offsets[i+1] - offsets[0]]`` to
    ``(len(offsets) - 1, H, W, 3)`` uint8 RGB (all images must share H and W)."""
    from PIL import Image

    data = blob.tobytes()
    base = int(offsets[0])
    n = len(offsets) - 1
    out = None
    for i in range(n):
        lo, hi = int(offsets[i]) - base, int(offsets[i + 1]) - base
        with Image.open(io.BytesIO(data[lo:hi])) as im:
            img = np.asarray(im.convert("RGB"))
        if out is None:
            out = np.empty((n, *img.shape), np.uint8)
        elif img.shape != out.shape[1:]:
            raise ValueError(f"JPEG {i} of this chunk decodes to {img.shape}, expected {out.shape[1:]}")
        out[i] = img
    return out if out is not None else np.empty((0, 0, 0, 3), np.uint8)


def _decode_jpegs(blob: np.ndarray, offsets: np.ndarray, workers: int = 1) -> np.ndarray:
    """Decode concatenated JPEGs (image i = ``blob[offsets[i]:offsets[i+1]]``) to
    ``(N, 3, H, W)`` uint8, using ``workers`` forked processes when that is possible."""
    n = len(offsets) - 1
    if n == 0:
        raise ValueError("no JPEG images to decode (offsets has fewer than 2 entries)")
    if np.any(np.diff(offsets) <= 0) or offsets[0] < 0 or offsets[-1] > len(blob):
        raise ValueError(f"JPEG offsets must increase strictly within [0, {len(blob)}]")
    workers = max(1, min(int(workers), n // 1000 or 1))
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        bounds = np.linspace(0, n, 4 * workers + 1).astype(int)
        jobs = [
            (blob[offsets[a] : offsets[b]], offsets[a : b + 1])
            for a, b in zip(bounds[:-1], bounds[1:])
            if b > a
        ]
        try:
            ctx = multiprocessing.get_context("fork")  # workers use only numpy and PIL
            with ProcessPoolExecutor(workers, mp_context=ctx) as ex:
                parts = list(ex.map(_decode_chunk, *zip(*jobs)))
        except (OSError, RuntimeError) as e:  # e.g. no fork allowed here: decode in-process
            warnings.warn(f"parallel JPEG decoding failed ({e!r}); decoding in one process")
            parts = [_decode_chunk(blob[offsets[0] : offsets[-1]], offsets)]
    else:
        parts = [_decode_chunk(blob[offsets[0] : offsets[-1]], offsets)]
    shapes = {p.shape[1:] for p in parts}
    if len(shapes) != 1:
        raise ValueError(f"JPEG images decode to different shapes: {sorted(shapes)}")
    return np.ascontiguousarray(np.concatenate(parts).transpose(0, 3, 1, 2))


def _cifar_cache_path(source: Path, cache: Path) -> Path:
    st = source.stat()
    where = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:10]
    return cache / f"cifar10_jpeg-v{_CIFAR_CACHE_VERSION}-{where}-{st.st_size}-{st.st_mtime_ns}.npz"


def load_cifar10_jpeg(root=None, cache_dir=None, *, workers: int | None = None) -> dict[str, Any]:
    """Load the CIFAR-10 JPEG pack ``<root>/cifar10-jpeg/cifar10_jpeg.npz`` as decoded arrays.

    Returns ``{"x_train": (50000, 3, 32, 32) uint8, "y_train": (50000,) int64, "x_test":
    (10000, 3, 32, 32) uint8, "y_test": (10000,) int64, "classes": tuple of 10 names}``.
    The JPEGs (quality 75, so pixels differ slightly from the original CIFAR-10) are decoded
    once with PIL (``workers`` processes, default the CPU count) and the result is cached as an
    uncompressed ``.npz`` in ``cache_dir`` (default :func:`cache_dir`), keyed by the source's
    path, size and mtime: a changed source is decoded again and older caches of it removed.
    Later calls read the cache instead of decoding. If the cache cannot be written, a warning
    is issued and the decoded arrays are returned anyway.
    """
    source = _root(root) / _CIFAR_SOURCE
    if not source.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 JPEG pack not found at {source}. Set LRKIT_DATA_DIR (or pass root=) to a "
            f"folder holding {_CIFAR_SOURCE}; it cannot be downloaded from here."
        )
    cache = _default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()
    cpath = _cifar_cache_path(source, cache)
    if cpath.is_file():
        try:
            with np.load(cpath, allow_pickle=False) as z:
                out = {k: z[k] for k in SPLIT_KEYS}
                out["classes"] = tuple(str(c) for c in z["classes"])
            _check_split_arrays(out, str(cpath))
            return out
        except Exception as e:  # noqa: BLE001 - a damaged cache is rebuilt, never trusted
            warnings.warn(f"ignoring unreadable CIFAR-10 cache {cpath} ({e!r}); decoding again")

    with np.load(source, allow_pickle=False) as z:
        missing = {"train_jpeg", "train_offsets", "y_train", "test_jpeg", "test_offsets",
                   "y_test", "classes"} - set(z.files)
        if missing:
            raise ValueError(f"{source}: missing arrays {sorted(missing)} (has {sorted(z.files)})")
        workers = (os.cpu_count() or 1) if workers is None else workers
        out = {}
        for split in ("train", "test"):
            try:
                x = _decode_jpegs(z[f"{split}_jpeg"], z[f"{split}_offsets"], workers)
            except ValueError as e:
                raise ValueError(f"{source}: {split} split: {e}") from e
            out[f"x_{split}"] = x
            out[f"y_{split}"] = z[f"y_{split}"].astype(np.int64)
        out = {k: out[k] for k in SPLIT_KEYS}
        out["classes"] = tuple(str(c) for c in z["classes"])
    _check_split_arrays(out, str(source))

    try:
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **{k: out[k] for k in SPLIT_KEYS}, classes=np.array(out["classes"]))
            os.replace(tmp, cpath)  # atomic: a reader never sees a half-written cache
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        stem = cpath.name.rsplit("-", 2)[0]  # same source, other size/mtime: stale
        for old in cache.glob(f"{stem}-*.npz"):
            if old != cpath:
                old.unlink(missing_ok=True)
    except OSError as e:
        warnings.warn(f"could not write the CIFAR-10 cache in {cache} ({e}); it will be decoded again")
    return out
