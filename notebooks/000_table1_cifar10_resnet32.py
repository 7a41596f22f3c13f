# %% [markdown]
# # 000 Table I and Fig. 5 — LR policies incl. MULTI, ResNet-32 on CIFAR-10
#
# LRBench++'s Table I (every number equals 004 Table 6 / Table 3, and so does the set-up: the runs are shared). `full`
# (64,000 iterations per row) is a GPU's job; `short` (committed) reads the 800-iteration CPU runs (×1/80) of Table 3
# (FIX, NSTEP, SINEXP, MULTI) and Table 6 (the other rows), and a row without one shows the paper's number; `medium`
# (committed, shown at the end) reads the 3,200-iteration runs (×1/20) of all 15 rows, `large` (committed, beside it)
# the 6,400-iteration runs (×1/10) of the rows that have one (the recipe's `large` rows); `quick` (CI) runs NSTEP for 32 iterations. Data: the CIFAR-10 JPEG q75 pack.

# %%
TABLE, COMMITTED = '000_table1', 'short'
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
# Fig. 5: the LR, test top-1 and test top-5 of each policy:

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
# The `medium` profile (3,200 iterations, ×1/20): all 15 rows (Table 3's four, MULTI among them, and Table 6's other eleven) beside the same rows at `short` and at `large` (6,400 iterations, ×1/10; — where a row has no large run):

# %%
from lrkit.reproduce.report import budgets_markdown
display(Markdown(budgets_markdown({'short (800 it)': RESULTS / '000_table1-short-cpu', 'medium (3,200 it)': RESULTS / '000_table1-medium-cpu', 'large (6,400 it)': RESULTS / '000_table1-large-cpu'}, only='medium (3,200 it)')))

# %% [markdown]
# Each row's highest top-1 against the budget (log scale): our profiles, and the paper's number as a star:

# %%
import matplotlib.pyplot as plt
from lrkit.viz import plot_budgets
fig = plot_budgets({'short': RESULTS / '000_table1-short-cpu', 'medium': RESULTS / '000_table1-medium-cpu', 'large': RESULTS / '000_table1-large-cpu'}, paper_iters=recipe.task['iters'], path=OUT / 'budgets.png',
                   title=f'{recipe.id}: highest top-1 against the budget (★ the paper)')
plt.close(fig)
display(Image(str(OUT / 'budgets.png')))

# %% [markdown]
# The paper's points, checked on the `medium` rows:

# %%
import json
med_path = RESULTS / '000_table1-medium-cpu' / 'results.json'
med_doc = json.loads(med_path.read_text()) if med_path.is_file() else {'table': []}
print(f"medium profile: {len(med_doc['table'])} rows with a run")
best = {}
for row in med_doc['table']:
    c, acc = row['category'], row['ours_highest_top1']
    if acc is not None and acc > best.get(c, (-1,))[0]:
        best[c] = (acc, row['policy'], row['paper_highest_top1'])
for c, (acc, pol, paper) in best.items():
    print(f'best {c:<10} ours {acc:6.2f}%  paper {paper}%  {pol}')
fixed = best.get('fixed', (None,))[0]
others = [v[0] for c, v in best.items() if c != 'fixed']
if fixed is not None and others:
    print('a decaying/cyclic/composite policy beats the best fixed LR here:', max(others) > fixed)
import numpy as np
done = [r for r in med_doc['table'] if r['ours_highest_top1'] is not None]
name = lambda r: (r['label'] or r['policy']).split(':')[0].split('(')[0].strip()  # the printed name (STEP/EXP: labels)
ours = {name(r): r['ours_highest_top1'] for r in done}
fix = max((r['ours_highest_top1'] for r in done if r['category'] == 'fixed'), default=None)
named = [n for n in ('NSTEP', 'POLY', 'TRIEXP', 'SINEXP') if n in ours]
if fix is not None and named:
    print(f"ours minus our best fixed LR ({fix:.2f}%), paper: all four over +6.3 points: "
          + ', '.join(f'{n} {ours[n] - fix:+.2f}' for n in named))
good, bad = [n for n in ('TRI2', 'SIN2') if n in ours], [n for n in ('TRI', 'SIN', 'COS') if n in ours]
if good and bad:
    print(f"TRI2/SIN2 ({', '.join(f'{n} {ours[n]:.2f}' for n in good)}) above TRI/SIN/COS "
          f"({', '.join(f'{n} {ours[n]:.2f}' for n in bad)}) here (paper: over 91.85% against under 77%):",
          min(ours[n] for n in good) > max(ours[n] for n in bad))
if 'MULTI' in ours:
    print('MULTI the best row here (paper: 92.91%, the best of Table I):', ours['MULTI'] == max(ours.values()))
cats = {}
for r in done:
    cats.setdefault(r['category'], []).append(r['ours_highest_top1'])
print('category means here:', ', '.join(f'{c} {np.mean(v):.2f}% (n={len(v)})' for c, v in cats.items()))
paired = [r for r in done if r['paper_highest_top1'] is not None]
if len(paired) >= 3:
    ranks = lambda v: np.argsort(np.argsort(v)).astype(float)
    rho = np.corrcoef(ranks([r['ours_highest_top1'] for r in paired]), ranks([r['paper_highest_top1'] for r in paired]))[0, 1]
    print(f"rank correlation of our rows with the paper's (Spearman, {len(paired)} rows): {rho:.2f}")


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
import numpy as np
done = [r for r in doc['table'] if r['ours_highest_top1'] is not None]
name = lambda r: (r['label'] or r['policy']).split(':')[0].split('(')[0].strip()  # the printed name (STEP/EXP: labels)
ours = {name(r): r['ours_highest_top1'] for r in done}
fix = max((r['ours_highest_top1'] for r in done if r['category'] == 'fixed'), default=None)
named = [n for n in ('NSTEP', 'POLY', 'TRIEXP', 'SINEXP') if n in ours]
if fix is not None and named:
    print(f"ours minus our best fixed LR ({fix:.2f}%), paper: all four over +6.3 points: "
          + ', '.join(f'{n} {ours[n] - fix:+.2f}' for n in named))
good, bad = [n for n in ('TRI2', 'SIN2') if n in ours], [n for n in ('TRI', 'SIN', 'COS') if n in ours]
if good and bad:
    print(f"TRI2/SIN2 ({', '.join(f'{n} {ours[n]:.2f}' for n in good)}) above TRI/SIN/COS "
          f"({', '.join(f'{n} {ours[n]:.2f}' for n in bad)}) here (paper: over 91.85% against under 77%):",
          min(ours[n] for n in good) > max(ours[n] for n in bad))
if 'MULTI' in ours:
    print('MULTI the best row here (paper: 92.91%, the best of Table I):', ours['MULTI'] == max(ours.values()))
cats = {}
for r in done:
    cats.setdefault(r['category'], []).append(r['ours_highest_top1'])
print('category means here:', ', '.join(f'{c} {np.mean(v):.2f}% (n={len(v)})' for c, v in cats.items()))
paired = [r for r in done if r['paper_highest_top1'] is not None]
if len(paired) >= 3:
    ranks = lambda v: np.argsort(np.argsort(v)).astype(float)
    rho = np.corrcoef(ranks([r['ours_highest_top1'] for r in paired]), ranks([r['paper_highest_top1'] for r in paired]))[0, 1]
    print(f"rank correlation of our rows with the paper's (Spearman, {len(paired)} rows): {rho:.2f}")
ran = [r for r in doc['table'] if r['status'] not in ('not run', 'failed')]
paper = [r for r in doc['table'] if r['status'] == 'not run' and (r['paper_highest_top1'] is not None or
         r['paper_iters_to_target'] is not None or r.get('paper_not_reached'))]
# quick with the data: every row trained here; otherwise a row without a run shows the paper's number
ok = len(ran) == len(doc['table']) if TRAIN_MISSING else len(ran) + len(paper) == len(doc['table'])
print(f"{len(ran)} rows with our runs, {len(paper)} with the paper's number only")
print('paper:', recipe.claim)
print("every row has our result, or (no data, or no run committed) the paper's number:", ok and bool(doc['table']))
