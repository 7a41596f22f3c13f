# %% [markdown]
# # Live policy editing: change the LR policy while LeNet trains on MNIST
#
# The cell below starts training in a **background thread** and shows a panel; the notebook stays
# responsive while the run goes on. The panel shows
#
# * the **LR curve**: the values applied so far (solid) and the planned future of the policy in force (dashed),
# * the **training loss** and the **test top-1** as they come in, with a red marker at every edit
#   (dotted: the new policy follows the global iteration; solid: a new stage that restarts at t = 0),
# * **controls** for the policy family and each of its parameters (log sliders for LRs, integer boxes for
#   step sizes and milestones), **λ** (the policy becomes λ·P), **new stage**, a **spec** box for any
#   policy the library parses, and **Pause / Resume / Stop / Snapshot**.
#
# A change takes effect at the next iteration. A bad value is not applied: the policy library's message
# appears in red in the panel and the run goes on. Every edit is written to the run's history
# (`record.history`, stored in the policy database with the run when one is configured).
#
# The run is set in the next cell: 10,000 iterations (about 5 minutes on a 2-core CPU), MNIST from
# `LRKIT_DATA_DIR`, snapshots in `../out/live/`. Change any of them there.

# %% tags=["parameters"]
from pathlib import Path

ITERS = 10_000             # training iterations
DATASET = 'mnist'          # or a registered data set, or an .npz path
DEVICE = 'cpu'             # cuda on a GPU machine
OUT = Path('../out/live')  # where Snapshot writes the run record

# %%
import numpy as np

from lrkit.train import TrainConfig
from lrkit.widgets import live

L = max(20, ITERS // 10)   # half a TRI2 cycle
cfg = TrainConfig(dataset=DATASET, model='lenet', optimizer='momentum', policy=f'TRI2(k0=0.01, k1=0.06, l={L})',
                  iters=ITERS, eval_every=max(1, ITERS // 5), device=DEVICE)
print('dataset', DATASET, '| iterations', ITERS, '| policy', cfg.policy, '| snapshots in', OUT)
panel = live(cfg, snapshot_dir=OUT)   # training starts now, in a background thread

# %% [markdown]
# ## The same edits from Python
#
# The panel is usable without a browser: `panel.apply(...)` edits the running policy and returns the
# applied spec (a bad spec raises the library's `PolicyError`, a `ValueError`, and leaves the run alone),
# `panel.state` is a dict (iteration, status, policy, last LR / loss / top-1, history, errors),
# `panel.pause()`, `resume()`, `stop()`, `snapshot()` and `wait()` do what the buttons do. For example,
# while it trains:
#
# ```python
# panel.apply(k1=0.03)          # a parameter of the running policy: it keeps the global iteration,
#                               # so the cycle keeps its phase
# panel.apply(f'COS(k0=0.001, k1=0.02, l={L // 2})', lam=0.5, restart=True)
#                               # a new stage with another family, scaled by λ = 0.5, from its own t = 0
# panel.state['iteration'], panel.state['policy']
# ```

# %% [markdown]
# ## Replaying an edited run
#
# The history is a list of `{"iteration": s, "policy": P, "time": "global" | "restart"}`. It is one policy:
# a **MULTI** whose stage at s is `SHIFT(offset=s, policy=P)` for a global edit (P keeps seeing the global
# t) and `P` itself for a new stage (MULTI stages see their local time t − s). `panel.replay()` (or
# `lrkit.train.replay_policy(record.history)` for a saved record) builds it, and its spec string trains
# the same LR trace again:
#
# ```python
# from lrkit.train import RunRecord, TrainConfig, replay_policy, train
# record = RunRecord.load(snapshot_path)                     # or panel.record
# spec = str(replay_policy(record.history))
# rerun = train(TrainConfig(**{**record.config, 'policy': spec}))   # same seed, same LR at every t
# ```
#
# Run the next cell once the run is over (or `panel.wait()` first); run earlier, it shows the replay of the run
# so far.

# %%
record = panel.monitor.record
n = len(record.curves['lr'])
replay = panel.replay()
print('status:', panel.status, '| iterations:', n, '| edits:', len(record.history) - 1)
for h in record.history:
    print(f"  from t={h['iteration']:>6} ({h['time']:>7}): {h['policy']}")
print('replay spec:', replay)
same = np.array_equal(np.asarray(replay(np.arange(n)), dtype=float), np.asarray(record.curves['lr'][:n]))
print("replay reproduces the run's LR trace:", same)
print('snapshot:', panel.snapshot())
