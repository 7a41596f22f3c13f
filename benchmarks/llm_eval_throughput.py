"""Evaluation throughput of lrkit.llm.eval (items/s per task) at a given thread count and shot counts.

    python benchmarks/llm_eval_throughput.py --model smollm2 --threads 1 --items arc=8 hellaswag=8 mmlu=2 \
        truthfulqa=12 --fewshot paper --out benchmarks/results/llm-eval-smollm2-cpu-1thread-paper-shots.json
    python benchmarks/llm_eval_throughput.py --model smollm2 --threads 1 --items arc=12 hellaswag=12 \
        --fewshot arc=5,hellaswag=2 arc=0,hellaswag=0 --out benchmarks/results/llm-eval-smollm2-cpu-1thread-fewer-shots.json

Each task is scored alone (``mmlu=3``: the first 3 items of each of the 57 subjects) once per shot
setting. Both the wall time and the process CPU time are kept: with one thread the CPU time is what
the items cost on a core of their own, so items per CPU-second is the rate an unshared core gives,
and the wall rate is what this (shared) machine gave at the time (its load average is recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path


def parse_kv(text: str) -> dict:
    out = {}
    for part in text.split(","):
        k, _, v = part.partition("=")
        out[k.strip()] = int(v)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--items", nargs="+", default=["arc=12", "hellaswag=12", "mmlu=3", "truthfulqa=12"],
                    help="TASK=N: the first N items (per subject for mmlu)")
    ap.add_argument("--fewshot", nargs="+", default=["paper"], help="'paper' (25/10/2/0) or TASK=K,... per setting")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import torch

    from lrkit.llm.eval import evaluate
    from lrkit.llm.models import load_model, resolve_model

    torch.set_num_threads(args.threads)
    model, tok = load_model(resolve_model(args.model))
    items = parse_kv(",".join(args.items))
    rows = []
    for setting in args.fewshot:
        shots = None if setting == "paper" else parse_kv(setting)
        for task, n in items.items():
            load = os.getloadavg()
            w0, c0 = time.perf_counter(), time.process_time()
            res = evaluate(model, tok, tasks=[task], limit=n, num_fewshot=shots, batch_size=args.batch_size, progress=False)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            k = res.config["num_fewshot"][task]
            count = res.timing[task]["items"]
            rows.append({"task": task, "num_fewshot": k, "items": count, "wall_s": wall, "cpu_s": cpu,
                         "items_per_s_wall": count / wall, "items_per_cpu_s": count / cpu,
                         "loadavg_1m_before": load[0], "loadavg_1m_after": os.getloadavg()[0]})
            print(f"{task:10s} {k:2d}-shot {count:4d} items: {count / wall:.3f} items/s wall, "
                  f"{count / cpu:.3f} items per CPU-second (load {load[0]:.1f})", flush=True)
    doc = {"model": args.model, "threads": args.threads, "batch_size": args.batch_size, "torch": torch.__version__,
           "machine": platform.machine(), "processor": platform.processor(), "cpus": os.cpu_count(),
           "date": time.strftime("%Y-%m-%d"), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
