"""``lrkit tune grid|random``: LR searches from the shell (000 §V, 004 §5.2–5.3).

    lrkit tune grid --dataset mnist --model lenet --policies "TRIEXP(k0=1, k1=3, gamma=0.9999, l=3000)" \\
        --lambda 0.001,0.005,0.01,0.05,0.1 --seeds 0 1 2 --iters 10000
    lrkit tune random --dataset mnist --model lenet --policies "TRIEXP(...)" --lambda-range 0.001:0.1 --samples 5
    lrkit tune grid ... --param k1=2,3,4 --param l=1000,2000          # any policy parameters (ratio = k1/k0)
    lrkit tune grid ... --target-acc 0.991 --objective cost           # cost-effective: stop at the target
    lrkit tune grid ... --executor ray --cpus-per-trial 1 [--address ray://host:10001] [--asha]
    lrkit tune grid --model mylab.nets:make_mlp --dataset mylab.data:load --normalize none ...   # your own

Prints the Top-K, writes results.json, table.md and heatmap.png to ``--out`` (default
``out/tune-<name>``); every trial goes to the policy database (``--db``), and a search run again
resumes from it.
"""

from __future__ import annotations

import sys

from .parsing import BadInput, number
from .train import add_batch_arg


def add_parser(sub) -> None:
    t = sub.add_parser("tune", help="grid or random search over policy parameters and the LR coefficient λ")
    tsub = t.add_subparsers(dest="tune_command", metavar="METHOD")
    for method in ("grid", "random"):
        p = tsub.add_parser(method, help=f"{method} search")
        p.add_argument("--dataset", required=True,
                       help="mnist | cifar10 | npz:PATH | svhn | imagenet | package.module:loader (your own data)")
        p.add_argument("--model", required=True,
                       help="lenet | cnn3 | resnet32 | resnet18 | package.module:factory (your own model)")
        p.add_argument("--policies", nargs="+", required=True, metavar="SPEC", help="base policy specs")
        if method == "grid":
            p.add_argument("--lambda", dest="lams", default=None, help="λ values, e.g. 0.001,0.005,0.01,0.05,0.1")
            p.add_argument("--param", action="append", default=[], metavar="NAME=V1,V2",
                           help="grid values of a policy parameter (repeatable; 'ratio' sets k1 = ratio·k0)")
        else:
            p.add_argument("--lambda-range", default=None, metavar="LO:HI[:log|linear]", help="λ range, e.g. 0.001:0.1")
            p.add_argument("--param-range", action="append", default=[], metavar="NAME=LO:HI[:log|linear]",
                           help="range of a policy parameter (repeatable)")
            p.add_argument("--samples", type=int, default=5, help="random points per policy")
            p.add_argument("--search-seed", type=int, default=0, help="seed of the random draws")
        p.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (repeats) per point")
        p.add_argument("--objective", default=None, help="highest_acc (default) | cost (needs --target-acc)")
        p.add_argument("--target-acc", type=float, default=None, help="target top-1 fraction, e.g. 0.991")
        p.add_argument("--optimizer", default="momentum", help="sgd | momentum | adam")
        p.add_argument("--iters", type=int, default=10000)
        p.add_argument("--batch-size", type=int, default=100)
        p.add_argument("--eval-every", type=int, default=500)
        p.add_argument("--normalize", default="scale", help="scale (x/256) | standardize | mean | none (as given)")
        p.add_argument("--device", default="cpu")
        p.add_argument("--data-root", default=None)
        p.add_argument("--threads-per-trial", type=int, default=1)
        p.add_argument("--executor", default="local", help="local | ray")
        p.add_argument("--workers", type=int, default=None, help="local executor: processes (default 1: in this one)")
        p.add_argument("--address", default=None, help="ray: an existing cluster's address (default: a local Ray)")
        p.add_argument("--cpus-per-trial", type=float, default=1)
        p.add_argument("--gpus-per-trial", type=float, default=0, help="ray: GPUs per trial (fractions allowed)")
        p.add_argument("--asha", action="store_true", help="ray: ASHA early stopping on test top-1")
        p.add_argument("--name", default=None, help="search name (database source 'tune:NAME'; default from the method)")
        p.add_argument("--db", default=None, metavar="URL", help="policy database (default $LRKIT_DB_URL or ~/.lrkit/lrkit.db)")
        p.add_argument("--no-resume", action="store_true", help="re-run trials already in the database")
        add_batch_arg(p)
        p.add_argument("--out", default=None)
        p.add_argument("-k", type=int, default=5)
        p.add_argument("--no-progress", action="store_true")
        p.set_defaults(func=run_tune, method=method)
    t.set_defaults(func=lambda args: (t.print_help(), 2)[1])


def _floats(option: str, text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise BadInput(f"{option} must be comma-separated numbers, got {text!r}") from None
    if not vals:
        raise BadInput(f"{option} must name at least one value")
    return vals


def _params(items: list[str]) -> dict:
    out = {}
    for it in items:
        name, eq, values = it.partition("=")
        if not eq or not name or not values:
            raise BadInput(f"--param must look like NAME=V1,V2, got {it!r}")
        out[name.strip()] = [number(f"--param {name.strip()}", v, kind=None, positive=False)
                             for v in values.split(",") if v]
    return out


def _range(option: str, text: str) -> tuple:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise BadInput(f"{option} must look like LO:HI or LO:HI:log|linear, got {text!r}")
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise BadInput(f"{option} bounds must be numbers, got {text!r}") from None
    return (lo, hi, parts[2]) if len(parts) == 3 else (lo, hi)


def _ranges(items: list[str]) -> dict:
    out = {}
    for it in items:
        name, eq, r = it.partition("=")
        if not eq:
            raise BadInput(f"--param-range must look like NAME=LO:HI[:log|linear], got {it!r}")
        out[name.strip()] = _range(f"--param-range {name}", r)
    return out


def _short(name: str) -> str:
    """An import path's attribute (``mylab.nets:make_mlp`` -> ``make_mlp``); other names as they are."""
    from lrkit.train.registry import is_import_path

    return name.split(":")[-1] if is_import_path(name) else name


def build_search(args):
    from lrkit.train import TrainConfig
    from lrkit.tune import OBJECTIVES, Search, grid_trials, random_trials

    objective = args.objective or "highest_acc"
    if objective not in OBJECTIVES:
        raise BadInput(f"--objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if args.method == "grid":
        trials = grid_trials(args.policies, _params(args.param), _floats("--lambda", args.lams) if args.lams else None,
                             args.seeds)
    else:
        trials = random_trials(args.policies, _ranges(args.param_range),
                               _range("--lambda-range", args.lambda_range) if args.lambda_range else None,
                               samples=args.samples, seed=args.search_seed, seeds=args.seeds)
    base = TrainConfig(dataset=args.dataset, model=args.model, optimizer=args.optimizer, iters=args.iters,
                       batch_size=args.batch_size, eval_every=args.eval_every, normalize=args.normalize, device=args.device,
                       data_root=args.data_root).to_dict()
    name = args.name or f"{args.method}-{_short(args.dataset.split('/')[-1])}-{_short(args.model)}"
    return Search(base, trials, objective=objective, target_acc=args.target_acc, threads_per_trial=args.threads_per_trial,
                  name=name)


def run_tune(args) -> int:
    from lrkit.db import DatabaseError
    from lrkit.policies import PolicyError
    from lrkit.tune import EXECUTORS, run_search

    try:
        if args.executor not in EXECUTORS:
            raise BadInput(f"--executor must be one of {', '.join(EXECUTORS)}, got {args.executor!r}")
        search = build_search(args)
        ray_options = None
        if args.executor == "ray":
            ray_options = dict(address=args.address, cpus_per_trial=args.cpus_per_trial,
                               gpus_per_trial=args.gpus_per_trial, asha=args.asha)
        print(f"{search.name}: {len(search.trials)} trials ({search.objective}) on the {args.executor} executor")
        result = run_search(search, args.executor, workers=args.workers, db=args.db, resume=not args.no_resume,
                            progress=not args.no_progress, ray_options=ray_options, batch=args.batch)
    except (BadInput, ValueError, PolicyError, DatabaseError, FileNotFoundError, ImportError) as e:
        print(f"lrkit tune: {e}", file=sys.stderr)
        return 2
    for n in result.notes:
        print(n)
    print(result.to_markdown(args.k))
    out = result.save(args.out or f"out/tune-{search.name}")
    print(f"written: {out}/results.json, table.md, heatmap.png")
    return 0
