"""``lrkit`` console command. Subcommands live in their own modules and register here."""

from __future__ import annotations

import argparse
import sys

from . import bench as bench_cmd
from . import db as db_cmd
from . import llm as llm_cmd
from . import policy as policy_cmd
from . import range_test as range_test_cmd
from . import train as train_cmd
from . import tune as tune_cmd
from . import verify as verify_cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lrkit", description="Benchmark, select, compose and tune LR policies.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    policy_cmd.add_parser(sub)
    train_cmd.add_parsers(sub)
    bench_cmd.add_parser(sub)
    db_cmd.add_parser(sub)
    verify_cmd.add_parser(sub)
    range_test_cmd.add_parsers(sub)
    tune_cmd.add_parser(sub)
    llm_cmd.add_parser(sub)
    return parser


#: optional dependencies by top-level module, and the extra that installs each
EXTRAS = {"ray": "ray", "transformers": "llm", "accelerate": "llm", "peft": "llm", "gguf": "llm", "safetensors": "llm",
          "sentencepiece": "llm", "psycopg": "postgres", "lm_eval": "test", "lightning": "test"}


def missing_extra(error: ImportError) -> str | None:
    """The one line for an optional dependency that is not installed (naming the extra), else None."""
    name = (getattr(error, "name", None) or "").split(".")[0]
    cause = error.__cause__ if isinstance(error.__cause__, ImportError) else None
    if name not in EXTRAS and cause is not None:
        name = (getattr(cause, "name", None) or "").split(".")[0]
    if name not in EXTRAS:
        return None
    return f"lrkit: this needs {name}, which is not installed: pip install 'lrkit[{EXTRAS[name]}]'"


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from lrkit import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except ImportError as e:  # an optional dependency the command needs: one line, not a traceback
        line = missing_extra(e)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
