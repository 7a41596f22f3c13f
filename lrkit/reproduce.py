"""Reproduce a paper table from its recipe in ``reproductions/`` (TOML), side by side with the paper.

A recipe names the task (dataset, model, optimizer, batch size, iteration budget, eval interval),
the rows (a policy each, optionally another optimizer, and the paper's published numbers) and
profiles: ``full`` is the paper's set-up; ``quick`` may run a subset of rows and compress time by
``time_scale`` (iterations, eval interval and every time parameter of the policies scaled, see
:meth:`lrkit.policies.Policy.rescale_time`), so the same curves are run on a shorter budget.
"""

from __future__ import annotations

import json
import os
import statistics
import tomllib
from dataclasses import dataclass
from pathlib import Path

from lrkit.policies import parse

PROFILES = ("quick", "full")


def recipes_dir() -> Path:
    """``LRKIT_REPRODUCTIONS_DIR`` or the ``reproductions/`` folder of this checkout."""
    env = os.environ.get("LRKIT_REPRODUCTIONS_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[1] / "reproductions"
    if not path.is_dir():
        raise FileNotFoundError(f"no recipes folder at {path}; set LRKIT_REPRODUCTIONS_DIR to the reproductions/ folder")
    return path


def list_recipes() -> dict[str, "Recipe"]:
    out = {}
    for p in sorted(recipes_dir().glob("*.toml")):
        r = load_recipe(p)
        out[r.id] = r
    return out


@dataclass
class Recipe:
    id: str
    title: str
    source: str
    task: dict
    rows: list
    profiles: dict
    metric: str = "highest_top1"
    claim: str = ""
    path: str = ""

    def runs(self, profile: str) -> list[dict]:
        """The training configs (as dicts) of a profile, one per row, with the row's paper numbers."""
        if profile not in self.profiles:
            raise ValueError(f"recipe {self.id}: profile must be one of {', '.join(self.profiles)}, got {profile!r}")
        prof = self.profiles[profile]
        scale = float(prof.get("time_scale", 1.0))
        wanted = prof.get("rows")
        rows = self.rows
        if wanted is not None:
            canon = [str(parse(s)) for s in wanted]
            by_policy = {str(parse(r["policy"])): r for r in self.rows}
            missing = [s for s in canon if s not in by_policy]
            if missing:
                raise ValueError(f"recipe {self.id}: profile {profile!r} names rows not in the table: {missing}")
            rows = [by_policy[s] for s in canon]
        out = []
        for r in rows:
            pol = parse(r["policy"])
            cfg = dict(self.task)
            cfg.update({k: v for k, v in r.items() if k in ("optimizer", "batch_size", "weight_decay")})
            cfg.update({k: v for k, v in prof.items() if k not in ("time_scale", "rows")})
            if scale != 1.0:
                pol = pol.rescale_time(scale)
                cfg["iters"] = max(1, int(round(cfg["iters"] * scale)))
                if "eval_every" not in prof:
                    cfg["eval_every"] = max(1, int(round(cfg["eval_every"] * scale)))
            cfg["policy"] = str(pol)
            out.append({"config": cfg, "row": r})
        return out


def load_recipe(path) -> Recipe:
    path = Path(path)
    with open(path, "rb") as f:
        d = tomllib.load(f)
    for key in ("id", "title", "task", "rows", "profiles"):
        if key not in d:
            raise ValueError(f"recipe {path}: missing key {key!r}")
    for i, r in enumerate(d["rows"]):
        if "policy" not in r:
            raise ValueError(f"recipe {path}: row {i} has no 'policy'")
        parse(r["policy"])
    return Recipe(id=d["id"], title=d["title"], source=d.get("source", ""), task=d["task"], rows=d["rows"],
                  profiles=d["profiles"], metric=d.get("metric", "highest_top1"), claim=d.get("claim", ""), path=str(path))


def get_recipe(name: str) -> Recipe:
    recipes = list_recipes()
    if name not in recipes:
        raise ValueError(f"unknown table {name!r}; available: {', '.join(recipes) or '(none)'}")
    return recipes[name]


def _fmt_pct(x):
    return "—" if x is None else f"{100 * x:.2f}"


def summarise(recipe: Recipe, results: list[dict]) -> list[dict]:
    """One row per table row: our mean/std highest top-1 (%) over repeats beside the paper's."""
    table = []
    for res in results:
        recs = res["records"]
        highs = [r["summary"]["highest_top1"] for r in recs if r["summary"].get("highest_top1") is not None]
        iters = [r["summary"]["highest_top1_iteration"] for r in recs if r["summary"].get("highest_top1_iteration")]
        paper = res["row"].get("paper", {})
        mean = statistics.fmean(highs) * 100 if highs else None
        std = statistics.stdev(highs) * 100 if len(highs) > 1 else None
        ptop = paper.get("highest_top1")
        table.append({
            "policy": res["row"]["policy"],
            "run_policy": res["config"]["policy"],
            "optimizer": res["config"]["optimizer"],
            "category": res["row"].get("category", ""),
            "ours_highest_top1": mean,
            "ours_std": std,
            "ours_iter_at_highest": statistics.median(iters) if iters else None,
            "paper_highest_top1": ptop,
            "paper_std": paper.get("std"),
            "paper_iter_at_highest": paper.get("iter_at_highest"),
            "diff": None if (mean is None or ptop is None) else mean - ptop,
            "status": ",".join(sorted({r["status"] for r in recs})),
            "wall_time_s": sum(r["summary"]["wall_time_s"] for r in recs),
        })
    return table


def markdown(recipe: Recipe, table: list[dict], profile: str, env: dict) -> str:
    lines = [f"# {recipe.title}", "", f"Profile `{profile}` on {env.get('device_name', '?')} ({env.get('device')}), "
             f"torch {env.get('torch')}, {env.get('date', '')}. Paper: {recipe.source}.", ""]
    if profile != "full":
        lines += ["Quick profile: shorter budget and fewer rows than the paper — compare trends, not digits.", ""]
    lines += ["| policy | optimizer | ours highest top-1 (%) | paper (%) | ours − paper | iter @ highest | status |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in table:
        ours = "—" if r["ours_highest_top1"] is None else f"{r['ours_highest_top1']:.2f}"
        if r["ours_std"] is not None:
            ours += f" ± {r['ours_std']:.2f}"
        paper = "—" if r["paper_highest_top1"] is None else f"{r['paper_highest_top1']:.2f}"
        if r["paper_std"] is not None:
            paper += f" ± {r['paper_std']:.2f}"
        diff = "—" if r["diff"] is None else f"{r['diff']:+.2f}"
        it = "—" if r["ours_iter_at_highest"] is None else f"{r['ours_iter_at_highest']:.0f}"
        pol = r["policy"] if r["policy"] == r["run_policy"] else f"{r['policy']} (ran as {r['run_policy']})"
        lines.append(f"| `{pol}` | {r['optimizer']} | {ours} | {paper} | {diff} | {it} | {r['status']} |")
    lines += ["", category_means(table)]
    return "\n".join(lines) + "\n"


def category_means(table: list[dict]) -> str:
    cats: dict[str, list[float]] = {}
    for r in table:
        if r["ours_highest_top1"] is not None and r["category"]:
            cats.setdefault(r["category"], []).append(r["ours_highest_top1"])
    parts = [f"{c}: best {max(v):.2f}%, mean {statistics.fmean(v):.2f}%" for c, v in cats.items()]
    return "By category (ours) — " + "; ".join(parts) if parts else ""


def plot(results: list[dict], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    lr_rows, acc_rows = [], []
    for res in results:
        rec = res["records"][0]
        name = res["config"]["policy"]
        lrs = rec["curves"]["lr"]
        step = max(1, len(lrs) // 1000)
        lr_rows += [{"iteration": i, "lr": v, "policy": name} for i, v in enumerate(lrs) if i % step == 0]
        for it, a in zip(rec["evals"]["iteration"], rec["evals"]["top1"]):
            acc_rows.append({"iteration": it, "top-1 accuracy (%)": 100 * a, "policy": name})
    if lr_rows:
        sns.lineplot(pd.DataFrame(lr_rows), x="iteration", y="lr", hue="policy", ax=axes[0], linewidth=1)
        axes[0].set_yscale("log")
        axes[0].set_title("LR per iteration")
        axes[0].legend(fontsize=6)
    if acc_rows:
        df = pd.DataFrame(acc_rows)
        sns.lineplot(df, x="iteration", y="top-1 accuracy (%)", hue="policy", ax=axes[1], linewidth=1, legend=False)
        hi = df["top-1 accuracy (%)"].max()
        axes[1].set_ylim(max(0, hi - 3), hi + 0.3)
        axes[1].set_title("test top-1 accuracy")
    fig.tight_layout()
    p = out_dir / "curves.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(str(p))
    return paths


def reproduce(name: str, profile: str = "quick", repeats: int = 1, device: str = "cpu", out: str | Path = "out",
              progress: bool = True, threads: int | None = None, data=None, only: list[str] | None = None) -> dict:
    """Run every row of a table's profile ``repeats`` times; write results.json, table.md and curves.png.

    ``only``: run just the rows whose policy is one of these specs (as written in the table).
    """
    from tqdm.auto import tqdm

    from lrkit.train import TrainConfig, train

    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    recipe = get_recipe(name)
    runs = recipe.runs(profile)
    if only:
        wanted = {str(parse(s)) for s in only}
        runs = [r for r in runs if str(parse(r["row"]["policy"])) in wanted]
        if len(runs) != len(wanted):
            raise ValueError(f"recipe {recipe.id}: --only names policies not in profile {profile!r}: {sorted(wanted)}")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    shared_data = data
    bar = tqdm(total=len(runs) * repeats, desc=f"{recipe.id} ({profile})", disable=not progress)
    for spec in runs:
        records = []
        for rep in range(repeats):
            cfg = dict(spec["config"], device=device, seed=rep, threads=threads)
            try:
                tc = TrainConfig.from_dict(cfg)
                if shared_data is None:
                    from lrkit.train.data import load_dataset

                    shared_data = load_dataset(tc.dataset, root=tc.data_root)
                rec = train(tc, data=shared_data, progress=progress)
                records.append(json.loads(rec.to_json()))
            except Exception as e:  # a failed run is recorded; the table goes on
                records.append({"status": "failed", "message": f"{type(e).__name__}: {e}", "summary": {"wall_time_s": 0.0},
                                "curves": {"lr": [], "loss": []}, "evals": {"iteration": [], "top1": []}})
            bar.update(1)
        results.append({"config": spec["config"], "row": spec["row"], "records": records})
        _write(out_dir, recipe, profile, results, device)  # nothing computed is lost if a later row fails
    bar.close()
    return _write(out_dir, recipe, profile, results, device, plots=True)


def _write(out_dir: Path, recipe: Recipe, profile: str, results: list, device: str, plots: bool = False) -> dict:
    from lrkit.train.engine import environment

    env = environment(device)
    table = summarise(recipe, results)
    doc = {"recipe": recipe.id, "title": recipe.title, "source": recipe.source, "profile": profile, "environment": env,
           "table": table, "results": results}
    (out_dir / "results.json").write_text(json.dumps(doc))
    (out_dir / "table.md").write_text(markdown(recipe, table, profile, env))
    if plots:
        doc["plots"] = plot(results, out_dir)
    return doc
