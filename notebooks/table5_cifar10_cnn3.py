# %% [markdown]
# # 004 Table 5 — 19 LR policies, CNN3 on CIFAR-10
#
# Wu & Liu (`../shared/papers/004_c2aa064785a8cb4d.txt`, Table 5): the highest test top-1 of fixed, decaying and
# cyclic policies training Caffe's CNN3 (cifar10_full) on CIFAR-10 for 70,000 iterations, batch 100, Momentum. The
# recipe `reproductions/table5_cifar10_cnn3.toml` takes its rows from the transcribed table and trains CNN3 as Caffe
# does (per-layer LR/decay multipliers, mean subtraction). **Data: `cifar10-jpeg`, CIFAR-10 re-encoded as JPEG q75** —
# our accuracies are on that pack, not the original PNGs.
#
# Profiles: `full` (the paper's 70,000 iterations; a GPU), `medium` (committed, shown here: all 19 rows × 7,000
# iterations, every time parameter ×1/10, 8–22 min a row on 2 CPU cores), `short` (committed: all 19 rows × 1,750
# iterations, every time parameter ×1/40; its column is shown beside the medium one below) and `quick` (2 rows × 140
# iterations). Shorter budgets show the ordering, not the paper's digits.

# %%
import os
from IPython.display import Image, Markdown, display
from lrkit.reproduce.notebook import TableView, cnn3_points, show_figure

# medium: read from its committed runs, nothing trained; quick: a few rows trained here; LRKIT_DEVICE=cuda: a GPU
view = TableView.open('table5', os.environ.get('LRKIT_PROFILE', 'medium'))
doc = view.show(train_missing=view.profile == 'quick')   # True: also train the rows without a stored run

# %% [markdown]
# The trend with the budget: each row at `short` (1,750 iterations, ×1/40), `medium` (7,000, ×1/10) and the paper's
# 70,000, then the three Smith/LRBench pairs (same shape and k1, Smith's k0 = 0.001 against LRBench's 5e-05):

# %%
COLUMNS = {'short (1,750 it)': 'short', 'medium (7,000 it)': 'medium'}
medium = view.committed('medium')
if medium is None:
    print(view.committed_markdown('medium'))
else:
    display(Markdown(view.budgets_markdown(COLUMNS)))
    med = {r['policy']: r for r in medium['table']}
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
            above = a['ours_highest_top1'] > b['ours_highest_top1']
            print(f"{family(a['policy'])}: LRBench's k0 {a['ours_highest_top1']:.2f} vs Smith's {b['label']} "
                  f"{b['ours_highest_top1']:.2f} — LRBench's above: {above} "
                  f"(paper {a['paper_highest_top1']:.2f} vs {b['paper_highest_top1']:.2f})")
    other = 'short' if view.profile == 'medium' else 'medium'   # the curves of the budget the table above does not show
    curves = view.folder(other) / 'curves.png'
    if curves.is_file():
        print(f"the {other} profile's curves:")
        display(Image(str(curves)))

# %% [markdown]
# Each row's highest top-1 against the budget (log scale): our profiles, and the paper's number as a star:

# %%
from lrkit.viz import plot_budgets
show_figure(plot_budgets(view.folders(COLUMNS), paper_iters=view.recipe.task['iters'],
                         title=f'{view.recipe.id}: highest top-1 against the budget (★ the paper)'))

# %% [markdown]
# The paper's point, checked on these runs:

# %%
print('\n'.join(cnn3_points(doc['table']) + view.summary(doc)))
