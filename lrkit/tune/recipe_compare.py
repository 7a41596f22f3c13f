"""Search recipes run and compared with the paper: :func:`run_search_recipe`, :func:`compare` (one row per
paper entry), the paper's claims checked on the trials (:func:`claim_entries`), and the Markdown of it
all through the one recipe renderer (:mod:`lrkit.recipes.render`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lrkit.recipes import Report, cell, check_claims, render, table_lines
from lrkit.recipes.keys import is_number as _is_num

from .search import USABLE, SearchResult, run_search
from .search_recipe import SearchRecipe, _build, _name, best_lam, load_search_recipe

@dataclass
class RecipeRun:
    """What :func:`run_search_recipe` gives back: the recipe, a :class:`SearchResult` per search
    (by the recipe's search names), the comparison with the paper (DataFrame and markdown), ``out``."""

    recipe: SearchRecipe
    results: dict
    comparison: pd.DataFrame
    markdown: str
    out: Path | None = None
    verdicts: list = field(default_factory=list)  # the recipe's claims checked on the trials


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
    verdicts = check_claims(recipe.checks, claim_entries(recipe, results), select=_select)
    md = comparison_markdown(recipe, results, table, verdicts=verdicts)
    if out is not None:
        out = Path(out)
        import warnings

        with warnings.catch_warnings():  # SearchResult.save's heat map of a one-policy search is short
            warnings.filterwarnings("ignore", message="Tight layout not applied")
            for r in results.values():
                r.save(out / r.search.name)
        (out / "comparison.md").write_text(md)
        doc = {"recipe": recipe.id, "profile": profile, "title": recipe.title, "source": recipe.source,
               "task": recipe.task, "comparison": json.loads(table.to_json(orient="records")), "claims": verdicts}
        (out / "comparison.json").write_text(json.dumps(doc, indent=1))
    return RecipeRun(recipe, results, table, md, out, verdicts)


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
    return cell(m, std=s) + (f" (n={n})" if m is not None and n is not None else "")


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


def claim_entries(recipe: SearchRecipe, results: dict) -> list[dict]:
    """The trials as claim entries (:mod:`lrkit.recipes.claims`), in percent: each search as a whole (its best
    trial per repeat, mean ± std over the repeats; attribute ``search``) and each of its cells (a policy
    name at a λ and follow-up value: the mean ± std of the cell's usable runs; attributes ``search``,
    ``policy``, ``lam``, ``value``)."""
    out = []
    for name, res in results.items():
        m, s, n = _mean_std(repeat_best(res)["highest_top1"] * 100)
        out.append({"name": name, "value": m, "std": s, "seeds": n, "search": name, "policy": None, "lam": None,
                    "value_of": None})
        t = res.trials.copy()
        t["point"] = recipe.points.get(name, [None] * len(t))[: len(t)]
        t["pname"] = t["policy"].map(_name)
        for (pname, lam, point), g in t.groupby(["pname", "lam", "point"], dropna=False, sort=False):
            ok = g[g["status"].isin(USABLE)]
            m, s, n = _mean_std(ok["highest_top1"].astype(float) * 100)
            point = None if point is None or point != point else float(point)
            label = f"{pname} λ={lam:g}" + ("" if point is None else f" {recipe.searches[name].get('param')}={point:g}")
            out.append({"name": label, "value": m, "std": s, "seeds": n, "search": name, "policy": pname,
                        "lam": float(lam), "value_of": point})
    return out


def _select(entries: list[dict], group) -> list[dict]:
    """A group names a search as a whole (``search`` alone) or cells of it (with policy, lam and/or value)."""
    from lrkit.recipes.claims import matches

    g = {"search": group} if isinstance(group, str) else dict(group)
    if "value" in g:
        g["value_of"] = g.pop("value")
    whole = not ({"policy", "lam", "value_of"} & set(g))
    return [e for e in entries if (e["policy"] is None) == whole and matches(e, g)]


def comparison_markdown(recipe: SearchRecipe, results: dict, table: pd.DataFrame | None = None, k: int = 5,
                        verdicts: list | None = None) -> str:
    """The comparison as Markdown: ours vs the paper, the paper's claims checked, then each search's Top-``k``."""
    table = compare(recipe, results) if table is None else table
    if verdicts is None:
        verdicts = check_claims(recipe.checks, claim_entries(recipe, results), select=_select)
    report = Report(recipe.title, level=2).add(
        f"Profile **{recipe.profile}**: {recipe.budget()}. Accuracies: highest test top-1, percent. Paper: {recipe.source}.")
    rows = []
    for _, r in table.iterrows():
        diff = "—" if r["difference"] is None or r["difference"] != r["difference"] else f"{r['difference']:+.2f}"
        holds = "—" if r["holds"] is None else ("yes" if r["holds"] else "no")
        src = "" if r["from"] == r["search"] else f" (the {r['from']})"
        rows.append([r["label"], f"{r['statistic']}{src}", r["paper"], r["ours"], diff, holds])
    report.add(table_lines(["paper's result", "statistic", "paper", "ours", "ours − paper", "holds"], rows))
    report.claims(verdicts)
    for name, res in results.items():
        div = int((res.trials["status"] == "diverged").sum())
        failed = int((res.trials["status"] == "failed").sum())
        report.add(f"**{name}** ({res.search.name}, {len(res.trials)} trials, {div} diverged, {failed} failed) — "
                   f"Top-{min(k, len(res.summary()))}:", res.to_markdown(k))
    return render(report)
