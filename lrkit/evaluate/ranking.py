"""Top-K LR policies for a task from the policy database (004 §4, component 6: ranking).

Runs are grouped by policy (canonical spec) and task (dataset, model, optimizer, framework, batch,
budget: SIN2 with Momentum and SIN2 with SGD are two entries) and aggregated: mean ± std of the
highest top-1 over the runs (a published row with ``repeats`` and a std counts as that many runs
with that spread), final top-1, highest top-5, and the fewest iterations to the target. Complete and diverged runs
count (a diverged run with its highest accuracy, or 0 when it never evaluated); failed, stopped
and running ones do not.

Metrics (:data:`METRICS`):
    highest_acc       mean highest top-1, higher first (004 Tables 4–9)
    final_acc         mean final top-1
    top5              mean highest top-5
    iters_to_target   fewest iterations to the target accuracy (004 Table 10; ``target_acc``, or
                      each run's own target when None); only policies that reached it; ties by
                      highest_acc
    robustness        mean − std of the highest top-1 (:func:`lrkit.evaluate.metrics.robust_score`);
                      policies without a measured spread come after those with one

When the exact task has no usable runs the search widens, in this order (:data:`LEVELS`), and the
result says which level answered:
    1. exact task      dataset and model, plus every task field given (optimizer, framework,
                       batch size, iteration budget)
    2. dataset+model   the same dataset and model, any optimizer/framework/budget
    3. dataset         the same dataset, any model
    4. model           the same model, any dataset
    5. data format     datasets of the same input format (:data:`DATA_FORMATS`: e.g. SVHN and
                       CIFAR-10 are both 32×32×3 colour images — 004 §5.2 found CIFAR-10's best
                       policies good on SVHN, and MNIST's not)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .metrics import robust_score

METRICS = ("highest_acc", "final_acc", "top5", "iters_to_target", "robustness")
LEVELS = ("exact task", "dataset+model", "dataset", "model", "data format")
USABLE = ("complete", "diverged")
DATA_FORMATS = {
    "mnist": "28x28x1 grey", "fashion-mnist": "28x28x1 grey",
    "cifar10": "32x32x3 colour", "cifar100": "32x32x3 colour", "svhn": "32x32x3 colour",
    "imagenet": "224x224x3 colour",
    "alpaca-52k": "text instructions", "dolly-15k": "text instructions",
}


def data_format(dataset: str) -> str | None:
    """The input format of a dataset (None if unknown; an ``npz:`` dataset has none)."""
    return DATA_FORMATS.get(str(dataset).lower())


@dataclass
class Ranking:
    """The top-K answer: ``table`` (rank, policy, category, task, runs, mean/std/best top-1, final
    top-1, top-5, iterations to target, score, sources), the ``level`` of :data:`LEVELS` that
    answered, and a one-line ``message`` saying so."""

    table: pd.DataFrame
    level: str | None
    metric: str
    request: dict = field(default_factory=dict)
    message: str = ""

    def specs(self) -> list[str]:
        return self.table["policy"].tolist()

    def __len__(self) -> int:
        return len(self.table)

    def to_markdown(self) -> str:
        cols = ["rank", "policy", "task", "runs", "mean_top1", "std_top1", "iterations_to_target", "score", "sources"]
        lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
        for _, r in self.table.iterrows():
            lines.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
        return "\n".join(lines)


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _task_label(r) -> str:
    parts = [f"{r['dataset']}/{r['model']}"]
    parts += [str(r[f]) for f in ("optimizer", "framework") if r[f] is not None and r[f] == r[f]]
    if r["batch_size"] is not None and r["batch_size"] == r["batch_size"]:
        parts.append(f"batch {int(r['batch_size'])}")
    if r["iterations"] is not None and r["iterations"] == r["iterations"]:
        parts.append(f"{int(r['iterations']):,} it")
    return ", ".join(parts)


def _present(v) -> bool:
    return v is not None and v == v


def pool(items) -> tuple[int, float | None, float | None]:
    """(N, mean, std) of groups given as (n_i, mean_i, std_i): the pooled sample std (ddof = 1)
    Σ((n_i − 1)·s_i² + n_i·(m_i − M)²) / (N − 1); None when N = 1 or a group of n_i > 1 has no std."""
    items = [(int(n), float(m), s) for n, m, s in items if n > 0]
    total = sum(n for n, _, _ in items)
    if not total:
        return 0, None, None
    mean = sum(n * m for n, m, _ in items) / total
    if total == 1 or any(s is None for _, _, s in items):
        return total, mean, None
    ss = sum((n - 1) * s * s + n * (m - mean) ** 2 for n, m, s in items)
    return total, mean, (ss / (total - 1)) ** 0.5


def aggregate(runs: pd.DataFrame, target_acc: float | None = None) -> pd.DataFrame:
    """One row per (policy, task) from :meth:`lrkit.db.Database.runs` rows (usable statuses only).

    The runs of a group are its seeds. A published result counts as ``repeats`` runs with its
    published std; the same published number reported by several tables (004 Tables 4, 10 and 11
    share experiments) counts once."""
    cols = ["policy", "category", "task", "runs", "mean_top1", "std_top1", "best_top1", "final_top1", "top5",
            "iterations_to_target", "reached", "diverged", "sources"]
    df = runs[runs["status"].isin(USABLE)]
    if not len(df):
        return pd.DataFrame([], columns=cols)
    df = df.assign(_task=[_task_label(r) for _, r in df.iterrows()])
    out = []
    for (spec, task), g in df.groupby(["policy", "_task"], sort=False):
        items, seen = [], set()  # (n, mean, std or None) per seed run or published result
        for _, r in g.iterrows():
            acc = r["highest_top1"]
            if not _present(acc):
                if r["status"] != "diverged":
                    continue
                acc = 0.0  # diverged before any eval
            std = float(r["highest_top1_std"]) if _present(r["highest_top1_std"]) else None
            if str(r["source"]).startswith("paper:"):
                if (float(acc), std) in seen:
                    continue
                seen.add((float(acc), std))
            reps = int(r["repeats"]) if _present(r["repeats"]) and r["repeats"] else 1
            items.append((reps, float(acc), 0.0 if reps == 1 else std))
        n, mean, std = pool(items)
        values = [m for _, m, _ in items]
        its = []
        for _, r in g.iterrows():
            if not _present(r["iterations_to_target"]):
                continue
            if target_acc is not None and not (_present(r["target_acc"]) and abs(float(r["target_acc"]) - target_acc) < 1e-9):
                continue
            its.append(int(r["iterations_to_target"]))
        finals = [v for v in g["final_top1"] if _present(v)]
        top5 = [v for v in g["highest_top5"] if _present(v)]
        out.append({
            "policy": spec, "category": g["category"].iloc[0], "task": task, "runs": n, "mean_top1": mean,
            "std_top1": std, "best_top1": max(values) if values else None,
            "final_top1": sum(finals) / len(finals) if finals else None, "top5": sum(top5) / len(top5) if top5 else None,
            "iterations_to_target": min(its) if its else None, "reached": len(its),
            "diverged": int((g["status"] == "diverged").sum()),
            "sources": ", ".join(sorted({_short(s) for s in g["source"]})),
        })
    return pd.DataFrame(out, columns=cols)


def _short(source: str) -> str:
    if source.startswith("paper:"):
        f, _, t = source[6:].partition("#")
        return f"{f.split('_')[0]} {t}"
    return source


def rank(agg: pd.DataFrame, metric: str = "highest_acc", k: int | None = 5) -> pd.DataFrame:
    """Sort aggregated policies by ``metric`` (see :data:`METRICS`) and keep the top ``k`` distinct
    policies (a policy stored for several tasks of the level appears once, with its best entry)."""
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not known; allowed: {', '.join(METRICS)}")
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
        raise ValueError(f"field 'k' must be an int >= 1, got {k!r}")
    df = agg.copy()
    acc = df["mean_top1"].astype(float).fillna(-1.0)
    if metric == "highest_acc":
        df["score"], key = df["mean_top1"], [-acc]
    elif metric == "final_acc":
        df["score"], key = df["final_top1"], [-df["final_top1"].astype(float).fillna(-1.0), -acc]
    elif metric == "top5":
        df["score"], key = df["top5"], [-df["top5"].astype(float).fillna(-1.0), -acc]
    elif metric == "iters_to_target":
        its = df["iterations_to_target"].astype(float)
        df["score"], key = df["iterations_to_target"], [its.isna(), its.fillna(0.0), -acc]
    else:  # robustness
        score = [robust_score(m, s) for m, s in zip(df["mean_top1"], df["std_top1"])]
        df["score"] = score
        sc = pd.Series([float("nan") if v is None else v for v in score], index=df.index)
        key = [sc.isna(), -sc.fillna(0.0), -acc]
    order = sorted(range(len(df)), key=lambda i: tuple(float(k.iloc[i]) for k in key))
    df = df.iloc[order]
    df = df[~df["policy"].duplicated()].reset_index(drop=True)  # a policy once, with its best task entry
    df.insert(0, "rank", range(1, len(df) + 1))
    return df if k is None else df.head(k)


def _levels(dataset: str, model: str, exact: dict):
    fmt = data_format(dataset)
    yield LEVELS[0], dict(dataset=dataset, model=model, **exact), f"{dataset}/{model}" + "".join(
        f", {k}={v}" for k, v in exact.items())
    if exact:
        yield LEVELS[1], dict(dataset=dataset, model=model), f"{dataset}/{model}, any optimizer/framework/budget"
    yield LEVELS[2], dict(dataset=dataset), f"dataset {dataset}, any model"
    yield LEVELS[3], dict(model=model), f"model {model}, any dataset"
    if fmt:
        yield LEVELS[4], {"format": fmt}, f"datasets of format {fmt}"


def top_k(db, dataset: str, model: str, k: int = 5, metric: str = "highest_acc", *, optimizer: str | None = None,
          framework: str | None = None, batch_size: int | None = None, iterations: int | None = None,
          target_acc: float | None = None, exclude=()) -> Ranking:
    """The top ``k`` policies for a task by ``metric``, falling back to similar tasks (module doc)."""
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not known; allowed: {', '.join(METRICS)}")
    if target_acc is not None and not 0 < target_acc <= 1:
        raise ValueError(f"field 'target_acc' must be a fraction in (0, 1], got {target_acc!r}")
    dataset, model = str(dataset).lower(), str(model).lower()
    exact = {k2: v for k2, v in dict(optimizer=optimizer, framework=framework, batch_size=batch_size,
                                     iterations=iterations).items() if v is not None}
    request = dict(dataset=dataset, model=model, metric=metric, k=k, **exact)
    from lrkit.policies import parse

    skip = {str(parse(s)) for s in exclude}
    tried = []
    for level, filters, what in _levels(dataset, model, exact):
        if "format" in filters:
            fmt = filters["format"]
            runs = db.runs(status=list(USABLE))
            runs = runs[[data_format(d) == fmt for d in runs["dataset"]]]
        else:
            runs = db.runs(status=list(USABLE), **filters)
        runs = runs[~runs["policy"].isin(skip)]
        agg = aggregate(runs, target_acc=target_acc)
        if metric == "iters_to_target":
            agg = agg[agg["reached"] > 0] if len(agg) else agg
        if len(agg):
            table = rank(agg, metric, k)
            note = "" if level == LEVELS[0] else f"no usable runs for {tried[0]}; "
            msg = f"{note}ranked {len(agg)} policies of {what} ({level}) by {metric}"
            return Ranking(table, level, metric, request, msg)
        tried.append(what)
    return Ranking(rank(aggregate(db.runs().iloc[0:0]), metric, k), None, metric, request,
                   "no usable runs for " + "; nor for ".join(tried))
