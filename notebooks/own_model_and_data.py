# %% [markdown]
# # Your own model and data: six LR policies benchmarked and ranked
#
# LRBench exists to find a good learning-rate policy for *your* network on *your* data. This notebook
# defines both in its own cells — an MLP, and MNIST as tabular features (each image averaged down to 7x7 =
# 49 numbers) — registers them by name with `lrkit.register_model` / `lrkit.register_dataset`, trains six
# LR policies on them with `lrkit.tune.run_search`, records every run in a policy database (a SQLite file
# under `../out/own_model_and_data/`) and ranks the policies from that database.
#
# The names stay in each run's config (`model="mlp49"`, `dataset="mnist49"`), so the run key and the database
# rows read as the task; each run's environment also records which objects the names stood for (the factory's
# `module:qualname`, the data's sizes and a content hash), so two different things registered under one name
# in two sessions can be told apart.
#
# Registered names live in this process only. To train in a process pool or on Ray, put the factory and the
# loader in a `.py` file and name them by import path instead (`model="mylab.nets:MLP"`,
# `dataset="mylab.data:load"`): no registration needed, and a recipe TOML or `lrkit tune grid --model ...`
# can name them too.
#
# `LRKIT_PROFILE=quick` (as CI runs it) trains on 2,000 samples for 300 iterations; the default `full` on
# 20,000 samples for 3,000 iterations.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from torch import nn

import lrkit
from lrkit.db import Database
from lrkit.evaluate.ranking import top_k
from lrkit.train import TrainConfig
from lrkit.train.data import load_mnist
from lrkit.tune import Search, grid_trials, run_search

PROFILE = os.environ.get('LRKIT_PROFILE', 'full')   # CI sets quick
N_TRAIN, N_TEST, ITERS = (2000, 500, 300) if PROFILE == 'quick' else (20000, 5000, 3000)
OUT = Path('../out/own_model_and_data')             # results; out/ is not committed
OUT.mkdir(parents=True, exist_ok=True)
print('profile:', PROFILE, '| train/test samples:', N_TRAIN, N_TEST, '| iterations:', ITERS, '| results in', OUT)

# %% [markdown]
# **The data**: MNIST as tabular features — each 28x28 image averaged over 4x4 blocks, 49 floats per sample.
# Registered as split arrays `(x_train, y_train, x_test, y_test)`; a pair of torch `Dataset`s or a function of no
# arguments returning either works too.

# %%
mnist = load_mnist()   # uint8 (N, 1, 28, 28) images from LRKIT_DATA_DIR


def pooled_features(images: np.ndarray, n: int) -> np.ndarray:
    """The first n images averaged over 4x4 blocks to 7x7 and flattened: (n, 49) floats in [0, 1]."""
    x = torch.from_numpy(images[:n]).float().div(255)
    return nn.functional.avg_pool2d(x, 4).flatten(1).numpy()


features = (pooled_features(mnist['x_train'], N_TRAIN), mnist['y_train'][:N_TRAIN],
            pooled_features(mnist['x_test'], N_TEST), mnist['y_test'][:N_TEST])
lrkit.register_dataset('mnist49', features, replace=True)   # replace: this cell may run again
print('x_train', features[0].shape, features[0].dtype, '| x_test', features[2].shape, '| classes', len(np.unique(features[1])))


# %% [markdown]
# **The model**: a one-hidden-layer MLP over the feature vector, registered by its class.

# %%
class MLP(nn.Module):
    """in_channels features -> hidden units -> ReLU -> num_classes logits.

    The registry calls the factory with the keywords it names: in_channels is the first dimension of one
    sample (49 features here), num_classes comes from the labels."""

    def __init__(self, in_channels: int, num_classes: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.net(x)


lrkit.register_model('mlp49', MLP, replace=True)
print(MLP(49, 10))

# %% [markdown]
# **The benchmark**: six policies on the same task, every trial recorded in the database as it finishes:

# %%
# six policies, one from each shape: fixed, step decay, exponential and polynomial decay, two cyclic
POLICIES = [
    'FIX(k=0.05)',
    f'NSTEP(k=0.1, gamma=0.3, l=[{ITERS // 2}, {ITERS * 5 // 6}])',
    f'EXP(k=0.1, gamma={0.1 ** (1 / ITERS):.8f})',                 # a tenth of k at the end
    f'POLY(k=0.1, p=1.2, max_iter={ITERS})',
    f'TRI2(k0=0.01, k1=0.2, l={ITERS // 6})',
    f'SINEXP(k0=0.01, k1=0.2, gamma={0.1 ** (1 / ITERS):.8f}, l={ITERS // 6})',
]
task = TrainConfig(dataset='mnist49', model='mlp49', optimizer='momentum', normalize='none',  # features as given
                   iters=ITERS, batch_size=50, eval_every=ITERS // 6, eval_batch_size=1000)
(OUT / 'lrkit.db').unlink(missing_ok=True)          # a fresh database each time the notebook runs
db = Database(f'sqlite:///{OUT}/lrkit.db')
# the local executor trains in this process, where the registered names are known
result = run_search(Search(task.to_dict(), grid_trials(POLICIES), name='own-mlp-mnist49'), db=db, progress=False)
display(Markdown(result.to_markdown()))

# %% [markdown]
# **The ranking**, read back from the database (`lrkit.evaluate.ranking.top_k`, the exact task):

# %%
ranking = top_k(db, 'mnist49', 'mlp49', k=len(POLICIES))
print(ranking.message)
display(Markdown(ranking.to_markdown()))

# %% [markdown]
# The LR each policy applied and the test accuracy it reached, from the runs' stored curves:

# %%
fig, (ax_lr, ax_acc) = plt.subplots(1, 2, figsize=(12, 4))
for run_id, policy in zip(result.trials['run_id'], result.trials['policy']):
    curves = db.get_run(int(run_id))['curves']
    ax_lr.plot(curves['lr'], label=policy.split('(')[0])
    ax_acc.plot(curves['eval_iteration'], curves['eval_top1'], marker='o', label=policy.split('(')[0])
ax_lr.set(xlabel='iteration', ylabel='learning rate', yscale='log', title='LR per iteration (from the database)')
ax_acc.set(xlabel='iteration', ylabel='test top-1', title='test accuracy of mlp49 on mnist49')
ax_acc.legend()
fig.tight_layout()
display(fig)
plt.close(fig)

# %% [markdown]
# Which objects the names stood for, as every run records them:

# %%
env = db.get_run(int(result.trials['run_id'][0]))['environment']
print('model  :', env['model'])
print('dataset:', env['dataset'])

# %% [markdown]
# Checked on these runs:

# %%
complete = bool((result.trials['status'] == 'complete').all())
ranked = len(ranking) == len(POLICIES) == 6 and ranking.level == 'exact task'
best = ranking.table.iloc[0]
print(f"best here: {best['policy']} ({best['mean_top1']:.2%}); worst: {ranking.table.iloc[-1]['policy']} "
      f"({ranking.table.iloc[-1]['mean_top1']:.2%})")
print('six policies trained, recorded and ranked, the best well above chance:',
      complete and ranked and best['mean_top1'] > 0.5)
