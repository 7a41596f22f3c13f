"""Search recipes: a paper's tuning experiment as a TOML file — the task, the searches, the paper's
numbers — with ``quick`` and ``full`` profiles (000 Table IV and Fig. 6).

The recipes live in ``reproductions/search/`` (beside, not among, the table recipes of
:mod:`lrkit.reproduce`, which loads every ``reproductions/*.toml`` as a table). A recipe is named by
its ``id`` (``"000-table-iv"``, ``"000-fig6"``), its file stem (``"000_table4_lambda_search"``) or a
path to a ``.toml`` file.

    searches, recipe = load_search_recipe("000-table-iv", "quick")   # the Searches, and what they reproduce
    run = run_search_recipe("000-table-iv", "quick", db="sqlite:///out/t4/lrkit.db", out="out/t4")
    run.comparison          # ours vs the paper (a DataFrame); run.markdown, out/comparison.md
    run.results["grid"]     # a SearchResult per search; saved under out/<search name>/

Format (every table rejects keys it does not know, naming them and the allowed ones)::

    id, title, source, claim     strings; ``published``: the lrkit/db/published/ file of the paper's numbers
    objective, target_acc        of every search (see lrkit.tune.search.OBJECTIVES)
    [task]                       TrainConfig fields of every trial (not policy, seed, threads)
    [[searches]]                 name, method and the method's fields, ``repeats`` (seeds 0..repeats-1):
        method = "grid"          policies, lams, params = {name = [values]}
        method = "random"        policies, lam_range = [lo, hi, "log"|"linear"], ranges = {name = [lo, hi, scale]},
                                 samples, seed, redraw (default true: repeat r draws its own points with seed + r)
        method = "follow_up"     of (a grid/random search), policy (a policy name of it), lam (a number, or
                                 "best": that policy's best λ in ``of``, known once ``of`` has run),
                                 param (a policy parameter, or "ratio" = k1/k0), values
    [[paper]]                    search, label, note, and what the paper reports (percent): highest_top1 [, std,
                                 repeats], or a bound ``above`` / ``below``; at a point (policy name, lam, value
                                 of a follow-up) or, with none of these, for the search as a whole: the best
                                 trial of each repeat, mean ± std over the repeats (000 Table IV)
    [profiles.quick|full]        time_scale, repeats, TrainConfig fields (iters, eval_every, ...), and
                                 searches.<name> = {...}: lams, params, only (policy names kept) for a grid;
                                 lam_range, ranges, samples, seed, only for a random search; lam, values for a
                                 follow-up; repeats for any

Policies and time parameters are written at the paper's budget (iterations); a profile's
``time_scale`` multiplies the task's iterations and eval interval (unless the profile sets them) and
rescales every trial's policy with :meth:`lrkit.policies.Policy.rescale_time`, so the same curves run
on a shorter budget. Search names are ``<recipe id>-<search name>`` (the database source is
``tune:<that>``).
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd

from .search import USABLE, Search, SearchResult, run_search
from .space import Trial, grid_trials, random_trials

PROFILES = ("quick", "full")
METHODS = ("grid", "random", "follow_up")
TOP_KEYS = ("id", "title", "source", "published", "claim", "objective", "target_acc", "task", "searches", "paper",
            "profiles")
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


def search_recipes_dir() -> Path:
    """``LRKIT_SEARCH_RECIPES_DIR``, or ``reproductions/search/`` of this checkout."""
    env = os.environ.get("LRKIT_SEARCH_RECIPES_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "reproductions" / "search"
    if not path.is_dir():
        raise FileNotFoundError(f"no search recipes folder at {path}; set LRKIT_SEARCH_RECIPES_DIR")
    return path


def list_search_recipes() -> dict[str, Path]:
    """Recipe id → file, for every ``*.toml`` of :func:`search_recipes_dir`."""
    out = {}
    for p in sorted(search_recipes_dir().glob("*.toml")):
        with open(p, "rb") as f:
            out[tomllib.load(f).get("id", p.stem)] = p
    return out


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

@dataclass
class SearchRecipe:
    """A loaded recipe under one profile: what its searches are and what the paper reports.

    ``searches``: name → the search's fields after the profile's overrides (policies at the paper's
    budget); ``points``: name → per trial, the follow-up parameter value (None elsewhere);
    ``deferred``: follow-ups whose λ is "best", built by :func:`run_search_recipe` once their ``of``
    search has run."""

    id: str
    title: str
    source: str
    claim: str
    published: str | None
    path: str
    profile: str
    time_scale: float
    task: dict
    objective: str
    target_acc: float | None
    searches: dict
    paper: list
    points: dict = field(default_factory=dict)
    deferred: list = field(default_factory=list)

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
    return ValueError(f"search recipe {path}: {msg}")


def _check_keys(path, where: str, d, allowed) -> None:
    if not isinstance(d, Mapping):
        raise _err(path, f"{where} must be a table, got {d!r}")
    unknown = [k for k in d if k not in allowed]
    if unknown:
        raise _err(path, f"unknown key {unknown[0]!r} in {where}; allowed: {', '.join(allowed)}")


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


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
    with open(path, "rb") as f:
        d = tomllib.load(f)
    _check_keys(path, "the recipe", d, TOP_KEYS)
    for k in REQUIRED:
        if k not in d:
            raise _err(path, f"missing key {k!r}")
    # profiles
    _check_keys(path, "[profiles]", d["profiles"], PROFILES)
    missing = [p for p in PROFILES if p not in d["profiles"]]
    if missing:
        raise _err(path, f"missing profile(s) {', '.join(missing)}; a recipe has {', '.join(PROFILES)}")
    if profile not in PROFILES:
        raise _err(path, f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    train_fields = sorted(f for f in TrainConfig.__dataclass_fields__ if f not in PER_TRIAL)
    for pname, prof in d["profiles"].items():
        _check_keys(path, f"[profiles.{pname}]", prof, list(PROFILE_KEYS) + train_fields)
    prof = dict(d["profiles"][profile])
    # task
    _check_keys(path, "[task]", d["task"], train_fields)
    scale = prof.get("time_scale", 1.0)
    if not _is_num(scale) or not 0 < scale <= 1:
        raise _err(path, f"field 'time_scale' of [profiles.{profile}] must be a number in (0, 1], got {scale!r}")
    task = dict(d["task"])
    task.setdefault("iters", TrainConfig.iters)
    task.setdefault("eval_every", TrainConfig.eval_every)
    for k in ("iters", "eval_every"):
        task[k] = prof[k] if k in prof else max(1, int(round(task[k] * scale)))
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
    recipe = SearchRecipe(id=d["id"], title=d["title"], source=d.get("source", ""), claim=d.get("claim", ""),
                          published=d.get("published"), path=str(path), profile=profile, time_scale=float(scale),
                          task=task, objective=d.get("objective", "highest_acc"), target_acc=d.get("target_acc"),
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


# ---- running and comparing -------------------------------------------------------------------

@dataclass
class RecipeRun:
    """What :func:`run_search_recipe` gives back: the recipe, a :class:`SearchResult` per search
    (by the recipe's search names), the comparison with the paper (DataFrame and markdown), ``out``."""

    recipe: SearchRecipe
    results: dict
    comparison: pd.DataFrame
    markdown: str
    out: Path | None = None


def run_search_recipe(path_or_id, profile: str = "quick", executor: str = "local", db=None, out=None, *,
                      workers: int | None = None, resume: bool = True, progress: bool = True,
                      device: str | None = None, ray_options: dict | None = None) -> RecipeRun:
    """Run every search of a recipe in order (:func:`lrkit.tune.run_search`, recorded in ``db``: a
    Database, a URL, or None for the default database) and compare with the paper. With ``out``:
    each result saved under ``out/<search name>/`` (:meth:`SearchResult.save`), the comparison in
    ``out/comparison.md`` and ``out/comparison.json``."""
    from lrkit.db import Database

    searches, recipe = load_search_recipe(path_or_id, profile, device=device)
    if not isinstance(db, Database):
        db = Database(db)
    built = {s.name: s for s in searches}
    results: dict[str, SearchResult] = {}
    for name, s in recipe.searches.items():
        search = built.get(recipe.search_name(name))
        if search is None:  # a follow-up at the best λ of its 'of' search
            search = _build(recipe, name, best_lam(results[s["of"]], s["policy"]))
        results[name] = run_search(search, executor, workers=workers, db=db, resume=resume, progress=progress,
                                   ray_options=ray_options)
    table = compare(recipe, results)
    md = comparison_markdown(recipe, results, table)
    if out is not None:
        out = Path(out)
        import warnings

        with warnings.catch_warnings():  # SearchResult.save's heat map of a one-policy search is short
            warnings.filterwarnings("ignore", message="Tight layout not applied")
            for r in results.values():
                r.save(out / r.search.name)
        (out / "comparison.md").write_text(md + "\n")
        doc = {"recipe": recipe.id, "profile": profile, "title": recipe.title, "source": recipe.source,
               "task": recipe.task, "comparison": json.loads(table.to_json(orient="records"))}
        (out / "comparison.json").write_text(json.dumps(doc, indent=1))
    return RecipeRun(recipe, results, table, md, out)


def repeat_best(result: SearchResult) -> pd.DataFrame:
    """Per repeat (seed): the search's best trial — the λ (and policy) it would pick and its highest
    top-1 (NaN where every trial of the repeat diverged before a test)."""
    rows = []
    for seed, g in result.trials.groupby("seed", sort=True):
        ok = g[g["status"].isin(USABLE)].dropna(subset=["highest_top1"])
        if ok.empty:
            rows.append({"seed": seed, "lam": None, "policy": None, "highest_top1": float("nan"), "trials": len(g)})
            continue
        b = ok.loc[ok["highest_top1"].astype(float).idxmax()]
        rows.append({"seed": seed, "lam": b["lam"], "policy": b["policy"], "highest_top1": float(b["highest_top1"]),
                     "trials": len(g)})
    return pd.DataFrame(rows)


def _mean_std(x) -> tuple[float | None, float | None, int]:
    x = pd.Series(x, dtype=float).dropna()
    if x.empty:
        return None, None, 0
    return float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else None, len(x)


def _pm(m, s, n=None) -> str:
    if m is None:
        return "—"
    txt = f"{m:.2f}" + (f" ± {s:.2f}" if s is not None else "")
    return txt + (f" (n={n})" if n is not None else "")


def _point_trials(recipe: SearchRecipe, results: dict, p: dict) -> tuple[pd.DataFrame, str]:
    """The trials of ``results[p['search']]`` at the paper entry's point, and where they came from."""
    name = p["search"]
    spec = recipe.searches[name]
    df = results[name].trials.copy()
    df["value"] = recipe.points.get(name, [None] * len(df))[: len(df)]
    sel = pd.Series(True, index=df.index)
    if "policy" in p:
        sel &= df["policy"].map(_name) == p["policy"]
    if "lam" in p:
        sel &= df["lam"].map(lambda x: x is not None and x == x and math.isclose(x, p["lam"], rel_tol=1e-9))
    if "value" in p:
        sel &= df["value"].map(lambda v: v is not None and math.isclose(v, p["value"], rel_tol=1e-9))
    hit = df[sel]
    if hit.empty and spec["method"] == "follow_up" and "value" in p and spec["of"] in results:
        # the follow-up's own starting point is a cell of the search it follows up
        from lrkit.policies import parse

        base = parse(spec["base_policy"])
        here = base.k1 / base.k0 if spec["param"] == "ratio" else getattr(base, spec["param"], None)
        lam = results[name].search.trials[0].lam
        same_lam = "lam" not in p or math.isclose(p["lam"], lam, rel_tol=1e-9)
        if same_lam and _is_num(here) and math.isclose(here, p["value"], rel_tol=1e-9):
            of = dict(p, search=spec["of"], policy=spec["policy"], lam=lam)
            del of["value"]
            hit, _ = _point_trials(recipe, results, of)
            return hit, f"{spec['of']} cell"
    return hit, name


def compare(recipe: SearchRecipe, results: dict) -> pd.DataFrame:
    """One row per paper entry: the paper's number (percent) beside ours on this profile.

    A point (policy/λ/value) compares the mean highest top-1 of its trials; a search as a whole
    compares, as 000 Table IV, the best trial of each repeat: mean ± std over the repeats (and, for
    reference, the mean ± std over all its trials). ``holds``: whether ours meets a paper bound
    (above/below); None for numbers."""
    rows = []
    for p in recipe.paper:
        name = p["search"]
        if name not in results:
            continue
        point = any(k in p for k in ("policy", "lam", "value"))
        row = {"search": name, "label": p.get("label") or name, "policy": p.get("policy"), "lam": p.get("lam"),
               "value": p.get("value"), "statistic": "", "paper": "", "paper_top1": None,
               "paper_std": None, "ours": "", "ours_top1": None, "ours_std": None, "n": 0, "diverged": 0,
               "difference": None, "holds": None, "from": name}
        if point:
            hit, where = _point_trials(recipe, results, p)
            ok = hit[hit["status"].isin(USABLE)]
            m, s, n = _mean_std(ok["highest_top1"].astype(float) * 100)
            row.update(statistic="mean over its runs", ours_top1=m, ours_std=s, n=n,
                       diverged=int((hit["status"] == "diverged").sum()), **{"from": where})
            row["ours"] = "not in this profile" if hit.empty else ("diverged" if n == 0 else _pm(m, s, n))
        else:
            best = repeat_best(results[name])
            m, s, n = _mean_std(best["highest_top1"] * 100)
            t = results[name].trials
            am, asd, an = _mean_std(t[t["status"].isin(USABLE)]["highest_top1"].astype(float) * 100)
            lams = ", ".join(f"{x:.3g}" for x in best["lam"].dropna())
            row.update(statistic="best trial per repeat, mean ± std over repeats", ours_top1=m, ours_std=s, n=n,
                       diverged=int((t["status"] == "diverged").sum()),
                       ours=f"{_pm(m, s, n)}; λ picked: {lams or '—'}; all {an} trials: {_pm(am, asd)}")
        if "highest_top1" in p:
            row["paper_top1"], row["paper_std"] = p["highest_top1"], p.get("std")
            row["paper"] = _pm(p["highest_top1"], p.get("std")) + (f" (n={p['repeats']})" if "repeats" in p else "")
            if row["ours_top1"] is not None:
                row["difference"] = row["ours_top1"] - p["highest_top1"]
        elif "above" in p:
            row["paper"] = f"> {p['above']:.2f}"
            row["holds"] = None if row["ours_top1"] is None else row["ours_top1"] > p["above"]
        else:
            row["paper"] = f"< {p['below']:.2f}"
            row["holds"] = None if row["ours_top1"] is None else row["ours_top1"] < p["below"]
        rows.append(row)
    return pd.DataFrame(rows, columns=["search", "label", "policy", "lam", "value", "statistic", "paper", "paper_top1", "paper_std", "ours",
                                       "ours_top1", "ours_std", "n", "diverged", "difference", "holds", "from"])


def comparison_markdown(recipe: SearchRecipe, results: dict, table: pd.DataFrame | None = None, k: int = 5) -> str:
    """The comparison as markdown: ours vs the paper, then each search's Top-``k``."""
    table = compare(recipe, results) if table is None else table
    lines = [f"## {recipe.title}", "",
             f"Profile **{recipe.profile}**: {recipe.budget()}. Accuracies: highest test top-1, percent. "
             f"Paper: {recipe.source}.", "",
             "| paper's result | statistic | paper | ours | ours − paper | holds |", "| --- | --- | --- | --- | --- | --- |"]
    for _, r in table.iterrows():
        diff = "—" if r["difference"] is None or r["difference"] != r["difference"] else f"{r['difference']:+.2f}"
        holds = "—" if r["holds"] is None else ("yes" if r["holds"] else "no")
        src = "" if r["from"] == r["search"] else f" (the {r['from']})"
        lines.append(f"| {r['label']} | {r['statistic']}{src} | {r['paper']} | {r['ours']} | {diff} | {holds} |")
    for name, res in results.items():
        div = int((res.trials["status"] == "diverged").sum())
        failed = int((res.trials["status"] == "failed").sum())
        lines += ["", f"**{name}** ({res.search.name}, {len(res.trials)} trials, {div} diverged, {failed} failed) — "
                      f"Top-{min(k, len(res.summary()))}:", "", res.to_markdown(k)]
    return "\n".join(lines)


# ---- plots -------------------------------------------------------------------------------------

def plot_policy_lambda(run: RecipeRun, search: str = "grid", ax=None, title: str | None = None):
    """000 Fig. 6: the search's policies (by name) x λ, cells = mean highest top-1 (%); a cell whose
    runs all diverged before a test reads "diverged" (every cell of the grid is shown)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    s = run.results[search].summary()
    names = s["policy"].map(_name)
    if names.nunique() == s["policy"].nunique():
        s = s.assign(policy=names)
    s = s.assign(top1=s["mean_top1"].astype(float) * 100)
    table = s.pivot_table(index="policy", columns="lam", values="top1", aggfunc="mean", sort=False, dropna=False)
    table = table.reindex(index=list(dict.fromkeys(s["policy"])), columns=sorted(set(s["lam"])))
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 1.1 * table.shape[1], 1.2 + 0.45 * table.shape[0]))
    sns.heatmap(table.astype(float), annot=True, fmt=".2f", cmap="viridis", ax=ax, cbar_kws={"label": "top-1 (%)"},
                mask=table.isna())
    for i, pol in enumerate(table.index):
        for j, lam in enumerate(table.columns):
            if pd.isna(table.loc[pol, lam]):
                ax.text(j + 0.5, i + 0.5, "diverged", ha="center", va="center", fontsize=8, color="0.4")
    ax.set_xticks([j + 0.5 for j in range(table.shape[1])], [f"{x:g}" for x in table.columns])
    ax.set_yticks([i + 0.5 for i in range(table.shape[0])], list(table.index), rotation=0)
    ax.set_xlabel("λ (LR coefficient)")
    ax.set_ylabel("")
    ax.set_title(title or f"{run.recipe.id}: {search} ({run.recipe.profile} profile)")
    return ax


def plot_grid_vs_random(run: RecipeRun, searches=("grid", "random"), axes=None):
    """000 Table IV: left, every trial's highest top-1 against λ (diverged trials as x at the
    bottom), the best of each repeat ringed; right, best-per-repeat mean ± std, ours and the paper's."""
    import matplotlib.pyplot as plt
    import numpy as np

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    else:
        fig = axes[0].figure
    ax, bx = axes
    colors = dict(zip(searches, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    accs = pd.concat([run.results[n].trials["highest_top1"].astype(float) for n in searches]).dropna() * 100
    floor = (accs.min() - 0.5) if len(accs) else 0
    for n in searches:
        t = run.results[n].trials
        ok = t.dropna(subset=["highest_top1"])
        ax.scatter(ok["lam"], ok["highest_top1"].astype(float) * 100, color=colors[n], alpha=0.7, label=f"{n} trials")
        bad = t[t["highest_top1"].isna()]
        if len(bad):
            ax.scatter(bad["lam"], [floor] * len(bad), color=colors[n], marker="x", label=f"{n}: diverged")
        best = repeat_best(run.results[n]).dropna(subset=["highest_top1"])
        ax.scatter(best["lam"], best["highest_top1"] * 100, facecolors="none", edgecolors=colors[n], s=160,
                   label=f"{n}: best of a repeat")
    ax.set_xscale("log")
    ax.set_xlabel("λ (LR coefficient)")
    ax.set_ylabel("highest test top-1 (%)")
    ax.set_title(f"trials ({run.recipe.profile} profile)")
    ax.legend(fontsize=7)
    table = run.comparison
    x = np.arange(len(searches))
    for j, n in enumerate(searches):
        r = table[(table["search"] == n) & table["statistic"].str.startswith("best trial")]
        if r.empty:
            continue
        r = r.iloc[0]
        if pd.notna(r["ours_top1"]):
            bx.errorbar(j - 0.1, r["ours_top1"], yerr=r["ours_std"] if pd.notna(r["ours_std"]) else 0, fmt="o", color=colors[n], capsize=4,
                        label="ours" if j == 0 else None)
        if pd.notna(r["paper_top1"]):
            bx.errorbar(j + 0.1, r["paper_top1"], yerr=r["paper_std"] if pd.notna(r["paper_std"]) else 0, fmt="s", color="k", capsize=4,
                        label="paper" if j == 0 else None)
    bx.set_xticks(x, list(searches))
    bx.set_xlim(-0.6, len(searches) - 0.4)
    bx.set_ylabel("best per repeat: mean ± std (%)")
    bx.set_title("grid vs random search")
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_follow_up(run: RecipeRun, search: str = "ratio", ax=None):
    """A follow-up grid (000's k1/k0 sweep): ours (the mean highest top-1 of each value; the
    starting point read from the search it follows up when the profile skips it) and the paper's."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    spec = run.recipe.searches[search]
    t = run.comparison[(run.comparison["search"] == search) & run.comparison["value"].notna()].sort_values("value")
    ours = t[t["ours_top1"].notna()]
    ax.plot(ours["value"], ours["ours_top1"], "o-", label=f"ours ({run.recipe.profile})")
    paper = t[t["paper_top1"].notna()]
    if len(paper):
        ax.plot(paper["value"], paper["paper_top1"], "s--", color="k", label="paper")
    ax.set_xlabel("k1/k0" if spec["param"] == "ratio" else spec["param"])
    ax.set_ylabel("highest test top-1 (%)")
    ax.set_title(f"follow-up: {spec['policy']}, λ = {run.results[search].search.trials[0].lam:g}")
    ax.legend(fontsize=7)
    return ax
