# %% [markdown]
# # 004 Table 10 (CIFAR-10 / ResNet-32 rows) — iterations to 90% top-1
#
# How many iterations ResNet-32 needs before its test top-1 first reaches 90% (the paper: TRI2 and SIN2 20,000, NSTEP
# 33,000, POLY 51,000; no fixed LR gets there). Table 6's set-up and runs; 000 Table III's CIFAR rows are the same
# runs with speed-ups over the 64,000-iteration budget. `full` (64,000 iterations) is a GPU's job; `short` (committed)
# reads Table 6's 800-iteration runs (×1/80) with a 40% target, so nothing is trained: at that budget the k1 = 0.9
# cyclic policies never leave chance (see Table 6's notebook), so it cannot test the paper's claim; `medium`
# (committed, shown at the end) reads Table 6's 3,200-iteration runs (×1/20) of all eight rows with a 70% target;
# `large` (committed, last) its 6,400-iteration runs (×1/10) with an 80% target, for the rows that have one; `quick`
# reads Table 6's 32-iteration NSTEP run with a 15% target. Data: the CIFAR-10 JPEG q75 pack.

# %%
import os
from IPython.display import Markdown, display
from lrkit.reproduce.notebook import TableView, target_lines

# short: read from its committed runs, nothing trained; quick: a few rows trained here; LRKIT_DEVICE=cuda: a GPU
view = TableView.open('table10_resnet32', os.environ.get('LRKIT_PROFILE', 'short'))
doc = view.show(train_missing=view.profile == 'quick')   # True: also train the rows without a stored run

# %% [markdown]
# The `medium` profile: Table 6's medium runs of these rows (3,200 iterations, ×1/20) and a 70% target:

# %%
display(Markdown(view.committed_markdown('medium')))

# %% [markdown]
# The `large` profile: Table 6's large runs of these rows (6,400 iterations, ×1/10: the rows that have one) and an 80%
# target:

# %%
display(Markdown(view.committed_markdown('large')))

# %% [markdown]
# The paper's point, checked on these runs:

# %%
print('\n'.join(target_lines(doc['table']) + view.summary(doc)))
