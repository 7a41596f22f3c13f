"""What a reproduced table shows: ours beside the paper (Markdown), and the curves (seaborn)."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

from lrkit.evaluate.metrics import iterations_to_target as first_reaching
from lrkit.recipes.render import Report, cell as _num, render, table_lines
from lrkit.reproduce.recipe import Recipe, row_key


def iterations_to_target(record: dict, target: float) -> int | None:
    """The first evaluated iteration of a run record whose test top-1 is >= ``target`` (a fraction);
    None if never (:func:`lrkit.evaluate.metrics.iterations_to_target` over its evals)."""
    return first_reaching(record["evals"]["iteration"], record["evals"]["top1"], target)


def summarise(recipe: Recipe, results: list[dict], profile: str = "full") -> list[dict]:
    """One entry per table row: our numbers over the repeats beside the paper's.

    Accuracies are in percent. ``ours_iters_to_target`` is the median over the repeats that reached
    the target (``reached`` says how many did); speed-ups are the baseline row's iterations over the
    row's, as in 004 Table 10 (1.00× for the baseline itself), or with ``recipe.speedup_over ==
    "budget"`` the budget over the row's, as in 000 Table III: ours the iterations the run was given,
    the paper's the recipe's full ``task.iters``.
    """
    target = recipe.target_for(profile)
    table = []
    for res in results:
        recs = res["records"]
        highs = [r["summary"]["highest_top1"] for r in recs if r["summary"].get("highest_top1") is not None]
        top5s = [r["summary"]["highest_top5"] for r in recs if r["summary"].get("highest_top5") is not None]
        iters = [r["summary"]["highest_top1_iteration"] for r in recs if r["summary"].get("highest_top1") is not None]
        hits = [iterations_to_target(r, target) for r in recs if r.get("evals")] if target is not None else []
        reached = [h for h in hits if h is not None]
        paper = res["row"].get("paper", {})
        mean = statistics.fmean(highs) * 100 if highs else None
        ptop = paper.get("highest_top1")
        table.append({
            "policy": res["row"]["policy"],
            "row": row_key(res["row"]),
            "run_policy": res["config"]["policy"],
            "optimizer": res["config"]["optimizer"],
            "category": res["row"].get("category", ""),
            "label": res["row"].get("label"),
            "baseline": bool(res["row"].get("baseline")),
            "ours_highest_top1": mean,
            "ours_std": statistics.stdev(highs) * 100 if len(highs) > 1 else None,
            "ours_iter_at_highest": statistics.median(iters) if iters else None,
            "paper_highest_top1": ptop,
            "paper_std": paper.get("std"),
            "ours_highest_top5": statistics.fmean(top5s) * 100 if top5s else None,
            "paper_highest_top5": paper.get("highest_top5"),
            "paper_iter_at_highest": paper.get("iter_at_highest"),
            "diff": None if (mean is None or ptop is None) else mean - ptop,
            "target": target,
            "ours_iters_to_target": statistics.median(reached) if reached else None,
            "reached": f"{len(reached)}/{len(hits)}" if target is not None else None,
            "paper_iters_to_target": paper.get("iters_to_target"),
            "paper_not_reached": "iters_to_target" in paper and paper["iters_to_target"] is None,
            "status": ",".join(sorted({r["status"] for r in recs})) or "not run",
            "failure": next((r.get("message") or "no message" for r in recs if r["status"] == "failed"), None),
            "reused": sum(bool(r.get("reused_from")) for r in recs),
            "wall_time_s": sum(r["summary"]["wall_time_s"] for r in recs),
            "seeds": len(highs),
            **({"other_numerics": True} if any(r.get("other_numerics") for r in recs) else {}),
        })
    if recipe.speedup_over == "budget":
        for r, res in zip(table, results):
            r["ours_speedup"] = _ratio(res["config"].get("iters"), r["ours_iters_to_target"])
            r["paper_speedup"] = _ratio(recipe.task.get("iters"), r["paper_iters_to_target"])
        return table
    base = next((r for r in table if r["baseline"]), None)
    for r in table:
        r["ours_speedup"] = _ratio(base and base["ours_iters_to_target"], r["ours_iters_to_target"])
        r["paper_speedup"] = _ratio(base and base["paper_iters_to_target"], r["paper_iters_to_target"])
    return table


def _ratio(a, b):
    return a / b if a and b else None


def environment_line(results: list[dict]) -> str:
    """Where the runs ran, from the run records themselves (a table may mix reused runs)."""
    envs = [r.get("environment", {}) for res in results for r in res["records"] if r.get("environment")]
    if not envs:
        return "no runs"
    where = sorted({f"{e.get('device_name', '?')} ({e.get('device', '?')}), torch {e.get('torch', '?')}" for e in envs})
    dates = sorted(e.get("date", "")[:10] for e in envs if e.get("date"))
    when = dates[0] if dates and dates[0] == dates[-1] else (f"{dates[0]} – {dates[-1]}" if dates else "")
    return f"{len(envs)} runs on {'; '.join(where)}, {when}"


def checks_verdicts(recipe: Recipe, table: list[dict]) -> list[dict]:
    """The recipe's claims checked on the table (:mod:`lrkit.reproduce.checks`)."""
    from .checks import check_claims

    return check_claims(recipe.checks, table, recipe.metric)


def runtime_of(record: dict) -> dict:
    """How a run executed (device, threads, channels-last, compile, denormal flushing), from its record:
    the runtime block of its environment, or, for a record whose environment has no such block, the
    config's runtime fields and the thread count the environment names."""
    cfg, env = record.get("config") or {}, record.get("environment") or {}
    rt = dict(env.get("runtime") or {k: cfg.get(k) for k in ("device", "channels_last", "compile", "flush_denormal")})
    rt["threads"] = env.get("torch_threads") or rt.get("threads") or cfg.get("threads")
    rt.pop("data_root", None)
    out = {k: rt.get(k) for k in ("device", "threads", "channels_last", "compile", "flush_denormal")}
    for k in ("channels_last", "flush_denormal"):  # a record without the field ran without it
        out[k] = bool(out[k])
    return out


def runtime_lines(results: list[dict]) -> list[str]:
    """Markdown paragraphs naming how the runs of a table executed and which code made them, where they
    differ: one line per runtime (device, threads, channels-last, compile, denormal flushing) with its
    number of runs, and the commits; rows whose runs were made by another numerics version are marked †."""
    recs = [r for res in results for r in res["records"] if r.get("status") != "failed" and r.get("config")]
    lines = []
    runtimes: dict[str, int] = {}
    for r in recs:
        rt = runtime_of(r)
        text = ", ".join(f"{k}={v}" for k, v in rt.items() if v not in (None, False) or k == "flush_denormal")
        runtimes[text] = runtimes.get(text, 0) + 1
    if len(runtimes) > 1:
        lines += ["Runs of this table differ in how they executed (runtime; not part of a run's key): "
                  + "; ".join(f"{n} with {text}" for text, n in sorted(runtimes.items(), key=lambda x: -x[1])) + "."]
    commits: dict[str, int] = {}
    for r in recs:
        env = r.get("environment") or {}
        c = env.get("commit")
        name = (c[:10] + ("+dirty" if env.get("dirty") else "")) if c else (
            f"source {env['source_hash']}" if env.get("source_hash") else "code not recorded")
        commits[name] = commits.get(name, 0) + 1
    if recs and (len(commits) > 1 or "code not recorded" not in commits):
        lines += ["Code: " + "; ".join(f"{n} run{'s' if n > 1 else ''} of {c}" for c, n in sorted(commits.items())) + "."]
    if any(r.get("other_numerics") for r in recs):
        lines += ["† reused runs of another numerics version (asked for): they were not made by this code's numbers."]
    return lines


def markdown(recipe: Recipe, table: list[dict], profile: str, results: list[dict]) -> str:
    """The table as Markdown (:func:`lrkit.recipes.render.render`): ours beside the paper, the checked claims,
    how the runs executed, the means per category and the speed."""
    report = Report(recipe.title).add(f"Profile `{profile}`: {environment_line(results)}. Paper: {recipe.source}.")
    if profile != "full":
        fewer = " and fewer rows" if len(table) < len(recipe.rows) else ""
        report.add(f"{profile.capitalize()} profile: shorter budget{fewer} than the paper — compare trends, not digits.")
    reused = sum(r["reused"] for r in table)
    if reused:
        report.add(f"{reused} of the runs were reused from the run store (same task and seed).")
    if recipe.metric == "iterations_to_target":
        target = table[0]["target"] if table else recipe.target_for(profile)
        if recipe.speedup_over == "budget":
            per = "the iteration budget (ours: the profile's, paper: its " f"{recipe.task.get('iters', 0):,})"
        else:
            base = next((r for r in table if r["baseline"]), None)
            per = f"the #iter of `{base['policy']}`" if base else "a baseline row (none is marked)"
        report.add(f"Target: test top-1 ≥ {100 * target:.2f}% (first eval that reaches it). Speed-up: {per} "
                   "over the row's #iter.")
        head = ["policy", "optimizer", "ours #iter @ target", "paper #iter @ target", "ours speed-up", "paper speed-up",
                "ours highest top-1 (%)", "reached", "status"]
        rows = []
        for r, res in zip(table, results):
            ours_it = ("—" if r["status"] == "not run" else
                       _num(r["ours_iters_to_target"], "{:.0f}") if r["ours_iters_to_target"] else "not reached")
            paper_it = "not reached" if r.get("paper_not_reached") else _num(r["paper_iters_to_target"], "{:.0f}")
            rows.append([_label(r), r["optimizer"], ours_it, paper_it, _num(r["ours_speedup"], "{:.2f}×"),
                         _num(r["paper_speedup"], "{:.2f}×"), _num(r["ours_highest_top1"], std=r["ours_std"]),
                         r["reached"], status_cell(r, res["records"])])
        report.add(table_lines(head, rows))
    else:
        head = ["policy", "optimizer", "ours highest top-1 (%)", "paper (%)", "ours − paper", "ours iter @ highest",
                "paper iter @ highest", "status"]
        report.add(table_lines(head, [[_label(r), r["optimizer"], _num(r["ours_highest_top1"], std=r["ours_std"]),
                                       _num(r["paper_highest_top1"], std=r["paper_std"]), _num(r["diff"], "{:+.2f}"),
                                       _num(r["ours_iter_at_highest"], "{:.0f}"), _num(r["paper_iter_at_highest"], "{:.0f}"),
                                       status_cell(r, res["records"])] for r, res in zip(table, results)]))
        if any(r.get("paper_highest_top5") is not None for r in table):  # ImageNet: the paper reports top-5 too
            report.add(table_lines(["policy", "ours highest top-5 (%)", "paper top-5 (%)"],
                                   [[_label(r), _num(r["ours_highest_top5"]), _num(r["paper_highest_top5"])] for r in table]))
    if len({r["optimizer"] for r in table}) > 1:
        report.add(side_by_side(table))
    report.add(*failures(table))
    report.claims(checks_verdicts(recipe, table))
    report.add(*runtime_lines(results))
    report.add(group_means(table))
    speed = throughput(results)
    if speed:
        report.add(speed)
    return render(report)


def status_cell(row: dict, records: list[dict]) -> str:
    """A row's status as its table prints it: one word where every run of the row ended alike, else each
    ending with its count (``complete ×3, diverged ×2``), so that a mean over the runs that finished is
    not read as a mean over all of them."""
    counts = Counter(rec["status"] for rec in records)
    if len(counts) <= 1:
        return row["status"]
    return ", ".join(f"{status} ×{n}" for status, n in sorted(counts.items()))


def failures(table: list[dict]) -> list[str]:
    """Markdown paragraphs saying why rows failed: each distinct message once, with the rows it ended
    (e.g. one "SVHN data not present" for a whole table); no lines when nothing failed."""
    by_message: dict[str, list[str]] = {}
    for r in table:
        if r.get("failure"):
            by_message.setdefault(" ".join(str(r["failure"]).split())[:400], []).append(f"`{r['policy']}`")
    lines = []
    for message, rows in by_message.items():
        which = rows[0] if len(rows) == 1 else f"{len(rows)} rows ({', '.join(rows[:3])}{', …' if len(rows) > 3 else ''})"
        lines.append(f"Failed — {which}: {message}")
    return lines


def throughput(results: list[dict]) -> str:
    """Iterations per second of the runs in the table (evaluations included), per device: what a
    profile costs where it ran (the full CIFAR profiles want a GPU)."""
    by: dict[str, list[float]] = {}
    for res in results:
        for r in res["records"]:
            s, env = r.get("summary", {}), r.get("environment", {})
            if s.get("iterations") and s.get("wall_time_s"):
                dev = env.get("device_name") or env.get("device") or "?"
                by.setdefault(dev, []).append(s["iterations"] / s["wall_time_s"])
    parts = [f"{dev}: median {statistics.median(v):.1f} it/s over {len(v)} run(s)" for dev, v in by.items()]
    return "Speed (iterations per second, evaluations included) — " + "; ".join(parts) if parts else ""


def _label(r: dict) -> str:
    """The policy (and what it ran as on a rescaled budget), then the paper's own name for the row."""
    s = f"`{r['policy']}`" if r["policy"] == r["run_policy"] else f"`{r['policy']} (ran as {r['run_policy']})`"
    s += " †" if r.get("other_numerics") else ""
    return f"{s} — {r['label']}" if r.get("label") else s


def side_by_side(table: list[dict]) -> list[str]:
    """One line per policy, one column pair per optimizer (the layout of the paper's Tables 11 and 12)."""
    opts = list(dict.fromkeys(r["optimizer"] for r in table))
    by = {(r["policy"], r["optimizer"]): r for r in table}
    head = ["policy"] + [f"{o} ours (iter)" for o in opts] + [f"{o} paper (iter)" for o in opts]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for pol in dict.fromkeys(r["policy"] for r in table):
        cells = [f"`{pol}`"]
        for key_acc, key_it in (("ours_highest_top1", "ours_iter_at_highest"), ("paper_highest_top1", "paper_iter_at_highest")):
            for o in opts:
                r = by.get((pol, o))
                cells.append("—" if r is None or r[key_acc] is None
                             else f"{r[key_acc]:.2f} ({_num(r[key_it], '{:.0f}')})")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def group_means(table: list[dict]) -> str:
    """Best and mean of our highest top-1 per category (and per optimizer when rows differ in it)."""
    many_opts = len({r["optimizer"] for r in table}) > 1
    groups: dict[str, list[float]] = {}
    for r in table:
        if r["ours_highest_top1"] is not None and r["category"]:
            name = f"{r['category']}/{r['optimizer']}" if many_opts else r["category"]
            groups.setdefault(name, []).append(r["ours_highest_top1"])
    parts = [f"{c}: best {max(v):.2f}%, mean {statistics.fmean(v):.2f}%" for c, v in groups.items()]
    return "By category (ours) — " + "; ".join(parts) if parts else ""


# more policies than this and the LR legend goes below both panels (inside, 19 rows of Table 5 hid the curves)
LEGEND_INSIDE_MAX = 8


def plot(results: list[dict], out_dir: Path, target: float | None = None) -> list[str]:
    """``curves.png``: LR per iteration (log scale) and test top-1 per eval, one line per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = curves_figure(results, target)
    p = out_dir / "curves.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [str(p)]


def curves_figure(results: list[dict], target: float | None = None):
    """The figure of :func:`plot`: the LR per iteration and the test top-1 per eval, one colour per policy.
    Up to ``LEGEND_INSIDE_MAX`` policies the legend sits in the LR panel; with more it goes below both
    panels, in columns, and the figure grows to hold it."""
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    lr_rows, acc_rows = [], []
    many_opts = len({res["config"]["optimizer"] for res in results}) > 1
    seen_lr = set()
    for res in results:
        if not res["records"]:
            continue
        rec = res["records"][0]
        name = res["config"]["policy"]
        label = f"{name} [{res['config']['optimizer']}]" if many_opts else name
        lrs = rec["curves"]["lr"]
        step = max(1, len(lrs) // 1000)
        if name not in seen_lr:  # the LR curve does not depend on the optimizer
            seen_lr.add(name)
            lr_rows += [{"iteration": i, "lr": v, "policy": name} for i, v in enumerate(lrs) if i % step == 0]
        for it, a in zip(rec["evals"]["iteration"], rec["evals"]["top1"]):
            if isinstance(a, (int, float)):
                acc_rows.append({"iteration": it, "top-1 accuracy (%)": 100 * a, "run": label,
                                 "optimizer": res["config"]["optimizer"]})
    if lr_rows:
        sns.lineplot(pd.DataFrame(lr_rows), x="iteration", y="lr", hue="policy", ax=axes[0], linewidth=1)
        axes[0].set_yscale("log")
        axes[0].set_title("LR per iteration")
    if acc_rows:
        df = pd.DataFrame(acc_rows)
        sns.lineplot(df, x="iteration", y="top-1 accuracy (%)", hue="run", style="optimizer" if many_opts else None,
                     ax=axes[1], linewidth=1, legend=False)
        hi = df["top-1 accuracy (%)"].max()
        # near 100% (MNIST) the last 3 points are where policies differ; lower (CIFAR, short budgets) show
        # every run's peak and the climb to it
        lo = hi - 3 if hi >= 95 else df.groupby("run")["top-1 accuracy (%)"].max().min() - 10
        axes[1].set_ylim(max(0, lo), hi + 0.3)
        if target is not None:
            axes[1].axhline(100 * target, color="k", linestyle=":", linewidth=1)
            axes[1].set_title(f"test top-1 accuracy (dotted: target {100 * target:.2f}%)")
        else:
            axes[1].set_title("test top-1 accuracy")
    n = len(seen_lr)
    if lr_rows and n <= LEGEND_INSIDE_MAX:
        axes[0].legend(fontsize=6)
        fig.tight_layout()
    elif lr_rows:
        handles, labels = axes[0].get_legend_handles_labels()
        axes[0].get_legend().remove()
        ncol = 3
        rows = -(-n // ncol)
        legend_h = 0.16 * rows + 0.15  # inches
        fig.set_size_inches(13, 4.5 + legend_h)
        fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=7, frameon=False)
        fig.tight_layout(rect=(0, legend_h / (4.5 + legend_h), 1, 1))
    else:
        fig.tight_layout()
    return fig


def compare_budgets(folders: dict[str, str | Path]) -> list[dict]:
    """One table's rows at several budgets (profiles), read from their committed ``results.json``.

    ``folders`` maps a column name (e.g. ``"short (1,750 it)"``) to a results folder; a folder without
    ``results.json`` is left out. One entry per (policy, optimizer), in the order rows first appear:
    ``policy``, ``optimizer``, ``label``, ``category``, ``paper`` (the paper's highest top-1, %) and
    ``by`` (column name → that profile's summarised row, as in its ``results.json``'s ``table``).
    """
    entries: dict[tuple, dict] = {}
    for column, folder in folders.items():
        f = Path(folder) / "results.json"
        if not f.is_file():
            continue
        for r in json.loads(f.read_text())["table"]:
            e = entries.setdefault((r["policy"], r["optimizer"]), {
                "policy": r["policy"], "optimizer": r["optimizer"], "label": r.get("label"),
                "category": r.get("category", ""), "paper": r.get("paper_highest_top1"), "by": {}})
            e["by"][column] = r
    return list(entries.values())


def rank_correlation(ours: list[float], paper: list[float]) -> float | None:
    """Spearman's ρ (ties get their average rank); None with fewer than three pairs or a constant side."""
    import pandas as pd

    if len(ours) < 3:
        return None
    rho = pd.DataFrame({"ours": ours, "paper": paper}).corr(method="spearman").iloc[0, 1]
    return None if pd.isna(rho) else float(rho)


def budgets_markdown(folders: dict[str, str | Path], only: str | None = None) -> str:
    """Markdown: each row's highest top-1 (and the iteration it was reached) per budget beside the
    paper's, then per budget how many rows ran and Spearman's ρ of their order with the paper's.
    ``only``: a column name; keep just the rows that budget has (a profile that ran some rows)."""
    every = compare_budgets(folders)
    many_opts = len({e["optimizer"] for e in every}) > 1  # the table compares optimizers (Tables 11, 12)
    entries = [e for e in every if only is None or only in e["by"]]
    columns = [c for c in folders if any(c in e["by"] for e in entries)]
    missing = [f"`{folders[c]}`" for c in folders if c not in columns]
    head = ["policy", *(["optimizer"] if many_opts else []), *(f"{c}: ours (iter)" for c in columns), "paper"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for e in entries:
        name = f"`{e['policy']}`" + (f" — {e['label']}" if e["label"] else "")
        cells = [name, *([e["optimizer"]] if many_opts else [])]
        for c in columns:
            r = e["by"].get(c)
            if r is None or r["status"] == "not run":
                cells.append("—")
            elif r["ours_highest_top1"] is None:  # ran, and never evaluated above nothing: diverged or failed
                cells.append(r["status"])
            else:
                then = "" if r["status"] == "complete" else f", then {r['status']}"
                cells.append(f"{r['ours_highest_top1']:.2f} ({_num(r['ours_iter_at_highest'], '{:.0f}')}{then})")
        lines.append("| " + " | ".join([*cells, _num(e["paper"])]) + " |")
    notes = []
    for c in columns:
        pairs = [(e["by"][c]["ours_highest_top1"], e["paper"]) for e in entries
                 if c in e["by"] and e["by"][c]["ours_highest_top1"] is not None and e["paper"] is not None]
        rho = rank_correlation(*zip(*pairs)) if pairs else None
        notes.append(f"{c}: {len(pairs)} rows" + ("" if rho is None else f", Spearman's ρ with the paper {rho:.2f}"))
    lines += ["", "Rows with our run — " + "; ".join(notes) + "."]
    if missing:
        lines += ["", "No committed results in " + ", ".join(missing) + "."]
    return "\n".join(lines) + "\n"
