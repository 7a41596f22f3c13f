"""What Table V shows from a results document (``results.json`` of :func:`lrkit.llm.table5.reproduce_table5`):
the table and the paper's as DataFrames, throughput, the Markdown through the one recipe renderer
(:mod:`lrkit.recipes.render`), the paper's claims checked on our scores, and Fig. 7."""

from __future__ import annotations

import statistics
from pathlib import Path

from lrkit.recipes import Report, render, table_lines
from lrkit.recipes.claims import check_claims as check_entries
from lrkit.recipes.claims import matches

from .compare import compared_rows, difference_lookup, significant, stage_differences
from .report import PAPER_FEWSHOT, TABLE5_COLUMNS, TABLE5_METRIC, Z95, best_per_column, separated_best, table5_columns, table5_scores

def table_frame(doc: dict):
    """Table V as a DataFrame indexed by (run, stage), the paper's column names with the shot counts the
    profile scored with (``ARC(25)`` …; a profile's ``eval_fewshot`` shows as e.g. ``ARC(2)``)."""
    import pandas as pd

    df = pd.DataFrame(doc["table"]).set_index(["run", "stage"])
    return df.rename(columns=table5_columns(doc["config"].get("eval_fewshot")))


def paper_frame(doc: dict):
    import pandas as pd

    cols = [TABLE5_COLUMNS[t] for t in ("arc", "hellaswag", "mmlu", "truthfulqa")]
    rows = [(("Pre-trained LLM", "baseline"), doc["paper"]["baseline"])]
    for label, vals in doc["paper"]["rows"].items():
        rows += [((label, f"epoch {i + 1}"), v) for i, v in enumerate(vals or [])]
    return pd.DataFrame([v for _, v in rows], index=pd.MultiIndex.from_tuples([k for k, _ in rows], names=["run", "stage"]),
                        columns=cols)


def throughput(doc: dict) -> dict:
    """Fine-tuning tokens/s and eval items/s per task, each the median over the runs (and eval stages) that
    recorded it — reused runs included, as their numbers were measured when they ran. The median, not the
    mean, so that one run slowed by another job on the machine does not set the figure."""
    tps = [r["tokens_per_s"] for r in doc["runs"] if r.get("tokens_per_s")]
    rates: dict = {}
    timings = [doc["baseline_timing"]] + [t for r in doc["runs"] for t in (r["eval_timing"] or [])]
    for t in timings:
        for task, v in (t or {}).items():
            if isinstance(v, dict) and v.get("seconds"):
                rates.setdefault(task, []).append(v["items"] / v["seconds"])
    return {"tokens_per_s": statistics.median(tps) if tps else None,
            "eval_items_per_s": {t: statistics.median(v) for t, v in rates.items()}}


def stderr_frame(doc: dict):
    """The standard error of every cell of :func:`table_frame` (same index and headers), from the
    document's tidy evaluation rows."""
    import pandas as pd

    se = table5_scores(pd.DataFrame(doc["evals"]), values="stderr")
    se = se.rename(columns=table5_columns(doc["config"].get("eval_fewshot")))
    return se.reindex(index=table_frame(doc).index, columns=table_frame(doc).columns)


def markdown(doc: dict, checks: list | None = None) -> str:
    """Table V as Markdown (:func:`lrkit.recipes.render.render`): every cell with its 95% interval, the best
    fine-tuned row of a column marked where it is separated, the paper's best, costs and how items were scored,
    then the paper's claims (``checks``; default the document's own) checked on our scores."""
    df, se = table_frame(doc), stderr_frame(doc)
    headers = table5_columns(doc["config"].get("eval_fewshot"))
    best = {(i, c) for c, i in significant_best(doc).items()}
    cols = list(df.columns)
    report = Report(doc["title"], level=3).add(
        f"Profile `{doc['profile']}`; model `{Path(doc['config']['model']).name}`; "
        f"{_env_line(doc)}; {doc['date']}. Each cell: score ± the half-width of its 95% interval "
        f"({Z95:.2f} × the standard error over items). Bold: the best fine-tuned row of a column, only where "
        f"it exceeds the next by more than {Z95:.2f} standard errors of the difference (paired over items where both "
        f"rows kept them)"
        + ("" if best else " (no column has one here)") + ".")
    rows = []
    for (run, stage), row in df.iterrows():
        cells = []
        for c, v in row.items():
            if v != v:
                cells.append("–")
                continue
            e = se.loc[(run, stage), c]
            text = f"{v:.4f} ± {Z95 * e:.4f}" if e == e else f"{v:.4f} ± n/a"  # n/a: fewer than 2 items (per subject)
            cells.append(f"**{text}**" if ((run, stage), c) in best else text)
        rows.append([run, stage, *cells])
    report.add(table_lines(["model", "stage", *cols], rows))
    widest = float((Z95 * se).max().max()) if se.size else float("nan")
    if widest == widest:
        report.add(f"Widest 95% interval: ±{100 * widest:.1f} pp.")
    report.add(*_differences_paragraphs(doc, headers))
    tp = throughput(doc)
    report.add("Paper (LLaMA-7B, Alpaca-52K): " + _paper_line(doc))
    lines = []
    if doc.get("compute_time_s"):
        lines.append(f"Compute time: {doc['compute_time_s'] / 3600:.2f} h of fine-tuning and scoring, summed over the "
                     f"sittings the run was made in (this sitting's wall time: {doc['wall_time_s'] / 3600:.2f} h).")
    if tp["tokens_per_s"]:
        lines.append(f"Fine-tuning: {tp['tokens_per_s']:.0f} tokens/s (median over runs). Evaluation items/s: "
                     + ", ".join(f"{t} {v:.2f}" for t, v in tp["eval_items_per_s"].items()) + ".")
    lines.append("Items scored: " + _items_line(doc) + "; ARC/HellaSwag few-shot examples drawn (seeded) from other "
                 "items of the same split (no training split here), MMLU's from its dev split.")
    lines.append("Scored as lm-evaluation-harness 0.4.13 scores each item (tested equal per item), with these differences "
                 "from its standard tasks: the ARC/HellaSwag few-shot source above (lm-eval: their training splits); "
                 "HellaSwag's ctx_b keeps its lower-case start (the local file does not mark where ctx_a ends; lm-eval "
                 "capitalises it); MMLU is the unweighted mean over subjects, as the paper's Table V (lm-eval's mmlu group "
                 "weights subjects by size, i.e. the mean over items: the evaluation rows keep it too).")
    shots = doc["config"].get("eval_fewshot")
    if shots:
        lines.append("Few-shot examples per item set by the profile, not the paper's: "
                     + ", ".join(f"{t} {k} (paper {PAPER_FEWSHOT[t]})" for t, k in shots.items()) + ".")
    bad = [r for r in doc["runs"] if r["status"] != "complete"]
    for r in bad:
        lines.append(f"- {r['label']}: {r['status']} — {r['message']}")
    report.add(lines)
    report.claims(check_claims(doc.get("checks", []) if checks is None else checks, doc), note=CLAIMS_NOTE)
    return render(report)


#: what the verdict lines of Table V's claims say (one run per policy: the error is over evaluation items)
CLAIMS_NOTE = ("The paper's claims checked on our scores (percent; one fine-tuning run per policy, so 1 seed; "
               "'clear': margin ≥ 2 standard errors of the difference, over items, paired where both rows kept them):")


def differences(doc: dict) -> list[dict]:
    """The document's differences between its compared rows (:mod:`lrkit.llm.compare`; paired where the
    rows kept their items); a document made before they were stored gets the unpaired ones, from its table."""
    if "differences" in doc:
        return doc["differences"]
    import pandas as pd

    values = table5_scores(pd.DataFrame(doc["evals"]))
    errors = table5_scores(pd.DataFrame(doc["evals"]), values="stderr").reindex_like(values)
    return stage_differences(values, errors, {}, compared_rows(values, doc.get("baseline_label", "Pre-trained LLM")))


def significant_best(doc: dict) -> dict:
    """{column of :func:`table_frame`: (run, stage)} of the columns whose best fine-tuned row is separated
    from the next best (:func:`lrkit.llm.report.separated_best`), judged by the paired error where both
    rows kept their items."""
    df, se = table_frame(doc), stderr_frame(doc)
    tuned = df.drop(index=doc.get("baseline_label", "Pre-trained LLM"), level=0, errors="ignore")
    headers = table5_columns(doc["config"].get("eval_fewshot"))
    paired = {(a, b, headers[t]): e for (a, b, t), e in difference_lookup(differences(doc)).items()}
    return separated_best(tuned, se.loc[tuned.index], paired=paired)


def differences_frame(doc: dict):
    """The differences as a DataFrame: one row per (row a, row b) pair, per task the difference a − b and
    its 95% half-width in percentage points, whether it is significant and whether it was paired."""
    import pandas as pd

    rows = [{"a": " ".join(e["a"]), "b": " ".join(e["b"]), "task": e["task"], "diff_pp": 100 * e["diff"],
             "ci95_pp": None if e["se"] is None else 100 * Z95 * e["se"], "significant": significant(e),
             "paired_items": e["n"] if e["paired"] else None} for e in differences(doc)]
    return pd.DataFrame(rows, columns=["a", "b", "task", "diff_pp", "ci95_pp", "significant", "paired_items"])


def _differences_paragraphs(doc: dict, headers: dict) -> list:
    """Table V's rows compared (the baseline and each policy's last scored stage, every pair, every task):
    a sentence and a table, or nothing."""
    entries = differences(doc)
    if not entries:
        return []
    pairs: dict = {}
    for e in entries:
        pairs.setdefault((tuple(e["a"]), tuple(e["b"])), {})[e["task"]] = e
    tasks = [t for t in doc["tasks"] if any(t in v for v in pairs.values())]
    unpaired = any(not e["paired"] for e in entries)
    rows = []
    for (a, b), by_task in pairs.items():
        cells = []
        for t in tasks:
            e = by_task.get(t)
            if e is None or e["se"] is None or e["se"] != e["se"]:
                cells.append("–" if e is None else f"{100 * e['diff']:+.1f} ± n/a")
                continue
            text = f"{100 * e['diff']:+.1f} ± {100 * Z95 * e['se']:.1f}" + ("" if e["paired"] else " †")
            cells.append(f"**{text}**" if significant(e) else text)
        rows.append([_row_name(a), _row_name(b), *cells])
    n_sig = sum(significant(e) for e in entries)
    return ["Differences between the rows compared (the baseline and each policy's last scored stage): row A − row B "
            "in percentage points ± the half-width of its 95% interval, paired over the items both scored"
            + (" († unpaired: one of the rows did not keep its items, and the interval of two independent scores "
               "overstates the error)" if unpaired else "")
            + f". Bold: significant (the interval excludes 0): {n_sig} of {len(entries)}.",
            table_lines(["row A", "row B", *[headers[t] for t in tasks]], rows)]


def _row_name(row) -> str:
    run, stage = row
    return run if stage == "baseline" else f"{run}, {stage}"


def claim_entries(doc: dict) -> list[dict]:
    """Every (run, stage, task) score of the document as a claim entry (:mod:`lrkit.recipes.claims`), in
    percent with its standard error over items; ``run`` is the row key (``"baseline"`` for the pretrained
    model), ``last`` marks each run's last scored stage."""
    import pandas as pd

    label = doc.get("baseline_label", "Pre-trained LLM")
    keys = {r["label"]: r["key"] for r in doc["runs"]}
    evals = pd.DataFrame(doc["evals"])
    if evals.empty:
        return []
    values = table5_scores(evals)
    errors = table5_scores(evals, values="stderr").reindex(index=values.index, columns=values.columns)
    out = []
    for (run, stage), row in values.iterrows():
        key = "baseline" if run == label else keys.get(run, run)
        stages = [s for r, s in values.index if r == run]
        for task, v in row.items():
            if v != v:
                continue
            e = errors.loc[(run, stage), task]
            out.append({"name": stage, "value": 100 * float(v), "std": None, "seeds": 1,
                        "se": 100 * float(e) if e == e else None, "run": key, "label": run, "stage": stage,
                        "task": task, "last": stage == stages[-1]})
    return out


def _select(entries: list[dict], group) -> list[dict]:
    g = {"run": group} if isinstance(group, str) else dict(group)
    if g.get("stage") == "last":
        g.pop("stage")
        g["last"] = True
    return [e for e in entries if matches(e, g)]


def check_claims(checks: list[dict], doc: dict) -> list[dict]:
    """The recipe's claims checked on the document's scores (higher is better); 'clear' is judged by the
    paired error of the two scores where both rows kept their items (:mod:`lrkit.llm.compare`)."""
    if not checks:
        return []
    lookup = difference_lookup(differences(doc))

    def paired_se(a: dict, b: dict):
        if a["task"] != b["task"]:
            return None  # scores of two tasks share no items
        e = lookup.get(((a["label"], a["stage"]), (b["label"], b["stage"]), a["task"]))
        return 100 * e["se"] if e is not None and e["paired"] and e["se"] is not None else None

    return check_entries(checks, claim_entries(doc), select=_select, difference_se=paired_se)


def _items_line(doc) -> str:
    n = doc["config"].get("eval_limit")
    subj = doc["config"].get("eval_subjects")
    lim = n if isinstance(n, dict) else {t: n for t in doc["tasks"]}
    parts = []
    for t in doc["tasks"]:
        k = lim.get(t)
        if t == "mmlu":
            where = f"{len(subj)} subjects" if subj else "each of the 57 subjects"
            parts.append(f"mmlu {'all' if k is None else f'the first {k}'} of {where}")
        else:
            parts.append(f"{t} {'all' if k is None else f'the first {k}'}")
    return ", ".join(parts)


def _paper_line(doc) -> str:
    p = paper_frame(doc)
    best = best_per_column(p.drop(index="Pre-trained LLM", level=0))
    return "; ".join(f"best {c} {p.loc[best[c], c]:.4f} ({best[c][0]}, {best[c][1]})" for c in p.columns)


def _env_line(doc) -> str:
    e = doc.get("environment") or {}
    dev = e.get("gpu") or f"CPU {e.get('device_name') or e.get('processor', '')} x{e.get('threads', '?')} threads"
    return f"{dev}, torch {e.get('torch', '?')}, transformers {e.get('transformers', '?')}"


def plot_fig7_of(doc: dict, path=None):
    """Fig. 7 of a results document: the runs' LR and loss curves, and (c) their Table V scores at the
    last epoch beside the baseline's, with 95% intervals."""
    import pandas as pd

    from .fig7 import FIG7_COLORS, plot_fig7

    runs = {r["label"]: {"curves": r["curves"]} for r in doc["runs"]}
    colors = {r["label"]: FIG7_COLORS.get(r["key"]) for r in doc["runs"]}
    spe = next((r["steps_per_epoch"] for r in doc["runs"] if r["steps_per_epoch"]), None)
    ev = pd.DataFrame(doc["evals"])
    scores = ev[ev["metric"] == ev["task"].map(TABLE5_METRIC)] if len(ev) else None
    return plot_fig7(runs, steps_per_epoch=spe, colors=colors if all(colors.values()) else None, path=path,
                     title=f"Fig. 7 ({doc['profile']} profile)", scores=scores,
                     baseline=doc.get("baseline_label", "Pre-trained LLM"))
