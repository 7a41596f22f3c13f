"""The paper's claims, checked on our values: each verdict with its margin and the seeds behind it.

A recipe states what the paper concludes as ``[[checks]]``:

    [[checks]]
    says = "cyclic beats fixed"
    better = "cyclic"                 # a row category, or {category=, optimizer=, policies=[...]}
    worse = "fixed"
    how = "best"                      # best (default): the best row of each group; mean: the mean of its rows

and :func:`check_claims` compares the two groups on the table's metric — the highest top-1 (higher is
better) or the iterations to the target (fewer is better; a row that never reaches it counts as
never). The verdict is ``holds`` / ``fails`` / ``open`` (a group has no result), with the margin in the
metric's unit, the seeds behind each side, and, where both sides have two or more seeds, the margin in
standard errors (Welch) — ``clear`` when it is at least 2.
"""

from __future__ import annotations

import math
import statistics

HOW = ("best", "mean")
CHECK_KEYS = {"says", "better", "worse", "how"}
GROUP_KEYS = {"category", "optimizer", "policies"}


def validate_checks(checks, where: str) -> list[dict]:
    """The recipe's ``checks`` with every key known, or a ValueError naming the field."""
    from lrkit.policies import parse

    if not isinstance(checks, list):
        raise ValueError(f"{where}: field 'checks' must be a list of tables ([[checks]])")
    out = []
    for i, c in enumerate(checks):
        unknown = sorted(set(c) - CHECK_KEYS)
        if unknown:
            raise ValueError(f"{where}: checks[{i}] has unknown key(s) {unknown}; allowed: {', '.join(sorted(CHECK_KEYS))}")
        for key in ("says", "better", "worse"):
            if key not in c:
                raise ValueError(f"{where}: checks[{i}] needs field '{key}'")
        if c.get("how", "best") not in HOW:
            raise ValueError(f"{where}: checks[{i}].how must be one of {', '.join(HOW)}, got {c['how']!r}")
        for side in ("better", "worse"):
            g = c[side]
            if isinstance(g, dict):
                bad = sorted(set(g) - GROUP_KEYS)
                if bad:
                    raise ValueError(f"{where}: checks[{i}].{side} has unknown key(s) {bad}; allowed: "
                                     f"{', '.join(sorted(GROUP_KEYS))}")
                for spec in g.get("policies", []):
                    parse(spec)
            elif not isinstance(g, str):
                raise ValueError(f"{where}: checks[{i}].{side} must be a category or a table of "
                                 f"{', '.join(sorted(GROUP_KEYS))}")
        out.append(dict(c))
    return out


def _members(table: list[dict], group) -> list[dict]:
    from lrkit.policies import parse

    g = {"category": group} if isinstance(group, str) else group
    rows = table
    if "category" in g:
        rows = [r for r in rows if r.get("category") == g["category"]]
    if "optimizer" in g:
        rows = [r for r in rows if r.get("optimizer") == g["optimizer"]]
    if "policies" in g:
        want = {str(parse(p)) for p in g["policies"]}
        rows = [r for r in rows if str(parse(r["policy"])) in want]
    return rows


def _describe(group) -> str:
    if isinstance(group, str):
        return group
    return " ".join(str(v) if not isinstance(v, list) else "/".join(v) for v in group.values())


def _value(row: dict, metric: str):
    """(value, std, seeds) of a row on the metric; value None when the row has no result, inf when it never
    reaches the target."""
    seeds = int(row.get("seeds") or 0)
    if metric == "iterations_to_target":
        if not seeds:
            return None, None, 0
        it = row.get("ours_iters_to_target")
        return (math.inf if it is None else float(it)), None, seeds
    v = row.get("ours_highest_top1")
    return (None if v is None else float(v)), row.get("ours_std"), seeds


def check_claims(checks: list[dict], table: list[dict], metric: str) -> list[dict]:
    """One verdict per check: ``{says, verdict, margin, unit, better, worse, clear}`` where better/worse are
    ``{group, row, value, std, seeds}`` (``row``: the best row, or ``"mean of N rows"``)."""
    higher = metric != "iterations_to_target"
    unit = "pp" if higher else "iterations"
    out = []
    for c in checks:
        how = c.get("how", "best")
        sides = {}
        for side in ("better", "worse"):
            rows = [(r, *_value(r, metric)) for r in _members(table, c[side])]
            rows = [x for x in rows if x[1] is not None]
            if not rows:
                sides[side] = {"group": _describe(c[side]), "row": None, "value": None, "std": None, "seeds": 0}
                continue
            if how == "mean":
                vals = [x[1] for x in rows]
                sides[side] = {"group": _describe(c[side]), "row": f"mean of {len(rows)} rows",
                               "value": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else None,
                               "seeds": min(x[3] for x in rows)}
            else:
                r, v, sd, n = max(rows, key=lambda x: x[1]) if higher else min(rows, key=lambda x: x[1])
                sides[side] = {"group": _describe(c[side]), "row": r["policy"], "value": v, "std": sd, "seeds": n}
        a, b = sides["better"], sides["worse"]
        verdict, margin, clear = "open", None, None
        if a["value"] is not None and b["value"] is not None:
            if math.isinf(a["value"]) and math.isinf(b["value"]):
                verdict = "fails"  # neither reaches the target: no group is sooner
            else:
                margin = (a["value"] - b["value"]) if higher else (b["value"] - a["value"])
                verdict = "holds" if margin > 0 else "fails"
                if how == "best" and a["std"] is not None and b["std"] is not None and min(a["seeds"], b["seeds"]) > 1:
                    se = math.sqrt(a["std"] ** 2 / a["seeds"] + b["std"] ** 2 / b["seeds"])
                    clear = bool(se > 0 and abs(margin) / se >= 2)
        out.append({"says": c["says"], "verdict": verdict, "margin": margin, "unit": unit, "how": how,
                    "better": a, "worse": b, "clear": clear})
    return out


def _side(s: dict, unit: str) -> str:
    if s["value"] is None:
        return f"{s['group']}: no result"
    if math.isinf(s["value"]):
        val = "never reaches the target"
    else:
        val = f"{s['value']:.2f}%" if unit == "pp" else f"{s['value']:,.0f}"
        over = " over rows" if str(s["row"]).startswith("mean of") else ""
        val += f" ± {s['std']:.2f}{over}" if s["std"] is not None else ""
    seeds = f"{s['seeds']} seed{'s' if s['seeds'] != 1 else ''}"
    return f"{s['group']} `{s['row']}` {val} ({seeds})" if s["row"] else f"{s['group']} {val} ({seeds})"


def markdown_lines(verdicts: list[dict]) -> list[str]:
    """The checked claims as Markdown lines (none when the recipe states none)."""
    if not verdicts:
        return []
    lines = ["", "The paper's claims checked on our values (margin in the table's unit; std over seeds; "
                 "'clear': margin ≥ 2 standard errors, where both sides have 2+ seeds):", ""]
    for v in verdicts:
        margin = "" if v["margin"] is None or math.isinf(v["margin"]) else (
            f", margin {v['margin']:+.2f} pp" if v["unit"] == "pp" else f", margin {v['margin']:+,.0f} iterations")
        if v["margin"] is not None and math.isinf(v["margin"]):
            margin = ", the other side never reaches the target"
        clear = "" if v["clear"] is None else (" (clear)" if v["clear"] else " (within noise)")
        lines.append(f"- **{v['says']}** ({v['how']} of each): {v['verdict']}{clear} — "
                     f"{_side(v['better'], v['unit'])} vs {_side(v['worse'], v['unit'])}{margin}")
    return lines
