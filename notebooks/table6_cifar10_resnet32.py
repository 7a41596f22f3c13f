# %% [markdown]
# # 004 Table 6 — LR policies, ResNet-32 on CIFAR-10
#
# 16 policies for 64,000 iterations each (batch 128): the `full` profile, a GPU's job. The STEP and EXP rows are
# printed with each other's parameters; we read each row by its printed parameters and keep the printed names as
# labels (the recipe says why). `short` (committed) is every row on 800 iterations (every time parameter ×1/80,
# channels-last) on the 2-core CPU, 11.5–14 min a row; FIX(k=0.1), NSTEP and SINEXP are Table 3's runs, and a row
# without a committed run shows the paper's number. `medium` (committed, shown at the end) is all 16 rows × 3,200
# iterations (×1/20, 16–20 min a row with `--flush-denormal`); `large` (committed, beside it) is 6,400 iterations
# (×1/10, 34–63 min a row): Table 3's FIX(k=0.1), NSTEP and SINEXP and the rows trained for it (FIX(k=0.01), EXP (the
# row labelled STEP), STEP (the row labelled EXP), INV, POLY, TRI, TRI2, TRIEXP, SIN, SIN2, COS): all but FIX(k=0.001)
# and FIX(k=0.0001). `quick` runs NSTEP for 32 iterations. Data: the CIFAR-10 JPEG q75 pack.

# %%
import os
from IPython.display import Markdown, display
from lrkit.reproduce.notebook import TableView, resnet32_points, show_figure

# short: read from its committed runs, nothing trained; quick: a few rows trained here; LRKIT_DEVICE=cuda: a GPU
view = TableView.open('table6', os.environ.get('LRKIT_PROFILE', 'short'))
doc = view.show(train_missing=view.profile == 'quick')   # True: also train the rows without a stored run

# %% [markdown]
# The `medium` profile (3,200 iterations, ×1/20) of all 16 rows — FIX(k=0.1), NSTEP and SINEXP are Table 3's runs;
# TRI/SIN/COS against TRI2/SIN2 is the paper's cyclic claim (TRI2/SIN2 over 91.85%, TRI/SIN/COS under 77%) — beside
# the same rows at `short` and at `large` (6,400 iterations, ×1/10: Table 3's three and the rows trained for it; —
# where a row has no large run):

# %%
COLUMNS = {'short (800 it)': 'short', 'medium (3,200 it)': 'medium', 'large (6,400 it)': 'large'}
display(Markdown(view.budgets_markdown(COLUMNS, only='medium (3,200 it)')))

# %% [markdown]
# Each row's highest top-1 against the budget (log scale): our profiles, and the paper's number as a star:

# %%
from lrkit.viz import plot_budgets
show_figure(plot_budgets(view.folders(COLUMNS), paper_iters=view.recipe.task['iters'],
                         title=f'{view.recipe.id}: highest top-1 against the budget (★ the paper)'))

# %% [markdown]
# The paper's points, checked on the `medium` rows:

# %%
print('\n'.join(view.points_at('medium', resnet32_points)))

# %% [markdown]
# The paper's point, checked on these runs:

# %%
print('\n'.join(resnet32_points(doc['table']) + view.summary(doc)))
