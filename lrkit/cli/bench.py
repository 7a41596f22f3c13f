"""``lrkit bench fused-adam`` (the optimizer step), ``lrkit bench train`` (training iterations per second) and
``lrkit bench batched`` (K single runs vs one batched run): each prints a table and writes JSON and Markdown."""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="benchmarks: the compiled optimizer step, training throughput")
    bsub = b.add_subparsers(dest="bench", metavar="BENCH")
    f = bsub.add_parser("fused-adam", help="FusedAdam vs torch Adam (fused, foreach) + scheduler vs 8-bit Adam; M-opt")
    f.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7], help="one-tensor cases (parameters)")
    f.add_argument("--mopt-sizes", type=float, nargs="*", default=None,
                   help="sizes for the M-opt op vs the naive expression (default: --sizes)")
    f.add_argument("--many-small", type=int, nargs="*", default=[500], help="many-small-tensor cases (tensor counts)")
    f.add_argument("--small-size", type=int, default=4096, help="parameters per small tensor")
    f.add_argument("--device", default="cpu")
    f.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    f.add_argument("--steps", type=int, default=20)
    f.add_argument("--threads", type=int, default=None)
    f.add_argument("--skip", nargs="*", default=[], choices=["lrkit", "reference", "fused", "foreach", "bnb8"])
    f.add_argument("--amsgrad", action="store_true", help="time AMSGrad steps (lrkit's and torch's Adam(amsgrad=True))")
    f.add_argument("--sequential", action="store_true",
                   help="time each implementation alone (default: in interleaved rounds wherever all of them fit in memory)")
    f.add_argument("--out", default=None, help="write JSON here (and a .md table beside it)")
    f.set_defaults(func=run_fused_adam)
    from lrkit.reproduce.bench import VARIANTS

    t = bsub.add_parser("train", help="training iterations/s of a table's task: eager, channels-last, torch.compile, "
                                      "CUDA graphs")
    t.add_argument("--recipe", nargs="+", default=["table5", "table6"], metavar="TABLE",
                   help="tables whose full-profile task is timed (with the policy of the quick profile's first row); "
                        "default: table5 (CNN3), table6 (ResNet-32)")
    t.add_argument("--variants", nargs="+", default=["eager", "channels_last", "compile"], choices=list(VARIANTS))
    t.add_argument("--device", default="cpu")
    t.add_argument("--steps", type=int, default=100, help="timed iterations per variant")
    t.add_argument("--warmup", type=int, default=20, help="untimed iterations first (compilation, autotuning)")
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--out", default=None, help="write JSON here (and a .md table beside it)")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=run_train_bench)
    from lrkit.reproduce.bench_batched import CASES, KS

    bb = bsub.add_parser("batched", help="iterations/s of K single runs vs one batched run of K replicas")
    bb.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    bb.add_argument("--ks", type=int, nargs="+", default=list(KS), metavar="K", help="replicas per batch")
    bb.add_argument("--device", default="cpu")
    bb.add_argument("--steps", type=int, default=3, help="timed iterations per engine and round")
    bb.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    bb.add_argument("--rounds", type=int, default=2, help="interleaved rounds (the best is reported)")
    bb.add_argument("--threads", type=int, default=None)
    bb.add_argument("--max-memory-gb", type=float, default=4.0, help="skip a K whose activations need more (estimate)")
    bb.add_argument("--max-case-s", type=float, default=120.0, help="skip a K whose timing would take longer")
    bb.add_argument("--quick", action="store_true", help="K = 1, 4, 16; 10 timed iterations, one round (the GPU script)")
    bb.add_argument("--out", default=None, help="write JSON here (and a .md table beside it)")
    bb.add_argument("--no-progress", action="store_true")
    bb.set_defaults(func=run_batched_bench)
    b.set_defaults(func=lambda args: (b.print_help(), 2)[1])


def _no_cuda(device: str) -> bool:
    """True (and says so) when ``device`` is CUDA and torch sees none."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        print(f"lrkit bench: --device {device} but torch sees no CUDA device", file=sys.stderr)
        return True
    return False


def _report(doc: dict, table, write, out) -> int:
    """Print the table, write JSON and Markdown to ``out`` (if given); 130 when an interrupt cut it short."""
    print(table(doc))
    if out:
        write(doc, out)
        print(f"written: {out} and {out.rsplit('.', 1)[0]}.md")
    return 130 if doc.get("interrupted") else 0


def _run_and_report(command: str, bench, table, write, out) -> int:
    """``bench()``'s document reported (:func:`_report`); a ValueError (input it refuses) is one line on
    stderr, prefixed ``lrkit bench COMMAND:``, and exit status 2."""
    try:
        doc = bench()
    except ValueError as e:
        print(f"lrkit bench {command}: {e}", file=sys.stderr)
        return 2
    return _report(doc, table, write, out)


def run_fused_adam(args) -> int:
    import torch

    from lrkit.optim.bench import BenchInputError, bench_fused_adam, table, write

    if args.threads:
        torch.set_num_threads(args.threads)
    if _no_cuda(args.device):
        return 2
    try:
        doc = bench_fused_adam(sizes=args.sizes, many_small=args.many_small, small_size=args.small_size,
                               device=args.device, dtype=getattr(torch, args.dtype), steps=args.steps, skip=args.skip,
                               mopt_sizes=args.mopt_sizes, checkpoint=(lambda doc: write(doc, args.out)) if args.out else None,
                               interleave=not args.sequential, amsgrad=args.amsgrad)
    except BenchInputError as e:  # bad sizes, counts or steps: named before anything is timed
        option = "--" + e.field.replace("_", "-")
        print(f"lrkit bench fused-adam: {option}{str(e).split(repr(e.field), 1)[1]}", file=sys.stderr)
        return 2
    return _report(doc, table, write, args.out)


def run_batched_bench(args) -> int:

    from lrkit.reproduce.bench_batched import bench_batched, table, write

    if _no_cuda(args.device):
        return 2
    ks, steps, rounds = (([1, 4, 16], 10, 1) if args.quick else (args.ks, args.steps, args.rounds))
    return _run_and_report("batched", lambda: bench_batched(
        args.cases, ks, device=args.device, steps=steps, warmup=args.warmup, rounds=rounds, threads=args.threads,
        max_memory_gb=args.max_memory_gb, max_case_s=args.max_case_s, progress=not args.no_progress,
        checkpoint=(lambda d: write(d, args.out)) if args.out else None), table, write, args.out)


def run_train_bench(args) -> int:

    from lrkit.reproduce.bench import bench_train, table, write

    if _no_cuda(args.device):
        return 2
    if args.steps < 1 or args.warmup < 1:
        print(f"lrkit bench train: --steps and --warmup must be >= 1, got {args.steps} and {args.warmup}", file=sys.stderr)
        return 2
    # an unknown recipe is a ValueError that names the available ones
    return _run_and_report("train", lambda: bench_train(
        args.recipe, args.variants, device=args.device, steps=args.steps, warmup=args.warmup, threads=args.threads,
        progress=not args.no_progress), table, write, args.out)
