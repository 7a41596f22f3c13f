# %% [markdown]
# # 004 Table 10 (CIFAR-10 / CNN3 rows) — iterations to 80% top-1
#
# How many iterations each policy needs before CNN3's test top-1 first reaches 80% (the paper: SINEXP 12,000, TRIEXP
# 16,000, POLY 59,000, Caffe's NSTEP 61,000; no fixed LR gets there), and the speed-up over NSTEP. The set-up is Table
# 5's, so these are Table 5's runs (shared through the run store); the `short` profile lowers the target to 55% for
# its 1,750 iterations, `medium` (all five rows, Table 5's 7,000-iteration runs) to 70%, and `quick` to 30%.
# Data: the CIFAR-10 JPEG q75 pack.

# %%
import os
from IPython.display import Markdown, display
from lrkit.reproduce.notebook import TableView, target_lines

# short: read from its committed runs, nothing trained; quick: a few rows trained here; LRKIT_DEVICE=cuda: a GPU
view = TableView.open('table10_cifar10', os.environ.get('LRKIT_PROFILE', 'short'))
doc = view.show(train_missing=view.profile == 'quick')   # True: also train the rows without a stored run

# %% [markdown]
# The `medium` profile: Table 5's five medium runs of these rows (7,000 iterations, ×1/10) and a 70% target:

# %%
display(Markdown(view.committed_markdown('medium')))

# %% [markdown]
# The paper's point, checked on these runs:

# %%
print('\n'.join(target_lines(doc['table']) + view.summary(doc)))
