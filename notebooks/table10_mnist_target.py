# %% [markdown]
# # Table 10 (MNIST rows) — iterations to reach 99.1% top-1
#
# Cost-effective training in Wu & Liu (`../shared/papers/004_c2aa064785a8cb4d.txt`, Table 10): how many iterations each policy needs before LeNet's test top-1 first reaches 99.1% (evaluated every 500 iterations, as in the paper), and the speed-up over the fixed LR `FIX(k=0.01)`. The set-up is Table 4's, so the runs are shared with it.
#
# The recipe is `reproductions/table10_mnist_target.toml`; the `quick` profile runs three policies for 1,000 iterations with a 98% target and an eval every 500 iterations.

# %%
TABLE = 'table10'
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
rows = {r['policy']: r for r in doc['table']}
base = next(r for r in doc['table'] if r['baseline'])
for r in doc['table']:
    it = r['ours_iters_to_target']
    print(f"{r['policy']:<52} {('not reached' if it is None else f'{it:.0f}'):>12}  paper {r['paper_iters_to_target']}")
cyclic = [r['ours_iters_to_target'] for r in doc['table'] if r['category'] == 'cyclic' and r['ours_iters_to_target']]
sooner = bool(cyclic) and (base['ours_iters_to_target'] is None or min(cyclic) < base['ours_iters_to_target'])
print('paper:', recipe.claim)
print('a cyclic policy reaches the target sooner than the fixed baseline here:', sooner)
