"""Writes the reproduction notebooks (kept as code so their cells are reviewable).

    python notebooks/make_notebooks.py          # write the .ipynb files (no outputs)
    LRKIT_DATA_DIR=../shared/data jupyter nbconvert --to notebook --execute --inplace notebooks/table*.ipynb

Each notebook drives one recipe of ``reproductions/``. ``LRKIT_PROFILE`` picks the profile (``full``
unless set; CI runs ``quick``). The full profile shows the committed runs in ``reproductions/results/``
(the run store reuses a run only if its whole config, seed and device match); rows without a stored
run are listed as "not run" unless the notebook's ``TRAIN_MISSING`` is set.
"""

from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parent

SETUP = """import os
from pathlib import Path
from IPython.display import Image, Markdown, display
from lrkit.reproduce import get_recipe, reproduce

PROFILE = os.environ.get('LRKIT_PROFILE', 'full')   # CI sets quick
DEVICE = os.environ.get('LRKIT_DEVICE', 'cpu')
RESULTS = Path('../reproductions/results')           # committed full-profile runs
OUT = RESULTS / f'{TABLE}-full-{DEVICE.split(":")[0]}' if PROFILE == 'full' else Path(f'../out/{TABLE}-{PROFILE}')
recipe = get_recipe(TABLE)
print(recipe.title, '| profile:', PROFILE, '| device:', DEVICE, '| results in', OUT)
for run in recipe.runs(PROFILE):
    print(f"{run['config']['policy']:<50} {run['config']['optimizer']:<9} iters {run['config']['iters']}")"""

RUN = """# full: show the finished runs under reproductions/results; TRAIN_MISSING = True also runs the rest
# (about 5 min per row on a 2-core CPU; `lrkit reproduce TABLE --profile full --resume --out OUT` does the same)
TRAIN_MISSING = PROFILE != 'full'
doc = reproduce(TABLE, profile=PROFILE, device=DEVICE, out=OUT, progress=False, resume=PROFILE == 'full',
                reuse=[RESULTS] if PROFILE == 'full' else [], missing='train' if TRAIN_MISSING else 'skip')
display(Markdown((OUT / 'table.md').read_text()))"""

PLOT = "display(Image(doc['plots'][0]))"

CHECKS = {
    "table4": """best = {}
for row in doc['table']:
    c = row['category']
    if row['ours_highest_top1'] is not None and row['ours_highest_top1'] > best.get(c, (-1,))[0]:
        best[c] = (row['ours_highest_top1'], row['policy'])
for c, (acc, pol) in best.items():
    print(f'best {c:<9} {acc:.2f}%  {pol}')
print('paper:', recipe.claim)
print('cyclic beats fixed here:', best['cyclic'][0] > best['fixed'][0])""",
    "table10": """rows = {r['policy']: r for r in doc['table']}
base = next(r for r in doc['table'] if r['baseline'])
for r in doc['table']:
    it = r['ours_iters_to_target']
    print(f"{r['policy']:<52} {('not reached' if it is None else f'{it:.0f}'):>12}  paper {r['paper_iters_to_target']}")
cyclic = [r['ours_iters_to_target'] for r in doc['table'] if r['category'] == 'cyclic' and r['ours_iters_to_target']]
sooner = bool(cyclic) and (base['ours_iters_to_target'] is None or min(cyclic) < base['ours_iters_to_target'])
print('paper:', recipe.claim)
print('a cyclic policy reaches the target sooner than the fixed baseline here:', sooner)""",
    "table11": """by = {}
for r in doc['table']:
    by.setdefault(r['policy'], {})[r['optimizer']] = r['ours_highest_top1']
wins = {p: v['momentum'] > v['sgd'] for p, v in by.items() if v.get('momentum') is not None and v.get('sgd') is not None}
for p, v in by.items():
    print(f"{p:<52} momentum {v.get('momentum') or float('nan'):.2f}  sgd {v.get('sgd') or float('nan'):.2f}")
best = max((r for r in doc['table'] if r['ours_highest_top1'] is not None), key=lambda r: r['ours_highest_top1'])
print('best combination here:', best['policy'], best['optimizer'], f"{best['ours_highest_top1']:.2f}%")
print('paper:', recipe.claim)
print('momentum beats SGD for every policy here:', bool(wins) and all(wins.values()))""",
}

NOTEBOOKS = {
    "table4_mnist_lenet": ("table4", "# Table 4 — LR policies for LeNet on MNIST (Momentum)\n\n"
        "Reproduces Table 4 of Wu & Liu, *Selecting and Composing Learning Rate Policies for Deep Neural "
        "Networks* (`../shared/papers/004_c2aa064785a8cb4d.txt`): LeNet (Caffe), batch 100, momentum 0.9, "
        "weight decay 5e-4, 10,000 iterations, test accuracy every 500 iterations, 16 policies.\n\n"
        "The recipe is `reproductions/table4_mnist_lenet.toml`. The `full` profile is the paper's budget (about "
        "5 min per policy on a 2-core CPU); `quick` (CI, `LRKIT_PROFILE=quick`) runs six policies on a 10× "
        "shorter budget. The outputs below say which profile and machine produced them."),
    "table10_mnist_target": ("table10", "# Table 10 (MNIST rows) — iterations to reach 99.1% top-1\n\n"
        "Cost-effective training in Wu & Liu (`../shared/papers/004_c2aa064785a8cb4d.txt`, Table 10): how many "
        "iterations each policy needs before LeNet's test top-1 first reaches 99.1% (evaluated every 500 "
        "iterations, as in the paper), and the speed-up over the fixed LR `FIX(k=0.01)`. The set-up is Table 4's, "
        "so the runs are shared with it.\n\nThe recipe is `reproductions/table10_mnist_target.toml`; the `quick` "
        "profile runs three policies for 1,000 iterations with a 98% target and an eval every 100 iterations."),
    "table11_mnist_optimizers": ("table11", "# Table 11 — Momentum vs SGD per LR policy (LeNet, MNIST)\n\n"
        "Wu & Liu (`../shared/papers/004_c2aa064785a8cb4d.txt`, Table 11): each of the 13 policies trained with "
        "Momentum (0.9) and with plain SGD, the Table 4 set-up otherwise; the highest test top-1 and the "
        "iteration it was reached. The Momentum column is Table 4's runs.\n\nThe recipe is "
        "`reproductions/table11_mnist_optimizers.toml`; the `quick` profile runs FIX(k=0.01) and SIN2 with both "
        "optimizers on the 10× shorter budget."),
}


BENCH_INTRO = """# Fused Adam-with-schedule: benchmark

`lrkit.optim.FusedAdam` computes the LR inside the optimizer step from the compiled policy and a
step counter on the device. This notebook times one step against `torch.optim.Adam` (`fused=True`,
and `foreach=True`) with `PolicyLR` stepping each iteration, and against bitsandbytes' 8-bit Adam; it
reports the median step time, achieved GB/s and the share of the device's measured copy bandwidth,
and times the fused M-opt estimator against the naive torch expression (`lrkit bench fused-adam`
prints the same table). `LRKIT_PROFILE=quick` (CI) uses tiny sizes; the default sizes are the issue's
(1M and 10M parameters, 500 small tensors) and take about a minute on a 2-core CPU."""

BENCH_SETUP = """import os
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display
from lrkit.optim.bench import bench_fused_adam, table

PROFILE = os.environ.get('LRKIT_PROFILE', 'full')
DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'
if PROFILE == 'quick':
    cfg = dict(sizes=[100_000], many_small=[20], small_size=1024, steps=3, skip=('bnb8',))
else:
    cfg = dict(sizes=[1_000_000, 10_000_000], many_small=[500], steps=20,
               skip=() if DEVICE == 'cuda' else ('bnb8',))  # 8-bit Adam on CPU takes seconds per step
print('profile', PROFILE, '| device', DEVICE, '| torch', torch.__version__, '| threads', torch.get_num_threads())"""

BENCH_RUN = """doc = bench_fused_adam(device=DEVICE, progress=False, **cfg)
display(Markdown(table(doc)))"""

BENCH_PLOT = """import matplotlib.pyplot as plt
df = pd.DataFrame([r for r in doc['rows'] if 'median_ms' in r])
fig, ax = plt.subplots(figsize=(9, 4))
sns.barplot(df, y='case', x='median_ms', hue='name', orient='h', ax=ax)
ax.set_xscale('log'); ax.set_xlabel('median step time (ms, log scale)'); ax.set_title(doc['device'])
ax.legend(fontsize=7); fig.tight_layout()
display(fig); plt.close(fig)"""

BENCH_CHECK = """ours = {r['case']: r for r in doc['rows'] if r['impl'] == 'lrkit' and 'median_ms' in r}
for case, r in ours.items():
    print(f"{case:>14}: {r['name']}, {r.get('speedup_vs_torch_fused', float('nan')):.2f}x torch fused + scheduler, "
          f"{100 * r['frac_copy_bw']:.0f}% of copy bandwidth")
print('benchmark complete:', len(ours) == len(cfg['sizes']) + len(cfg['many_small']))"""


def build_bench(name: str) -> None:
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_markdown_cell(BENCH_INTRO), nbf.v4.new_code_cell(BENCH_SETUP), nbf.v4.new_code_cell(BENCH_RUN),
                nbf.v4.new_code_cell(BENCH_PLOT), nbf.v4.new_code_cell(BENCH_CHECK)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbf.write(nb, str(HERE / f"{name}.ipynb"))


def build(name: str, table: str, intro: str) -> None:
    nb = nbf.v4.new_notebook()
    nb.cells = [
        nbf.v4.new_markdown_cell(intro),
        nbf.v4.new_code_cell(f"TABLE = {table!r}\n" + SETUP),
        nbf.v4.new_code_cell(RUN),
        nbf.v4.new_markdown_cell("LR per iteration (log scale) and test top-1 accuracy of every run:"),
        nbf.v4.new_code_cell(PLOT),
        nbf.v4.new_markdown_cell("The paper's point, checked on these runs:"),
        nbf.v4.new_code_cell(CHECKS[table]),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbf.write(nb, str(HERE / f"{name}.ipynb"))


if __name__ == "__main__":
    for name, (table, intro) in NOTEBOOKS.items():
        build(name, table, intro)
    build_bench("fused_kernel_benchmark")
