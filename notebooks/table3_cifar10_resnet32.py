# %% [markdown]
# # 004 Table 3 and Fig. 2 — composite LR on ResNet-32, CIFAR-10
#
# FIX, NSTEP, SINEXP and the advanced composite (three TRI stages) with the iteration each reached its highest
# accuracy; Fig. 2 is the LR and top-1/top-5 curves below. Table 6's set-up (batch 128, weight decay 1e-4, crop and
# flip). Profiles: `full` (the paper's 64,000 iterations; a GPU's job, shared with Table 6's runs), `medium`
# (committed, shown here: the four rows × 3,200 iterations, every time parameter ×1/20, channels-last, about 21 min a
# row on 2 CPU cores), `short` (committed too: 800 iterations, ×1/80), `large` (committed too: 6,400 iterations,
# ×1/10, 34–43 min a row with `--flush-denormal`) — the three side by side at the end — and `quick` (NSTEP for 32
# iterations). Data: the CIFAR-10 JPEG q75 pack.

# %%
import os
from IPython.display import Markdown, display
from lrkit.reproduce.notebook import TableView, best_lines, runs_with_curves, show_figure

# medium: read from its committed runs, nothing trained; quick: a few rows trained here; LRKIT_DEVICE=cuda: a GPU
view = TableView.open('table3', os.environ.get('LRKIT_PROFILE', 'medium'))
doc = view.show(train_missing=view.profile == 'quick')   # True: also train the rows without a stored run

# %% [markdown]
# Fig. 2: the LR, test top-1 and test top-5 of each policy:

# %%
from lrkit.viz import plot_budgets, plot_lr_and_accuracy
ran = runs_with_curves(doc)
if ran:
    show_figure(plot_lr_and_accuracy(ran, title=f'004 Fig. 2: {view.recipe.id}, profile {view.profile}'))

# %% [markdown]
# The trend with the budget: each row's highest top-1 (and the iteration of it) at `short` (800 iterations, ×1/80),
# `medium` (3,200, ×1/20) and `large` (6,400, ×1/10; a row without a run shows —) beside the paper's 64,000:

# %%
COLUMNS = {'short (800 it)': 'short', 'medium (3,200 it)': 'medium', 'large (6,400 it)': 'large'}
display(Markdown(view.budgets_markdown(COLUMNS)))

# %% [markdown]
# Each row's highest top-1 against the budget (log scale): our profiles, and the paper's number as a star:

# %%
show_figure(plot_budgets(view.folders(COLUMNS), paper_iters=view.recipe.task['iters'],
                         title=f'{view.recipe.id}: highest top-1 against the budget (★ the paper)'))

# %% [markdown]
# The paper's point, checked on these runs:

# %%
print('\n'.join(best_lines(doc['table']) + view.summary(doc)))
