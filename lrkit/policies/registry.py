"""Name -> policy class registry. Every policy module registers its classes here."""

from __future__ import annotations

import difflib

from .base import PolicyError

REGISTRY: dict[str, type] = {}


def register(cls):
    """Class decorator: make ``cls`` reachable by its spec name (case-insensitive)."""
    key = cls.name.upper()
    if key in REGISTRY and REGISTRY[key] is not cls:
        raise RuntimeError(f"policy name {cls.name!r} registered twice")
    REGISTRY[key] = cls
    return cls


def lookup(name: str):
    """The policy class called ``name`` (any case); a clear error with a suggestion otherwise."""
    cls = REGISTRY.get(str(name).upper())
    if cls is not None:
        return cls
    names = sorted(c.name for c in REGISTRY.values())
    close = difflib.get_close_matches(str(name).upper(), [n.upper() for n in names], n=1, cutoff=0.5)
    hint = ""
    if close:
        hint = f"; did you mean {REGISTRY[close[0]].name!r}?"
    raise PolicyError(f"unknown policy {name!r}{hint} Known policies: {', '.join(names)}")


def names() -> list[str]:
    """Every registered spec name, in registration order."""
    return [c.name for c in REGISTRY.values()]
