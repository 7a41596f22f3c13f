# %% [markdown]
# # 004 Table 12 — Momentum vs SGD vs Adam per LR policy, CNN3 on CIFAR-10
#
# 13 policies × 3 optimizers, the highest top-1 and the iteration it was reached (the `full` profile: 39 runs of
# 70,000 iterations, a GPU's job). The Momentum column is Table 5's runs. `short` (the committed CPU run) is all 13
# policies × 3 optimizers on Table 5's short budget (1,750 iterations, ×1/40, 3.6–4.6 min a run): the Momentum
# column is Table 5's runs, the 26 SGD and Adam runs were trained for this table (POLY and COS among them: the rows
# where the paper's Adam stays at 10%). `medium` (committed, shown below the short table) is FIX, NSTEP, POLY, TRI, SINEXP
# and COS × 3 optimizers on Table 5's medium budget (7,000 iterations, ×1/10); its Momentum column is Table 5's medium runs. `quick` (CI) trains FIX(k=0.001) with each optimizer for 140 iterations.
# Data: the CIFAR-10 JPEG q75 pack.

# %%
TABLE, COMMITTED = 'table12', 'short'
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
# The longest CPU runs: the `medium` profile (7,000 iterations, ×1/10) of all 13 policies with each optimizer, beside the same rows of the short run:

# %%
from lrkit.reproduce.report import budgets_markdown, compare_budgets
BUDGETS = {'short (1,750 it)': RESULTS / 'table12-short-cpu', 'medium (7,000 it)': RESULTS / 'table12-medium-cpu'}
med = {(e['policy'], e['optimizer']): e['by']['medium (7,000 it)'] for e in compare_budgets(BUDGETS)
       if 'medium (7,000 it)' in e['by']}
if not med:
    print('no medium-profile run is committed here (reproductions/results/table12-medium-cpu)')
else:
    display(Markdown(budgets_markdown(BUDGETS, only='medium (7,000 it)')))
    for opt in dict.fromkeys(o for _, o in med):
        rows = [(r['ours_highest_top1'], r['paper_highest_top1'], pol) for (pol, o), r in med.items()
                if o == opt and r['ours_highest_top1'] is not None]
        if rows:
            ours, paper = max(rows), max(rows, key=lambda x: x[1] or 0)
            print(f"medium, best of these with {opt}: ours {ours[2].split('(')[0]} {ours[0]:.2f}% — "
                  f"paper {paper[2].split('(')[0]} {paper[1]:.2f}%")
    table = list(med.values())
    per = {}
    for r in table:
        if r['ours_highest_top1'] is not None and r['paper_highest_top1'] is not None:
            per.setdefault(r['policy'], {})[r['optimizer']] = (r['ours_highest_top1'], r['paper_highest_top1'])
    per = {p: d for p, d in per.items() if len(d) > 1}
    for pol, d in per.items():
        ours, paper = (' > '.join(sorted(d, key=lambda o: -d[o][i])) for i in (0, 1))
        print(f"{pol.split('(')[0]:<7} optimizers by top-1, ours: {ours:<24} paper: {paper}")
    if per:
        best = sum(max(d, key=lambda o: d[o][0]) == 'momentum' for d in per.values())
        paper_best = sum(max(d, key=lambda o: d[o][1]) == 'momentum' for d in per.values())
        print(f"Momentum the best optimizer for {best} of {len(per)} policies here (paper: {paper_best} of {len(per)})")
    curves = RESULTS / 'table12-medium-cpu' / 'curves.png'
    if curves.is_file():
        display(Image(str(curves)))

# %% [markdown]
# The paper's point, checked on these runs:

# %%
by = {}
for r in doc['table']:
    if r['ours_highest_top1'] is not None:
        by.setdefault(r['optimizer'], []).append((r['ours_highest_top1'], r['policy']))
for opt, v in by.items():
    acc, pol = max(v)
    print(f'best with {opt:<9} ours {acc:6.2f}%  {pol}')
stuck = [(r['optimizer'], r['policy']) for r in doc['table'] if r['ours_highest_top1'] is not None and r['ours_highest_top1'] < 15]
paper_stuck = [(r['optimizer'], r['policy']) for r in doc['table'] if (r['paper_highest_top1'] or 100) < 15]
print('rows that stay near chance (< 15%) — ours:', stuck or 'none', '| paper:', paper_stuck or 'none')
for res in doc['results']:  # a run that learns, then loses it (an LR too large for the optimizer)
    for r in res['records'][:1]:
        acc = [a for a in r['evals']['top1'] if isinstance(a, (int, float))]
        if acc and max(acc) - acc[-1] > 0.10:
            print(f"{res['config']['optimizer']} + {res['row']['policy']}: ours peaks at {100 * max(acc):.2f}% and ends at "
                  f"{100 * acc[-1]:.2f}% (falls {100 * (max(acc) - acc[-1]):.1f} points)")
table = doc['table']
per = {}
for r in table:
    if r['ours_highest_top1'] is not None and r['paper_highest_top1'] is not None:
        per.setdefault(r['policy'], {})[r['optimizer']] = (r['ours_highest_top1'], r['paper_highest_top1'])
per = {p: d for p, d in per.items() if len(d) > 1}
for pol, d in per.items():
    ours, paper = (' > '.join(sorted(d, key=lambda o: -d[o][i])) for i in (0, 1))
    print(f"{pol.split('(')[0]:<7} optimizers by top-1, ours: {ours:<24} paper: {paper}")
if per:
    best = sum(max(d, key=lambda o: d[o][0]) == 'momentum' for d in per.values())
    paper_best = sum(max(d, key=lambda o: d[o][1]) == 'momentum' for d in per.values())
    print(f"Momentum the best optimizer for {best} of {len(per)} policies here (paper: {paper_best} of {len(per)})")
ran = [r for r in doc['table'] if r['status'] not in ('not run', 'failed')]
paper = [r for r in doc['table'] if r['status'] == 'not run' and (r['paper_highest_top1'] is not None or
         r['paper_iters_to_target'] is not None or r.get('paper_not_reached'))]
# quick with the data: every row trained here; otherwise a row without a run shows the paper's number
ok = len(ran) == len(doc['table']) if TRAIN_MISSING else len(ran) + len(paper) == len(doc['table'])
print(f"{len(ran)} rows with our runs, {len(paper)} with the paper's number only")
print('paper:', recipe.claim)
print("every row has our result, or (no data, or no run committed) the paper's number:", ok and bool(doc['table']))
