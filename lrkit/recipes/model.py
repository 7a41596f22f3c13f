"""What every recipe is, whatever it reproduces (a table of runs, a search, LLM fine-tuning).

A recipe is a TOML file that names the paper's experiment (``id``, ``title``, ``source``, ``claim``),
its profiles (:mod:`lrkit.recipes.profiles`), the paper's numbers (inline or from ``lrkit/db/published``)
and the paper's claims (``[[checks]]``, :mod:`lrkit.recipes.claims`). Each family subclasses
:class:`Recipe` with what is its own — table rows and metrics, search spaces, LLM evaluation settings —
and implements :meth:`Recipe.plan`: what a profile runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .profiles import Profile, pick

#: the keys that name a recipe's experiment, whatever its family
NAMING_KEYS = ("id", "title", "source", "published", "claim")
#: the keys every recipe may have (a family lists its own between the naming keys and these last two)
COMMON_KEYS = (*NAMING_KEYS, "profiles", "checks")


@dataclass(kw_only=True)
class Recipe:
    """The part of a recipe every family shares. ``where`` names it in errors (``recipe <file>``)."""

    id: str
    title: str
    source: str
    profiles: dict[str, Profile]
    claim: str = ""
    path: str = ""
    checks: list = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"recipe {self.path or self.id}"

    def get_profile(self, name: str) -> Profile:
        """The profile ``name``; an unknown name is one line listing the recipe's profiles."""
        return pick(f"recipe {self.id}", self.profiles, name)

    def plan(self, profile: str) -> list:
        """What ``profile`` runs: the tasks (table and search recipes) or the fine-tuning runs (LLM recipes)."""
        raise NotImplementedError(f"{type(self).__name__} does not plan")
