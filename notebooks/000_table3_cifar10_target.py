# %% [markdown]
# # 000 Table III (CIFAR-10 rows) — iterations to 90% top-1
#
# LRBench++'s cost-to-target table for ResNet-32 on CIFAR-10: TRI2 and SIN2 reach 90% at 20,000 of the 64,000 default
# iterations (3.2×), NSTEP at 33,000 (1.94×), POLY at 51,000 (1.25×); no fixed LR gets there. The speed-up is the budget
# over a row's iterations (004 Table 10 has the same rows over NSTEP instead). 004 Table 6's set-up and runs, so nothing
# is trained for this table: `full` (64,000 iterations) is a GPU's job; `medium` (committed, shown here) reads Table 6's
# 3,200-iteration runs (×1/20) with a 70% target; `short` (committed, shown at the end) its 800-iteration runs (×1/80)
# with a 40% target, and `large` (committed, last) its 6,400-iteration runs (×1/10) with an 80% target; `quick` (CI) its 32-iteration NSTEP run with a 15% target. Data: the CIFAR-10 JPEG q75 pack.

# %%
TABLE, COMMITTED = '000_table3_cifar10', 'medium'
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
# Each row's speed-up over the budget (— where the row never reaches the target):

# %%
for r in doc['table']:
    if r['paper_speedup'] is not None:
        ours = 'not run' if r['status'] == 'not run' else '—' if r['ours_speedup'] is None else f"{r['ours_speedup']:.2f}x"
        print(f"{r['policy'].split('(')[0]:<6} speed-up over the budget: ours {ours:>8}, paper {r['paper_speedup']:.2f}x")

# %% [markdown]
# The `short` profile (Table 6's 800-iteration runs, ×1/80) with a 40% target:

# %%
short = RESULTS / '000_table3_cifar10-short-cpu' / 'table.md'
if short.is_file():
    display(Markdown(short.read_text()))
else:
    print('no short-profile result is committed here (reproductions/results/000_table3_cifar10-short-cpu)')

# %% [markdown]
# The `large` profile (Table 6's 6,400-iteration runs, ×1/10, where there is one) with an 80% target:

# %%
large = RESULTS / '000_table3_cifar10-large-cpu' / 'table.md'
if large.is_file():
    display(Markdown(large.read_text()))
else:
    print('no large-profile result is committed here (reproductions/results/000_table3_cifar10-large-cpu)')

# %% [markdown]
# The paper's point, checked on these runs:

# %%
for r in doc['table']:
    it = r['ours_iters_to_target']
    ours = 'not run' if r['status'] == 'not run' else 'not reached' if it is None else f'{it:.0f}'
    paper = 'not reached' if r.get('paper_not_reached') else r['paper_iters_to_target']
    print(f"{r['policy'][:60]:<60} ours {ours:>12}  paper {paper}")
cyc = [r['ours_iters_to_target'] for r in doc['table'] if r['category'] == 'cyclic' and r['ours_iters_to_target']]
fix = [r['ours_iters_to_target'] for r in doc['table'] if r['category'] == 'fixed']
if cyc and fix:
    print('a cyclic policy reaches the target sooner than every fixed LR here:',
          all(f is None or min(cyc) < f for f in fix))
ran = [r for r in doc['table'] if r['status'] not in ('not run', 'failed')]
paper = [r for r in doc['table'] if r['status'] == 'not run' and (r['paper_highest_top1'] is not None or
         r['paper_iters_to_target'] is not None or r.get('paper_not_reached'))]
# quick with the data: every row trained here; otherwise a row without a run shows the paper's number
ok = len(ran) == len(doc['table']) if TRAIN_MISSING else len(ran) + len(paper) == len(doc['table'])
print(f"{len(ran)} rows with our runs, {len(paper)} with the paper's number only")
print('paper:', recipe.claim)
print("every row has our result, or (no data, or no run committed) the paper's number:", ok and bool(doc['table']))
