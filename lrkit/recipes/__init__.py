"""The recipe model every reproduction shares: table recipes (:mod:`lrkit.reproduce`), search recipes
(:mod:`lrkit.tune`) and LLM recipes (:mod:`lrkit.llm`).

- :mod:`~lrkit.recipes.keys` — strict keys: an unknown key is one line naming it, the file and the allowed keys;
- :mod:`~lrkit.recipes.profiles` — profiles and their time scale;
- :mod:`~lrkit.recipes.model` — :class:`Recipe`, whose :meth:`~Recipe.plan` gives what a profile runs;
- :mod:`~lrkit.recipes.published` — the paper's numbers from ``lrkit/db/published``;
- :mod:`~lrkit.recipes.claims` — the paper's claims checked on our values, with margin and seeds;
- :mod:`~lrkit.recipes.render` — the one ours-vs-paper Markdown renderer.
- :mod:`~lrkit.recipes.figures` — how every family's figure is finished (title, layout, saved).
"""

from lrkit.recipes.claims import check_claims, markdown_lines, validate_claims
from lrkit.recipes.keys import RecipeError, check_keys, read_toml
from lrkit.recipes.model import COMMON_KEYS, NAMING_KEYS, Recipe
from lrkit.recipes.profiles import Profile, read_profiles
from lrkit.recipes.published import published_rows, published_scores, published_table
from lrkit.recipes.render import Report, cell, render, table_lines

__all__ = ["COMMON_KEYS", "NAMING_KEYS", "Profile", "Recipe", "RecipeError", "Report", "cell", "check_claims", "check_keys",
           "markdown_lines", "published_rows", "published_scores", "published_table", "read_profiles", "read_toml",
           "render", "table_lines", "validate_claims"]
