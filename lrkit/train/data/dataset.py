"""The :class:`Dataset` record, per-channel statistics, and the record of an in-memory split set."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .loader import loader_batches
from .tensor_batches import TensorBatches


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
