# %% [markdown]
# # 000 Table III (CIFAR-10 rows) — iterations to 90% top-1
#
# LRBench++'s cost-to-target table for ResNet-32 on CIFAR-10: TRI2 and SIN2 reach 90% at 20,000 of the 64,000 default
# iterations (3.2×), NSTEP at 33,000 (1.94×), POLY at 51,000 (1.25×); no fixed LR gets there. The speed-up is the
# budget over a row's iterations (004 Table 10 has the same rows over NSTEP instead). 004 Table 6's set-up and runs,
# so nothing is trained for this table: `full` (64,000 iterations) is a GPU's job; `medium` (committed, shown here)
# reads Table 6's 3,200-iteration runs (×1/20) with a 70% target; `short` (committed, shown at the end) its
# 800-iteration runs (×1/80) with a 40% target, and `large` (committed, last) its 6,400-iteration runs (×1/10) with an
# 80% target; `quick` its 32-iteration NSTEP run with a 15% target. Data: the CIFAR-10 JPEG q75 pack.

# %%
import os
from IPython.display import Markdown, display
from lrkit.reproduce.notebook import TableView, target_lines

# medium: read from its committed runs, nothing trained; quick: a few rows trained here; LRKIT_DEVICE=cuda: a GPU
view = TableView.open('000_table3_cifar10', os.environ.get('LRKIT_PROFILE', 'medium'))
doc = view.show(train_missing=view.profile == 'quick')   # True: also train the rows without a stored run

# %% [markdown]
# Each row's speed-up over the budget (— where the row never reaches the target):

# %%
for r in doc['table']:
    if r['paper_speedup'] is not None:
        ours = r['ours_speedup']
        ours = 'not run' if r['status'] == 'not run' else '—' if ours is None else f"{ours:.2f}x"
        print(f"{r['policy'].split('(')[0]:<6} speed-up over the budget: ours {ours:>8}, "
              f"paper {r['paper_speedup']:.2f}x")

# %% [markdown]
# The `short` profile (Table 6's 800-iteration runs, ×1/80) with a 40% target:

# %%
display(Markdown(view.committed_markdown('short')))

# %% [markdown]
# The `large` profile (Table 6's 6,400-iteration runs, ×1/10, where there is one) with an 80% target:

# %%
display(Markdown(view.committed_markdown('large')))

# %% [markdown]
# The paper's point, checked on these runs:

# %%
print('\n'.join(target_lines(doc['table']) + view.summary(doc)))
