"""Optimisation paths of three LR policies on a 2-D cost surface (LRBench++, 000 Fig. 3).

The paper runs plain gradient descent for 140 iterations from one start point with FIX(k=0.025) (black),
NSTEP(k=0.05, γ=0.5, l=[120, 130]) (red) and TRIEXP(k0=0.05, k1=0.25, γ=0.9, l=25) (yellow):

    x_{t+1} = x_t − η(t)·∇f(x_t),   t = 0, 1, …, 139 (t counts iterations from 0, as lrkit.policies do).

The paper does not give its cost function f. **The surface here is ours**: a gentle quadratic bowl with two
Gaussian wells, a deep one (the global minimum) and a shallower round one (a local minimum),

    f(x, y) = b/2·(x² + y²) − A₁·exp(−(x − x₁)²/(2σ₁ₓ²) − (y − y₁)²/(2σ₁ᵧ²))
                             − A₂·exp(−((x − x₂)² + (y − y₂)²)/(2σ₂²))

with b = 1.8, A₁ = 4, (x₁, y₁) = (0.6, −0.25), (σ₁ₓ, σ₁ᵧ) = (0.5, 0.27), A₂ = 2.5, (x₂, y₂) = (0.5, 0.6),
σ₂ = 0.38, and the start point (−2.25, 2.4). It was picked (by a search over such surfaces) to show the
paper's story, and why it does is simple:

* the global well is narrow along y: f's curvature there is ≈ 49 at the minimum, between 2/0.05 = 40 and
  2/0.025 = 80, so gradient descent with η = 0.05 (NSTEP before t = 120; TRIEXP, whose LR never goes
  below 0.05) bounces across it while η ≤ 0.025 (FIX; NSTEP from t = 120) converges;
* the start lies in the local minimum's basin, close to the ridge between the two basins: gradient flow and
  FIX's short steps curve into the local well, the longer steps of NSTEP and TRIEXP cut the corner into the
  global one. So the start must lie in a narrow band across the path: moved by −0.02 or +0.04 along
  (1, 1)/√2 it keeps all three observations, by −0.04 or +0.06 it does not; moved ±0.3 along the path
  (1, −1)/√2 it keeps them (tests/viz/test_paths.py checks these).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from lrkit.recipes.figures import finish_figure

B = 1.8   # bowl curvature b
GLOBAL_WELL = {"depth": 4.0, "centre": (0.6, -0.25), "width": (0.5, 0.27)}  # A₁, (x₁, y₁), (σ₁ₓ, σ₁ᵧ)
LOCAL_WELL = {"depth": 2.5, "centre": (0.5, 0.6), "width": (0.38, 0.38)}    # A₂, (x₂, y₂), σ₂ (round)
START = (-2.25, 2.4)
ITERS = 140

FIG3_POLICIES = {
    "FIX": "FIX(k=0.025)",
    "NSTEP": "NSTEP(k=0.05, gamma=0.5, l=[120, 130])",
    "TRIEXP": "TRIEXP(k0=0.05, k1=0.25, gamma=0.9, l=25)",
}
FIG3_COLOURS = {"FIX": "black", "NSTEP": "red", "TRIEXP": "gold"}   # the paper's black, red and yellow
PANELS = (40, 90, 140)   # last iteration shown in Fig. 3a, 3b, 3c

ARRIVED = 0.3    # "near the global minimum": within this distance (about the global well's σ₁ᵧ)
REACHED = 1e-3   # "reached the global minimum": within this distance


def _wells(x, y):
    """The two Gaussian terms (positive) and their centred coordinates, for surface and gradient."""
    out = []
    for w in (GLOBAL_WELL, LOCAL_WELL):
        (cx, cy), (sx, sy) = w["centre"], w["width"]
        dx, dy = x - cx, y - cy
        g = w["depth"] * np.exp(-dx**2 / (2 * sx**2) - dy**2 / (2 * sy**2))
        out.append((g, dx / sx**2, dy / sy**2))
    return out


def surface(x, y):
    """The cost f(x, y) above, elementwise on numbers or numpy arrays."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return B / 2 * (x**2 + y**2) - sum(g for g, _, _ in _wells(x, y))


def gradient(x, y):
    """∇f(x, y) = (∂f/∂x, ∂f/∂y), analytic, elementwise:

    b·(x, y) + Σ_wells A·exp(…)·((x − x_c)/σₓ², (y − y_c)/σᵧ²).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    gx, gy = B * x, B * y
    for g, ux, uy in _wells(x, y):
        gx, gy = gx + g * ux, gy + g * uy
    return gx, gy


def descend(policy, start=START, iters: int = ITERS, grad=gradient):
    """Gradient descent x_{t+1} = x_t − η(t)·∇f(x_t) for t = 0 … iters − 1 (t counts iterations from 0).

    ``policy`` is a spec string (``"FIX(k=0.025)"``), a Policy, or any callable η(t); ``grad(x, y)`` is ∇f
    (default: this module's surface). Returns ``(positions, lr)``: positions is (iters + 1, 2), row t the
    point after t iterations (row 0 is ``start``); lr is (iters,), lr[t] = η(t), the LR of iteration t.
    """
    if isinstance(policy, str):
        from lrkit.policies import parse

        policy = parse(policy)
    lr = np.array([float(policy(t)) for t in range(iters)])
    pos = np.empty((iters + 1, 2))
    pos[0] = start
    for t in range(iters):
        pos[t + 1] = pos[t] - lr[t] * np.array(grad(*pos[t]))
    return pos, lr


def fig3_paths(start=START, iters: int = ITERS) -> dict:
    """{label: positions} of the three Fig. 3 policies, all from ``start``."""
    return {label: descend(spec, start, iters)[0] for label, spec in FIG3_POLICIES.items()}


def _flow(point, iters: int = 5000):
    """Where gradient flow from ``point`` ends: gradient descent with a small constant LR (0.01 < 2/49)."""
    return descend(lambda t: 0.01, point, iters)[0][-1]


@cache
def minima() -> dict:
    """{"global": (x, y), "local": (x, y)}: the two minima of f, found by gradient flow from the well centres."""
    wells = {"global": GLOBAL_WELL, "local": LOCAL_WELL}
    return {name: tuple(float(c) for c in _flow(w["centre"])) for name, w in wells.items()}


def basin(point) -> str:
    """The minimum ("global" or "local") that gradient flow from ``point`` ends in ("none" if neither)."""
    end = _flow(point)
    for name, m in minima().items():
        if np.hypot(*(end - m)) < 1e-3:
            return name
    return "none"


def _distance(positions, which: str = "global"):
    return np.hypot(*(np.asarray(positions) - minima()[which]).T)


def summary(paths=None):
    """A DataFrame, one row per policy: final position, distance to the global minimum, final cost f, basin."""
    import pandas as pd

    paths = fig3_paths() if paths is None else paths
    rows = []
    for label, pos in paths.items():
        x, y = pos[-1]
        rows.append({"policy": label, "iterations": len(pos) - 1, "x": x, "y": y,
                     "distance_to_global": _distance(pos)[-1], "cost": float(surface(x, y)), "basin": basin(pos[-1])})
    return pd.DataFrame(rows).set_index("policy")


def observations(paths=None) -> dict:
    """The paper's three observations about Fig. 3, checked on ``paths`` ({label: positions}).

    Returns {name: (holds, detail)}. "early" (Fig. 3a, t <= 40): TRIEXP is the first policy to come within
    ARRIVED of the global minimum. "middle" (3b, t = 41 … 90): FIX has turned away from the global minimum
    (its distance grew by > 0.05 since its closest point) into the local basin, while TRIEXP stays within
    ARRIVED of the global minimum without converging (never closer than 0.02). "end" (3c, the last
    iteration): NSTEP is the only policy within REACHED of the global minimum.
    """
    paths = fig3_paths() if paths is None else paths
    d = {k: _distance(p) for k, p in paths.items()}
    arrival = {k: int(np.argmax(v < ARRIVED)) if (v < ARRIVED).any() else None for k, v in d.items()}
    tri = arrival["TRIEXP"]
    others = [t for k, t in arrival.items() if k != "TRIEXP"]
    early = tri is not None and tri <= PANELS[0] and all(t is None or t > tri for t in others)
    early_detail = f"first iteration within {ARRIVED} of the global minimum: " + ", ".join(
        f"{k} {'never' if t is None else t}" for k, t in arrival.items())

    a, b = PANELS[0] + 1, PANELS[1]
    fix, bounce = d["FIX"][: b + 1], d["TRIEXP"][a : b + 1]
    fix_basin = basin(paths["FIX"][b])
    fix_turns = fix[b] > fix.min() + 0.05 and fix_basin == "local"
    tri_bounces = bool((bounce < ARRIVED).all() and bounce.min() > 0.02)
    middle_detail = (f"FIX closest to the global minimum at t={int(fix.argmin())} ({fix.min():.3f}), {fix[b]:.3f} "
                     f"at t={b}, in the {fix_basin} basin; TRIEXP's distance over t={a}…{b}: "
                     f"{bounce.min():.3f} to {bounce.max():.3f}")

    reached = [k for k, v in d.items() if v[-1] < REACHED]
    end_detail = "final distance to the global minimum: " + ", ".join(f"{k} {v[-1]:.2g}" for k, v in d.items())
    return {"early": (bool(early), early_detail), "middle": (bool(fix_turns and tri_bounces), middle_detail),
            "end": (reached == ["NSTEP"], end_detail)}


def _draw(ax, paths, last: int, grid, ms: float = 1.0):
    """Filled contours of f on ``grid`` = (X, Y, Z), both minima, and each path up to iteration ``last``."""
    X, Y, Z = grid
    ax.contourf(X, Y, Z, levels=30, cmap="RdYlBu", alpha=0.55)   # low cost red, as the paper's grid
    ax.contour(X, Y, Z, levels=30, colors="grey", linewidths=0.3)
    ax.plot(*minima()["global"], marker="*", ms=20 * ms, color="darkred", mec="white", ls="", label="global min")
    ax.plot(*minima()["local"], marker="X", ms=13 * ms, color="navy", mec="white", ls="", label="local min")
    for label, pos in paths.items():
        p = pos[: last + 1]
        colour = FIG3_COLOURS.get(label)
        ax.plot(p[:, 0], p[:, 1], "-o", color=colour, ms=2.5 * ms, lw=1, mec="k", mew=0.2, label=label)
        ax.plot(*p[-1], "o", color=colour, ms=6 * ms, mec="k")   # where the policy is at t = last
    ax.set_aspect("equal")
    ax.set_xlim(X.min(), X.max()), ax.set_ylim(Y.min(), Y.max())


def _grid(x0, x1, y0, y1, n: int = 300):
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return X, Y, surface(X, Y)


def plot_fig3(paths=None, out=None):
    """Fig. 3: the surface (filled contours) with the paths up to t = 40, 90 and 140, and the three LR curves.

    Each path panel has an inset zoomed on the two minima. ``paths`` is {label: positions} (default:
    ``fig3_paths()``); saved to ``out`` if given. Returns the Figure.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    from lrkit.policies import parse

    paths = fig3_paths() if paths is None else paths
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.4), gridspec_kw={"width_ratios": [1, 1, 1, 0.9]})
    pts = np.vstack([*paths.values(), list(minima().values())])
    (x0, y0), (x1, y1) = pts.min(0) - 0.4, pts.max(0) + 0.4
    (mx0, my0), (mx1, my1) = np.min(list(minima().values()), 0) - 0.4, np.max(list(minima().values()), 0) + 0.4
    whole, zoom = _grid(x0, x1, y0, y1), _grid(mx0, mx1, my0, my1, 200)
    for ax, last, tag in zip(axes[:3], PANELS, "abc"):
        _draw(ax, paths, last, whole)
        ax.set_title(f"({tag}) iterations 0–{last}")
        inset = ax.inset_axes([0.02, 0.02, 0.42, 0.5])
        _draw(inset, paths, last, zoom, ms=0.6)
        inset.set_xticks([]), inset.set_yticks([])
        ax.indicate_inset_zoom(inset, edgecolor="k")
    axes[0].legend(fontsize=7, loc="upper right")
    t = np.arange(max(len(p) for p in paths.values()) - 1)
    for label in paths:
        sns.lineplot(x=t, y=parse(FIG3_POLICIES[label])(t), color=FIG3_COLOURS.get(label), label=label, ax=axes[3])
    axes[3].set(xlabel="iteration t", ylabel="learning rate η(t)", title="(d) LR policies")
    for last in PANELS[:2]:
        axes[3].axvline(last, color="grey", lw=0.6, ls=":")
    return finish_figure(fig, path=out)
