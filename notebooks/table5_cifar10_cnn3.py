# %% [markdown]
# # 004 Table 5 — 19 LR policies, CNN3 on CIFAR-10
#
# Wu & Liu (`../shared/papers/004_c2aa064785a8cb4d.txt`, Table 5): the highest test top-1 of fixed, decaying and
# cyclic policies training Caffe's CNN3 (cifar10_full) on CIFAR-10 for 70,000 iterations, batch 100, Momentum.
# The recipe `reproductions/table5_cifar10_cnn3.toml` takes its rows from the transcribed table and trains CNN3 as
# Caffe does (per-layer LR/decay multipliers, mean subtraction). **Data: `cifar10-jpeg`, CIFAR-10 re-encoded as JPEG
# q75** — our accuracies are on that pack, not the original PNGs.
#
# Profiles: `full` (the paper's 70,000 iterations; a GPU), `medium` (committed, shown here: all 19 rows × 7,000
# iterations, every time parameter ×1/10, 8–22 min a row on 2 CPU cores), `short` (committed: all 19 rows × 1,750
# iterations, every time parameter ×1/40; its column is shown beside the medium one below) and `quick` (CI: 2 rows × 140
# iterations). Shorter budgets show the ordering, not the paper's digits.

# %%
TABLE, COMMITTED = 'table5', 'medium'
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
# The trend with the budget: each row at `short` (1,750 iterations, ×1/40), `medium` (7,000, ×1/10) and the paper's 70,000, then the three Smith/LRBench pairs (same shape and k1, Smith's k0 = 0.001 against LRBench's 5e-05):

# %%
from lrkit.reproduce.report import budgets_markdown, compare_budgets
BUDGETS = {'short (1,750 it)': RESULTS / 'table5-short-cpu', 'medium (7,000 it)': RESULTS / 'table5-medium-cpu'}
med = {e['policy']: e['by']['medium (7,000 it)'] for e in compare_budgets(BUDGETS) if 'medium (7,000 it)' in e['by']}
if not med:
    print('no medium-profile run is committed here (reproductions/results/table5-medium-cpu)')
else:
    display(Markdown(budgets_markdown(BUDGETS)))
    done = {r['category']: [] for r in med.values()}
    for r in med.values():
        if r['ours_highest_top1'] is not None:
            done[r['category']].append(r['ours_highest_top1'])
    if all(done.get(c) for c in ('fixed', 'decaying', 'cyclic')):
        print("medium budget: fixed < decaying < best cyclic (the paper's ordering):",
              max(done['fixed']) < max(done['decaying']) < max(done['cyclic']))
    # the paper's "LRBench's cyclic LRs beat Smith's -S": the same shape and k1, Smith's k0 = 0.001 vs LRBench's 5e-05
    family = lambda pol: pol.split('(')[0]
    for smith in (r for r in med.values() if (r['label'] or '').endswith('-S')):
        ours = [r for pol, r in med.items() if not r['label'] and family(pol) == family(smith['policy'])]
        if ours and ours[0]['ours_highest_top1'] is not None and smith['ours_highest_top1'] is not None:
            a, b = ours[0], smith
            print(f"{family(a['policy'])}: LRBench's k0 {a['ours_highest_top1']:.2f} vs Smith's {b['label']} "
                  f"{b['ours_highest_top1']:.2f} — LRBench's above: {a['ours_highest_top1'] > b['ours_highest_top1']} "
                  f"(paper {a['paper_highest_top1']:.2f} vs {b['paper_highest_top1']:.2f})")
    other = 'short' if PROFILE == 'medium' else 'medium'   # the curves of the budget the table above does not show
    curves = RESULTS / f'table5-{other}-cpu' / 'curves.png'
    if curves.is_file():
        print(f"the {other} profile's curves:")
        display(Image(str(curves)))

# %% [markdown]
# Each row's highest top-1 against the budget (log scale): our profiles, and the paper's number as a star:

# %%
import matplotlib.pyplot as plt
from lrkit.viz import plot_budgets
fig = plot_budgets({'short': RESULTS / 'table5-short-cpu', 'medium': RESULTS / 'table5-medium-cpu'}, paper_iters=recipe.task['iters'], path=OUT / 'budgets.png',
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
import numpy as np
done = [r for r in doc['table'] if r['ours_highest_top1'] is not None and r['paper_highest_top1'] is not None]
fix = max((r['ours_highest_top1'] for r in done if r['category'] == 'fixed'), default=None)
if fix is not None:
    beat = [r for r in done if r['category'] != 'fixed' and r['ours_highest_top1'] > fix]
    print(f"decaying/cyclic rows above our best fixed LR ({fix:.2f}%): {len(beat)} of "
          f"{sum(r['category'] != 'fixed' for r in done)} (paper: all of them)")
if done:
    top = max(done, key=lambda r: r['ours_highest_top1'])
    print(f"our best row: {top['label'] or top['policy']} {top['ours_highest_top1']:.2f}% (paper's best: SINEXP 82.16%)")
smith = [r['ours_highest_top1'] for r in done if (r['label'] or '').endswith('-S')]
ours_cyc = [r['ours_highest_top1'] for r in done if r['category'] == 'cyclic' and not (r['label'] or '').endswith('-S')]
if smith and ours_cyc:
    print(f"LRBench's cyclic rows: mean {np.mean(ours_cyc):.2f}%, min {min(ours_cyc):.2f}%; Smith's -S rows: mean "
          f"{np.mean(smith):.2f}%, max {max(smith):.2f}% (paper: every LRBench row above every -S row)")
paired = done
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
