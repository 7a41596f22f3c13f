# %% [markdown]
# # 004 Table 12 — Momentum vs SGD vs Adam per LR policy, CNN3 on CIFAR-10
#
# 13 policies × 3 optimizers, the highest top-1 and the iteration it was reached (the `full` profile: 39 runs of
# 70,000 iterations, a GPU's job). The Momentum column is Table 5's runs. `short` (the committed CPU run) is all 13
# policies × 3 optimizers on Table 5's short budget (1,750 iterations, ×1/40, 3.6–4.6 min a run): the Momentum column
# is Table 5's runs, the 26 SGD and Adam runs were trained for this table (POLY and COS among them: the rows where the
# paper's Adam stays at 10%). `medium` (committed, shown below the short table) is FIX, NSTEP, POLY, TRI, SINEXP and
# COS × 3 optimizers on Table 5's medium budget (7,000 iterations, ×1/10); its Momentum column is Table 5's medium
# runs. `quick` trains FIX(k=0.001) with each optimizer for 140 iterations. Data: the CIFAR-10 JPEG q75 pack.

# %%
import os
from IPython.display import Image, Markdown, display
from lrkit.reproduce.notebook import TableView, optimizer_order, optimizer_points

# short: read from its committed runs, nothing trained; quick: a few rows trained here; LRKIT_DEVICE=cuda: a GPU
view = TableView.open('table12', os.environ.get('LRKIT_PROFILE', 'short'))
doc = view.show(train_missing=view.profile == 'quick')   # True: also train the rows without a stored run

# %% [markdown]
# The longest CPU runs: the `medium` profile (7,000 iterations, ×1/10) of all 13 policies with each optimizer, beside
# the same rows of the short run:

# %%
medium = view.committed('medium')
if medium is None:
    print(view.committed_markdown('medium'))
else:
    display(Markdown(view.budgets_markdown({'short (1,750 it)': 'short', 'medium (7,000 it)': 'medium'},
                                           only='medium (7,000 it)')))
    for opt in dict.fromkeys(r['optimizer'] for r in medium['table']):
        rows = [(r['ours_highest_top1'], r['paper_highest_top1'], r['policy']) for r in medium['table']
                if r['optimizer'] == opt and r['ours_highest_top1'] is not None]
        if rows:
            ours, paper = max(rows), max(rows, key=lambda x: x[1] or 0)
            print(f"medium, best of these with {opt}: ours {ours[2].split('(')[0]} {ours[0]:.2f}% — "
                  f"paper {paper[2].split('(')[0]} {paper[1]:.2f}%")
    print('\n'.join(optimizer_order(medium['table'])))
    display(Image(str(view.folder('medium') / 'curves.png')))

# %% [markdown]
# The paper's point, checked on these runs:

# %%
print('\n'.join(optimizer_points(doc) + view.summary(doc)))
