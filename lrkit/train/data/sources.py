"""Data sets by name: the names :func:`load_dataset` accepts, their check, and the loader."""

from __future__ import annotations

from pathlib import Path

from .dataset import Dataset, _in_memory
from .idx import load_mnist
from .jpeg_cache import load_cifar10_jpeg
from .locations import _root
from .npz import load_npz
from .torchvision_sets import _load_imagenet, _load_svhn

#: Names accepted by :func:`load_dataset` (``npz:<path>`` takes a file path after the colon).
DATASET_NAMES = ("mnist", "cifar10", "npz:<path>", "svhn", "imagenet")


def check_dataset_name(name) -> str:
    """``name`` if :func:`load_dataset` knows it (one of :data:`DATASET_NAMES`, any case, or
    ``npz:`` followed by a path, or a data set of your own: registered, or an import path,
    :mod:`lrkit.train.registry`), else a ValueError listing the names. The data is not looked for:
    this is the check a sweep makes before its first trial."""
    from ..registry import is_user_dataset, unknown_dataset

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
    from ..registry import is_user_dataset, load_user_dataset

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
