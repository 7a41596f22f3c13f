"""Reproduce a paper table from its recipe in ``reproductions/`` (TOML), side by side with the paper.

- :mod:`~lrkit.reproduce.recipe` — recipes, rows, profiles (``quick``/``full``) and metrics, on the shared
  recipe model of :mod:`lrkit.recipes`;
- :mod:`lrkit.run` — the execution layer the runner plans for (run store, executors, database);
- :mod:`~lrkit.reproduce.runner` — :func:`reproduce`: run a table, write ``results.json``,
  ``table.md`` and ``curves.png``;
- :mod:`~lrkit.reproduce.report` — the Markdown table (:mod:`lrkit.recipes.render`) and the plots;
- :mod:`~lrkit.reproduce.checks` — the paper's claims checked on a table's rows.
"""

from lrkit.reproduce.recipe import METRICS, PROFILES, Recipe, get_recipe, list_recipes, load_recipe, recipes_dir, row_key
from lrkit.reproduce.report import iterations_to_target, markdown, summarise
from lrkit.reproduce.runner import load_results, reproduce
from lrkit.run.store import RunStore
from lrkit.train.config import run_key

__all__ = ["METRICS", "PROFILES", "Recipe", "RunStore", "get_recipe", "iterations_to_target", "list_recipes",
           "load_recipe", "load_results", "markdown", "recipes_dir", "reproduce", "row_key", "run_key", "summarise"]
