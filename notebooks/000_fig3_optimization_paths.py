# %% [markdown]
# # 000 Fig. 3 — optimisation paths of FIX, NSTEP and TRIEXP on a 2-D cost surface
#
# LRBench++ (`../shared/papers/000_eee46929dc5d361c.txt`, Fig. 3): *"This optimization process starts from the
# same initial location and lasts for 140 iterations for all three LRs"* — black FIX(k = 0.025), red
# NSTEP(k = 0.05, γ = 0.5, l = [120, 130]) and yellow TRIEXP(k0 = 0.05, k1 = 0.25, γ = 0.9, l = 25). Its three
# observations: in the beginning TRIEXP is the fastest toward the global optimum (3a); in the middle FIX is
# approaching the wrong direction while TRIEXP bounces around the global optimum with high LR values (3b); in
# the end only NSTEP reaches the global optimum (3c).
#
# Each path is plain gradient descent, x_{t+1} = x_t − η(t)·∇f(x_t) for t = 0 … 139, with η(t) from `lrkit.policies`.
# **The paper does not give its cost function: the surface here is ours** (`lrkit.viz.paths`): a gentle quadratic bowl
# with a deep, narrow Gaussian well (the global minimum) and a shallower round one (a local minimum), and a start
# point chosen so that the paths can differ in the way the paper describes. It is an illustration, not a measurement:
# another surface or start point tells another story (moving this start by 0.04–0.06 across the path does; along the
# path it does not). No training, no data; runs in seconds.
#
#     f(x, y) = b/2·(x² + y²) − A₁·exp(−(x − x₁)²/(2σ₁ₓ²) − (y − y₁)²/(2σ₁ᵧ²)) − A₂·exp(−((x − x₂)² + (y − y₂)²)/(2σ₂²))
#
# Why it shows the story: the global well is narrow along y (curvature ≈ 49 at the minimum, between 2/0.05 = 40
# and 2/0.025 = 80), so η = 0.05 bounces across it and η ≤ 0.025 converges; the start lies in the local
# minimum's basin near the ridge, where FIX's short steps follow the valley into the local well and the longer
# steps of NSTEP and TRIEXP cut the corner into the global one.

# %%
import matplotlib.pyplot as plt
from IPython.display import display
from lrkit.viz import paths as fig3

print('surface: bowl b =', fig3.B, '| global well', fig3.GLOBAL_WELL, '| local well', fig3.LOCAL_WELL)
paths, lrs = {}, {}
for label, spec in fig3.FIG3_POLICIES.items():
    paths[label], lrs[label] = fig3.descend(spec, fig3.START, fig3.ITERS)
    print(f"{label:<7} {spec:<42} ({fig3.FIG3_COLOURS[label]}) η(t) at t = 0, 10, 119, 120, 130: "
          + ', '.join(f'{lrs[label][t]:.4g}' for t in (0, 10, 119, 120, 130)))
print('start', fig3.START, '| minima:', {k: tuple(round(c, 4) for c in v) for k, v in fig3.minima().items()})

# %% [markdown]
# Fig. 3: the paths up to iteration 40, 90 and 140 (a large dot marks where each policy is at that iteration) on the
# surface (red: low cost), and the LR of each policy (d):

# %%
fig = fig3.plot_fig3(paths)
display(fig)
plt.close(fig)

# %% [markdown]
# Where each path ends after 140 iterations (the basin is the minimum that gradient flow from the final point reaches):

# %%
print(fig3.summary(paths).to_string(float_format=lambda v: f'{v:.4g}'))

# %% [markdown]
# The paper's three observations, checked on these paths (`lrkit.viz.paths.observations` says how each is tested):

# %%
obs = fig3.observations(paths)
claims = {'early': 'early (3a), TRIEXP is the fastest toward the global optimum',
          'middle': 'middle (3b), FIX heads the wrong way while TRIEXP bounces around the global optimum',
          'end': 'end (3c), only NSTEP reaches the global optimum'}
for name, (holds, detail) in obs.items():
    print(f'{name}: {detail}')
print()
print('\n'.join(f'{claims[name]}: {holds}' for name, (holds, detail) in obs.items()))   # one write: the verdicts
