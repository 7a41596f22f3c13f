"""``lrkit range-test`` (the LR value range test, 004 §4.1) and ``lrkit recommend`` (starting policies).

The CLI is thin: the range test is :func:`lrkit.evaluate.range_test.range_test_grid` /
:func:`~lrkit.evaluate.range_test.range_test_sweep`, and the range → policies step is
:func:`~lrkit.evaluate.range_test.recommend_policies`. Bad input (unknown dataset, model, method or
optimizer; budgets or ks not > 0) prints one line naming the option and its allowed values and
returns exit code 2.
"""

from __future__ import annotations

import json
import math
import re
import sys
import warnings
from pathlib import Path

from .parsing import BadInput, number
from .train import add_batch_arg

METHODS = ("grid", "sweep")


def _add_range_test_options(p, required: bool) -> None:
    p.add_argument("--dataset", required=required, default=None, help="mnist | cifar10 | npz:PATH | svhn | imagenet")
    p.add_argument("--model", required=required, default=None, help="lenet | cnn3 | resnet32 | resnet18")
    p.add_argument("--method", default="grid", help="grid (the paper's FIX(k) runs) | sweep (one exponential LR sweep)")
    p.add_argument("--optimizer", default="momentum", help="sgd | momentum | adam")
    p.add_argument("--iters", type=str, default=None,
                   help="training budget N in iterations (default 10000; recommend --from: the test's); "
                        "grid budgets default to 0.1, 0.2, 0.5 × N")
    p.add_argument("--batch-size", type=str, default="100")
    p.add_argument("--ks", nargs="+", default=None, metavar="K",
                   help="fixed LRs of the grid (default 1e-5 … 1, 3 per decade); commas or spaces")
    p.add_argument("--budgets", nargs="+", default=None, metavar="N", help="grid budgets in iterations")
    p.add_argument("--repeats", type=str, default="1", help="seeds per grid point")
    p.add_argument("--num-iter", type=str, default="100", help="sweep length in iterations (method sweep)")
    p.add_argument("--start-lr", type=str, default="1e-7", help="first LR of the sweep")
    p.add_argument("--end-lr", type=str, default="10", help="last LR of the sweep")
    p.add_argument("--seed", type=str, default="0")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-root", default=None, help="dataset folder (default $LRKIT_DATA_DIR or ~/.lrkit/data)")
    p.add_argument("--no-progress", action="store_true")
    add_batch_arg(p)


def add_parsers(sub) -> None:
    r = sub.add_parser("range-test", help="find the range of good LR values (004 §4.1, Fig. 4)")
    _add_range_test_options(r, required=True)
    r.add_argument("--out", default=None, help="output folder (default ./range_test_<dataset>_<model>)")
    r.set_defaults(func=run_range_test)

    c = sub.add_parser("recommend", help="propose starting LR policies from an LR range test")
    _add_range_test_options(c, required=False)
    c.add_argument("--from", dest="from_", default=None, metavar="JSON",
                   help="read the range from this range_test.json instead of running the test")
    c.add_argument("--half-cycle", type=str, default=None, help="half cycle l of the cyclic policies (default iters/5)")
    c.add_argument("--out", default=None, help="also write the policies here (JSON)")
    c.add_argument("--db", default=None, metavar="URL",
                   help="policy database searched first (default $LRKIT_DB_URL or ~/.lrkit/lrkit.db)")
    c.add_argument("--no-db", action="store_true", help="skip the database: always run the range test")
    c.add_argument("-k", type=int, default=5, help="how many stored policies to show")
    c.set_defaults(func=run_recommend)


# ------------------------------------------------------------------------------------------ parsing


def _list(name: str, tokens, kind, what: str) -> list | None:
    if tokens is None:
        return None
    items = [t for tok in tokens for t in str(tok).split(",") if t.strip()]
    if not items:
        raise BadInput(f"{name} needs at least one value ({what})")
    out = []
    for t in items:
        try:
            v = kind(t)
        except ValueError:
            raise BadInput(f"{name} must be {what}, got {t!r}") from None
        if not (v > 0 and math.isfinite(v)):
            raise BadInput(f"{name} must be {what}, got {t!r}")
        out.append(v)
    return out


def _config(args, iters: int):
    """The TrainConfig of the range test, with dataset/model/method checked (raises BadInput)."""
    from lrkit.policies import PolicyError
    from lrkit.train import TrainConfig
    from lrkit.train.data import DATASET_NAMES
    from lrkit.environment import check_device
    from lrkit.train.models import MODELS

    if args.method not in METHODS:
        raise BadInput(f"--method must be one of {', '.join(METHODS)}; got {args.method!r}")
    if not args.dataset:
        raise BadInput(f"--dataset is required: one of {', '.join(DATASET_NAMES)}")
    if not args.model:
        raise BadInput(f"--model is required: one of {', '.join(MODELS)}")
    if args.model.strip().lower() not in MODELS:
        raise BadInput(f"--model must be one of {', '.join(MODELS)}; got {args.model!r}")
    ds = args.dataset.strip()
    if not (ds.lower() in DATASET_NAMES or ds.lower().startswith("npz:")):
        raise BadInput(f"--dataset must be one of {', '.join(DATASET_NAMES)}; got {args.dataset!r}")
    try:
        check_device(args.device)
        return TrainConfig(dataset=ds, model=args.model, optimizer=args.optimizer, iters=iters,
                           batch_size=number("--batch-size", args.batch_size, int), seed=number("--seed", args.seed, int,
                                                                                                 positive=False),
                           device=args.device, data_root=args.data_root)
    except (ValueError, PolicyError) as e:
        if isinstance(e, BadInput):
            raise
        msg = str(e).replace("TrainConfig: field 'optimizer'", "--optimizer")
        raise BadInput(msg) from None


def _load_data(cfg):
    from lrkit.train.data import load_dataset

    try:
        return load_dataset(cfg.dataset, root=cfg.data_root)
    except (ValueError, FileNotFoundError, ImportError) as e:
        raise BadInput(f"--dataset {cfg.dataset!r}: {e}") from None


def _run_test(args):
    """Run the range test the options describe; returns (result, cfg)."""
    from lrkit.evaluate.range_test import range_test_grid, range_test_sweep

    iters = number("--iters", args.iters if args.iters is not None else "10000", int)
    ks = _list("--ks", args.ks, float, "LRs > 0")
    budgets = _list("--budgets", args.budgets, int, "integers > 0 (iterations)")
    repeats = number("--repeats", args.repeats, int)
    num_iter = number("--num-iter", args.num_iter, int)
    start_lr, end_lr = number("--start-lr", args.start_lr), number("--end-lr", args.end_lr)
    if args.method == "sweep" and (num_iter < 2 or end_lr <= start_lr):
        raise BadInput(f"the sweep needs --num-iter >= 2 and --end-lr > --start-lr; got {num_iter}, "
                        f"{start_lr:g} … {end_lr:g}")
    cfg = _config(args, iters)
    data = _load_data(cfg)
    progress = not args.no_progress
    if args.method == "grid":
        with warnings.catch_warnings():  # an open-ended range is printed as a note instead
            warnings.filterwarnings("ignore", message="range test: open-ended range")
            return range_test_grid(cfg, ks=ks, budgets=budgets, repeats=repeats, data=data, progress=progress,
                                   batch=args.batch), cfg
    return range_test_sweep(cfg, data=data, start_lr=start_lr, end_lr=end_lr, num_iter=num_iter,
                            progress=progress), cfg


def _slug(text: str) -> str:
    if text.lower().startswith("npz:"):
        text = "npz-" + Path(text[4:].strip()).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "data"


def _print_result(res) -> None:
    if res.method == "grid":
        import pandas as pd

        with pd.option_context("display.max_rows", 200, "display.width", 160):
            print("top-1 (%) of FIX(k) by budget (iterations):")
            print(res.table().to_string())
        if res.lo is not None:
            print(f"good LR range: [{res.lo:g}, {res.hi:g}] — search space reduced by {res.reduction:.2f}% of [0, 1]"
                  + (f"; best k: {res.best_k:g}" if res.best_k is not None else ""))
        if res.note:
            print(f"note: {res.note}")
        if res.error:
            print(f"no range found: {res.error}")
    else:
        s = res.suggestions
        if res.lrs:
            print(f"LR sweep: {len(res.lrs)} iterations, LR {res.lrs[0]:.3g} … {res.lrs[-1]:.3g}"
                  + (f" (stopped: {res.stop_reason})" if res.stop_reason else ""))
        else:
            print("LR sweep: no points" + (f" ({res.stop_reason})" if res.stop_reason else ""))
        for name in ("steepest", "valley", "min_loss"):
            v = s.get(name)
            print(f"  {name:<9} {format(v, '.4g') if v is not None else 'n/a'}")
        if res.lo is not None:
            print(f"good LR range: [{res.lo:.4g}, {res.hi:.4g}] (valley/10 … valley)")
        else:
            print("no range found: too few sweep points")


def run_range_test(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        res, cfg = _run_test(args)
    except BadInput as e:
        print(f"lrkit range-test: {e}", file=sys.stderr)
        return 2
    _print_result(res)
    out = Path(args.out or f"range_test_{_slug(cfg.dataset)}_{_slug(cfg.model)}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "range_test.json").write_text(json.dumps(res.to_dict(), indent=1))
    ax = res.plot()
    ax.figure.tight_layout()
    ax.figure.savefig(out / "range_test.png", dpi=120)
    plt.close(ax.figure)
    print(f"written: {out / 'range_test.json'}, {out / 'range_test.png'}")
    return 0 if res.lo is not None else 1


# Levels of lrkit.evaluate.ranking.LEVELS whose stored policies are recommended without a range
# test (004 §4.1: "if the relevant LR policies are found, LRBench will use the stored LR policies");
# from a more distant task (same model only, or same data format) they are shown, and the range
# test still runs (004 §5.2: MNIST's best policy failed on SVHN).
_STORED_ENOUGH = ("exact task", "dataset+model", "dataset")


def _from_database(args) -> bool:
    """Print the stored top-K for the task; True when they answer the request (no range test)."""
    from lrkit.db import DatabaseError
    from lrkit.evaluate.ranking import top_k

    if args.no_db or args.from_ or not (args.dataset and args.model):
        return False
    try:
        from lrkit.cli.db import open_db

        r = top_k(open_db(args), args.dataset, args.model, k=args.k, optimizer=args.optimizer)
    except (DatabaseError, ValueError) as e:
        print(f"lrkit recommend: the database was not searched ({e})", file=sys.stderr)
        return False
    if r.level is None:
        print(f"policy database: {r.message}; running the range test")
        return False
    print(f"policy database: {r.message}")
    print(r.to_markdown())
    if r.level in _STORED_ENOUGH:
        print("recommended: the stored policies above (--no-db runs the range test instead)")
        return True
    print("these come from a more distant task; running the range test as well")
    return False


def run_recommend(args) -> int:
    from lrkit.evaluate.range_test import load_result, recommend_policies

    if _from_database(args):
        return 0
    try:
        half = None if args.half_cycle is None else number("--half-cycle", args.half_cycle, int)
        if args.from_:
            if args.method not in METHODS:
                raise BadInput(f"--method must be one of {', '.join(METHODS)}; got {args.method!r}")
            try:
                res = load_result(args.from_)
            except FileNotFoundError:
                raise BadInput(f"--from {args.from_!r}: no such file") from None
            except (ValueError, KeyError, TypeError) as e:  # bad JSON or not a range-test result
                raise BadInput(f"--from {args.from_!r}: {e}") from None
            iters = number("--iters", args.iters, int) if args.iters is not None else int(res.config.get("iters", 10000))
        else:
            res, cfg = _run_test(args)
            _print_result(res)
            iters = cfg.iters
    except BadInput as e:
        print(f"lrkit recommend: {e}", file=sys.stderr)
        return 2
    if res.lo is None:
        why = getattr(res, "error", "") or "too few sweep points"
        print(f"lrkit recommend: the range test found no LR range ({why})", file=sys.stderr)
        return 1
    pols = recommend_policies(res.lo, res.hi, iters, l=half)
    print(f"starting policies for [{res.lo:g}, {res.hi:g}] and {iters} iterations:")
    w = max(len(p["policy"]) for p in pols)
    print(f"{'#':>2}  {'policy':<{w}}  why")
    for i, p in enumerate(pols, 1):
        print(f"{i:>2}  {p['policy']:<{w}}  {p['why']}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"lo": res.lo, "hi": res.hi, "iters": iters, "policies": pols}, indent=1))
        print(f"written: {args.out}")
    return 0
