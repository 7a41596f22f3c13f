"""JSON-safe copies of nested values: what every record, export and results file is written through.

JSON has no NaN or infinity. Run records and database columns keep them as text (``"nan"``,
``"inf"``, ``"-inf"``: ``float()`` reads them back, so nothing computed is lost); result documents
meant for people and other tools write them as ``null``.
"""

from __future__ import annotations

import math

import numpy as np

NONFINITE = ("text", "null")


def json_safe(obj, nonfinite: str = "text"):
    """A copy of ``obj`` holding only JSON values: dict keys as strings, tuples as lists, numpy
    scalars as Python numbers, and a non-finite float as its text (``nonfinite="text"``) or None
    (``nonfinite="null"``). Other values are kept as they are.

    >>> json_safe({1: (float("nan"), np.int64(2)), "x": [np.float32("inf")]})
    {'1': ['nan', 2], 'x': ['inf']}
    >>> json_safe([float("-inf"), 0.5], nonfinite="null")
    [None, 0.5]
    """
    if nonfinite not in NONFINITE:
        raise ValueError(f"json_safe: nonfinite must be one of {', '.join(NONFINITE)}, got {nonfinite!r}")
    if isinstance(obj, dict):
        return {str(k): json_safe(v, nonfinite) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v, nonfinite) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        if math.isfinite(v):
            return v
        return str(v) if nonfinite == "text" else None
    return obj


def read_number(v) -> float | None:
    """A number as :func:`json_safe` wrote it, as a float again: None stays None, and the text of a
    non-finite float (``"nan"``, ``"inf"``, ``"-inf"``) is read back by ``float()``.

    >>> [read_number(v) for v in (None, 3, "nan", "-inf")]
    [None, 3.0, nan, -inf]
    """
    return None if v is None else float(v)
