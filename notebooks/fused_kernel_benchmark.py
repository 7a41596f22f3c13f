# %% [markdown]
# # Fused Adam-with-schedule: benchmark
#
# `lrkit.optim.FusedAdam` computes the LR inside the optimizer step from the compiled policy and a
# step counter on the device. This notebook times one step against `torch.optim.Adam` (`fused=True`,
# and `foreach=True`) with `PolicyLR` stepping each iteration, and against bitsandbytes' 8-bit Adam; it
# reports the median step time, achieved GB/s and the share of the device's measured copy bandwidth,
# and times the fused M-opt estimator against the naive torch expression (`lrkit bench fused-adam`
# prints the same table). `LRKIT_PROFILE=quick` (CI) uses tiny sizes; the default sizes are the issue's:
# one tensor of 1M, 10M and 100M parameters (and 1B on a GPU) and 500 small tensors, about three minutes on a
# 2-core CPU. A case that would not fit in free memory is skipped, and the table says how much it needs.
#
# Where all implementations fit in memory at once, a case is timed in interleaved rounds (each round steps every
# implementation once, in a rotated order), so a slow spell of a shared machine hits all of them alike; the
# speed-up is then the median of the per-round ratios, and the right-hand plot shows their spread.

# %%
import os
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display
from lrkit.optim.bench import bench_fused_adam, table

PROFILE = os.environ.get('LRKIT_PROFILE', 'full')
DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'
if PROFILE == 'quick':
    cfg = dict(sizes=[100_000], many_small=[20], small_size=1024, steps=3, skip=('bnb8',))
else:
    cfg = dict(sizes=[1_000_000, 10_000_000, 100_000_000] + ([1_000_000_000] if DEVICE == 'cuda' else []),
               many_small=[500], steps=20, skip=())
print('profile', PROFILE, '| device', DEVICE, '| torch', torch.__version__, '| threads', torch.get_num_threads())

# %%
doc = bench_fused_adam(device=DEVICE, progress=False, **cfg)
display(Markdown(table(doc)))

# %%
import matplotlib.pyplot as plt
df = pd.DataFrame([r for r in doc['rows'] if 'median_ms' in r])
# per-round ratio torch fused / ours, in the cases timed in interleaved rounds (paired step times)
base = {r['case']: r for r in doc['rows'] if r['impl'] == 'fused' and 'times_ms' in r}
pairs = pd.DataFrame([{'case': r['case'], 'ratio': b / t} for r in doc['rows']
                      if r['impl'] == 'lrkit' and r.get('timing') == 'interleaved' and r['case'] in base
                      for b, t in zip(base[r['case']]['times_ms'], r['times_ms'])])
fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={'width_ratios': [3, 2]})
sns.barplot(df, y='case', x='median_ms', hue='name', orient='h', ax=ax)
ax.set_xscale('log'); ax.set_xlabel('median step time (ms, log scale)'); ax.set_title(doc['device'])
ax.legend(fontsize=7)
if len(pairs):
    sns.boxplot(pairs, y='case', x='ratio', orient='h', ax=bx, color='tab:blue')
    bx.axvline(1.0, color='k', lw=0.8, ls='--'); bx.set_xscale('log')
bx.set_xlabel('torch fused + scheduler time / ours, per round (log scale)'); bx.set_ylabel(''); bx.set_title('speed-up per round (interleaved cases)')
fig.tight_layout()
display(fig); plt.close(fig)

# %%
ours = {r['case']: r for r in doc['rows'] if r['impl'] == 'lrkit' and 'median_ms' in r}
for case, r in ours.items():
    print(f"{case:>14}: {r['name']}, {r.get('speedup_vs_torch_fused', float('nan')):.2f}x torch fused + scheduler, "
          f"{100 * r['frac_copy_bw']:.0f}% of copy bandwidth")
for r in doc['rows']:
    if 'skipped' in r:
        print(f"{r['case']:>14}: {r['name']} skipped, {r['skipped']}")
# complete: every case x implementation reported (timed, or skipped / failed with its reason)
print('benchmark complete:', len(doc['rows']) == (len(cfg['sizes']) + len(cfg['many_small'])) * (5 - len(cfg['skip'])))
