"""Your own model and data set, by name: registered in this process, or imported from a path.

A run's config names its model and data set by a string, so the run key and the policy database
stay meaningful. Besides the built-in names (:data:`lrkit.train.models.MODELS`,
:data:`lrkit.train.data.DATASET_NAMES`) a name can be

``"package.module:function"``
    imported on first use in whatever process trains (a spawned process pool, a Ray worker): what a
    recipe TOML or ``lrkit tune grid --model`` writes. No registration needed.
a name given to :func:`register_model` / :func:`register_dataset`
    known to this process only (a notebook); a process pool or Ray cannot resolve it, and
    :func:`check_portable` says so before any trial starts.

A model factory is called with the keywords it names among ``num_classes``, ``in_channels`` (the
first dimension of one sample: channels of an image, features of a vector) and ``input_shape`` (one
sample's shape, e.g. ``(1, 28, 28)`` or ``(64,)``); a factory taking ``**kwargs`` gets all three, one
taking none gets none.

Data is one of
    * ``(x_train, y_train, x_test, y_test)``, or a mapping with those keys: numpy arrays or tensors;
      samples ``(N, F)`` features, ``(N, C, L)`` or ``(N, C, H, W)`` images (uint8 in [0, 255] or
      float), labels ``(N,)`` integers >= 0. Kept in memory: the fast path, no DataLoader.
    * ``(train, test)``: two ``torch.utils.data.Dataset`` s yielding ``(x, label)``; two
      ``TensorDataset`` s are taken into memory, others are streamed through a DataLoader (their own
      transforms normalise: ``TrainConfig.normalize`` applies to in-memory data only).
    * a function of no arguments returning either (called on each load).

Every run of a registered or imported model or data set records which object it was in its
environment (``environment["model"]``, ``environment["dataset"]``: the object's ``module:qualname``;
for a model its parameter count and a hash of its layers, for data the split sizes and a short
content hash), so two different things registered under one name in two sessions can be told apart
in the database.

>>> import torch
>>> register_model("tiny_linear", lambda in_channels, num_classes: torch.nn.Linear(in_channels, num_classes))
>>> register_model("lenet", torch.nn.Identity)
Traceback (most recent call last):
...
ValueError: register_model: name 'lenet' is a built-in model (lenet, cnn3, resnet32, resnet18); choose another name
>>> unregister_model("tiny_linear")
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from .data.npz import SPLIT_KEYS

__all__ = [
    "register_model", "register_dataset", "unregister_model", "unregister_dataset", "registered_models",
    "registered_datasets", "is_import_path", "resolve_import", "check_model_name", "is_user_model", "build_user_model",
    "model_origin", "is_user_dataset", "unknown_dataset", "load_user_dataset", "to_dataset", "check_portable",
]

_MODELS: dict[str, Callable[..., Any]] = {}
_DATASETS: dict[str, Any] = {}  # as registered: data or a loader function
_LOADED: dict[str, Any] = {}  # registered data (not loaders) as a Dataset, converted once

_IDENT = r"[A-Za-z_]\w*"
_IMPORT_PATH = re.compile(rf"{_IDENT}(\.{_IDENT})*:{_IDENT}(\.{_IDENT})*")
_PORTABLE_HINT = ("name it by an import path 'package.module:function' instead, which every process resolves "
                  "(define it in a .py file on the path)")


def _key(name: str) -> str:
    return name.strip().lower()


def is_import_path(name) -> bool:
    """Whether ``name`` is ``"package.module:attribute"`` (``npz:<file>`` data set names are not).

    >>> is_import_path("mylab.nets:make_mlp"), is_import_path("lenet"), is_import_path("npz:data.npz")
    (True, False, False)
    """
    return (isinstance(name, str) and _IMPORT_PATH.fullmatch(name.strip()) is not None
            and not name.strip().lower().startswith("npz:"))


def resolve_import(path: str, what: str = "object"):
    """The attribute ``path`` (``"package.module:attribute"``, dots in the attribute walk into it);
    ImportError or AttributeError naming the path and what it was meant to be."""
    module_name, _, attr = path.strip().partition(":")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as e:
        raise ImportError(f"{what} {path!r}: cannot import module {module_name!r} ({e}); "
                          "the module must be importable in the process that trains (on sys.path)") from e
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AttributeError(f"{what} {path!r}: {obj.__name__ if hasattr(obj, '__name__') else obj!r} "
                                 f"has no attribute {part!r}")
        obj = getattr(obj, part)
    return obj


def _qualified(obj) -> str:
    """``module:qualname`` of a function or class (of an instance: of its class)."""
    target = obj if (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj)) else type(obj)
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', type(target).__name__)}"


def _check_new_name(kind: str, name, builtins, registry: dict, obj, replace: bool) -> str:
    where = f"register_{kind}"
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: name must be a non-empty string, got {name!r}")
    if ":" in name:
        raise ValueError(f"{where}: name {name!r} must not contain ':' (that is an import path "
                         "'package.module:function', which needs no registration)")
    key = _key(name)
    if key in builtins:
        raise ValueError(f"{where}: name {name!r} is a built-in {kind} ({', '.join(builtins)}); choose another name")
    if key in registry and registry[key] is not obj and not replace:
        raise ValueError(f"{where}: name {name!r} is already registered to {_qualified(registry[key])}; "
                         "pass replace=True to register another object under it")
    return key


def _builtin_models() -> tuple[str, ...]:
    from .models import MODELS

    return tuple(MODELS)


def _builtin_datasets() -> tuple[str, ...]:
    from .data import DATASET_NAMES

    return tuple(n for n in DATASET_NAMES if ":" not in n)


# ---------------------------------------------------------------------------------------- models


def register_model(name: str, factory: Callable[..., Any], *, replace: bool = False) -> None:
    """Register ``factory`` (a class or function returning an ``nn.Module`` whose ``forward(x)``
    gives logits ``(N, num_classes)``) under ``name`` (case-insensitive, no ``:``), for
    ``TrainConfig(model=name)``. Built-in names cannot be taken; registering another object under a
    taken name needs ``replace=True`` (the same object again is a no-op)."""
    if not callable(factory):
        raise ValueError(f"register_model: factory must be callable (a class or function), got {factory!r}")
    _MODELS[_check_new_name("model", name, _builtin_models(), _MODELS, factory, replace)] = factory


def unregister_model(name: str) -> None:
    """Forget a registered model (KeyError if ``name`` is not registered)."""
    del _MODELS[_key(name)]


def registered_models() -> dict[str, str]:
    """Registered model name → its factory's ``module:qualname``."""
    return {k: _qualified(f) for k, f in _MODELS.items()}


def is_user_model(name) -> bool:
    """Whether ``name`` is a registered model or an import path (not a built-in)."""
    return isinstance(name, str) and (_key(name) in _MODELS or is_import_path(name))


def _unknown(kind: str, name, builtins, registry: dict) -> ValueError:
    """The error for a name nobody here knows: the built-in names, those registered here, and how a
    name registered in another process (a notebook) reaches this one."""
    import difflib

    if kind == "model":  # the built-in message, with a close match
        close = difflib.get_close_matches(_key(name) if isinstance(name, str) else str(name), list(builtins), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ";"
        head = f"unknown model {name!r}{hint} allowed: {', '.join(repr(n) for n in builtins)}"
    else:
        head = f"unknown dataset name {name!r}; allowed: {', '.join(builtins)}"
    registered = f"; registered here: {', '.join(registry)}" if registry else ""
    return ValueError(f"{head}{registered}; or an import path 'package.module:function'. A {kind} registered with "
                      f"lrkit.register_{kind} in another process (a notebook) is not known here: {_PORTABLE_HINT}")


def check_model_name(name) -> str:
    """``name`` if it is a built-in model, a registered one or an import path (not imported here),
    else a ValueError listing the allowed names."""
    if isinstance(name, str) and (_key(name) in _builtin_models() or is_user_model(name)):
        return name
    raise _unknown("model", name, _builtin_models(), _MODELS)


def _factory(name: str):
    if is_import_path(name):
        factory = resolve_import(name, "model factory")
        if not callable(factory):
            raise ValueError(f"model {name!r}: {factory!r} is not callable (a class or function returning a module)")
        return factory
    if _key(name) in _MODELS:
        return _MODELS[_key(name)]
    raise _unknown("model", name, _builtin_models(), _MODELS)


def build_user_model(name: str, num_classes: int, in_channels: int | None = None, input_shape=None):
    """The module of a registered or imported model ``name``, its factory called with the keywords
    it names among ``num_classes``, ``in_channels`` and ``input_shape`` (all of them for ``**kwargs``)."""
    from torch import nn

    factory = _factory(name)
    given = {"num_classes": num_classes, "in_channels": in_channels,
             "input_shape": None if input_shape is None else tuple(input_shape)}
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: pass everything known
        params = None
    if params is None or any(p.kind is p.VAR_KEYWORD for p in params):
        kwargs = {k: v for k, v in given.items() if v is not None}
    else:
        named = {p.name for p in params}
        kwargs = {k: v for k, v in given.items() if k in named and v is not None}
    model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model {name!r}: the factory {_qualified(factory)} returned {type(model).__name__}, "
                         "not a torch.nn.Module")
    return model


def model_origin(name: str, model=None) -> dict | None:
    """What a registered or imported model name stands for here: ``{"name", "object"}`` (the
    factory's ``module:qualname``), and with the built ``model`` its ``parameters`` (count) and
    ``structure_sha256`` (a hash of its printed layers: the same name and qualname over two
    different architectures hash apart); None for a built-in."""
    if not is_user_model(name):
        return None
    origin = {"name": name, "object": _qualified(_factory(name))}
    if model is not None:
        origin["parameters"] = sum(p.numel() for p in model.parameters())
        origin["structure_sha256"] = hashlib.sha256(repr(model).encode()).hexdigest()[:16]
    return origin


# ---------------------------------------------------------------------------------------- data


def register_dataset(name: str, data, *, replace: bool = False) -> None:
    """Register ``data`` under ``name`` (case-insensitive, no ``:``) for
    ``TrainConfig(dataset=name)``: split arrays, two torch Datasets, or a loader function (module
    doc). Arrays and Datasets are checked now; a loader is called when the data set is loaded."""
    key = _check_new_name("dataset", name, _builtin_datasets(), _DATASETS, data, replace)
    if _DATASETS.get(key) is data:
        return
    loaded = None if callable(data) else to_dataset(name, data)  # bad arrays fail here, naming the field
    _DATASETS[key] = data
    _LOADED.pop(key, None)
    if loaded is not None:
        _LOADED[key] = loaded


def unregister_dataset(name: str) -> None:
    """Forget a registered data set (KeyError if ``name`` is not registered)."""
    del _DATASETS[_key(name)]
    _LOADED.pop(_key(name), None)


def registered_datasets() -> dict[str, str]:
    """Registered data set name → what it is (a loader's ``module:qualname``, or the data's type)."""
    return {k: _qualified(d) for k, d in _DATASETS.items()}


def is_user_dataset(name) -> bool:
    """Whether ``name`` is a registered data set or an import path (not a built-in or ``npz:``)."""
    return isinstance(name, str) and (_key(name) in _DATASETS or is_import_path(name))


def unknown_dataset(name) -> ValueError:
    """The error for a data set name nobody knows (built-in names, registered ones, import paths)."""
    from .data import DATASET_NAMES

    return _unknown("dataset", name, DATASET_NAMES, _DATASETS)


def load_user_dataset(name: str):
    """The :class:`lrkit.train.data.Dataset` of a registered or imported data set ``name``."""
    if is_import_path(name):
        data, source = resolve_import(name, "dataset"), name.strip()
    elif _key(name) in _LOADED:
        return _LOADED[_key(name)]
    elif _key(name) in _DATASETS:
        data = _DATASETS[_key(name)]
        source = _qualified(data)
    else:
        raise unknown_dataset(name)
    if callable(data) and not _is_torch_dataset(data):
        source = _qualified(data)
        data = data()
    return to_dataset(name, data, source=source)


def _is_torch_dataset(obj) -> bool:
    import torch

    return isinstance(obj, torch.utils.data.Dataset)


def _as_numpy(name: str, field: str, v):
    import numpy as np
    import torch

    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    try:
        return np.asarray(v)
    except Exception as e:  # noqa: BLE001 - re-raised naming the field
        raise ValueError(f"dataset {name!r}: field '{field}' must be an array or tensor, got {type(v).__name__}") from e


def _check_arrays(name: str, d: dict) -> dict:
    import numpy as np

    out = {}
    for split in ("train", "test"):
        x, y = (_as_numpy(name, f"{k}_{split}", d[f"{k}_{split}"]) for k in ("x", "y"))
        if x.ndim < 2:
            raise ValueError(f"dataset {name!r}: field 'x_{split}' must be (N, F) features or (N, C, ...) images, "
                             f"got shape {x.shape}")
        if not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
            raise ValueError(f"dataset {name!r}: field 'x_{split}' must be uint8 or float, got {x.dtype.name}")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"dataset {name!r}: field 'y_{split}' must be 1-D integer labels (N,), "
                             f"got {y.dtype.name} {y.shape}")
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"dataset {name!r}: field 'x_{split}' has {len(x)} samples and 'y_{split}' {len(y)} "
                             "labels; they must match and be > 0")
        if y.min() < 0:
            raise ValueError(f"dataset {name!r}: field 'y_{split}' must hold labels >= 0, found {int(y.min())}")
        out[f"x_{split}"] = np.ascontiguousarray(x.astype(np.float32) if x.dtype == np.float16 else x)
        out[f"y_{split}"] = y.astype(np.int64)
    if out["x_train"].shape[1:] != out["x_test"].shape[1:]:
        raise ValueError(f"dataset {name!r}: field 'x_test' samples are {out['x_test'].shape[1:]} but x_train's are "
                         f"{out['x_train'].shape[1:]}")
    return out


def _content_hash(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:16]


def _labels_of(ds) -> list[int]:
    targets = getattr(ds, "targets", None)
    if targets is not None and len(targets) == len(ds):
        return [int(t) for t in targets]
    return [int(ds[i][1]) for i in range(len(ds))]


def to_dataset(name: str, data, source: str | None = None):
    """``data`` (split arrays, a mapping of them, or two torch Datasets; module doc) as a
    :class:`lrkit.train.data.Dataset` named ``name``, its ``origin`` saying what it was."""
    import dataclasses

    import torch

    from .data import _in_memory

    source = source or _qualified(data)
    if isinstance(data, Mapping):
        missing = [k for k in SPLIT_KEYS if k not in data]
        if missing:
            raise ValueError(f"dataset {name!r}: missing field(s) {', '.join(missing)}; a mapping needs "
                             f"{', '.join(SPLIT_KEYS)}")
        arrays = dict(data)
    elif isinstance(data, (tuple, list)) and len(data) == 2 and all(map(_is_torch_dataset, data)):
        train, test = data
        if all(isinstance(d, torch.utils.data.TensorDataset) and len(d.tensors) == 2 for d in data):
            arrays = dict(zip(SPLIT_KEYS, (*train.tensors, *test.tensors)))
        else:
            return _streamed(name, train, test, source)
    elif isinstance(data, (tuple, list)) and len(data) == 4:
        arrays = dict(zip(SPLIT_KEYS, data))
    else:
        raise ValueError(f"dataset {name!r}: data must be (x_train, y_train, x_test, y_test), a mapping with those "
                         "keys, (train, test) torch Datasets, or a function of no arguments returning one of these; "
                         f"got {type(data).__name__}")
    d = _check_arrays(name, arrays)
    ds = _in_memory(name, d)
    origin = {"name": name, "object": source, "sizes": ds.sizes(), "input_shape": list(ds.input_shape),
              "num_classes": ds.num_classes, "sha256": _content_hash(d[k] for k in SPLIT_KEYS)}
    return dataclasses.replace(ds, origin=origin)


def _streamed(name: str, train, test, source: str):
    from .data import Dataset

    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"dataset {name!r}: the train and test Datasets must not be empty "
                         f"(they have {len(train)} and {len(test)} samples)")
    x0 = train[0][0]
    shape = tuple(int(s) for s in getattr(x0, "shape", ()))
    if not shape:
        raise ValueError(f"dataset {name!r}: train[0] must be (x, label) with x a tensor of shape (F,) or (C, ...)")
    num_classes = max(max(_labels_of(train)), max(_labels_of(test))) + 1
    ds = Dataset(name=name, x_train=None, y_train=None, x_test=None, y_test=None, num_classes=num_classes,
                 mean=(0.0,) * shape[0], std=(1.0,) * shape[0], input_shape=shape, train_set=train, test_set=test)
    ds.origin = {"name": name, "object": source, "sizes": ds.sizes(), "input_shape": list(shape),
                 "num_classes": num_classes, "sha256": None}
    return ds


# ---------------------------------------------------------------------------------------- processes


def check_portable(configs, where: str = "a process pool") -> None:
    """A ValueError if any config names a model or data set registered only in this process (a
    spawned process pool or a Ray worker cannot resolve it); import paths and built-ins pass."""
    for cfg in configs:
        for kind, registry in (("model", _MODELS), ("dataset", _DATASETS)):
            name = cfg.get(kind)
            if isinstance(name, str) and not is_import_path(name) and _key(name) in registry:
                raise ValueError(f"{kind} {name!r} is registered in this process only, and {where} cannot resolve it; "
                                 f"{_PORTABLE_HINT}, or train in this process (workers=1)")
