"""Datasets for lrkit training runs: loaders, an in-memory batch stream, and a DataLoader stream.

One concern per module: :mod:`.locations` (folders), :mod:`.idx` (MNIST), :mod:`.jpeg_cache`
(CIFAR-10 JPEG pack), :mod:`.npz` (split arrays, user files), :mod:`.torchvision_sets` (SVHN,
ImageNet), :mod:`.dataset` (the record), :mod:`.sources` (by name), :mod:`.augment`,
:mod:`.tensor_batches` and :mod:`.loader` (the two batch streams, over :mod:`.stream`).

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

import numpy as np  # noqa: F401 - the doctest above uses it

# (the private names are those lrkit.train.registry and the tests reach through the package)
from .augment import crop_flip, crop_flip_at
from .dataset import Dataset, _in_memory, channel_stats  # noqa: F401
from .idx import _MNIST_FILES, load_mnist, read_idx  # noqa: F401
from .jpeg_cache import _decode_jpegs, load_cifar10_jpeg  # noqa: F401
from .loader import LoaderBatches, loader_batches
from .locations import cache_dir, data_dir, data_present
from .npz import load_npz
from .sources import DATASET_NAMES, check_dataset_name, load_dataset
from .tensor_batches import TensorBatches
from .torchvision_sets import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "DATASET_NAMES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
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
