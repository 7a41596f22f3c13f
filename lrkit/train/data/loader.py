"""Endless batches through a ``torch.utils.data.DataLoader``, for data that does not fit in memory."""

from __future__ import annotations

from typing import Any, Mapping

import torch

from .stream import _derived_seed, _EpochStream


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
