"""Strict recipe keys: a key a recipe does not know is one line naming the key, the file and the allowed keys."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path


class RecipeError(ValueError):
    """A recipe that cannot be used, said in one line: ``<what> <file>: <why>``."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")


def read_toml(path: str | Path, what: str = "recipe") -> dict:
    """The TOML file at ``path``; a syntax error names the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"{what} {path}", f"not valid TOML: {e}") from e


def check_keys(where: str, table, allowed: Iterable[str], name: str) -> None:
    """Raise a :class:`RecipeError` unless ``table`` is a table whose keys are all in ``allowed``.

    where: the recipe (``"recipe reproductions/x.toml"``); name: the table in it (``"[profiles.quick]"``).
    """
    allowed = list(allowed)
    if not isinstance(table, Mapping):
        raise RecipeError(where, f"{name} must be a table, got {table!r}")
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise RecipeError(where, f"unknown key {unknown[0]!r} in {name}; allowed: {', '.join(allowed)}")


def require(where: str, table: Mapping, keys: Iterable[str], name: str = "the recipe") -> None:
    """Raise a :class:`RecipeError` naming the first of ``keys`` that ``table`` lacks."""
    for k in keys:
        if k not in table:
            raise RecipeError(where, f"missing key {k!r}" + ("" if name == "the recipe" else f" in {name}"))


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
