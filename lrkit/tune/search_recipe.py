"""Search recipes: loading one under a profile into its :class:`~lrkit.tune.search.Search` es
(the format is in :mod:`lrkit.tune.recipe`; running and comparing in :mod:`lrkit.tune.recipe_compare`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from lrkit.recipes import validate_claims, Recipe, RecipeError, check_keys, read_profiles, read_toml
from lrkit.recipes.keys import is_number as _is_num
from lrkit.recipes.model import NAMING_KEYS

from .search import Search, SearchResult
from .space import Trial, grid_trials, random_trials

PROFILES = ("quick", "full")
METHODS = ("grid", "random", "follow_up")
TOP_KEYS = (*NAMING_KEYS, "objective", "target_acc", "task", "searches", "paper", "profiles", "checks")
REQUIRED = ("id", "title", "task", "searches", "profiles")
SEARCH_KEYS = {
    "grid": ("name", "method", "policies", "params", "lams", "repeats"),
    "random": ("name", "method", "policies", "ranges", "lam_range", "samples", "seed", "redraw", "repeats"),
    "follow_up": ("name", "method", "of", "policy", "lam", "param", "values", "repeats"),
}
OVERRIDE_KEYS = {
    "grid": ("lams", "params", "only", "repeats"),
    "random": ("lam_range", "ranges", "samples", "seed", "only", "repeats"),
    "follow_up": ("lam", "values", "repeats"),
}
PROFILE_KEYS = ("time_scale", "repeats", "searches")  # besides TrainConfig fields
PAPER_KEYS = ("search", "label", "note", "policy", "lam", "value", "highest_top1", "std", "repeats", "above", "below")
PER_TRIAL = ("policy", "seed", "threads", "target_acc", "stop_at_target")  # set by the search, not the task
#: what a claim's group may name: a search as a whole (``search`` alone), or a cell of it
GROUP_KEYS = ("search", "policy", "lam", "value")


def search_recipes_dir() -> Path:
    """``LRKIT_SEARCH_RECIPES_DIR``, or ``reproductions/search/`` of this checkout."""
    env = os.environ.get("LRKIT_SEARCH_RECIPES_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "reproductions" / "search"
    if not path.is_dir():
        raise FileNotFoundError(f"no search recipes folder at {path}; set LRKIT_SEARCH_RECIPES_DIR")
    return path


def list_search_recipes() -> dict[str, Path]:
    """Recipe id → file, for every ``*.toml`` of :func:`search_recipes_dir`."""
    return {read_toml(p, "search recipe").get("id", p.stem): p for p in sorted(search_recipes_dir().glob("*.toml"))}


def _find(path_or_id) -> Path:
    p = Path(path_or_id)
    if p.suffix == ".toml" or p.is_file():
        if not p.is_file():
            raise FileNotFoundError(f"search recipe {p} does not exist")
        return p
    recipes = list_search_recipes()
    for rid, path in recipes.items():
        if str(path_or_id) in (rid, path.stem):
            return path
    raise ValueError(f"unknown search recipe {path_or_id!r}; available: "
                     + ", ".join(f"{rid} ({p.stem})" for rid, p in recipes.items()))


# ---- the recipe --------------------------------------------------------------------------------

@dataclass(kw_only=True)
class SearchRecipe(Recipe):
    """A loaded recipe under one profile: what its searches are and what the paper reports.

    ``searches``: name → the search's fields after the profile's overrides (policies at the paper's
    budget); ``points``: name → per trial, the follow-up parameter value (None elsewhere);
    ``deferred``: follow-ups whose λ is "best", built by :func:`~lrkit.tune.recipe_compare.run_search_recipe`
    once their ``of`` search has run."""

    published: str | None
    profile: str
    time_scale: float
    task: dict
    objective: str
    target_acc: float | None
    searches: dict
    paper: list
    points: dict = field(default_factory=dict)
    deferred: list = field(default_factory=list)

    def plan(self, profile: str | None = None, device: str | None = None) -> list[Search]:
        """The searches ``profile`` (default: the one loaded) runs that can be built before any runs."""
        return load_search_recipe(self.path, profile or self.profile, device=device)[0]

    def search_name(self, name: str) -> str:
        return f"{self.id}-{name}"

    def budget(self) -> str:
        """The task in words: iterations, eval interval, time scale, optimizer, batch, model/data, device."""
        from lrkit.train import TrainConfig

        t = {**{k: getattr(TrainConfig, k) for k in ("optimizer", "batch_size", "model", "device")}, **self.task}
        return (f"{t['iters']:,} iterations per trial, test every {t['eval_every']:,} (time x{self.time_scale:g}); "
                f"{t['optimizer']}, batch {t['batch_size']}, {t['model']}/{t['dataset']}, device {t['device']}")

    def describe(self, searches: list[Search] | None = None) -> str:
        """A markdown table: each search's method, trials, λ, repeats and the budget."""
        built = {s.name: s for s in searches or []}
        lines = [f"Profile **{self.profile}**: {self.budget()}.", "",
                 "| search | method | trials | policies | λ | repeats |", "| --- | --- | --- | --- | --- | --- |"]
        for name, s in self.searches.items():
            b = built.get(self.search_name(name))
            n = len(b.trials) if b else "after " + s["of"]
            if s["method"] == "grid":
                lam = ", ".join(f"{x:g}" for x in s["lams"]) if s.get("lams") else "1"
            elif s["method"] == "random":
                r = s.get("lam_range")
                lam = f"{s['samples']} drawn from [{r[0]:g}, {r[1]:g}] ({r[2] if len(r) > 2 else 'log'})" if r else "1"
            else:
                lam = str(s["lam"])
            if s["method"] == "follow_up":
                pols = f"{s['policy']} ({s['param']} ∈ {', '.join(f'{v:g}' for v in s['values'])})"
            else:
                pols = ", ".join(_name(p) for p in s["policies"])
            lines.append(f"| {name} | {s['method']} | {n} | {pols} | {lam} | {s.get('repeats', 1)} |")
        return "\n".join(lines)


def _name(spec: str) -> str:
    from lrkit.policies import parse

    return parse(spec).name


def _err(path, msg: str) -> ValueError:
    return RecipeError(f"search recipe {path}", msg)


def _check_keys(path, where: str, d, allowed) -> None:
    check_keys(f"search recipe {path}", d, allowed, where)


def _repeats(path, where: str, n) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise _err(path, f"field 'repeats' of {where} must be an int >= 1, got {n!r}")
    return n


def load_search_recipe(path_or_id, profile: str = "quick", device: str | None = None) -> tuple[list[Search], SearchRecipe]:
    """The :class:`Search` es of a recipe under ``profile`` (those that can be built before any runs:
    all but follow-ups at the "best" λ), and the :class:`SearchRecipe`. ``device``: the TrainConfig
    device of every trial (default: the task's, i.e. cpu)."""
    from lrkit.policies import parse
    from lrkit.train import TrainConfig

    path = _find(path_or_id)
    d = read_toml(path, "search recipe")
    where = f"search recipe {path}"
    _check_keys(path, "the recipe", d, TOP_KEYS)
    for k in REQUIRED:
        if k not in d:
            raise _err(path, f"missing key {k!r}")
    train_fields = sorted(f for f in TrainConfig.__dataclass_fields__ if f not in PER_TRIAL)
    profiles = read_profiles(where, d["profiles"], list(PROFILE_KEYS) + train_fields, required=PROFILES, names=PROFILES)
    if profile not in profiles:
        raise _err(path, f"field 'profile' must be one of {', '.join(PROFILES)}, got {profile!r}")
    prof = dict(profiles[profile])
    scale = profiles[profile].time_scale
    # task
    _check_keys(path, "[task]", d["task"], train_fields)
    task = dict(d["task"])
    task.setdefault("iters", TrainConfig.iters)
    task.setdefault("eval_every", TrainConfig.eval_every)
    for k in ("iters", "eval_every"):
        task[k] = prof[k] if k in prof else profiles[profile].scaled(task[k])
    task.update({k: v for k, v in prof.items() if k not in PROFILE_KEYS and k not in ("iters", "eval_every")})
    if device is not None:
        task["device"] = device
    # searches
    if not isinstance(d["searches"], list) or not d["searches"]:
        raise _err(path, "'searches' must be a non-empty array of tables ([[searches]])")
    specs: dict[str, dict] = {}
    for i, s in enumerate(d["searches"]):
        if not isinstance(s, Mapping) or s.get("method") not in METHODS:
            got = s.get("method") if isinstance(s, Mapping) else s
            raise _err(path, f"searches[{i}]: field 'method' must be one of {', '.join(METHODS)}, got {got!r}")
        _check_keys(path, f"searches[{i}] (method {s['method']})", s, SEARCH_KEYS[s["method"]])
        name = s.get("name")
        if not isinstance(name, str) or not name or name in specs:
            raise _err(path, f"searches[{i}]: field 'name' must be a unique non-empty string, got {name!r}")
        specs[name] = dict(s)
    for pname, p in d["profiles"].items():
        _check_keys(path, f"[profiles.{pname}.searches]", p.get("searches", {}), list(specs))
        for name, o in p.get("searches", {}).items():
            _check_keys(path, f"[profiles.{pname}.searches.{name}]", o, OVERRIDE_KEYS[specs[name]["method"]])
    overrides = prof.get("searches", {})
    for name, s in specs.items():
        if "repeats" in prof:
            s["repeats"] = prof["repeats"]
        s.update(overrides.get(name, {}))
        s["repeats"] = _repeats(path, f"search {name!r}", s.get("repeats", 1))
        if s["method"] != "follow_up":
            pols = s.get("policies")
            if isinstance(pols, str) or not isinstance(pols, list) or not pols:
                raise _err(path, f"search {name!r}: field 'policies' must be a non-empty list of policy specs, got {pols!r}")
            try:
                names = [parse(p).name for p in pols]
            except Exception as e:  # noqa: BLE001 - PolicyError and friends, re-raised with the place
                raise _err(path, f"search {name!r}: {e}") from e
            only = s.pop("only", None)
            if only is not None:
                unknown = [n for n in only if n not in names]
                if unknown:
                    raise _err(path, f"search {name!r}: 'only' names policies not in the search: {unknown}; "
                                     f"allowed: {', '.join(names)}")
                s["policies"] = [p for p, n in zip(pols, names) if n in only]
    for name, s in specs.items():
        if s["method"] != "follow_up":
            continue
        for k in ("of", "policy", "lam", "param", "values"):
            if k not in s:
                raise _err(path, f"follow-up {name!r}: missing field {k!r}")
        of = specs.get(s["of"])
        if of is None or of["method"] == "follow_up":
            raise _err(path, f"follow-up {name!r}: field 'of' must name a grid or random search, got {s['of']!r}")
        matches = [p for p in d["searches"][list(specs).index(s["of"])]["policies"] if _name(p) == s["policy"]]
        if len(matches) != 1:
            raise _err(path, f"follow-up {name!r}: search {s['of']!r} has {len(matches)} policies named "
                             f"{s['policy']!r}; allowed: {', '.join(_name(p) for p in of['policies'])}")
        s["base_policy"] = matches[0]
        if s["lam"] != "best" and not (_is_num(s["lam"]) and s["lam"] > 0):
            raise _err(path, f"follow-up {name!r}: field 'lam' must be a number > 0 or \"best\", got {s['lam']!r}")
        if not isinstance(s["values"], list) or not s["values"] or not all(_is_num(v) for v in s["values"]):
            raise _err(path, f"follow-up {name!r}: field 'values' must be a non-empty list of numbers, got {s['values']!r}")
    # paper
    paper = d.get("paper", [])
    for i, p in enumerate(paper):
        _check_keys(path, f"paper[{i}]", p, PAPER_KEYS)
        if p.get("search") not in specs:
            raise _err(path, f"paper[{i}]: field 'search' must name a search ({', '.join(specs)}), got {p.get('search')!r}")
        given = [k for k in ("highest_top1", "above", "below") if k in p]
        if len(given) != 1 or not _is_num(p[given[0]]):
            raise _err(path, f"paper[{i}]: give exactly one number of highest_top1, above, below (percent)")

    def check_group(at: str, group: dict) -> None:  # a claim's group names one of the recipe's searches
        if group.get("search") not in specs:
            raise ValueError(f"{at}: field 'search' must name a search ({', '.join(specs)}), got {group.get('search')!r}")

    checks = validate_claims(d.get("checks", []), where, GROUP_KEYS, "search", check_group)
    recipe = SearchRecipe(id=d["id"], title=d["title"], source=d.get("source", ""), claim=d.get("claim", ""),
                          published=d.get("published"), path=str(path), profiles=profiles, checks=checks,
                          profile=profile, time_scale=float(scale), task=task,
                          objective=d.get("objective", "highest_acc"), target_acc=d.get("target_acc"),
                          searches=specs, paper=list(paper))
    searches = []
    for name, s in specs.items():
        if s["method"] == "follow_up" and s["lam"] == "best":
            recipe.deferred.append(name)
            continue
        try:
            searches.append(_build(recipe, name, s["lam"] if s["method"] == "follow_up" else None))
        except ValueError as e:
            raise _err(path, f"search {name!r}: {e}") from e
    return searches, recipe


def _rescaled(trials: list[Trial], scale: float) -> list[Trial]:
    from lrkit.policies import parse

    if scale == 1.0:
        return trials
    memo: dict[str, str] = {}
    for t in trials:
        if t.policy not in memo:
            memo[t.policy] = str(parse(t.policy).rescale_time(scale))
    return [Trial(memo[t.policy], t.lam, t.seed) for t in trials]


def _build(recipe: SearchRecipe, name: str, lam=None) -> Search:
    """The Search ``name`` of ``recipe`` (a follow-up at λ = ``lam``): trials at the paper's budget,
    then rescaled to the profile."""
    s = recipe.searches[name]
    seeds = list(range(s["repeats"]))
    values = None
    if s["method"] == "grid":
        trials = grid_trials(s["policies"], s.get("params"), s.get("lams"), seeds=seeds)
    elif s["method"] == "random":
        ranges = {k: tuple(v) for k, v in (s.get("ranges") or {}).items()}
        lam_range = tuple(s["lam_range"]) if s.get("lam_range") is not None else None
        seed = s.get("seed", 0)
        if s.get("redraw", True):
            trials = [t for r in seeds for t in random_trials(s["policies"], ranges, lam_range, s.get("samples", 5),
                                                               seed=seed + r, seeds=(r,))]
        else:
            trials = random_trials(s["policies"], ranges, lam_range, s.get("samples", 5), seed=seed, seeds=seeds)
    else:
        trials = grid_trials([s["base_policy"]], {s["param"]: s["values"]}, [lam], seeds=seeds)
        values = [v for v in s["values"] for _ in seeds]
    recipe.points[name] = values or [None] * len(trials)
    return Search(dict(recipe.task), _rescaled(trials, recipe.time_scale), objective=recipe.objective,
                  target_acc=recipe.target_acc, name=recipe.search_name(name))


def best_lam(result: SearchResult, policy: str) -> float:
    """The λ of the best (policy, λ) of ``result`` among the policies named ``policy``."""
    top = result.top_k(len(result.summary()))
    top = top[[_name(p) == policy for p in top["policy"]]].dropna(subset=["mean_top1"])
    if top.empty:
        raise ValueError(f"no usable trial of {policy} in search {result.search.name}")
    return float(top["lam"].iloc[0])
