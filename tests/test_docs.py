"""Every command block of README.md and docs/ stays runnable as written.

Shell blocks: each ``lrkit …`` command parses with the CLI's own parser (flags, choices, a recipe that
exists for ``lrkit reproduce``, policy specs that parse), each ``python -m lrkit…`` names a module that
exists, each ``pip install -e ".[extra]"`` names an extra that ``setup.py`` defines. Python blocks parse,
and every name they import from lrkit exists. Links and backticked paths into the repository point at
files that exist, so a moved file cannot leave the docs behind.
"""

from __future__ import annotations

import ast
import glob
import importlib
import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from lrkit.cli.main import build_parser
from lrkit.policies import parse

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
REPO_FOLDERS = ("lrkit/", "docs/", "notebooks/", "reproductions/", "benchmarks/", "csrc/", "tests/")


def blocks(page: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(page.read_text()) if lang == language]


def shell_commands(block: str) -> list[list[str]]:
    """Commands of a shell block: continuation lines joined, comments dropped, split at ``&&``, ``;``, ``|``."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words, current = shlex.split(line, comments=True), []
        for word in words + [";"]:
            if word in ("&&", ";", "|", "||"):
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(word.rstrip(";"))
    return [c for c in commands if c]


def without_env_prefix(command: list[str]) -> list[str]:
    while command and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", command[0]):
        command = command[1:]
    return command


def all_commands() -> list[tuple[str, list[str]]]:
    return [(page.name, without_env_prefix(c)) for page in PAGES for b in blocks(page, "bash") for c in shell_commands(b)]


def _id(item) -> str:
    page, command = item
    return f"{page}:{' '.join(command)[:60]}"


LRKIT = [c for c in all_commands() if c[1][:1] == ["lrkit"]]


def test_the_pages_hold_commands():
    assert len(LRKIT) >= 20, "README.md and docs/ should show the CLI"


@pytest.mark.parametrize("item", LRKIT, ids=[_id(c) for c in LRKIT])
def test_an_lrkit_command_parses(item):
    page, command = item
    try:
        args = build_parser().parse_args(command[1:])
    except SystemExit as e:
        pytest.fail(f"{page}: `{' '.join(command)}` does not parse (exit {e.code})")
    assert getattr(args, "func", None) is not None or getattr(args, "version", False), command
    for name in ("policy", "policies", "specs"):
        specs = getattr(args, name, None) or []
        for spec in [specs] if isinstance(specs, str) else specs:
            if "{" not in spec and not spec.startswith("preset:"):  # LLM placeholders are filled at run time
                parse(spec)
    if args.command == "reproduce" and getattr(args, "table", None):
        from lrkit.reproduce import get_recipe

        recipe = get_recipe(args.table)
        recipe.runs(args.profile, None)  # the profile exists


PYTHON_M = [c for c in all_commands() if c[1][:1] in (["python"], ["python3"]) and c[1][1:2] == ["-m"]]


@pytest.mark.parametrize("item", PYTHON_M, ids=[_id(c) for c in PYTHON_M])
def test_a_python_module_command_names_a_module(item):
    page, command = item
    module = command[2]
    if module.startswith("lrkit"):
        assert importlib.util.find_spec(module) is not None, f"{page}: no module {module}"


def test_pip_extras_exist():
    setup = (ROOT / "setup.py").read_text()
    extras = set(re.findall(r'^\s+"(\w+)": ', setup[setup.index("extras_require"):], re.M))
    for page, command in all_commands():
        if command[:2] == ["pip", "install"]:
            for word in command[2:]:
                for extra in re.findall(r"\.\[([\w,]+)\]", word):
                    assert set(extra.split(",")) <= extras, f"{page}: unknown extra in {word}; setup.py has {extras}"


PYTHON = [(page.name, b) for page in PAGES for b in blocks(page, "python")]


@pytest.mark.parametrize("item", PYTHON, ids=[f"{p}:{i}" for i, (p, _) in enumerate(PYTHON)])
def test_a_python_block_parses_and_its_lrkit_imports_exist(item):
    page, block = item
    tree = ast.parse(block)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lrkit"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), (
                    f"{page}: {node.module} has no {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lrkit"):
                    importlib.import_module(alias.name)


def referenced_paths(text: str) -> set[str]:
    links = re.findall(r"\]\(([^)#\s]+)\)", text)
    ticked = [t for t in re.findall(r"`([^`\s]+)`", text) if t.startswith(REPO_FOLDERS)]
    return {p.rstrip(".,:;") for p in links + ticked if "://" not in p}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_paths_named_in_a_page_exist(page):
    missing = []
    for path in referenced_paths(page.read_text()):
        pattern = path.split("<", 1)[0] + ("*" if "<" in path else "")
        if not glob.glob(str(ROOT / pattern)) and not glob.glob(str(page.parent / pattern)):
            missing.append(path)
    assert not missing, f"{page.name} names paths that do not exist: {sorted(missing)}"
