"""The paper's claims for a table recipe, checked on its summarised rows (:mod:`lrkit.recipes.claims`).

A table's group is a row ``category`` (a group written as a string) or a table of ``category``,
``optimizer`` and ``policies``; the value compared is the table's metric — the highest top-1 (higher is
better) or the iterations to the target (fewer is better; a row that never reaches it counts as never).
"""

from __future__ import annotations

import math

from lrkit.recipes.claims import check_claims as check_entries
from lrkit.recipes.claims import markdown_lines, matches, validate_claims

GROUP_KEYS = ("category", "optimizer", "policies")

__all__ = ["GROUP_KEYS", "check_claims", "entries", "markdown_lines", "validate_checks"]


def _check_policies(where: str, group: dict) -> None:
    from lrkit.policies import parse

    for spec in group.get("policies", []):
        parse(spec)


def validate_checks(checks, where: str) -> list[dict]:
    """The recipe's ``checks`` with every key known, or a ValueError naming the field."""
    return validate_claims(checks, where, GROUP_KEYS, "category", _check_policies)


def entries(table: list[dict], metric: str) -> list[dict]:
    """The table's rows as claim entries: the metric's value (None: no result; inf: never reaches the target),
    its std and seeds, the row's category, optimizer and canonical policy."""
    from lrkit.policies import parse

    out = []
    for row in table:
        seeds = int(row.get("seeds") or 0)
        if metric == "iterations_to_target":
            it = row.get("ours_iters_to_target")
            value, std = (None if not seeds else math.inf if it is None else float(it)), None
        else:
            v = row.get("ours_highest_top1")
            value, std = (None if v is None else float(v)), row.get("ours_std")
        out.append({"name": row["policy"], "value": value, "std": std, "seeds": seeds, "category": row.get("category"),
                    "optimizer": row.get("optimizer"), "policy": str(parse(row["policy"]))})
    return out


def _select(rows: list[dict], group) -> list[dict]:
    from lrkit.policies import parse

    g = {"category": group} if isinstance(group, str) else dict(group)
    if "policies" in g:
        g["policy"] = [str(parse(p)) for p in g.pop("policies")]
    return [r for r in rows if matches(r, g)]


def check_claims(checks: list[dict], table: list[dict], metric: str) -> list[dict]:
    """One verdict per check (:func:`lrkit.recipes.claims.check_claims`) on the table's metric."""
    higher = metric != "iterations_to_target"
    return check_entries(checks, entries(table, metric), higher=higher, unit="pp" if higher else "iterations",
                         select=_select)
