"""``lrkit train`` and ``lrkit reproduce``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parsers(sub) -> None:
    t = sub.add_parser("train", help="train one model under one LR policy and write the run record (JSON)")
    t.add_argument("--dataset", default="mnist",
                   help="mnist | cifar10 | npz:PATH | svhn | imagenet | package.module:loader (your own data)")
    t.add_argument("--model", default="lenet",
                   help="lenet | cnn3 | resnet32 | resnet18 | package.module:factory (your own model)")
    t.add_argument("--optimizer", default="momentum", help="sgd | momentum | adam")
    t.add_argument("--policy", required=True, help="policy spec, e.g. 'SIN2(k0=0.01,k1=0.06,l=2000)'")
    t.add_argument("--iters", type=int, default=10000)
    t.add_argument("--batch-size", type=int, default=100)
    t.add_argument("--eval-every", type=int, default=500)
    t.add_argument("--weight-decay", type=float, default=0.0005)
    t.add_argument("--target-acc", type=float, default=None, help="target top-1 as a fraction, e.g. 0.991")
    t.add_argument("--stop-at-target", action="store_true", help="cost-effective mode: stop once the target is reached")
    t.add_argument("--augment", default=None, choices=["crop_flip"])
    t.add_argument("--normalize", default="scale", choices=["scale", "standardize", "none"],
                   help="scale: x/256 | standardize: per channel or feature | none: as given (float features)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu")
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--mopt-every", type=int, default=None, metavar="M",
                   help="measure the M-opt LR (004 Formula 7) every M iterations (M >= 2); with --out also "
                        "plot it against the applied LR in OUT_STEM.mopt.png beside the record")
    t.add_argument("--out", default=None, help="write the run record here (JSON)")
    t.add_argument("--db", default=None, metavar="URL",
                   help="record the run in this policy database (default: $LRKIT_DB_URL when set, else not recorded)")
    _speed_args(t)
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=run_train)

    r = sub.add_parser("reproduce", help="reproduce a paper table (see --list)")
    r.add_argument("table", nargs="?", help="table id, e.g. table4")
    r.add_argument("--list", action="store_true", help="list the reproducible tables")
    r.add_argument("--profile", default="quick", help="quick | full | a profile the recipe adds (e.g. cpu)")
    r.add_argument("--repeats", type=int, default=1)
    r.add_argument("--device", default="cpu")
    r.add_argument("--threads", type=int, default=None)
    r.add_argument("--out", default=None, help="output folder (default out/TABLE-PROFILE)")
    r.add_argument("--only", nargs="+", default=None, metavar="SPEC", help="run only the rows with these policies")
    r.add_argument("--resume", action="store_true", help="reuse the finished runs already in OUT/results.json")
    r.add_argument("--reuse", nargs="+", default=[], metavar="PATH",
                   help="also reuse finished runs from these results.json / run-record files or folders")
    r.add_argument("--cache", default=None, metavar="DIR",
                   help="run store folder, read and written (default $LRKIT_RUN_CACHE)")
    r.add_argument("--stored-only", action="store_true",
                   help="train nothing: show the runs the store holds, list the other rows as 'not run'")
    r.add_argument("--other-numerics", action="store_true",
                   help="reuse stored runs of another numerics version too (their rows are marked †); by default "
                        "they are trained again")
    r.add_argument("--workers", type=int, default=None,
                   help="train the rows in this many spawned processes (default: one after another here)")
    _speed_args(r)
    add_batch_arg(r)
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=run_reproduce)


def _batch_size(text: str):
    if text == "auto":
        return text
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise argparse.ArgumentTypeError(f"--batch must be 'auto' or an int >= 1 (1: every run alone), got {text!r}")
    return k


def add_batch_arg(p) -> None:
    """``--batch K``: how runs of one task family train together (one batched run of replicas)."""
    p.add_argument("--batch", type=_batch_size, default="auto", metavar="K",
                   help="auto (default: batch a task family's runs when that is faster here, timed) | K: batches "
                        "of at most K replicas | 1: every run alone")


def _speed_args(p) -> None:
    from lrkit.train.engine import COMPILE_MODES

    p.add_argument("--channels-last", action="store_true", help="model and batches in channels-last (NHWC) memory format")
    p.add_argument("--compile", default=None, choices=COMPILE_MODES[1:], metavar="MODE",
                   help="torch.compile the model: " + " | ".join(COMPILE_MODES[1:]) + " (reduce-overhead: CUDA graphs)")
    p.add_argument("--flush-denormal", action="store_true",
                   help="CPU: flush subnormal floats to zero on every torch thread (keeps Adam from slowing down "
                        "several-fold as its second moments decay; see lrkit.train.denormal)")


def run_train(args) -> int:
    from lrkit.policies import PolicyError
    from lrkit.train import TrainConfig, train
    from lrkit.train.data import load_dataset
    from lrkit.environment import check_device

    try:
        cfg = TrainConfig(dataset=args.dataset, model=args.model, optimizer=args.optimizer, policy=args.policy,
                          iters=args.iters, batch_size=args.batch_size, eval_every=args.eval_every,
                          weight_decay=args.weight_decay, target_acc=args.target_acc, stop_at_target=args.stop_at_target,
                          augment=args.augment, normalize=args.normalize, seed=args.seed, device=args.device,
                          threads=args.threads, mopt_every=args.mopt_every, channels_last=args.channels_last,
                          compile=args.compile, flush_denormal=args.flush_denormal)
        check_device(cfg.device)
        data = load_dataset(cfg.dataset, root=cfg.data_root)  # unknown name, absent data, no torchvision
    except (ValueError, PolicyError, FileNotFoundError, ImportError) as e:
        print(f"lrkit train: {e}", file=sys.stderr)
        return 2
    from lrkit.db.recorder import RunRecorder

    rec = train(cfg, data=data, progress=not args.no_progress, db=RunRecorder.open(args.db))
    s = rec.summary
    print(f"status: {rec.status}{' (' + rec.message + ')' if rec.message else ''}")
    if s.get("highest_top1") is not None:
        print(f"highest top-1: {100 * s['highest_top1']:.2f}% at iteration {s['highest_top1_iteration']}; "
              f"final top-1: {100 * s['final_top1']:.2f}%; top-5: {100 * (s['highest_top5'] or 0):.2f}%")
    if cfg.target_acc is not None:
        print(f"iterations to {100 * cfg.target_acc:.2f}%: {s['iterations_to_target'] or 'not reached'}")
    print(f"iterations: {s['iterations']}, wall time: {s['wall_time_s']:.1f} s")
    if cfg.mopt_every:
        _report_mopt(rec)
    if args.out:
        rec.save(args.out)
        print(f"run record written to {args.out}")
        if cfg.mopt_every:
            print(f"M-opt plot written to {_write_mopt_plot(rec, args.out)}")
    return 0 if rec.status in ("complete", "diverged") else 1


def mopt_plot_path(out) -> Path:
    """Where ``lrkit train --mopt-every M --out OUT`` puts the M-opt plot: ``OUT_STEM.mopt.png`` beside
    the record (``runs/a.json`` → ``runs/a.mopt.png``), so records sharing a folder keep their own."""
    out = Path(out)
    return out.with_name(out.stem + ".mopt.png")


def _write_mopt_plot(rec, out) -> Path:
    from matplotlib.figure import Figure  # no pyplot: a file, never a window, whatever the backend

    from lrkit.viz import plot_mopt

    path = mopt_plot_path(out)
    fig = Figure(figsize=(8, 4), layout="tight")
    plot_mopt(rec, ax=fig.subplots())
    fig.savefig(path, dpi=120)
    return path


def _report_mopt(rec) -> None:
    from lrkit.evaluate.mopt import mopt_summary

    s = mopt_summary(rec)
    if s["median_ratio"] is None:
        print(f"M-opt LR: {s['measurements']} measurement(s), none usable")
        return
    hint = f"; the M-opt LR suggests a {s['suggests']} LR" if s["suggests"] else ""
    print(f"M-opt LR: {s['measurements']} measurement(s), median η*/η = {s['median_ratio']:.3g} "
          f"(median η* = {s['median_mopt_lr']:.3g}){hint}")


def run_reproduce(args) -> int:
    from lrkit.reproduce import get_recipe, list_recipes, reproduce

    if args.list or not args.table:
        for rid, r in list_recipes().items():
            print(f"{rid:<12} {r.title}  [profiles: {', '.join(r.profiles)}; {len(r.rows)} rows]")
        return 0
    out = args.out or f"out/{args.table}-{args.profile}"
    try:
        get_recipe(args.table).runs(args.profile, args.only)
        doc = reproduce(args.table, profile=args.profile, repeats=args.repeats, device=args.device, out=out,
                        progress=not args.no_progress, threads=args.threads, only=args.only, resume=args.resume,
                        reuse=args.reuse, cache=args.cache, missing="skip" if args.stored_only else "train",
                        speed={k: v for k, v in (("channels_last", args.channels_last), ("compile", args.compile),
                                                 ("flush_denormal", args.flush_denormal)) if v},
                        other_numerics=args.other_numerics, workers=args.workers, batch=args.batch)
    except (ValueError, FileNotFoundError) as e:  # the execution layer's preflight: before any run
        print(f"lrkit reproduce: {e}", file=sys.stderr)
        return 2
    print(Path(out, "table.md").read_text())
    print(f"results: {out}/results.json, {out}/table.md, plots: {', '.join(doc.get('plots', []))}")
    return 0
