# %% [markdown]
# # 004 Table 10 (MNIST rows) — iterations to reach 99.1% top-1
#
# Cost-effective training in Wu & Liu (`../shared/papers/004_c2aa064785a8cb4d.txt`, Table 10): how many iterations each
# policy needs before LeNet's test top-1 first reaches 99.1% (evaluated every 500 iterations, as in the paper), and the
# speed-up over the fixed LR `FIX(k=0.01)`. The set-up is Table 4's, so the runs are shared with it.
#
# The recipe is `reproductions/table10_mnist_target.toml`. The `full` profile (the default) is the paper's budget: its
# committed runs (`reproductions/results/`) are shown without training. `quick` (`LRKIT_PROFILE=quick`) trains three
# policies for 1,000 iterations with a 98% target and an eval every 500 iterations, in a minute or two.

# %%
import os
from lrkit.reproduce.notebook import TableView, target_lines

# full: read from its committed runs, nothing trained; quick: a few rows trained here; LRKIT_DEVICE=cuda: a GPU
view = TableView.open('table10', os.environ.get('LRKIT_PROFILE', 'full'))
doc = view.show(train_missing=view.profile == 'quick')   # True: also train the rows without a stored run

# %% [markdown]
# The paper's point, checked on these runs:

# %%
print('\n'.join(target_lines(doc['table'])))
base = next(r for r in doc['table'] if r['baseline'])
cyclic = [r['ours_iters_to_target'] for r in doc['table'] if r['category'] == 'cyclic' and r['ours_iters_to_target']]
sooner = bool(cyclic) and (base['ours_iters_to_target'] is None or min(cyclic) < base['ours_iters_to_target'])
print('paper:', view.recipe.claim)
print('a cyclic policy reaches the target sooner than the fixed baseline here:', sooner)
