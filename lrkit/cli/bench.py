"""``lrkit bench fused-adam``: the optimizer-step benchmark (prints a table, writes JSON and Markdown)."""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="benchmarks of the compiled kernels")
    bsub = b.add_subparsers(dest="bench", metavar="BENCH")
    f = bsub.add_parser("fused-adam", help="FusedAdam vs torch Adam (fused, foreach) + scheduler vs 8-bit Adam; M-opt")
    f.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7], help="one-tensor cases (parameters)")
    f.add_argument("--many-small", type=int, nargs="*", default=[500], help="many-small-tensor cases (tensor counts)")
    f.add_argument("--small-size", type=int, default=4096, help="parameters per small tensor")
    f.add_argument("--device", default="cpu")
    f.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    f.add_argument("--steps", type=int, default=20)
    f.add_argument("--threads", type=int, default=None)
    f.add_argument("--skip", nargs="*", default=[], choices=["lrkit", "reference", "fused", "foreach", "bnb8"])
    f.add_argument("--out", default=None, help="write JSON here (and a .md table beside it)")
    f.set_defaults(func=run_fused_adam)
    b.set_defaults(func=lambda args: (b.print_help(), 2)[1])


def run_fused_adam(args) -> int:
    import torch

    from lrkit.optim.bench import bench_fused_adam, table, write

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"lrkit bench: --device {args.device} but torch sees no CUDA device", file=sys.stderr)
        return 2
    doc = bench_fused_adam(sizes=[int(s) for s in args.sizes], many_small=args.many_small, small_size=args.small_size,
                           device=args.device, dtype=getattr(torch, args.dtype), steps=args.steps, skip=args.skip)
    print(table(doc))
    if args.out:
        write(doc, args.out)
        print(f"written: {args.out} and {args.out.rsplit('.', 1)[0]}.md")
    return 0
