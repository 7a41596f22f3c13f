"""Imports follow the data flow: policies → optim → train → db → run → evaluate → recipes → tune / reproduce / llm →
viz → widgets / cli, with the shared helpers (environment, numerics) below them all (recipes: the recipe model
the reproduction families share). Every import in every module
of the package counts, those inside function bodies included."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lrkit"
#: the layers, lowest first; a module may import its own layer's package and any lower layer
LAYERS = [("environment", "numerics"), ("policies",), ("optim",), ("train",), ("db",), ("run",), ("evaluate",),
          ("recipes",), ("tune", "reproduce", "llm"), ("viz",), ("widgets", "cli")]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
#: names under lrkit that are not layers: the compiled ops (a part of optim)
NOT_LAYERS = {"_C": "optim"}


def _module(path: Path) -> tuple[str, str]:
    """(dotted module name, the package its relative imports start from)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        name = ".".join(parts[:-1])
        return name, name
    name = ".".join(parts)
    return name, name.rsplit(".", 1)[0]


def imports(path: Path):
    """(line, imported dotted name) of every import in a file, relative ones resolved."""
    name, package = _module(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if node.module:
                yield node.lineno, mod
            else:  # from . import x: each name may be a module
                for alias in node.names:
                    yield node.lineno, f"{mod}.{alias.name}"


def layer(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "lrkit" or len(parts) < 2:
        return None
    return NOT_LAYERS.get(parts[1], parts[1])


def edges_against_the_direction() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        src = layer(_module(path)[0])
        if src is None:  # lrkit/__init__.py: the package's front door may import any layer
            continue
        assert src in RANK, f"{path}: lrkit.{src} is in no layer; add it to LAYERS"
        for line, target in imports(path):
            dst = layer(target)
            if dst is None or dst == src:
                continue
            assert dst in RANK, f"{path}:{line}: lrkit.{dst} is in no layer; add it to LAYERS"
            same_level_sibling = RANK[dst] == RANK[src] and not {src, dst} <= {"environment", "numerics"}
            if RANK[dst] > RANK[src] or same_level_sibling:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: lrkit.{src} imports {target}")
    return bad


def test_every_layer_is_a_package_or_module_of_lrkit():
    here = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
            if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    assert here == set(RANK), f"layers without a package: {set(RANK) - here}; packages without a layer: {here - set(RANK)}"


def test_no_import_goes_against_the_data_flow():
    bad = edges_against_the_direction()
    assert not bad, "imports against the direction of the data flow:\n" + "\n".join(bad)


def test_the_check_sees_imports_inside_function_bodies(tmp_path, monkeypatch):
    import tests.test_import_direction as me

    pkg = tmp_path / "lrkit"
    (pkg / "train").mkdir(parents=True)
    (pkg / "train" / "__init__.py").write_text("")
    (pkg / "train" / "engine.py").write_text("def f():\n    from ..db import recorder\n    return recorder\n")
    monkeypatch.setattr(me, "PACKAGE", pkg)
    assert edges_against_the_direction() == ["lrkit/train/engine.py:2: lrkit.train imports lrkit.db"]
