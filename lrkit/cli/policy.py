"""``lrkit policy show|list``: print policy values, plot them, list the families."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("policy", help="inspect LR policies")
    psub = p.add_subparsers(dest="policy_command", metavar="ACTION")

    show = psub.add_parser("show", help="print LR values of one or more policies and plot them")
    show.add_argument("specs", nargs="+", metavar="SPEC", help="policy specs, e.g. 'SIN2(k0=0.01, k1=0.06, l=2000)'")
    show.add_argument("--iters", type=int, default=10000, help="iteration range 0 … N−1 (default 10000)")
    show.add_argument("--at", type=_int_list, default=None,
                      help="comma-separated iterations to print (default: 0, N/4, N/2, 3N/4, N−1)")
    show.add_argument("--out", default=None, help="save the plot to this file (PNG, PDF, SVG)")
    show.add_argument("--log", action="store_true", help="log-scale LR axis")
    show.set_defaults(func=run_show)

    lst = psub.add_parser("list", help="list every policy with its parameters")
    lst.set_defaults(func=run_list)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _int_list(text: str) -> list[int]:
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--at takes comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 0:
        raise argparse.ArgumentTypeError(f"--at takes iterations >= 0, got {text!r}")
    return vals


def run_show(args) -> int:
    from lrkit.policies import PolicyError, parse

    if args.iters <= 0:
        print(f"lrkit policy show: --iters must be > 0, got {args.iters}", file=sys.stderr)
        return 2
    try:
        pols = [parse(s) for s in args.specs]
    except PolicyError as e:
        print(f"lrkit policy show: {e}", file=sys.stderr)
        return 2
    n = args.iters
    at = args.at if args.at is not None else sorted({0, n // 4, n // 2, 3 * n // 4, n - 1})
    names = [f"[{i}]" for i in range(len(pols))]
    for name, p in zip(names, pols):
        print(f"{name} {p}")
    header = f"{'t':>10}" + "".join(f"{nm:>16}" for nm in names)
    print(header)
    for t in at:
        print(f"{t:>10}" + "".join(f"{p(t):>16.8g}" for p in pols))
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from lrkit.viz import plot_policies

        ax = plot_policies(pols, n, log_y=args.log)
        ax.figure.tight_layout()
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        ax.figure.savefig(args.out, dpi=120)
        plt.close(ax.figure)
        print(f"plot saved to {args.out}")
    return 0


def run_list(args) -> int:
    from lrkit.policies import REGISTRY

    for cls in REGISTRY.values():
        params = []
        for f in cls.parameters():
            opt = "" if f.default is dataclasses.MISSING else f"={f.default!r}"
            params.append(f"{f.name}{opt}")
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        print(f"{cls.name:<15} {cls.family:<10} ({', '.join(params)})\n{'':<27}{doc}")
    return 0
