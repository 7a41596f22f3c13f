# %% [markdown]
# # Table 11 — Momentum vs SGD per LR policy (LeNet, MNIST)
#
# Wu & Liu (`../shared/papers/004_c2aa064785a8cb4d.txt`, Table 11): each of the 13 policies trained with Momentum (0.9) and with plain SGD, the Table 4 set-up otherwise; the highest test top-1 and the iteration it was reached. The Momentum column is Table 4's runs.
#
# The recipe is `reproductions/table11_mnist_optimizers.toml`; the `quick` profile runs FIX(k=0.01) and SIN2 with both optimizers on the 10× shorter budget.

# %%
TABLE = 'table11'
import os
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
    print(f"{run['config']['policy']:<50} {run['config']['optimizer']:<9} iters {run['config']['iters']}")

# %%
# full: show the finished runs under reproductions/results; TRAIN_MISSING = True also runs the rest
# (about 5 min per row on a 2-core CPU; `lrkit reproduce TABLE --profile full --resume --out OUT` does the same)
TRAIN_MISSING = PROFILE != 'full'
doc = reproduce(TABLE, profile=PROFILE, device=DEVICE, out=OUT, progress=False, resume=PROFILE == 'full',
                reuse=[RESULTS] if PROFILE == 'full' else [], missing='train' if TRAIN_MISSING else 'skip')
display(Markdown((OUT / 'table.md').read_text()))

# %% [markdown]
# LR per iteration (log scale) and test top-1 accuracy of every run:

# %%
display(Image(doc['plots'][0]))

# %% [markdown]
# The paper's point, checked on these runs:

# %%
by = {}
for r in doc['table']:
    by.setdefault(r['policy'], {})[r['optimizer']] = r['ours_highest_top1']
wins = {p: v['momentum'] > v['sgd'] for p, v in by.items() if v.get('momentum') is not None and v.get('sgd') is not None}
for p, v in by.items():
    print(f"{p:<52} momentum {v.get('momentum') or float('nan'):.2f}  sgd {v.get('sgd') or float('nan'):.2f}")
best = max((r for r in doc['table'] if r['ours_highest_top1'] is not None), key=lambda r: r['ours_highest_top1'])
print('best combination here:', best['policy'], best['optimizer'], f"{best['ours_highest_top1']:.2f}%")
print('paper:', recipe.claim)
print('momentum beats SGD for every policy here:', bool(wins) and all(wins.values()))
