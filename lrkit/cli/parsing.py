"""Command-line values: the one error for bad input and the number parser the subcommands share.

A subcommand catches :class:`BadInput`, prints ``lrkit <command>: <message>`` to stderr and exits
with status 2; the message names the option and the values it allows.
"""

from __future__ import annotations

import math


class BadInput(ValueError):
    """A command-line value that is not allowed (the message names the option and what it allows)."""


def number(option: str, text, kind=float, positive: bool = True):
    """``text`` as the value of ``option``: ``kind`` is ``int`` or ``float``, or None for an int when
    written as one (``"500"``) and a float otherwise (``"0.5"``, ``"1e3"``). NaN is never a value;
    ``positive`` requires > 0. Raises :class:`BadInput` naming the option.

    >>> number("--iters", "500", int), number("--param k", "1e3", None), number("--param l", "20", None)
    (500, 1000.0, 20)
    """
    what = "an integer" if kind is int else "a number"
    try:
        if kind is None:
            v = float(text)
            if v.is_integer() and "." not in str(text) and "e" not in str(text).lower():
                v = int(v)
        else:
            v = kind(text)
    except (TypeError, ValueError, OverflowError):
        raise BadInput(f"{option} must be {what}{' > 0' if positive else ''}, got {text!r}") from None
    if isinstance(v, float) and math.isnan(v):
        raise BadInput(f"{option} must be a number, got {text!r}")
    if positive and not v > 0:
        raise BadInput(f"{option} must be > 0, got {text!r}")
    return v
