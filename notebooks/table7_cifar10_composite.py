# %% [markdown]
# # 004 Table 7, Fig. 6 and Fig. 7 — advanced composite LR policies, CNN3 on CIFAR-10
#
# The heterogeneous composite MULTI(TRI, TRI2, TRI2) and the homogeneous NSTEP-new (Change-LR-On-Plateau; the paper
# does not give its levels or patience, so our row is our reading, labelled so) against the best single policies
# (NSTEP, SINEXP), and Fig. 7: the M-opt LR (004 Formula 7) measured during training against the applied LR. Profiles:
# `full` (70,000 iterations per row, M-opt every 250: a GPU), `medium` (shown here, committed: Table 5's
# 7,000-iteration budget, ×1/10, M-opt every 100; NSTEP and SINEXP are Table 5's medium runs, which were not probed),
# `short` (committed too, shown at the end: the 1,750-iteration budget, M-opt every 25) and `quick` (the heterogeneous
# composite for 140 iterations). Data: the CIFAR-10 JPEG q75 pack.

# %%
import os
from IPython.display import Markdown, display
from lrkit.reproduce.notebook import TableView, best_lines, show_figure

# medium: read from its committed runs, nothing trained; quick: a few rows trained here; LRKIT_DEVICE=cuda: a GPU
view = TableView.open('table7', os.environ.get('LRKIT_PROFILE', 'medium'))
doc = view.show(train_missing=view.profile == 'quick')   # True: also train the rows without a stored run

# %% [markdown]
# Fig. 7: the applied LR (line) and the M-opt LR η* (points) of every probed run:

# %%
import matplotlib.pyplot as plt
from lrkit.viz import plot_mopt
probed = [(res['row'], r) for res in doc['results'] for r in res['records'] if (r.get('mopt') or {}).get('iteration')]
if probed:
    fig, axes = plt.subplots(1, len(probed), figsize=(5.5 * len(probed), 3.8), squeeze=False)
    for ax, (row, r) in zip(axes[0], probed):
        plot_mopt(r, ax=ax, title=(row.get('label') or row['policy'])[:48])
    fig.tight_layout()
    show_figure(fig)
else:
    print('no run here measured the M-opt LR (runs reused from Table 5 were not probed)')

# %% [markdown]
# The `short` profile (1,750 iterations, ×1/40), for the trend with the budget:

# %%
display(Markdown(view.committed_markdown('short')))

# %% [markdown]
# The paper's point, checked on these runs:

# %%
print('\n'.join(best_lines(doc['table']) + view.summary(doc)))
