"""The idx file format (MNIST) and the MNIST loader over torchvision's folder layout."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np

from .locations import _root
from .npz import SPLIT_KEYS
from .torchvision_sets import _torchvision

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
    return {k: out[k] for k in SPLIT_KEYS}
