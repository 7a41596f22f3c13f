"""Reading a notebook for a test and changing what a test must change before it runs: the values of its
``parameters`` cell (the papermill convention: a cell tagged ``parameters``, overridden by a cell right
after it) and cells the test adds after a given cell."""

from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def read(name: str) -> nbformat.NotebookNode:
    """``notebooks/<name>.ipynb``."""
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _index(nb, predicate, what: str) -> int:
    hits = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and predicate(c)]
    assert hits, f"the notebook has no code cell {what}"
    return hits[0]


def insert_after(nb, contains: str, source: str) -> None:
    """Add a code cell with ``source`` after the first code cell whose source contains ``contains``."""
    i = _index(nb, lambda c: contains in c.source, f"containing {contains!r}")
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(source))


def set_parameters(nb, **values) -> None:
    """Override the ``parameters`` cell's values (each a Python literal, by repr) with a cell after it."""
    i = _index(nb, lambda c: "parameters" in c.metadata.get("tags", []), "tagged 'parameters'")
    source = "\n".join(f"{k} = {v!r}" for k, v in values.items())
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(source))


def outputs(nb) -> list[dict]:
    """Every output of every code cell, in order."""
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def text(nb) -> str:
    """What the executed notebook printed (stream outputs), joined."""
    return "\n".join(o.get("text", "") for o in outputs(nb))
