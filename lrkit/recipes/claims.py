"""The paper's claims, checked on our values: each verdict with its margin and the seeds behind it.

A recipe of any family states what the paper concludes as ``[[checks]]``:

    [[checks]]
    says = "cyclic beats fixed"
    better = "cyclic"                 # a group: a string (the family's shorthand) or a table of attributes
    worse = "fixed"
    how = "best"                      # best (default): the best entry of each group; mean: the mean of its entries

What a group selects depends on the family (table rows by ``category``/``optimizer``/``policies``; a search
or one cell of it; an LLM run's score on a task at a stage): the family turns its results into *entries*,
dicts with ``name`` (shown in the verdict), ``value`` (None: no result; ``inf``/``-inf``: never reached),
``std`` and ``seeds`` (the spread over seeds), optionally ``se`` (a standard error of its own, e.g. over
evaluation items), and the attributes its groups select on. :func:`check_claims` compares the two groups:
the verdict is ``holds`` / ``fails`` / ``open`` (a group has no result), with the margin in the values'
unit, the seeds behind each side, and — where both sides have a standard error (from 2+ seeds, or their
own) — ``clear`` when the margin is at least 2 standard errors of the difference (Welch).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable

HOW = ("best", "mean")
CHECK_KEYS = ("says", "better", "worse", "how")
#: what the verdict lines say about 'clear' for seed-based values
SEED_NOTE = ("The paper's claims checked on our values (margin in the table's unit; std over seeds; "
             "'clear': margin ≥ 2 standard errors, where both sides have 2+ seeds):")


def validate_claims(checks, where: str, group_keys: Iterable[str], shorthand: str,
                    check_group: Callable[[str, dict], None] | None = None) -> list[dict]:
    """The recipe's ``checks``, every key known, or a ValueError naming the field.

    group_keys: the attributes a group may name; shorthand: what a group written as a string names;
    check_group(name, group): a family's own check of a group's values (e.g. policies that parse).
    """
    group_keys = sorted(group_keys)
    if not isinstance(checks, list):
        raise ValueError(f"{where}: field 'checks' must be a list of tables ([[checks]])")
    out = []
    for i, c in enumerate(checks):
        if not isinstance(c, dict):
            raise ValueError(f"{where}: checks[{i}] must be a table, got {c!r}")
        unknown = sorted(set(c) - set(CHECK_KEYS))
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
                bad = sorted(set(g) - set(group_keys))
                if bad:
                    raise ValueError(f"{where}: checks[{i}].{side} has unknown key(s) {bad}; allowed: "
                                     f"{', '.join(group_keys)}")
            elif not isinstance(g, str):
                raise ValueError(f"{where}: checks[{i}].{side} must be a {shorthand} or a table of "
                                 f"{', '.join(group_keys)}")
            if check_group is not None:
                check_group(f"{where}: checks[{i}].{side}", {shorthand: g} if isinstance(g, str) else g)
        out.append(dict(c))
    return out


def describe(group) -> str:
    """A group in words: its values, in the order written."""
    if isinstance(group, str):
        return group
    return " ".join(str(v) if not isinstance(v, list) else "/".join(map(str, v)) for v in group.values())


def matches(entry: dict, group: dict) -> bool:
    """The entry has every attribute of the group (a list: any of its values)."""
    for k, want in group.items():
        have = entry.get(k)
        if isinstance(want, list):
            if have not in want:
                return False
        elif have != want and not (isinstance(have, float) and isinstance(want, (int, float))
                                   and math.isclose(have, want, rel_tol=1e-9)):
            return False
    return True


def _standard_error(side: dict) -> float | None:
    if side.get("se") is not None:
        return side["se"]
    if side["std"] is not None and side["seeds"] > 1:
        return side["std"] / math.sqrt(side["seeds"])
    return None


def check_claims(checks: list[dict], entries: list[dict], higher: bool = True, unit: str = "pp",
                 select: Callable[[list[dict], object], list[dict]] | None = None,
                 difference_se: Callable[[dict, dict], float | None] | None = None) -> list[dict]:
    """One verdict per check: ``{says, verdict, margin, unit, how, better, worse, clear}``; better/worse are
    ``{group, row, value, std, seeds}`` (``row``: the best entry's name, or ``"mean of N rows"``).

    higher: whether a higher value is better (accuracy) or a lower one (iterations to a target);
    select(entries, group): the entries of a group (default: :func:`matches` on the group's attributes);
    difference_se(better, worse): the standard error of the difference of two chosen entries where the
    family knows it better than two independent errors do (e.g. paired over the items both scored), or None.
    """
    select = select or (lambda es, g: [e for e in es if matches(e, g)])
    out = []
    for c in checks:
        how = c.get("how", "best")
        sides = {}
        for side in ("better", "worse"):
            rows = [e for e in select(entries, c[side]) if e.get("value") is not None]
            base = {"group": describe(c[side]), "row": None, "value": None, "std": None, "seeds": 0}
            if not rows:
                sides[side] = base
            elif how == "mean":
                vals = [e["value"] for e in rows]
                sides[side] = {**base, "row": f"mean of {len(rows)} rows", "value": statistics.fmean(vals),
                               "std": statistics.stdev(vals) if len(vals) > 1 else None,
                               "seeds": min(int(e.get("seeds") or 0) for e in rows)}
            else:
                e = max(rows, key=lambda e: e["value"]) if higher else min(rows, key=lambda e: e["value"])
                sides[side] = {**base, "row": e["name"], "value": e["value"], "std": e.get("std"),
                               "seeds": int(e.get("seeds") or 0), "entry": e,
                               **({"se": e["se"]} if e.get("se") is not None else {})}
        a, b = sides["better"], sides["worse"]
        verdict, margin, clear = "open", None, None
        if a["value"] is not None and b["value"] is not None:
            if math.isinf(a["value"]) and math.isinf(b["value"]):
                verdict = "fails"  # neither reaches the target: no group is sooner
            else:
                margin = (a["value"] - b["value"]) if higher else (b["value"] - a["value"])
                verdict = "holds" if margin > 0 else "fails"
                sa, sb = _standard_error(a), _standard_error(b)
                paired = difference_se(a["entry"], b["entry"]) if how == "best" and difference_se else None
                if paired is not None:
                    clear = bool(paired > 0 and abs(margin) / paired >= 2)
                elif how == "best" and sa is not None and sb is not None:
                    se = math.sqrt(sa ** 2 + sb ** 2)
                    clear = bool(se > 0 and abs(margin) / se >= 2)
        for s in (a, b):
            s.pop("se", None)
            s.pop("entry", None)
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


def markdown_lines(verdicts: list[dict], note: str = SEED_NOTE) -> list[str]:
    """The checked claims as Markdown lines (none when the recipe states none): a blank line, ``note``, a blank
    line, one bullet per claim."""
    if not verdicts:
        return []
    lines = ["", note, ""]
    for v in verdicts:
        margin = "" if v["margin"] is None or math.isinf(v["margin"]) else (
            f", margin {v['margin']:+.2f} pp" if v["unit"] == "pp" else f", margin {v['margin']:+,.0f} iterations")
        if v["margin"] is not None and math.isinf(v["margin"]):
            margin = ", the other side never reaches the target"
        clear = "" if v["clear"] is None else (" (clear)" if v["clear"] else " (within noise)")
        lines.append(f"- **{v['says']}** ({v['how']} of each): {v['verdict']}{clear} — "
                     f"{_side(v['better'], v['unit'])} vs {_side(v['worse'], v['unit'])}{margin}")
    return lines
