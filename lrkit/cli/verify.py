"""``lrkit verify``: the three-phase LR policy verification (004 §4.2) from the shell."""

from __future__ import annotations

import sys
from pathlib import Path

from .train import add_batch_arg


def add_parser(sub) -> None:
    v = sub.add_parser("verify", help="verify an LR policy against a target accuracy (004 §4.2: train, compare with "
                                      "the top-N stored policies, range test)")
    v.add_argument("--policy", required=True, help="the policy spec to verify")
    v.add_argument("--dataset", required=True, help="mnist | cifar10 | npz:PATH | svhn | imagenet")
    v.add_argument("--model", required=True, help="lenet | cnn3 | resnet32 | resnet18")
    v.add_argument("--target-acc", type=float, required=True, help="target top-1 as a fraction, e.g. 0.991")
    v.add_argument("-n", type=int, default=3, help="stored policies compared in phase 2 (the paper: 3-5)")
    v.add_argument("--optimizer", default="momentum", help="sgd | momentum | adam")
    v.add_argument("--iters", type=int, default=10000)
    v.add_argument("--batch-size", type=int, default=100)
    v.add_argument("--eval-every", type=int, default=500)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--device", default="cpu")
    v.add_argument("--threads", type=int, default=None)
    v.add_argument("--data-root", default=None)
    v.add_argument("--mopt-every", type=int, default=None, metavar="M", help="measure the M-opt LR every M iterations")
    v.add_argument("--workers", type=int, default=None, help="processes for phase 2 (default: one per CUDA device)")
    v.add_argument("--range-ks", type=float, nargs="+", default=None, help="phase 3: the fixed LRs of the range test")
    v.add_argument("--range-budgets", type=int, nargs="+", default=None, help="phase 3: the short budgets (iterations)")
    v.add_argument("--db", default=None, metavar="URL", help="database URL (default $LRKIT_DB_URL or ~/.lrkit/lrkit.db)")
    v.add_argument("--out", default=None, help="folder for report.md (and mopt.png with --mopt-every)")
    add_batch_arg(v)
    v.set_defaults(func=run_verify)


def run_verify(args) -> int:
    from lrkit.db import DatabaseError
    from lrkit.evaluate.verify import verify
    from lrkit.policies import PolicyError
    from lrkit.train import TrainConfig

    try:
        cfg = TrainConfig(dataset=args.dataset, model=args.model, optimizer=args.optimizer, policy=args.policy,
                          iters=args.iters, batch_size=args.batch_size, eval_every=args.eval_every, seed=args.seed,
                          device=args.device, threads=args.threads, data_root=args.data_root)
        v = verify(cfg, args.target_acc, db=args.db, n=args.n, workers=args.workers, range_ks=args.range_ks,
                   range_budgets=args.range_budgets, mopt_every=args.mopt_every, batch=args.batch)
    except (ValueError, PolicyError, DatabaseError, FileNotFoundError, ImportError) as e:
        print(f"lrkit verify: {e}", file=sys.stderr)
        return 2
    text = v.report()
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(text + "\n")
        if v.mopt:
            from matplotlib.figure import Figure

            from lrkit.viz import plot_mopt

            fig = Figure(figsize=(7, 3.5))
            plot_mopt(v.records[v.policy], ax=fig.subplots())
            fig.tight_layout()
            fig.savefig(out / "mopt.png", dpi=120)
        print(f"written: {out / 'report.md'}")
    return 0
