"""Data sets read through torchvision (SVHN, ImageNet), and torchvision as an optional import."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .dataset import Dataset, _in_memory
from .locations import data_present
from .npz import _check_split_arrays

#: Published ImageNet statistics (RGB, [0, 1] scale); the split is too large to recompute them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


def _require_torchvision(name: str, root: Path):
    """``(torchvision, the data set's folder, whether its data is present)``; an ImportError saying
    both when torchvision cannot be imported."""
    where = root / name
    tv, err = _torchvision()
    present = data_present(name, root)[0]
    if tv is None:
        raise _needs_torchvision(name, where, present, err)
    return tv, where, present


def _load_svhn(root: Path) -> Dataset:
    tv, where, _ = _require_torchvision("svhn", root)
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
        d[f"y_{split}"] = np.asarray(s.labels, dtype=np.int64) % 10  # a label of 10 in SVHN's .mat files is the digit 0
    _check_split_arrays(d, str(where))
    return _in_memory("svhn", d, classes=tuple(str(i) for i in range(10)))


def _load_imagenet(root: Path) -> Dataset:
    tv, where, present = _require_torchvision("imagenet", root)
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
