# %% [markdown]
# # 000 Table I and Fig. 5 — LR policies incl. MULTI, ResNet-32 on CIFAR-10
#
# LRBench++'s Table I (every number equals 004 Table 6 / Table 3, and so does the set-up: the runs are shared). `full`
# (64,000 iterations per row) is a GPU's job; `short` (committed) reads the 800-iteration CPU runs (×1/80) of Table 3
# (FIX, NSTEP, SINEXP, MULTI) and Table 6 (the other rows), and a row without one shows the paper's number; `medium`
# (committed, shown at the end) reads the 3,200-iteration runs (×1/20) of all 15 rows, `large` (committed, beside it)
# the 6,400-iteration runs (×1/10) of the rows that have one (the recipe's `large` rows); `quick` runs NSTEP for 32
# iterations. Data: the CIFAR-10 JPEG q75 pack.

# %%
import os
from IPython.display import Markdown, display
from lrkit.reproduce.notebook import TableView, resnet32_points, runs_with_curves, show_figure

# short: read from its committed runs, nothing trained; quick: a few rows trained here; LRKIT_DEVICE=cuda: a GPU
view = TableView.open('000_table1', os.environ.get('LRKIT_PROFILE', 'short'))
doc = view.show(train_missing=view.profile == 'quick')   # True: also train the rows without a stored run

# %% [markdown]
# Fig. 5: the LR, test top-1 and test top-5 of each policy:

# %%
from lrkit.viz import plot_budgets, plot_lr_and_accuracy
ran = runs_with_curves(doc)
if ran:
    show_figure(plot_lr_and_accuracy(ran, title=f'000 Fig. 5: {view.recipe.id}, profile {view.profile}'))

# %% [markdown]
# The `medium` profile (3,200 iterations, ×1/20): all 15 rows (Table 3's four, MULTI among them, and Table 6's other
# eleven) beside the same rows at `short` and at `large` (6,400 iterations, ×1/10; — where a row has no large run):

# %%
COLUMNS = {'short (800 it)': 'short', 'medium (3,200 it)': 'medium', 'large (6,400 it)': 'large'}
display(Markdown(view.budgets_markdown(COLUMNS, only='medium (3,200 it)')))

# %% [markdown]
# Each row's highest top-1 against the budget (log scale): our profiles, and the paper's number as a star:

# %%
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
