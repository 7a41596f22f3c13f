"""The split arrays every in-memory source returns, their checks, and a user's ``.npz`` data set.

Images are ``(N, C, H, W)`` numpy arrays, ``uint8`` in [0, 255] (or float as given by a user
``.npz``); labels are ``(N,)`` ``int64`` in ``[0, num_classes)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

#: the four arrays of an in-memory data set, in this order
SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")


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
        missing = [k for k in SPLIT_KEYS if k not in z.files]
        if missing:
            raise ValueError(
                f"{path}: missing arrays {missing}; a dataset .npz needs {list(SPLIT_KEYS)} "
                f"(has {sorted(z.files)})"
            )
        raw = {k: z[k] for k in SPLIT_KEYS}
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
