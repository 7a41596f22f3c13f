"""Datasets for lrkit training runs: loaders, an in-memory batch stream, and a DataLoader stream.

Where the data lives
    :func:`data_dir` is ``$LRKIT_DATA_DIR`` (else ``~/.lrkit/data``). Under it:
    ``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` (torchvision's layout),
    ``cifar10-jpeg/cifar10_jpeg.npz`` (CIFAR-10 as JPEG, decoded once and cached under
    :func:`cache_dir`), ``svhn/`` and ``imagenet/{train,val}/`` (read through torchvision).
    Nothing is downloaded unless asked for (``load_mnist(download=True)``, torchvision only).

Array conventions
    Images are ``(N, C, H, W)`` numpy arrays, ``uint8`` in [0, 255] (or float as given by a user
    ``.npz``); labels are ``(N,)`` ``int64`` in ``[0, num_classes)``. Per-channel ``mean``/``std``
    are in the [0, 1] scale (``uint8 / 255``).

Batches for iteration-based training
    :class:`TensorBatches` keeps a whole split on the device (``uint8`` stays ``uint8``) and
    draws endless batches with index tensors; :func:`loader_batches` gives the same ``.next()``
    interface over a ``torch.utils.data.Dataset`` that does not fit in memory. Both resume
    exactly from ``state_dict()``.

>>> x = np.arange(6 * 1 * 2 * 2, dtype=np.uint8).reshape(6, 1, 2, 2)
>>> b = TensorBatches(x, np.arange(6), batch_size=4, shuffle=False, scale=1.0)
>>> b.next()[1].tolist(), b.next()[1].tolist()   # endless: the 2nd batch wraps into epoch 1
([0, 1, 2, 3], [4, 5, 0, 1])
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import multiprocessing
import os
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

__all__ = [
    "DATASET_NAMES",
    "check_dataset_name",
    "Dataset",
    "LoaderBatches",
    "TensorBatches",
    "cache_dir",
    "channel_stats",
    "crop_flip",
    "crop_flip_at",
    "data_dir",
    "data_present",
    "load_cifar10_jpeg",
    "load_dataset",
    "load_mnist",
    "load_npz",
    "loader_batches",
    "read_idx",
]

#: Names accepted by :func:`load_dataset` (``npz:<path>`` takes a file path after the colon).
DATASET_NAMES = ("mnist", "cifar10", "npz:<path>", "svhn", "imagenet")

#: Published ImageNet statistics (RGB, [0, 1] scale); the split is too large to recompute them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")

# --------------------------------------------------------------------------------------------
# Locations


def data_dir() -> Path:
    """The dataset folder: ``$LRKIT_DATA_DIR`` if set (and non-empty), else ``~/.lrkit/data``."""
    env = os.environ.get("LRKIT_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".lrkit" / "data"


def cache_dir() -> Path:
    """The cache folder for decoded data: ``$LRKIT_CACHE_DIR`` if set, else ``~/.cache/lrkit``."""
    env = os.environ.get("LRKIT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lrkit"


_default_cache_dir = cache_dir  # load_cifar10_jpeg's argument shadows the name


def _root(root) -> Path:
    return data_dir() if root is None else Path(root).expanduser()


def _torchvision():
    """``(torchvision, None)`` if it imports, else ``(None, the error)``.

    Any exception counts as "not importable": a torchvision built for another torch fails with
    RuntimeError/OSError rather than ImportError.
    """
    try:
        import torchvision
    except Exception as e:  # noqa: BLE001 - see docstring
        return None, e
    return torchvision, None


# --------------------------------------------------------------------------------------------
# idx files (MNIST)

#: idx type byte -> numpy dtype (big-endian, as stored).
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an idx file (the MNIST format), plain or gzip-compressed (``.gz`` suffix).

    The header is the magic number ``0x0000TTNN`` (TT: element type, 0x08 = uint8 ... 0x0E =
    float64; NN: number of dimensions) and NN big-endian uint32 sizes; the data follow. The
    result is a writable array of that shape in native byte order.

    Raises ValueError naming the file if the magic number is wrong or the file size does not
    match the header.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path}: cannot read idx file ({e})") from e
    if len(raw) < 4:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for an idx header (4 bytes)")
    magic = int.from_bytes(raw[:4], "big")
    code, ndim = raw[2], raw[3]
    if raw[0] != 0 or raw[1] != 0 or code not in _IDX_DTYPES or ndim == 0:
        types = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(
            f"{path}: bad idx magic number 0x{magic:08X}; expected 0x0000TTNN with type TT in "
            f"{{{types}}} and NN >= 1 dimensions (MNIST: 0x00000803 images, 0x00000801 labels)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for an idx header of {ndim} dims")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{path}: file has {len(raw)} bytes but its header says shape {shape} of {dtype.name}, "
            f"i.e. {expected} bytes"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))  # a native-order, writable copy


_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _find_mnist(raw_dir: Path) -> tuple[dict[str, Path], list[str]]:
    found, missing = {}, []
    for key, stem in _MNIST_FILES.items():
        for cand in (raw_dir / stem, raw_dir / f"{stem}.gz"):
            if cand.is_file():
                found[key] = cand
                break
        else:
            missing.append(stem)
    return found, missing


def load_mnist(root=None, *, download: bool = False) -> dict[str, np.ndarray]:
    """Load MNIST from ``<root>/MNIST/raw`` (torchvision's layout; ``root`` defaults to
    :func:`data_dir`).

    Returns ``{"x_train": (60000, 1, 28, 28) uint8, "y_train": (60000,) int64, "x_test":
    (10000, 1, 28, 28) uint8, "y_test": (10000,) int64}``; pixels in [0, 255], labels in 0..9.
    Each of the four files may be plain or ``.gz``. With ``download=True`` and torchvision
    importable, missing files are fetched by ``torchvision.datasets.MNIST(download=True)``.

    Raises FileNotFoundError saying where it looked; ValueError naming a malformed file.
    """
    root = _root(root)
    raw_dir = root / "MNIST" / "raw"
    found, missing = _find_mnist(raw_dir)
    if missing:
        tv, tv_err = _torchvision()
        if download and tv is not None:
            for train in (True, False):
                tv.datasets.MNIST(str(root), train=train, download=True)
            found, missing = _find_mnist(raw_dir)
    if missing:
        tv, tv_err = _torchvision()
        if download and tv is None:
            how = f"download=True needs torchvision, which is not importable ({tv_err!r})"
        elif tv is not None:
            how = "or call load_mnist(download=True) to fetch it with torchvision"
        else:
            how = "nothing is downloaded: torchvision (needed for download=True) is not importable"
        raise FileNotFoundError(
            f"MNIST not found: looked in {raw_dir} for {', '.join(missing)} (plain or .gz). "
            f"Set LRKIT_DATA_DIR (or pass root=) to a folder holding MNIST/raw/ with the four "
            f"idx files; {how}."
        )
    out = {}
    for key, path in found.items():
        arr = read_idx(path)
        if key.startswith("x"):
            if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[1:] != (28, 28):
                raise ValueError(
                    f"{path}: expected uint8 images of shape (N, 28, 28) (magic 0x00000803), "
                    f"got {arr.dtype.name} {arr.shape}"
                )
            out[key] = arr[:, None]
        else:
            if arr.dtype != np.uint8 or arr.ndim != 1:
                raise ValueError(
                    f"{path}: expected uint8 labels of shape (N,) (magic 0x00000801), "
                    f"got {arr.dtype.name} {arr.shape}"
                )
            if arr.size and arr.max() > 9:
                raise ValueError(f"{path}: labels must be in 0..9, found {int(arr.max())}")
            out[key] = arr.astype(np.int64)
    for split in ("train", "test"):
        nx, ny = len(out[f"x_{split}"]), len(out[f"y_{split}"])
        if nx != ny:
            raise ValueError(
                f"MNIST {split} split in {raw_dir}: {nx} images but {ny} labels "
                f"({found[f'x_{split}'].name} vs {found[f'y_{split}'].name})"
            )
    return {k: out[k] for k in _SPLIT_KEYS}


# --------------------------------------------------------------------------------------------
# CIFAR-10 as JPEG, decoded once and cached

_CIFAR_SOURCE = Path("cifar10-jpeg") / "cifar10_jpeg.npz"
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
    Later calls read the cache (well under a second). If the cache cannot be written, a warning
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
                out = {k: z[k] for k in _SPLIT_KEYS}
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
        out = {k: out[k] for k in _SPLIT_KEYS}
        out["classes"] = tuple(str(c) for c in z["classes"])
    _check_split_arrays(out, str(source))

    try:
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **{k: out[k] for k in _SPLIT_KEYS}, classes=np.array(out["classes"]))
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


# --------------------------------------------------------------------------------------------
# Generic .npz


def _check_split_arrays(d: Mapping[str, np.ndarray], where: str) -> None:
    """Check NCHW images and 1-D integer labels of matching counts; raise ValueError naming
    ``where`` and the field."""
    for split in ("train", "test"):
        x, y = d[f"x_{split}"], d[f"y_{split}"]
        if x.ndim != 4:
            raise ValueError(f"{where}: x_{split} must be (N, C, H, W), got shape {x.shape}")
        if y.ndim != 1:
            raise ValueError(f"{where}: y_{split} must be 1-D (N,), got shape {y.shape}")
        if len(x) != len(y):
            raise ValueError(
                f"{where}: x_{split} has {len(x)} samples but y_{split} has {len(y)} labels"
            )
        if y.size and y.min() < 0:
            raise ValueError(f"{where}: y_{split} labels must be >= 0, found {int(y.min())}")
    if d["x_train"].shape[1:] != d["x_test"].shape[1:]:
        raise ValueError(
            f"{where}: x_train samples are {d['x_train'].shape[1:]} but x_test samples are "
            f"{d['x_test'].shape[1:]}"
        )


def load_npz(path) -> dict[str, np.ndarray]:
    """Load a user dataset from an ``.npz`` with arrays ``x_train, y_train, x_test, y_test``.

    Images may be ``uint8`` ([0, 255]) or float (kept as float32/float64, values as given) and
    ``(N, C, H, W)``, ``(N, H, W, C)`` with C in {1, 3} (moved to NCHW), or ``(N, H, W)``
    (one channel added). A 4-D array is taken as NHWC when its last dim is 1 or 3 and its
    second is not. Labels: 1-D integers >= 0, returned as int64. Other arrays are ignored.

    Raises FileNotFoundError, or ValueError naming the field (missing array, wrong dtype or
    rank, mismatched sample/label counts, different train/test image shapes).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"npz dataset not found: {path}")
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in _SPLIT_KEYS if k not in z.files]
        if missing:
            raise ValueError(
                f"{path}: missing arrays {missing}; a dataset .npz needs {list(_SPLIT_KEYS)} "
                f"(has {sorted(z.files)})"
            )
        raw = {k: z[k] for k in _SPLIT_KEYS}
    out = {}
    for split in ("train", "test"):
        x, y = raw[f"x_{split}"], raw[f"y_{split}"]
        if not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
            raise ValueError(f"{path}: x_{split} must be uint8 or float, got {x.dtype.name}")
        if x.dtype == np.float16:
            x = x.astype(np.float32)
        if x.ndim == 3:
            x = x[:, None]
        elif x.ndim == 4:
            if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
                x = x.transpose(0, 3, 1, 2)
        else:
            raise ValueError(
                f"{path}: x_{split} must be (N, C, H, W), (N, H, W, C) or (N, H, W), "
                f"got shape {x.shape}"
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{path}: y_{split} must hold integer labels, got {y.dtype.name}")
        out[f"x_{split}"] = np.ascontiguousarray(x)
        out[f"y_{split}"] = y.astype(np.int64)
    _check_split_arrays(out, str(path))
    return out


# --------------------------------------------------------------------------------------------
# Dataset record and load_dataset


@dataclass
class Dataset:
    """A loaded dataset.

    In-memory datasets hold numpy arrays: ``x_*`` ``(N, C, H, W)`` (uint8 in [0, 255], or float
    from a user ``.npz``) and ``y_*`` ``(N,)`` int64. Datasets too large for memory (ImageNet)
    have ``x_*``/``y_*`` = None and ``train_set``/``test_set`` (``torch.utils.data.Dataset``s
    yielding normalised ``(C, H, W)`` float tensors and int labels) instead.
    ``mean``/``std``: per channel, in the [0, 1] scale; ``input_shape``: ``(C, H, W)`` of one
    sample as the model sees it (``(F,)`` for feature vectors, a data set of your own:
    :mod:`lrkit.train.registry`). ``origin``: for a registered or imported data set, what it was
    (object, sizes, content hash), recorded in each run's environment; None for the built-ins.
    """

    name: str
    x_train: np.ndarray | None = field(repr=False)
    y_train: np.ndarray | None = field(repr=False)
    x_test: np.ndarray | None = field(repr=False)
    y_test: np.ndarray | None = field(repr=False)
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_shape: tuple[int, ...]
    classes: tuple[str, ...] | None = None
    train_set: Any = field(default=None, repr=False)
    test_set: Any = field(default=None, repr=False)
    origin: dict | None = field(default=None, repr=False)

    @property
    def in_memory(self) -> bool:
        return self.x_train is not None

    def sizes(self) -> dict[str, int]:
        """Number of samples per split."""
        if self.in_memory:
            return {"train": len(self.x_train), "test": len(self.x_test)}
        return {"train": len(self.train_set), "test": len(self.test_set)}

    def batches(self, split: str, batch_size: int, device="cpu", **kwargs):
        """Endless batches of ``split`` ("train" or "test"): a :class:`TensorBatches` for an
        in-memory dataset (``mean``/``std`` default to this dataset's when
        ``scale="standardize"``), else :func:`loader_batches` (``kwargs``: its options;
        defaults here: ``drop_last`` only for "train", ``num_workers`` = min(8, CPU count))."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if not self.in_memory:
            kwargs.setdefault("drop_last", split == "train")
            kwargs.setdefault("num_workers", min(8, os.cpu_count() or 1))
            return loader_batches(getattr(self, f"{split}_set"), batch_size, device=device, **kwargs)
        if kwargs.get("scale") == "standardize":
            kwargs.setdefault("mean", self.mean)
            kwargs.setdefault("std", self.std)
        return TensorBatches(
            getattr(self, f"x_{split}"), getattr(self, f"y_{split}"), batch_size, device, **kwargs
        )


def channel_stats(x: np.ndarray, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of ``(N, C, H, W)`` images in the [0, 1] scale
    (uint8 divided by 255; float taken as is). Computed in chunks, exactly for uint8. Feature
    vectors ``(N, F)`` (and ``(N, C, L)``) count each feature (channel) on its own.

    >>> channel_stats(np.array([[[[0, 255]]]], dtype=np.uint8))
    ((0.5,), (0.5,))
    >>> channel_stats(np.array([[0.0, 1.0], [2.0, 1.0]]))
    ((1.0, 1.0), (1.0, 0.0))
    """
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"channel_stats needs non-empty (N, C, H, W) images or (N, F) features, got shape {x.shape}")
    x = x.reshape(x.shape[0], x.shape[1], -1, 1)  # a view: every layout as (N, C, H·W, 1)
    c = x.shape[1]
    count = x.shape[0] * x.shape[2] * x.shape[3]
    if x.dtype == np.uint8:
        hist = np.zeros((c, 256), np.int64)
        for i in range(0, len(x), chunk):
            part = x[i : i + chunk]
            for ch in range(c):
                hist[ch] += np.bincount(part[:, ch].ravel(), minlength=256)
        v = np.arange(256, dtype=np.float64) / 255.0
        mean = hist @ v / count
        var = hist @ (v * v) / count - mean**2
    else:
        s = np.zeros(c)
        ss = np.zeros(c)
        for i in range(0, len(x), chunk):
            part = x[i : i + chunk].astype(np.float64)
            s += part.sum(axis=(0, 2, 3))
            ss += (part * part).sum(axis=(0, 2, 3))
        mean = s / count
        var = ss / count - mean**2
    std = np.sqrt(np.maximum(var, 0.0))
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def _in_memory(name: str, d: Mapping[str, Any], classes=None) -> Dataset:
    num_classes = int(max(d["y_train"].max(initial=-1), d["y_test"].max(initial=-1))) + 1
    if classes is not None:
        if num_classes > len(classes):
            raise ValueError(f"{name}: label {num_classes - 1} but only {len(classes)} classes")
        num_classes = len(classes)
    mean, std = channel_stats(d["x_train"])
    return Dataset(
        name=name,
        x_train=d["x_train"],
        y_train=d["y_train"],
        x_test=d["x_test"],
        y_test=d["y_test"],
        num_classes=num_classes,
        mean=mean,
        std=std,
        input_shape=tuple(int(s) for s in d["x_train"].shape[1:]),
        classes=tuple(classes) if classes is not None else None,
    )


def _needs_torchvision(name: str, where: Path, present: bool, err) -> ImportError:
    data = (
        f"the {name} data found at {where} cannot be read without it"
        if present
        else f"the {name} data is also not present at {where}"
    )
    return ImportError(
        f"load_dataset({name!r}) needs torchvision, which is not importable here ({err!r}); {data}. "
        f"Install a torchvision matching torch {torch.__version__} and put the data under "
        f"LRKIT_DATA_DIR, or use one of: mnist, cifar10, npz:<path>."
    )


def _load_svhn(root: Path) -> Dataset:
    where = root / "svhn"
    tv, err = _torchvision()
    present = data_present("svhn", root)[0]
    if tv is None:
        raise _needs_torchvision("svhn", where, present, err)
    d = {}
    for split in ("train", "test"):
        try:
            s = tv.datasets.SVHN(str(where), split=split, download=False)
        except RuntimeError as e:  # torchvision's "Dataset not found or corrupted"
            raise FileNotFoundError(
                f"SVHN {split} split not found or corrupted in {where} (expected "
                f"{split}_32x32.mat; torchvision said: {e})"
            ) from e
        d[f"x_{split}"] = np.ascontiguousarray(np.asarray(s.data, dtype=np.uint8))
        d[f"y_{split}"] = np.asarray(s.labels, dtype=np.int64) % 10  # old files use 10 for '0'
    _check_split_arrays(d, str(where))
    return _in_memory("svhn", d, classes=tuple(str(i) for i in range(10)))


def _load_imagenet(root: Path) -> Dataset:
    where = root / "imagenet"
    tv, err = _torchvision()
    present = data_present("imagenet", root)[0]
    if tv is None:
        raise _needs_torchvision("imagenet", where, present, err)
    if not present:
        raise FileNotFoundError(
            f"ImageNet not found: expected ImageFolder trees {where / 'train'} and {where / 'val'} "
            f"(one sub-folder per class, the same class folders in both)"
        )
    T = tv.transforms
    norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    train = tv.datasets.ImageFolder(
        str(where / "train"),
        T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm]),
    )
    test = tv.datasets.ImageFolder(
        str(where / "val"), T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm])
    )
    if train.classes != test.classes:
        raise ValueError(f"{where}: train and val have different class folders")
    return Dataset(
        name="imagenet",
        x_train=None,
        y_train=None,
        x_test=None,
        y_test=None,
        num_classes=len(train.classes),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        input_shape=(3, 224, 224),
        classes=tuple(train.classes),
        train_set=train,
        test_set=test,
    )


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


def check_dataset_name(name) -> str:
    """``name`` if :func:`load_dataset` knows it (one of :data:`DATASET_NAMES`, any case, or
    ``npz:`` followed by a path, or a data set of your own: registered, or an import path,
    :mod:`lrkit.train.registry`), else a ValueError listing the names. The data is not looked for:
    this is the check a sweep makes before its first trial."""
    from .registry import is_user_dataset, unknown_dataset

    if not isinstance(name, str):
        raise ValueError(f"dataset name must be a string, one of {list(DATASET_NAMES)}; got {name!r}")
    key = name.strip().lower()
    if key.startswith("npz:"):
        if not key[4:].strip():
            raise ValueError(f"dataset name {name!r}: give a file after 'npz:', e.g. 'npz:data.npz'")
    elif key not in DATASET_NAMES and not is_user_dataset(name):
        raise unknown_dataset(name)
    return name


def load_dataset(name: str, root=None, *, cache_dir=None) -> Dataset:
    """Load a dataset by name; ``root`` defaults to :func:`data_dir`.

    Names (:data:`DATASET_NAMES`): ``"mnist"`` (:func:`load_mnist`), ``"cifar10"`` (the JPEG
    pack, :func:`load_cifar10_jpeg`; ``cache_dir`` is passed on), ``"npz:<path>"``
    (:func:`load_npz`; a relative path is tried from the working directory, then under
    ``root``), ``"svhn"`` (torchvision ``SVHN`` under ``<root>/svhn``) and ``"imagenet"``
    (torchvision ``ImageFolder`` over ``<root>/imagenet/{train,val}``, streamed, published
    mean/std). In-memory datasets get ``mean``/``std`` computed from ``x_train``.

    A registered data set or an import path ``"package.module:function"`` is loaded by
    :func:`lrkit.train.registry.load_user_dataset` (``root`` is not used).

    Raises ValueError for an unknown name (listing the allowed ones), FileNotFoundError for
    absent data, ImportError for svhn/imagenet without torchvision.
    """
    check_dataset_name(name)
    from .registry import is_user_dataset, load_user_dataset

    if is_user_dataset(name):
        return load_user_dataset(name)
    root = _root(root)
    key = name.strip()
    if key.lower().startswith("npz:"):
        path = Path(key[4:].strip()).expanduser()
        if not path.is_absolute() and not path.exists() and (root / path).exists():
            path = root / path
        return _in_memory(f"npz:{path}", load_npz(path))
    key = key.lower()
    if key == "mnist":
        return _in_memory("mnist", load_mnist(root), classes=tuple(str(i) for i in range(10)))
    if key == "cifar10":
        d = load_cifar10_jpeg(root, cache_dir)
        return _in_memory("cifar10", d, classes=d["classes"])
    if key == "svhn":
        return _load_svhn(root)
    return _load_imagenet(root)  # "imagenet": check_dataset_name let no other name through


# --------------------------------------------------------------------------------------------
# Augmentation (pure tensor ops over the whole batch)


def crop_flip_at(
    x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor, padding: int = 4
) -> torch.Tensor:
    """Zero-pad ``x`` (B, C, H, W) by ``padding`` on each side, take the H×W window of image b
    whose top-left corner is ``(top[b], left[b])`` in padded coordinates (each in
    [0, 2·padding]), and mirror it left-right where ``flip[b]``. Same dtype and device as ``x``.

    >>> x = torch.arange(4.).reshape(1, 1, 2, 2)
    >>> crop_flip_at(x, torch.tensor([1]), torch.tensor([1]), torch.tensor([True]), padding=1)
    tensor([[[[1., 0.],
              [3., 2.]]]])
    >>> crop_flip_at(x, torch.tensor([0]), torch.tensor([1]), torch.tensor([False]), padding=1)
    tensor([[[[0., 0.],
              [0., 1.]]]])
    """
    b, c, h, w = x.shape
    p = int(padding)
    padded = x.new_zeros((b, c, h + 2 * p, w + 2 * p))
    padded[:, :, p : p + h, p : p + w] = x
    dev = x.device
    rows = top.to(dev, torch.long)[:, None] + torch.arange(h, device=dev)  # (B, H)
    cols = left.to(dev, torch.long)[:, None] + torch.arange(w, device=dev)  # (B, W)
    cols = torch.where(flip.to(dev, torch.bool)[:, None], cols.flip(1), cols)
    bi = torch.arange(b, device=dev)[:, None, None, None]
    ci = torch.arange(c, device=dev)[None, :, None, None]
    return padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def crop_flip(x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None):
    """The standard CIFAR augmentation on a batch ``(B, C, H, W)``: pad ``padding`` zeros, crop
    a random H×W window per image, and flip each image left-right with probability 1/2.

    Random numbers come from ``generator`` (a CPU generator; None: torch's global one), so the
    result does not depend on the device of ``x``.
    """
    b = x.shape[0]
    off = torch.randint(0, 2 * padding + 1, (2, b), generator=generator)
    flip = torch.randint(0, 2, (b,), generator=generator).bool()
    return crop_flip_at(x, off[0], off[1], flip, padding)


def _derived_seed(seed: int, purpose: str) -> int:
    h = hashlib.blake2b(f"{int(seed)}/{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & (2**63 - 1)


# --------------------------------------------------------------------------------------------
# In-memory batch stream


class _EpochStream:
    """What both endless streams share: a seeded sample order per epoch, and a resumable position.

    Subclasses set ``seed``, ``shuffle`` and ``num_samples`` and implement ``_start_epoch`` (which
    calls :meth:`_epoch_order`); ``state_dict``/``load_state_dict`` build on the helpers here.
    """

    def _init_stream(self) -> None:
        self._order_gen = torch.Generator().manual_seed(self.seed)
        self.epoch = 0
        self.position = 0
        self._start_epoch()

    def _epoch_order(self) -> torch.Tensor:
        """This epoch's order (a permutation, or 0…N−1 without shuffling); remembers the
        generator state it was drawn from so a resumed stream can redraw it."""
        self._epoch_gen_state = self._order_gen.get_state()
        n = self.num_samples
        return torch.randperm(n, generator=self._order_gen) if self.shuffle else torch.arange(n)

    def _stream_state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "position": self.position,
            "num_samples": self.num_samples,
            "shuffle": self.shuffle,
            "seed": self.seed,
            "order_generator": self._epoch_gen_state.clone(),
        }

    def _load_stream_state(self, state: Mapping[str, Any], extra: tuple[str, ...] = ()) -> None:
        need = ("epoch", "position", "num_samples", "shuffle", "order_generator") + extra
        missing = [k for k in need if k not in state]
        if missing:
            raise ValueError(f"{type(self).__name__} state is missing {missing}")
        if state["num_samples"] != self.num_samples:
            raise ValueError(
                f"state num_samples={state['num_samples']} but this split has {self.num_samples}"
            )
        if bool(state["shuffle"]) != self.shuffle:
            raise ValueError(f"state shuffle={state['shuffle']} but this stream has shuffle={self.shuffle}")
        if not 0 <= int(state["position"]) <= self.num_samples:
            raise ValueError(f"state position={state['position']} is outside [0, {self.num_samples}]")
        self._order_gen.set_state(state["order_generator"].clone())
        self._start_epoch()
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])


class TensorBatches(_EpochStream):
    """Endless mini-batches of an in-memory split held as tensors on ``device``.

    Args:
        x: images ``(N, C, H, W)`` (or any ``(N, C, ...)``, e.g. ``(N, F)`` feature vectors),
            numpy or tensor; ``uint8`` stays ``uint8`` on the device (4x less memory) and is
            converted per batch.
        y: labels ``(N,)`` (any integer type; batches give int64).
        batch_size: samples per batch from :meth:`next` (every batch is full: the sample stream
            runs on from one epoch into the next, Caffe-style, and drops nothing).
        device: where the split and the batches live.
        shuffle: a new random order each epoch (else 0..N-1 every epoch).
        seed: seeds the order generator and, through a derived seed, the augmentation one (both
            CPU ``torch.Generator``s, so the batches do not depend on the device).
        augment: None or ``"crop_flip"`` (:func:`crop_flip`, pad ``padding`` zeros; images only).
        scale: a number multiplying the pixels (Caffe's LeNet: 1/256 = 0.00390625; 1.0 keeps
            them), or ``"standardize"``: ``(x / 255 - mean) / std`` per channel (``x`` as is
            for float data). Zero padding is applied before, as torchvision does.
        mean, std: per-channel sequences, [0, 1] scale; only with ``scale="standardize"``.
        dtype: floating dtype of the image batches.

    ``next()`` returns ``(x, y)``: ``x`` ``(batch_size, C, H, W)`` of ``dtype``, ``y``
    ``(batch_size,)`` int64, both on ``device``. ``epoch`` is the current epoch (0-based) and
    ``position`` the number of its samples already drawn.
    """

    def __init__(
        self,
        x,
        y,
        batch_size: int,
        device="cpu",
        *,
        shuffle: bool = True,
        seed: int = 0,
        augment: str | None = None,
        scale: float | str = 1 / 256,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        padding: int = 4,
        dtype: torch.dtype = torch.float32,
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if augment not in (None, "crop_flip"):
            raise ValueError(f"augment must be None or 'crop_flip', got {augment!r}")
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an int >= 0, got {padding!r}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating dtype, got {dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else torch.as_tensor(x)
        y = torch.from_numpy(np.asarray(y)) if not isinstance(y, torch.Tensor) else y
        if x.ndim < 2:
            raise ValueError(f"x must be (N, C, H, W) images or (N, F) features, got shape {tuple(x.shape)}")
        if augment is not None and x.ndim != 4:
            raise ValueError(f"augment={augment!r} needs (N, C, H, W) images, got shape {tuple(x.shape)}")
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"y must be (N,) with N = len(x) = {len(x)}, got shape {tuple(y.shape)}")
        if len(x) == 0:
            raise ValueError("x is empty: a split needs at least one sample")
        if x.dtype != torch.uint8 and not x.dtype.is_floating_point:
            raise ValueError(f"x must be uint8 or floating, got {x.dtype}")
        if y.dtype.is_floating_point or y.dtype == torch.bool:
            raise ValueError(f"y must hold integer labels, got {y.dtype}")
        c = x.shape[1]
        self.device = torch.device(device)
        if scale == "standardize":
            if mean is None or std is None:
                raise ValueError("scale='standardize' needs mean and std (per channel, [0, 1] scale)")
            mean_t = torch.as_tensor(mean, dtype=torch.float64).flatten()
            std_t = torch.as_tensor(std, dtype=torch.float64).flatten()
            if len(mean_t) != c or len(std_t) != c:
                raise ValueError(
                    f"mean and std need {c} values (one per channel), got {len(mean_t)} and {len(std_t)}"
                )
            if not bool((std_t > 0).all()):
                raise ValueError(f"std values must be > 0, got {std_t.tolist()}")
            per_channel = (1, c) + (1,) * (x.ndim - 2)  # broadcasts over every dim after the channel's
            self._mean = mean_t.to(self.device, dtype).view(per_channel)
            self._std = std_t.to(self.device, dtype).view(per_channel)
        elif isinstance(scale, str) or isinstance(scale, bool) or not isinstance(scale, (int, float)):
            raise ValueError(f"scale must be a number (e.g. 1/256) or 'standardize', got {scale!r}")
        elif mean is not None or std is not None:
            raise ValueError("mean/std apply only with scale='standardize'")
        elif not math.isfinite(scale):
            raise ValueError(f"scale must be finite, got {scale!r}")

        self.x = x.to(self.device)
        self.y = y.to(self.device, torch.int64)
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.augment = augment
        self.scale = scale
        self.padding = padding
        self.dtype = dtype
        self._aug_gen = torch.Generator().manual_seed(_derived_seed(self.seed, "augment"))
        self._init_stream()

    @property
    def num_samples(self) -> int:
        return len(self.x)

    @property
    def steps_per_epoch(self) -> float:
        """Batches per epoch, N / batch_size (not necessarily an integer)."""
        return self.num_samples / self.batch_size

    def _start_epoch(self) -> None:
        self._order = self._epoch_order().to(self.device)

    def _normalize(self, xb: torch.Tensor) -> torch.Tensor:
        was_uint8 = xb.dtype == torch.uint8
        xb = xb.to(self.dtype)
        if self.scale == "standardize":
            if was_uint8:
                xb = xb.mul_(1 / 255)
            return xb.sub_(self._mean).div_(self._std)
        return xb.mul_(self.scale) if self.scale != 1 else xb

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch ``(x, y)``; moves on to a new epoch (and order) when one runs out."""
        parts, need = [], self.batch_size
        while need:
            if self.position == self.num_samples:
                self.epoch += 1
                self.position = 0
                self._start_epoch()
            take = min(need, self.num_samples - self.position)
            parts.append(self._order[self.position : self.position + take])
            self.position += take
            need -= take
        idx = parts[0] if len(parts) == 1 else torch.cat(parts)
        xb = self.x.index_select(0, idx)
        if self.augment == "crop_flip":
            xb = crop_flip(xb, self.padding, generator=self._aug_gen)
        return self._normalize(xb), self.y.index_select(0, idx)

    __next__ = next

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def iter_eval(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The split once, in stored order, normalised, never augmented; the last batch may be
        short. Does not touch the training stream's state."""
        bs = self.batch_size if batch_size is None else batch_size
        if isinstance(bs, bool) or not isinstance(bs, int) or bs < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {bs!r}")
        for lo in range(0, self.num_samples, bs):
            yield self._normalize(self.x[lo : lo + bs]), self.y[lo : lo + bs]

    def state_dict(self) -> dict[str, Any]:
        """The stream's position: ``{"epoch": int, "position": int (samples of this epoch
        already drawn), "num_samples": int, "shuffle": bool, "seed": int, "order_generator":
        uint8 tensor (order generator state at the start of this epoch), "augment_generator":
        uint8 tensor (current augmentation generator state)}``."""
        return dict(self._stream_state(), augment_generator=self._aug_gen.get_state())

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`state_dict`: the following batches equal those the saved stream
        would have drawn (for the same data, batch size and options)."""
        self._load_stream_state(state, extra=("augment_generator",))
        self._aug_gen.set_state(state["augment_generator"].clone())
        if "seed" in state:
            self.seed = int(state["seed"])


# --------------------------------------------------------------------------------------------
# DataLoader stream (data that does not fit in memory)


class _OrderSampler(torch.utils.data.Sampler):
    """Yields ``order[start:]``; the owner sets both before each pass."""

    def __init__(self):
        self.order: list[int] = []
        self.start = 0

    def __iter__(self):
        return iter(self.order[self.start :])

    def __len__(self):
        return len(self.order) - self.start


def _to_device(batch, device, non_blocking: bool):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, (list, tuple)):
        return tuple(_to_device(b, device, non_blocking) for b in batch)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device, non_blocking) for k, v in batch.items()}
    return batch


class LoaderBatches(_EpochStream):
    """Endless batches from a ``torch.utils.data.Dataset`` through a ``DataLoader``; built by
    :func:`loader_batches`. Same interface as :class:`TensorBatches`: ``next()``,
    ``iter_eval()``, ``state_dict()``/``load_state_dict()``, ``epoch``, ``position``.

    The sample order is drawn here (one ``torch.randperm`` per epoch from a generator seeded by
    ``seed``) and fed to the DataLoader as its sampler, so a resumed stream visits the same
    samples in the same order. Random transforms inside the dataset use the worker RNGs, which
    are seeded from ``seed`` but not restored on resume.
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        num_workers: int = 0,
        device=None,
        drop_last: bool = True,
        pin_memory: bool | None = None,
        collate_fn=None,
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
        n = len(dataset)
        if n == 0 or (drop_last and n < batch_size):
            raise ValueError(
                f"dataset has {n} samples: fewer than batch_size={batch_size} with drop_last=True "
                f"gives no batch"
                if n
                else "dataset is empty"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.num_workers = num_workers
        self.drop_last = bool(drop_last)
        self.device = torch.device(device) if device is not None else None
        if pin_memory is None:
            pin_memory = self.device is not None and self.device.type == "cuda"
        self._non_blocking = bool(pin_memory)
        self._loader_kw = dict(
            num_workers=num_workers, pin_memory=bool(pin_memory), collate_fn=collate_fn
        )
        self._sampler = _OrderSampler()
        self._loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=self._sampler,
            drop_last=self.drop_last,
            persistent_workers=num_workers > 0,
            generator=torch.Generator().manual_seed(_derived_seed(self.seed, "workers")),
            **self._loader_kw,
        )
        self._it = None
        self._init_stream()

    @property
    def num_samples(self) -> int:
        return len(self.dataset)

    def _start_epoch(self) -> None:
        self._sampler.order = self._epoch_order().tolist()
        self._it = None

    def _batch_len(self, batch) -> int:
        first = batch[0] if isinstance(batch, (list, tuple)) else batch
        return len(first) if hasattr(first, "__len__") else self.batch_size

    def next(self):
        """The next batch (a tuple, e.g. ``(x, y)``, moved to ``device`` if one was given)."""
        for _ in range(2):
            if self._it is None:
                self._sampler.start = self.position
                self._it = iter(self._loader)
            try:
                batch = next(self._it)
            except StopIteration:
                self.epoch += 1
                self.position = 0
                self._start_epoch()
                continue
            self.position += self._batch_len(batch)
            return _to_device(batch, self.device, self._non_blocking) if self.device else batch
        raise RuntimeError("the DataLoader gave no batch for a whole epoch")  # guarded in __init__

    __next__ = next

    def __iter__(self):
        return self

    def iter_eval(self, batch_size: int | None = None):
        """The dataset once, in order, last batch possibly short."""
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=self.batch_size if batch_size is None else batch_size,
            shuffle=False,
            drop_last=False,
            **self._loader_kw,
        )
        for batch in loader:
            yield _to_device(batch, self.device, self._non_blocking) if self.device else batch

    def state_dict(self) -> dict[str, Any]:
        """``{"epoch", "position" (samples of this epoch drawn), "num_samples", "shuffle",
        "seed", "order_generator" (state at the start of this epoch)}``."""
        return self._stream_state()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`state_dict`: the same samples in the same order follow."""
        self._load_stream_state(state)


def loader_batches(
    dataset,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int = 0,
    **kwargs,
) -> LoaderBatches:
    """Endless batches of a ``torch.utils.data.Dataset`` that does not fit in memory (ImageNet
    through torchvision), cycling through epochs; see :class:`LoaderBatches` (``kwargs``:
    ``device``, ``drop_last`` (default True), ``pin_memory``, ``collate_fn``)."""
    return LoaderBatches(
        dataset, batch_size, shuffle=shuffle, seed=seed, num_workers=num_workers, **kwargs
    )
