"""Profiles: the named budgets of a recipe (``quick`` for CI, ``full`` the paper's, others between), each
with its time scale.

A profile is the TOML table as written (a dict, so a family reads its own keys from it) plus its name and
``time_scale``: the factor every time parameter of the paper's set-up is multiplied by — iterations, the
eval interval and each policy's time parameters (:meth:`lrkit.policies.Policy.rescale_time`), so the same
curves run on a shorter budget. 1 is the paper's budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .keys import RecipeError, check_keys, is_number


class Profile(dict):
    """One profile: its keys as written, with ``name`` and ``time_scale`` (default 1)."""

    def __init__(self, name: str, table: Mapping):
        super().__init__(table)
        self.name = name

    @property
    def time_scale(self) -> float:
        return float(self.get("time_scale", 1.0))

    def scaled(self, n: int) -> int:
        """``n`` iterations at this profile's time scale (at least 1)."""
        return max(1, int(round(n * self.time_scale)))

    def settings(self, exclude: Iterable[str] = ()) -> dict:
        """The keys that set the run (the profile less ``time_scale`` and the keys in ``exclude``)."""
        skip = {"time_scale", *exclude}
        return {k: v for k, v in self.items() if k not in skip}


def read_profiles(where: str, profiles, allowed: Iterable[str], required: Iterable[str] = (),
                  names: Iterable[str] | None = None) -> dict[str, Profile]:
    """The ``[profiles.*]`` tables of a recipe, each checked: only ``allowed`` keys, a ``time_scale`` in (0, 1].

    required: profiles every recipe of the family has; names: the only profile names allowed (None: any).
    """
    allowed = list(allowed)
    if names is not None:
        check_keys(where, profiles, list(names), "[profiles]")
    elif not isinstance(profiles, Mapping):
        raise RecipeError(where, f"[profiles] must be a table, got {profiles!r}")
    missing = [p for p in required if p not in profiles]
    if missing:
        raise RecipeError(where, f"missing profile(s) {', '.join(missing)}; a recipe has {', '.join(required)}")
    out = {}
    for name, table in profiles.items():
        check_keys(where, table, allowed, f"[profiles.{name}]")
        scale = table.get("time_scale", 1.0)
        if not is_number(scale) or not 0 < scale <= 1:
            raise RecipeError(where, f"field 'time_scale' of [profiles.{name}] must be a number in (0, 1], got {scale!r}")
        out[name] = Profile(name, table)
    return out


def pick(where: str, profiles: Mapping[str, Profile], name: str) -> Profile:
    """The profile ``name``, or a :class:`RecipeError` naming the profiles there are."""
    if name not in profiles:
        raise RecipeError(where, f"field 'profile' must be one of {', '.join(profiles)}, got {name!r}")
    return profiles[name]
