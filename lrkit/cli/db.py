"""``lrkit db``: the policy database from the shell.

    lrkit db init                      create the database and load both papers' published tables
    lrkit db import FILE...            an export, a published table, a run record or a results.json
    lrkit db export [--curves] [-o F]  every run (filters as for list) as JSON
    lrkit db list [--dataset D] [--model M] [--status S] [--source SRC] [--limit N]
    lrkit db show RUN                  one run: task, policy, status, summary, curves
    lrkit db top --dataset D --model M [-k 5] [--metric highest_acc|iters_to_target|robustness|...]

``--db URL`` (before the subcommand) picks the database; default ``$LRKIT_DB_URL`` or
``~/.lrkit/lrkit.db``. Reading commands load the published tables first if they are missing, so a
fresh install answers ``top`` at once.
"""

from __future__ import annotations

import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("db", help="the LR policy database: init, import, export, list, show, top")
    p.add_argument("--db", default=None, metavar="URL", help="SQLAlchemy URL (default $LRKIT_DB_URL or ~/.lrkit/lrkit.db)")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION")

    i = dsub.add_parser("init", help="create the database and load the papers' published results")
    i.set_defaults(func=run_init)

    im = dsub.add_parser("import", help="import files (export JSON, published table, run record, results.json)")
    im.add_argument("files", nargs="+")
    im.set_defaults(func=run_import)

    def filters(q):
        q.add_argument("--dataset")
        q.add_argument("--model")
        q.add_argument("--optimizer")
        q.add_argument("--status", nargs="+", default=None, help="running complete diverged failed stopped")
        q.add_argument("--source", default=None, help="lrkit, or a paper source such as 'paper:004_...txt#Table 4'")
        q.add_argument("--policy", default=None, help="a policy spec (matched in canonical form)")

    ex = dsub.add_parser("export", help="write runs as JSON (stdout or -o FILE)")
    filters(ex)
    ex.add_argument("--curves", action="store_true", help="include the per-iteration curves")
    ex.add_argument("-o", "--out", default=None)
    ex.set_defaults(func=run_export)

    ls = dsub.add_parser("list", help="list runs")
    filters(ls)
    ls.add_argument("--limit", type=int, default=50, help="at most this many rows (0: all)")
    ls.set_defaults(func=run_list)

    sh = dsub.add_parser("show", help="one run in full")
    sh.add_argument("run", type=int)
    sh.set_defaults(func=run_show)

    from lrkit.evaluate.ranking import METRICS

    tp = dsub.add_parser("top", help="the top-K policies for a task (falls back to similar tasks)")
    tp.add_argument("--dataset", required=True)
    tp.add_argument("--model", required=True)
    tp.add_argument("-k", type=int, default=5)
    tp.add_argument("--metric", default="highest_acc", help="one of " + ", ".join(METRICS))
    tp.add_argument("--optimizer")
    tp.add_argument("--framework")
    tp.add_argument("--batch-size", type=int)
    tp.add_argument("--iterations", type=int)
    tp.add_argument("--target-acc", type=float, help="target top-1 fraction for iters_to_target, e.g. 0.991")
    tp.add_argument("--json", action="store_true", help="print the ranking as JSON")
    tp.set_defaults(func=run_top)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def open_db(args, published: bool = True):
    from lrkit.db import Database

    db = Database(args.db)
    if published:
        db.import_published()
    return db


def _fail(message: str) -> int:
    print(f"lrkit db: {message}", file=sys.stderr)
    return 2


def _guard(fn):
    def wrapped(args):
        from lrkit.db import DatabaseError
        from lrkit.policies import PolicyError

        try:
            return fn(args)
        except (DatabaseError, PolicyError, ValueError, FileNotFoundError) as e:
            return _fail(str(e))

    wrapped.__name__ = fn.__name__
    return wrapped


@_guard
def run_init(args) -> int:
    db = open_db(args, published=False)
    added = db.import_published()
    print(f"{db!r}: schema version {db.schema_version()}, {added} published results added, {db.count()} runs in all")
    return 0


@_guard
def run_import(args) -> int:
    db = open_db(args, published=False)
    total = 0
    for f in args.files:
        n = db.import_file(f)
        print(f"{f}: {n} runs imported")
        total += n
    print(f"{total} runs imported into {db!r}")
    return 0


def _filters(args) -> dict:
    f = {k: getattr(args, k) for k in ("dataset", "model", "optimizer", "source", "policy") if getattr(args, k, None)}
    if args.status:
        from lrkit.db import RUN_STATUSES

        bad = [s for s in args.status if s not in RUN_STATUSES]
        if bad:
            raise ValueError(f"--status {bad[0]!r} is not a run status; allowed: {', '.join(RUN_STATUSES)}")
        f["status"] = args.status
    return f


@_guard
def run_export(args) -> int:
    doc = open_db(args, published=False).export(curves=args.curves, **_filters(args))
    text = json.dumps(doc, indent=1, default=str)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
        print(f"{len(doc['runs'])} runs written to {args.out}")
    else:
        print(text)
    return 0


@_guard
def run_list(args) -> int:
    df = open_db(args).runs(**_filters(args))
    n = len(df)
    if args.limit:
        df = df.tail(args.limit)
    cols = ["id", "dataset", "model", "optimizer", "policy", "status", "seed", "highest_top1", "iterations_to_target",
            "source"]
    with _pd_wide():
        print(df[cols].to_string(index=False) if len(df) else "no runs")
    if args.limit and n > args.limit:
        print(f"({n - args.limit} earlier runs not shown; --limit 0 shows all)")
    unfinished = int((df["status"] == "running").sum()) if len(df) else 0
    if unfinished:
        print(f"{unfinished} run(s) still 'running': unfinished if their writer has stopped")
    return 0


@_guard
def run_show(args) -> int:
    run = open_db(args, published=False).get_run(args.run)
    curves = run.pop("curves")
    print(json.dumps(run, indent=1, default=str))
    for name, values in curves.items():
        head = ", ".join(f"{v:.4g}" for v in values[:5])
        print(f"curve {name}: {len(values)} values [{head}{', ...' if len(values) > 5 else ''}]")
    if run["status"] == "running":
        print("status 'running' with no end recorded: the run is unfinished (or still training)")
    return 0


@_guard
def run_top(args) -> int:
    from lrkit.evaluate.ranking import top_k

    r = top_k(open_db(args), args.dataset, args.model, k=args.k, metric=args.metric, optimizer=args.optimizer,
              framework=args.framework, batch_size=args.batch_size, iterations=args.iterations, target_acc=args.target_acc)
    if args.json:
        print(json.dumps({"level": r.level, "message": r.message, "metric": r.metric,
                          "rows": json.loads(r.table.to_json(orient="records"))}, indent=1))
        return 0
    print(r.message)
    if len(r):
        print(r.to_markdown())
    return 0 if len(r) else 1


class _pd_wide:
    def __enter__(self):
        import pandas as pd

        self._ctx = pd.option_context("display.width", 250, "display.max_colwidth", 70, "display.max_columns", 20)
        self._ctx.__enter__()

    def __exit__(self, *a):
        self._ctx.__exit__(*a)
