# %% [markdown]
# # 004 Table 11 — Momentum vs SGD per LR policy (LeNet, MNIST)
#
# Wu & Liu (`../shared/papers/004_c2aa064785a8cb4d.txt`, Table 11): each of the 13 policies trained with Momentum
# (0.9) and with plain SGD, the Table 4 set-up otherwise; the highest test top-1 and the iteration it was reached. The
# Momentum column is Table 4's runs.
#
# The recipe is `reproductions/table11_mnist_optimizers.toml`. The `full` profile (the default) is the paper's budget:
# its committed runs (`reproductions/results/`) are shown without training. `quick` (`LRKIT_PROFILE=quick`) trains
# FIX(k=0.01) and SIN2 with both optimizers on the 10× shorter budget, in a minute or two.

# %%
import os
from lrkit.reproduce.notebook import TableView

# full: read from its committed runs, nothing trained; quick: a few rows trained here; LRKIT_DEVICE=cuda: a GPU
view = TableView.open('table11', os.environ.get('LRKIT_PROFILE', 'full'))
doc = view.show(train_missing=view.profile == 'quick')   # True: also train the rows without a stored run

# %% [markdown]
# The paper's point, checked on these runs:

# %%
by = {}
for r in doc['table']:
    by.setdefault(r['policy'], {})[r['optimizer']] = r['ours_highest_top1']
wins = {p: v['momentum'] > v['sgd'] for p, v in by.items()
        if v.get('momentum') is not None and v.get('sgd') is not None}
for p, v in by.items():
    print(f"{p:<52} momentum {v.get('momentum') or float('nan'):.2f}  sgd {v.get('sgd') or float('nan'):.2f}")
best = max((r for r in doc['table'] if r['ours_highest_top1'] is not None), key=lambda r: r['ours_highest_top1'])
print('best combination here:', best['policy'], best['optimizer'], f"{best['ours_highest_top1']:.2f}%")
print('paper:', view.recipe.claim)
print('momentum beats SGD for every policy here:', bool(wins) and all(wins.values()))
