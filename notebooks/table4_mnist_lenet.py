# %% [markdown]
# # 004 Table 4 — LR policies for LeNet on MNIST (Momentum)
#
# Reproduces Table 4 of Wu & Liu, *Selecting and Composing Learning Rate Policies for Deep Neural Networks*
# (`../shared/papers/004_c2aa064785a8cb4d.txt`): LeNet (Caffe), batch 100, momentum 0.9, weight decay 5e-4, 10,000
# iterations, test accuracy every 500 iterations, 16 policies.
#
# The recipe is `reproductions/table4_mnist_lenet.toml`. The `full` profile (the default) is the paper's budget (about
# 5 min per policy on a 2-core CPU): its committed runs (`reproductions/results/`) are shown without training. `quick`
# (`LRKIT_PROFILE=quick`) trains four policies on a 10× shorter budget, in a minute or two. The outputs below say
# which profile and machine produced them.

# %%
import os
from lrkit.reproduce.notebook import TableView, best_by_category, best_lines

# full: read from its committed runs, nothing trained; quick: a few rows trained here; LRKIT_DEVICE=cuda: a GPU
view = TableView.open('table4', os.environ.get('LRKIT_PROFILE', 'full'))
doc = view.show(train_missing=view.profile == 'quick')   # True: also train the rows without a stored run

# %% [markdown]
# The paper's point, checked on these runs:

# %%
best = best_by_category(doc['table'])
print('\n'.join(best_lines(doc['table'])))
print('paper:', view.recipe.claim)
print('cyclic beats fixed here:', best['cyclic']['ours_highest_top1'] > best['fixed']['ours_highest_top1'])
