"""Table recipes (TOML files in ``reproductions/``): the task, the rows with the paper's numbers, profiles.

A recipe names the task (dataset, model, optimizer, batch size, iteration budget, eval interval),
the rows (a policy each, optionally another optimizer, and the paper's published numbers) and
profiles: ``full`` is the paper's set-up; ``quick`` may run a subset of rows and compress time by
``time_scale`` (iterations, eval interval and every time parameter of the policies scaled, see
:meth:`lrkit.policies.Policy.rescale_time`), so the same curves are run on a shorter budget.

Rows may come from the papers' transcribed tables instead of being written out: ``published =
"004_table05"`` (a file of ``lrkit/db/published``) takes every row's policy, category, label,
optimizer and published numbers from there (one source for the paper's numbers), and
``published_where = {dataset = "cifar10"}`` keeps only the rows whose task matches (Table 10 mixes
MNIST and CIFAR rows). Rows written in the recipe are added after the published ones.

What a table reports is its ``metric``:

- ``highest_top1`` — the highest test top-1 accuracy and the iteration it was reached (Tables 4, 11);
- ``iterations_to_target`` — the first evaluated iteration whose top-1 reaches ``target`` (a fraction;
  a profile may lower it for its shorter budget) and a speed-up: by default (``speedup_over =
  "baseline"``) the iterations of the row marked ``baseline`` over the row's (004 Table 10), with
  ``speedup_over = "budget"`` the iteration budget over the row's (000 Table III: "Default: 64,000
  iters", 64000/33000 = 1.94×; ours divide the budget the profile ran). It is read off the eval
  curve, so the runs are the same as a plain highest-accuracy run's and can be shared with other
  tables through the run store.

A table recipe is the :class:`lrkit.recipes.Recipe` of its family: every key is checked (the task's and
profiles' against :class:`~lrkit.train.TrainConfig`), :meth:`Recipe.plan` gives a profile's runs, and
``[[checks]]`` state the paper's claims (:mod:`lrkit.reproduce.checks`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lrkit.policies import parse
from lrkit.recipes import Recipe as BaseRecipe, check_keys, published_rows, read_profiles, read_toml
from lrkit.recipes.model import NAMING_KEYS
from lrkit.recipes.published import PAPER_FIELDS

PROFILES = ("quick", "full")  # every recipe has these two; a recipe may add more (e.g. "cpu")
METRICS = ("highest_top1", "iterations_to_target")
SPEEDUP_OVER = ("baseline", "budget")  # what an iterations_to_target table's speed-up divides
ROW_OVERRIDES = ("optimizer", "batch_size", "weight_decay")  # what a row may change in the task
PROFILE_KEYS = ("time_scale", "rows", "target")  # profile keys that are not TrainConfig fields
TOP_KEYS = (*NAMING_KEYS, "task", "rows", "metric", "target", "speedup_over", "published_where", "baseline_policy",
            "profiles", "checks")
ROW_KEYS = ("policy", "category", "label", "paper", "baseline", *ROW_OVERRIDES)
PAPER_KEYS = (*(dst for dst, _ in PAPER_FIELDS.values()), "note")
PER_RUN = ("policy", "seed")  # set per run by the table, never by the task or a profile


def recipes_dir() -> Path:
    """``LRKIT_REPRODUCTIONS_DIR`` or the ``reproductions/`` folder of this checkout."""
    env = os.environ.get("LRKIT_REPRODUCTIONS_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "reproductions"
    if not path.is_dir():
        raise FileNotFoundError(f"no recipes folder at {path}; set LRKIT_REPRODUCTIONS_DIR to the reproductions/ folder")
    return path


def list_recipes() -> dict[str, "Recipe"]:
    out = {}
    for p in sorted(recipes_dir().glob("*.toml")):
        r = load_recipe(p)
        out[r.id] = r
    return out


def row_key(row: dict) -> str:
    """How a row is named in tables: its canonical policy, plus the optimizer when the row sets one."""
    key = str(parse(row["policy"]))
    return f"{key} [{row['optimizer']}]" if "optimizer" in row else key


@dataclass(kw_only=True)
class Recipe(BaseRecipe):
    """A table recipe: the task, the rows (a policy each, with the paper's numbers), the metric."""

    task: dict
    rows: list
    metric: str = "highest_top1"
    target: float | None = None
    speedup_over: str = "baseline"
    checks: list = field(default_factory=list)  # the paper's claims, checked on our values (lrkit.reproduce.checks)

    def target_for(self, profile: str) -> float | None:
        """The target accuracy (fraction) of ``iterations_to_target`` tables under ``profile``."""
        return self.profiles.get(profile, {}).get("target", self.target)

    def select(self, profile: str, only: list[str] | None = None) -> list[dict]:
        """The rows a profile runs (all rows whose policy it names), narrowed to ``only`` policies."""
        rows = self.rows
        for wanted, where in ((self.get_profile(profile).get("rows"), "the table"), (only, f"profile {profile!r}")):
            if wanted is None:
                continue
            canon = [str(parse(s)) for s in wanted]
            missing = sorted(set(canon) - {str(parse(r["policy"])) for r in rows})
            if missing:
                who = f"profile {profile!r}" if wanted is not only else "--only"
                raise ValueError(f"recipe {self.id}: {who} names policies not in {where}: {missing}")
            rows = [r for c in dict.fromkeys(canon) for r in rows if str(parse(r["policy"])) == c]
        return rows

    def runs(self, profile: str, only: list[str] | None = None) -> list[dict]:
        """The training configs (as dicts) of a profile, one per row, with the row."""
        prof = self.get_profile(profile)
        scale = prof.time_scale
        out = []
        for r in self.select(profile, only):
            pol = parse(r["policy"])
            cfg = dict(self.task)
            cfg.update({k: v for k, v in r.items() if k in ROW_OVERRIDES})
            cfg.update({k: v for k, v in prof.items() if k not in PROFILE_KEYS})
            if scale != 1.0:
                pol = pol.rescale_time(scale)
                cfg["iters"] = prof.scaled(cfg["iters"])
                if "eval_every" not in prof:
                    cfg["eval_every"] = prof.scaled(cfg["eval_every"])
            cfg["policy"] = str(pol)
            out.append({"config": cfg, "row": r})
        return out

    def plan(self, profile: str, only: list[str] | None = None) -> list[dict]:
        """What ``profile`` runs: :meth:`runs` (a training config and its row per table row)."""
        return self.runs(profile, only)


def _train_fields() -> list[str]:
    from lrkit.train.config import TrainConfig

    return [f for f in TrainConfig.__dataclass_fields__ if f not in PER_RUN]


def load_recipe(path) -> Recipe:
    path = Path(path)
    d = read_toml(path)
    where = f"recipe {path}"
    check_keys(where, d, TOP_KEYS, "the recipe")
    train_fields = _train_fields()
    if "task" in d:
        check_keys(where, d["task"], train_fields, "[task]")
    for i, r in enumerate(d.get("rows", [])):
        check_keys(where, r, ROW_KEYS, f"rows[{i}]")
        check_keys(where, r.get("paper", {}), PAPER_KEYS, f"rows[{i}].paper")
    if "published" in d:
        d["rows"] = published_rows(d["published"], d.get("published_where"), d.get("task")) + d.get("rows", [])
    if "baseline_policy" in d:  # mark the speed-up baseline among published rows
        want = str(parse(d["baseline_policy"]))
        marked = [r for r in d["rows"] if str(parse(r["policy"])) == want and "optimizer" not in r]
        if not marked:
            raise ValueError(f"recipe {path}: field 'baseline_policy' names no row: {d['baseline_policy']!r}")
        marked[0]["baseline"] = True
    for key in ("id", "title", "task", "rows", "profiles"):
        if key not in d:
            raise ValueError(f"recipe {path}: missing key {key!r}")
    profiles = read_profiles(where, d["profiles"], [*PROFILE_KEYS, *train_fields])
    metric = d.get("metric", "highest_top1")
    if metric not in METRICS:
        raise ValueError(f"recipe {path}: field 'metric' must be one of {', '.join(METRICS)}, got {metric!r}")
    targets = [("target", d.get("target"))] + [(f"profiles.{p}.target", v.get("target")) for p, v in d["profiles"].items()]
    for name, t in targets:
        if t is not None and not (isinstance(t, (int, float)) and 0 < t <= 1):
            raise ValueError(f"recipe {path}: field '{name}' must be a fraction in (0, 1] (0.991 for 99.1%), got {t!r}")
    speedup_over = d.get("speedup_over", "baseline")
    if speedup_over not in SPEEDUP_OVER:
        raise ValueError(f"recipe {path}: field 'speedup_over' must be one of {', '.join(SPEEDUP_OVER)}, "
                         f"got {speedup_over!r}")
    if speedup_over == "budget" and "baseline_policy" in d:
        raise ValueError(f"recipe {path}: field 'baseline_policy' goes with speedup_over = 'baseline'; "
                         f"with 'budget' the speed-ups divide the iteration budget")
    if metric == "iterations_to_target" and d.get("target") is None:
        raise ValueError(f"recipe {path}: metric 'iterations_to_target' needs field 'target' (a fraction, e.g. 0.991)")
    for i, r in enumerate(d["rows"]):
        if "policy" not in r:
            raise ValueError(f"recipe {path}: row {i} has no 'policy'")
        parse(r["policy"])
    keys = [row_key(r) for r in d["rows"]]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"recipe {path}: rows repeat (policy, optimizer): {dupes}")
    if sum(bool(r.get("baseline")) for r in d["rows"]) > 1:
        raise ValueError(f"recipe {path}: at most one row may have 'baseline = true'")
    from .checks import validate_checks

    checks = validate_checks(d.get("checks", []), f"recipe {path}")
    return Recipe(id=d["id"], title=d["title"], source=d.get("source", ""), task=d["task"], rows=d["rows"],
                  profiles=profiles, metric=metric, target=d.get("target"), claim=d.get("claim", ""), path=str(path),
                  speedup_over=speedup_over, checks=checks)


def get_recipe(name: str) -> Recipe:
    recipes = list_recipes()
    if name not in recipes:
        raise ValueError(f"unknown table {name!r}; available: {', '.join(recipes) or '(none)'}")
    return recipes[name]
