# %% [markdown]
# # 004 Table 3 and Fig. 2 — composite LR on ResNet-32, CIFAR-10
#
# FIX, NSTEP, SINEXP and the advanced composite (three TRI stages) with the iteration each reached its highest
# accuracy; Fig. 2 is the LR and top-1/top-5 curves below. Table 6's set-up (batch 128, weight decay 1e-4, crop and
# flip). Profiles: `full` (the paper's 64,000 iterations; a GPU's job, shared with Table 6's runs), `medium` (committed,
# shown here: the four rows × 3,200 iterations, every time parameter ×1/20, channels-last, about 21 min a row on 2 CPU
# cores), `short` (committed too: 800 iterations, ×1/80), `large` (committed too: 6,400 iterations, ×1/10, 34–43 min a
# row with `--flush-denormal`) — the three side by side at the end — and `quick` (CI: NSTEP
# for 32 iterations). Data: the CIFAR-10 JPEG q75 pack.

# %%
TABLE, COMMITTED = 'table3', 'medium'
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
# Fig. 2: the LR, test top-1 and test top-5 of each policy:

# %%
import matplotlib.pyplot as plt
from lrkit.viz import plot_lr_and_accuracy
ran = [res for res in doc['results'] if res['records'] and res['records'][0].get('curves', {}).get('lr')]
if ran:
    fig = plot_lr_and_accuracy(ran, path=OUT / 'fig2.png', title=f'{recipe.id}, profile {PROFILE}')
    plt.close(fig)
    display(Image(str(OUT / 'fig2.png')))
else:
    print('no runs to plot for this profile here')

# %% [markdown]
# The trend with the budget: each row's highest top-1 (and the iteration of it) at `short` (800 iterations, ×1/80), `medium` (3,200, ×1/20) and `large` (6,400, ×1/10; a row without a run shows —) beside the paper's 64,000:

# %%
from lrkit.reproduce.report import budgets_markdown
display(Markdown(budgets_markdown({'short (800 it)': RESULTS / 'table3-short-cpu', 'medium (3,200 it)': RESULTS / 'table3-medium-cpu', 'large (6,400 it)': RESULTS / 'table3-large-cpu'})))

# %% [markdown]
# Each row's highest top-1 against the budget (log scale): our profiles, and the paper's number as a star:

# %%
import matplotlib.pyplot as plt
from lrkit.viz import plot_budgets
fig = plot_budgets({'short': RESULTS / 'table3-short-cpu', 'medium': RESULTS / 'table3-medium-cpu', 'large': RESULTS / 'table3-large-cpu'}, paper_iters=recipe.task['iters'], path=OUT / 'budgets.png',
                   title=f'{recipe.id}: highest top-1 against the budget (★ the paper)')
plt.close(fig)
display(Image(str(OUT / 'budgets.png')))

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
