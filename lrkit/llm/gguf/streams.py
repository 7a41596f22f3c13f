"""Streamed copies with hashing and a progress bar, and the module's log line (stderr)."""

from __future__ import annotations

import contextlib
import hashlib
import sys
from pathlib import Path
from typing import Optional, Union

_CHUNK = 1 << 20


def _log(progress: bool, msg: str) -> None:
    if progress:
        print(f"[lrkit.gguf] {msg}", file=sys.stderr, flush=True)


def sha256_file(path: Union[str, Path]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _bar(progress: bool, total: Optional[int], desc: str):
    if not progress:
        return contextlib.nullcontext(None)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - transformers depends on tqdm
        return contextlib.nullcontext(None)
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, file=sys.stderr, leave=False)


def _copy_stream(src, dst, hasher, bar) -> int:
    n = 0
    for block in iter(lambda: src.read(_CHUNK), b""):
        dst.write(block)
        hasher.update(block)
        n += len(block)
        if bar is not None:
            bar.update(len(block))
    return n
