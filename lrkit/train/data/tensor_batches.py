"""Endless mini-batches of an in-memory split held as tensors on the device."""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from .augment import crop_flip
from .stream import _derived_seed, _EpochStream


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
