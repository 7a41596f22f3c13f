# %% [markdown]
# # 004 Table 9 / 000 Table II — LR tuning for ImageNet with ResNet-18
#
# ResNet-18 on ImageNet for 60 epochs (batch 256; 5,005 iterations per epoch assumed): FIX(k=0.1), the default
# STEP (÷10 every 30 epochs) and the composite by epochs FIX → SINEXP → FIX → FIX (69.05% top-1). ImageNet is read as
# ImageFolder trees `$LRKIT_DATA_DIR/imagenet/{train,val}`; where they are absent (as on our machines) the notebook
# shows the paper's numbers and says so.

# %%
TABLE, COMMITTED = 'table9', 'full'
import os
from pathlib import Path
from IPython.display import Image, Markdown, display
from lrkit.reproduce import get_recipe, reproduce
from lrkit.train.data import data_present

recipe = get_recipe(TABLE)
PROFILE = os.environ.get('LRKIT_PROFILE', COMMITTED)   # CI sets quick; COMMITTED = the profile whose runs are committed
DEVICE = os.environ.get('LRKIT_DEVICE', 'cpu')         # cuda on a GPU machine (the full profiles need one)
RESULTS = Path('../reproductions/results')             # committed runs
stored = RESULTS / f'{TABLE}-{PROFILE}-{DEVICE.split(":")[0]}'
OUT = stored if PROFILE != 'quick' and stored.exists() else Path(f'../out/{TABLE}-{PROFILE}')
PRESENT, WHERE = data_present(recipe.task['dataset'])
print(recipe.title, '| profile:', PROFILE, '| device:', DEVICE, '| results in', OUT)
print(WHERE)
for run in recipe.runs(PROFILE):
    print(f"{run['config']['policy'][:90]:<90} {run['config']['optimizer']:<9} iters {run['config']['iters']}")

# %%
# quick trains here (CI); other profiles show the stored runs (rows without one say "not run") unless
# TRAIN_MISSING is set — see the recipe for what a row costs (the full CIFAR profiles need a GPU)
TRAIN_MISSING = PROFILE == 'quick' and PRESENT
SHOWN = PROFILE if PRESENT else 'full'   # without the data: the paper's whole table, our rows "not run"
if not PRESENT:
    OUT = Path(f'../out/{TABLE}-paper')
doc = reproduce(TABLE, profile=SHOWN, device=DEVICE, out=OUT, progress=False, resume=PROFILE != 'quick',
                reuse=[RESULTS] if PROFILE != 'quick' else [], missing='train' if TRAIN_MISSING else 'skip')
if not PRESENT:
    display(Markdown(f"**{WHERE}.** The table shows the paper's numbers; our rows say \"not run\"."))
display(Markdown((OUT / 'table.md').read_text()))

# %% [markdown]
# LR per iteration (log scale) and test top-1 accuracy of every run:

# %%
ran = [r for res in doc['results'] for r in res['records'] if r.get('curves', {}).get('lr')]
if ran and doc.get('plots'):
    display(Image(doc['plots'][0]))
else:
    print('no runs to plot for this profile here')

# %% [markdown]
# The paper's point, checked on these runs:

# %%
best = {}
for row in doc['table']:
    c, acc = row['category'], row['ours_highest_top1']
    if acc is not None and acc > best.get(c, (-1,))[0]:
        best[c] = (acc, row['policy'], row['paper_highest_top1'])
for c, (acc, pol, paper) in best.items():
    print(f'best {c:<10} ours {acc:6.2f}%  paper {paper}%  {pol}')
fixed = best.get('fixed', (None,))[0]
others = [v[0] for c, v in best.items() if c != 'fixed']
if fixed is not None and others:
    print('a decaying/cyclic/composite policy beats the best fixed LR here:', max(others) > fixed)
ran = [r for r in doc['table'] if r['status'] not in ('not run', 'failed')]
paper = [r for r in doc['table'] if r['status'] == 'not run' and (r['paper_highest_top1'] is not None or
         r['paper_iters_to_target'] is not None or r.get('paper_not_reached'))]
# quick with the data: every row trained here; otherwise a row without a run shows the paper's number
ok = len(ran) == len(doc['table']) if TRAIN_MISSING else len(ran) + len(paper) == len(doc['table'])
print(f"{len(ran)} rows with our runs, {len(paper)} with the paper's number only")
print('paper:', recipe.claim)
print("every row has our result, or (no data, or no run committed) the paper's number:", ok and bool(doc['table']))
