"""One renderer for every recipe family: ours beside the paper, as Markdown.

A family fills a :class:`Report` — a title and paragraphs, each a line of text, a block of lines or a
table (:func:`table_lines`), and the checked claims (:meth:`Report.claims`) — and :func:`render` writes
it: the title as a heading, the paragraphs separated by blank lines. The numbers are formatted by
:func:`cell` everywhere, so "—" means "no value" in every table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .claims import SEED_NOTE, markdown_lines


def cell(x, fmt: str = "{:.2f}", std=None) -> str:
    """A number as a table cell: ``fmt`` applied, ``± std`` after it when given, "—" for no value."""
    if x is None:
        return "—"
    s = fmt.format(x)
    return s + (f" ± {std:.2f}" if std is not None else "")


def table_lines(head: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table: the header, the rule, one line per row."""
    return ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


@dataclass
class Report:
    """What a reproduction shows: ``title`` (a heading of ``level``) and ``paragraphs`` (str or list of lines)."""

    title: str
    level: int = 1
    paragraphs: list = field(default_factory=list)

    def add(self, *paragraphs) -> "Report":
        """Append paragraphs (a str, or a list of lines kept together)."""
        self.paragraphs.extend(paragraphs)
        return self

    def claims(self, verdicts: list[dict], note: str = SEED_NOTE) -> "Report":
        """Append the paper's claims checked on our values (:mod:`lrkit.recipes.claims`); nothing if there are none."""
        lines = markdown_lines(verdicts, note)
        if lines:
            self.add(lines[1], lines[3:])
        return self


def render(report: Report) -> str:
    """The report as Markdown, ending in a newline."""
    body = ["\n".join(p) if isinstance(p, list) else p for p in report.paragraphs]
    return "\n\n".join([f"{'#' * report.level} {report.title}", *body]) + "\n"
