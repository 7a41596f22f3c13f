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
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lrkit.policies import parse

PROFILES = ("quick", "full")  # every recipe has these two; a recipe may add more (e.g. "cpu")
METRICS = ("highest_top1", "iterations_to_target")
SPEEDUP_OVER = ("baseline", "budget")  # what an iterations_to_target table's speed-up divides
ROW_OVERRIDES = ("optimizer", "batch_size", "weight_decay")  # what a row may change in the task
PROFILE_KEYS = ("time_scale", "rows", "target")  # profile keys that are not TrainConfig fields


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


@dataclass
class Recipe:
    id: str
    title: str
    source: str
    task: dict
    rows: list
    profiles: dict
    metric: str = "highest_top1"
    target: float | None = None
    claim: str = ""
    path: str = ""
    speedup_over: str = "baseline"
    checks: list = field(default_factory=list)  # the paper's claims, checked on our values (lrkit.reproduce.checks)

    def target_for(self, profile: str) -> float | None:
        """The target accuracy (fraction) of ``iterations_to_target`` tables under ``profile``."""
        return self.profiles.get(profile, {}).get("target", self.target)

    def select(self, profile: str, only: list[str] | None = None) -> list[dict]:
        """The rows a profile runs (all rows whose policy it names), narrowed to ``only`` policies."""
        if profile not in self.profiles:
            raise ValueError(f"recipe {self.id}: profile must be one of {', '.join(self.profiles)}, got {profile!r}")
        rows = self.rows
        for wanted, where in ((self.profiles[profile].get("rows"), "the table"), (only, f"profile {profile!r}")):
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
        prof = self.profiles.get(profile, {})
        scale = float(prof.get("time_scale", 1.0))
        out = []
        for r in self.select(profile, only):
            pol = parse(r["policy"])
            cfg = dict(self.task)
            cfg.update({k: v for k, v in r.items() if k in ROW_OVERRIDES})
            cfg.update({k: v for k, v in prof.items() if k not in PROFILE_KEYS})
            if scale != 1.0:
                pol = pol.rescale_time(scale)
                cfg["iters"] = max(1, int(round(cfg["iters"] * scale)))
                if "eval_every" not in prof:
                    cfg["eval_every"] = max(1, int(round(cfg["eval_every"] * scale)))
            cfg["policy"] = str(pol)
            out.append({"config": cfg, "row": r})
        return out


#: published row field -> recipe ``paper`` field (accuracies: fraction -> percent)
_PAPER_FIELDS = {"highest_top1": ("highest_top1", 100.0), "highest_top1_std": ("std", 100.0),
                 "highest_top5": ("highest_top5", 100.0), "highest_top1_iteration": ("iter_at_highest", None),
                 "iterations_to_target": ("iters_to_target", None), "target_acc": ("target", None),
                 "speedup": ("speedup", None)}


def published_rows(name: str, where: dict | None = None, task: dict | None = None) -> list[dict]:
    """Recipe rows from a transcribed paper table (``lrkit/db/published/<name>.json``).

    where: keep the rows whose task (the table's, with the row's overrides) has these values.
    task: the recipe's task; a row whose optimizer differs from it gets an ``optimizer`` override.
    """
    import json

    # the folder lrkit.db.published reads, found without importing lrkit.db (and SQLAlchemy with it)
    PUBLISHED_DIR = Path(__file__).resolve().parents[1] / "db" / "published"  # noqa: N806

    path = PUBLISHED_DIR / f"{name}.json"
    if not path.exists():
        names = sorted(p.stem for p in PUBLISHED_DIR.glob("*.json"))
        raise ValueError(f"field 'published' must name a table of lrkit/db/published ({', '.join(names)}), got {name!r}")
    doc = json.loads(path.read_text())
    rows = []
    for r in doc["rows"]:
        rtask = {**doc["task"], **r.get("task", {})}
        if where and any(rtask.get(k) != v for k, v in where.items()):
            continue
        row = {"policy": r["policy"], "category": r.get("category", "")}
        if r.get("label"):
            row["label"] = r["label"]
        opt = r.get("task", {}).get("optimizer")
        if opt and opt != (task or {}).get("optimizer"):
            row["optimizer"] = opt
        paper = {}
        for src, (dst, scale) in _PAPER_FIELDS.items():
            if src in r:
                v = r[src]
                paper[dst] = None if v is None else (round(v * scale, 6) if scale else v)  # None: never reached
        if r.get("note"):
            paper["note"] = r["note"]
        row["paper"] = paper
        rows.append(row)
    return rows


def load_recipe(path) -> Recipe:
    path = Path(path)
    with open(path, "rb") as f:
        d = tomllib.load(f)
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
                  profiles=d["profiles"], metric=metric, target=d.get("target"), claim=d.get("claim", ""), path=str(path),
                  speedup_over=speedup_over, checks=checks)


def get_recipe(name: str) -> Recipe:
    recipes = list_recipes()
    if name not in recipes:
        raise ValueError(f"unknown table {name!r}; available: {', '.join(recipes) or '(none)'}")
    return recipes[name]
