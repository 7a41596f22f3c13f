"""The LLM fine-tuning recipe (``reproductions/llm/*.toml``, 000 Table V) on the shared recipe model.

What is its own: ``tasks`` (the evaluation tasks, Table V's columns), ``[finetune]`` (the
:class:`~lrkit.llm.finetune.FinetuneConfig` fields every profile shares), ``[[rows]]`` (a ``key``, a
``label`` and a ``policy`` each; the paper's per-epoch scores inline as ``paper`` or, with ``published``,
from ``lrkit/db/published``), ``baseline_label`` and ``paper_baseline``. A profile sets FinetuneConfig
fields and ``rows`` (the policies it runs), ``staged`` and ``score_epochs`` (:mod:`lrkit.llm.staged`).
The paper's claims (``[[checks]]``) compare scores: a group names a ``run`` (a row key, or
``"baseline"``; a group written as a string is one), a ``task`` and a ``stage`` (``"epoch 3"``, or
``"last"``: each run's last scored epoch). The recipe reads as its TOML (``recipe["rows"]``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from lrkit.recipes import Recipe, check_keys, published_scores, read_profiles, read_toml, validate_claims
from lrkit.recipes.model import NAMING_KEYS

PROFILES = ("quick", "cpu-small", "cpu", "full")
#: profile keys that are not FinetuneConfig fields: ``rows`` (the policies it runs), ``staged`` (score
#: every stage and task on its own, resumable: :mod:`lrkit.llm.staged`) and, with ``staged``,
#: ``score_epochs`` (the epochs scored; default all)
PROFILE_ONLY = ("rows", "staged", "score_epochs")
TOP_KEYS = (*NAMING_KEYS, "baseline_label", "tasks", "finetune", "rows", "paper_baseline", "profiles", "checks")
ROW_KEYS = ("label", "key", "policy", "paper")
GROUP_KEYS = ("run", "task", "stage")


def recipe_path() -> Path:
    env = os.environ.get("LRKIT_REPRODUCTIONS_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "reproductions"
    p = root / "llm" / "table5_llm_finetune.toml"
    if not p.exists():
        raise FileNotFoundError(f"no Table V recipe at {p}; set LRKIT_REPRODUCTIONS_DIR to the reproductions/ folder")
    return p


def _finetune_fields() -> list[str]:
    from .finetune import FinetuneConfig

    return [f.name for f in fields(FinetuneConfig)]


@dataclass(kw_only=True)
class LLMRecipe(Recipe):
    """An LLM fine-tuning recipe: ``data`` is its TOML as read (the paper's numbers filled in), which
    ``recipe[key]`` reads."""

    data: dict

    def __getitem__(self, key):
        return self.data[key]

    def __setitem__(self, key, value):
        self.data[key] = value

    def __contains__(self, key) -> bool:
        return key in self.data

    def get(self, key, default=None):
        return self.data.get(key, default)

    def plan(self, profile: str, **overrides) -> list[dict]:
        """The fine-tuning runs of ``profile``: per row it runs, ``{"row", "config"}`` (FinetuneConfig fields)."""
        cfg = profile_config(self, profile, **overrides)
        return [{"row": r, "config": {**cfg, "policy": r["policy"], "label": r["label"]}}
                for r in self["rows"] if r["key"] in profile_rows(self, profile)]


def load_recipe(path=None) -> LLMRecipe:
    """The recipe at ``path`` (default: :func:`recipe_path`), every key checked."""
    path = Path(path or recipe_path())
    d = read_toml(path)
    where = f"recipe {path}"
    check_keys(where, d, TOP_KEYS, "the recipe")
    for k in ("id", "title", "tasks", "rows", "profiles"):
        if k not in d:
            raise ValueError(f"{where}: missing key {k!r}")
    ft = _finetune_fields()
    check_keys(where, d.get("finetune", {}), ft, "[finetune]")
    check_keys(where, d.get("paper_baseline", {}), ("scores",), "[paper_baseline]")
    profiles = read_profiles(where, d["profiles"], [*PROFILE_ONLY, *ft])
    published = published_scores(d["published"], d["tasks"]) if "published" in d else None
    for i, r in enumerate(d["rows"]):
        check_keys(where, r, ROW_KEYS, f"rows[{i}]")
        for k in ("key", "label", "policy"):
            if k not in r:
                raise ValueError(f"{where}: rows[{i}] needs field '{k}'")
        if "paper" not in r and published is not None:
            if r["label"] not in published["rows"]:
                raise ValueError(f"{where}: rows[{i}] label {r['label']!r} is no row of {d['published']}; "
                                 f"allowed: {', '.join(published['rows'])}")
            r["paper"] = published["rows"][r["label"]]
    if published is not None and published["baseline"] is not None:
        d.setdefault("paper_baseline", {}).setdefault("scores", published["baseline"])
    keys = [r["key"] for r in d["rows"]]

    def check_group(at: str, group: dict) -> None:
        runs = group.get("run", [])
        bad = [r for r in (runs if isinstance(runs, list) else [runs]) if r not in [*keys, "baseline"]]
        if bad or ("task" in group and group["task"] not in d["tasks"]):
            raise ValueError(f"{at}: field 'run' must name rows ({', '.join(keys)}, baseline) and 'task' one of "
                             f"{', '.join(d['tasks'])}, got {group!r}")

    checks = validate_claims(d.get("checks", []), where, GROUP_KEYS, "run", check_group)
    return LLMRecipe(id=d["id"], title=d["title"], source=d.get("source", ""), claim=d.get("claim", ""), path=str(path),
                     profiles=profiles, checks=checks, data=d)


def profile_config(recipe, profile: str, **overrides) -> dict:
    """The FinetuneConfig fields of a profile: the recipe's [finetune] block, the profile (less its
    ``rows``, see :func:`profile_rows`), then overrides."""
    if profile not in recipe["profiles"]:
        raise ValueError(f"table5: field 'profile' must be one of {', '.join(recipe['profiles'])}, got {profile!r}")
    cfg = {**recipe.get("finetune", {}),
           **{k: v for k, v in recipe["profiles"][profile].items() if k not in PROFILE_ONLY}}
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    cfg["eval_tasks"] = list(recipe["tasks"])
    return cfg


def check_rows(recipe, rows, field: str, allow_empty: bool = False) -> list[str]:
    """``rows`` if every key names a row of the recipe, else a ValueError naming ``field`` and the keys."""
    keys = [r["key"] for r in recipe["rows"]]
    bad = [r for r in rows if r not in keys]
    if bad or not (rows or allow_empty):
        raise ValueError(f"table5: {field} must name rows of the recipe ({', '.join(keys)}), got {bad or rows!r}")
    return list(rows)


def profile_rows(recipe, profile: str) -> list[str]:
    """The row keys a profile runs: its ``rows`` (a profile may run a subset: CI's quick does), else all."""
    rows = recipe["profiles"].get(profile, {}).get("rows", [r["key"] for r in recipe["rows"]])
    return check_rows(recipe, rows, f"field 'rows' of profile {profile!r}")


def score_epochs(recipe, profile, epochs: int) -> list:
    """The epochs a staged profile scores: its ``score_epochs``, else all; a bad entry raises, naming the field."""
    chosen = recipe["profiles"][profile].get("score_epochs", list(range(1, epochs + 1)))
    if not chosen or any(isinstance(e, bool) or not isinstance(e, int) or not 1 <= e <= epochs for e in chosen):
        raise ValueError(f"table5: field 'score_epochs' of profile {profile!r} must list epochs among 1..{epochs}, "
                         f"got {chosen!r}")
    return sorted(set(chosen))
