# %% [markdown]
# # Table 4 — LR policies for LeNet on MNIST (Momentum)
#
# Reproduces Table 4 of Wu & Liu, *Selecting and Composing Learning Rate Policies for Deep Neural Networks* (`../shared/papers/004_c2aa064785a8cb4d.txt`): LeNet (Caffe), batch 100, momentum 0.9, weight decay 5e-4, 10,000 iterations, test accuracy every 500 iterations, 16 policies.
#
# The recipe is `reproductions/table4_mnist_lenet.toml`. The `full` profile is the paper's budget (about 5 min per policy on a 2-core CPU); `quick` (CI, `LRKIT_PROFILE=quick`) runs four policies on a 10× shorter budget. The outputs below say which profile and machine produced them.

# %%
TABLE = 'table4'
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
best = {}
for row in doc['table']:
    c = row['category']
    if row['ours_highest_top1'] is not None and row['ours_highest_top1'] > best.get(c, (-1,))[0]:
        best[c] = (row['ours_highest_top1'], row['policy'])
for c, (acc, pol) in best.items():
    print(f'best {c:<9} {acc:.2f}%  {pol}')
print('paper:', recipe.claim)
print('cyclic beats fixed here:', best['cyclic'][0] > best['fixed'][0])
