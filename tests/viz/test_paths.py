"""000 Fig. 3 on our synthetic surface (lrkit.viz.paths): the maths, then what the three paths do."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lrkit.policies import parse
from lrkit.viz import paths as P


@pytest.fixture(scope="module")
def fig3():
    return P.fig3_paths()


def hessian(x, y, h=1e-5):
    gx = (np.array(P.gradient(x + h, y)) - np.array(P.gradient(x - h, y))) / (2 * h)
    gy = (np.array(P.gradient(x, y + h)) - np.array(P.gradient(x, y - h))) / (2 * h)
    return np.column_stack([gx, gy])


def test_gradient_matches_central_differences():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-2.5, 2.5, (2, 200))
    h = 1e-6
    fd_x = (P.surface(x + h, y) - P.surface(x - h, y)) / (2 * h)
    fd_y = (P.surface(x, y + h) - P.surface(x, y - h)) / (2 * h)
    gx, gy = P.gradient(x, y)
    np.testing.assert_allclose(gx, fd_x, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gy, fd_y, rtol=1e-6, atol=1e-6)
    assert P.surface(x, y).shape == (200,)


def test_descend_with_fix_on_a_quadratic_is_the_closed_form():
    a, c, eta = 3.0, 0.5, 0.1   # f = a/2·x² + c/2·y²: x_t = x_0·(1 − ηa)^t, y_t = y_0·(1 − ηc)^t
    pos, lr = P.descend("FIX(k=0.1)", start=(1.5, -2.0), iters=30, grad=lambda x, y: (a * x, c * y))
    t = np.arange(31)
    np.testing.assert_allclose(pos[:, 0], 1.5 * (1 - eta * a) ** t, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(pos[:, 1], -2.0 * (1 - eta * c) ** t, rtol=1e-12)
    np.testing.assert_array_equal(lr, np.full(30, 0.1))


def test_descend_uses_the_policy_lr_of_each_iteration():
    for spec in P.FIG3_POLICIES.values():
        pos, lr = P.descend(spec)
        np.testing.assert_array_equal(lr, parse(spec)(np.arange(P.ITERS)))
        # and applies it: x_{t+1} = x_t − η(t)·∇f(x_t)
        t = 57
        np.testing.assert_allclose(pos[t + 1], pos[t] - lr[t] * np.array(P.gradient(*pos[t])), rtol=0, atol=1e-15)


def test_the_three_paths_share_the_start_and_have_141_positions(fig3):
    assert list(fig3) == ["FIX", "NSTEP", "TRIEXP"]
    for pos in fig3.values():
        assert pos.shape == (141, 2)
        np.testing.assert_array_equal(pos[0], P.START)
    assert P.FIG3_POLICIES["NSTEP"] == "NSTEP(k=0.05, gamma=0.5, l=[120, 130])"
    assert P.FIG3_COLOURS == {"FIX": "black", "NSTEP": "red", "TRIEXP": "gold"}


def test_the_surface_has_the_documented_minima_and_curvatures():
    m = P.minima()
    g, loc = np.array(m["global"]), np.array(m["local"])
    for p in (g, loc):
        assert np.hypot(*P.gradient(*p)) < 1e-9
    # the global minimum is the lowest point of the plotted region, the local one is higher
    X, Y = np.meshgrid(np.linspace(-3, 3, 601), np.linspace(-3, 3, 601))
    assert P.surface(*g) <= P.surface(X, Y).min() + 1e-12
    assert P.surface(*loc) > P.surface(*g) + 1
    # the mechanism of the docstring: in the global well η = 0.05 is unstable (curvature > 2/0.05), η = 0.025
    # is stable (< 2/0.025); in the local well every LR the policies use is stable (< 2/0.078)
    ev_g, ev_l = np.linalg.eigvalsh(hessian(*g)), np.linalg.eigvalsh(hessian(*loc))
    assert ev_g.min() > 0 and 2 / 0.05 < ev_g.max() < 2 / 0.025
    assert ev_l.min() > 0 and ev_l.max() < 2 / 0.078
    # the start point lies in the local minimum's basin (gradient flow goes there)
    assert P.basin(P.START) == "local"


def test_the_paths_tell_the_papers_story(fig3):
    s = P.summary(fig3)
    assert list(s.index) == ["FIX", "NSTEP", "TRIEXP"]
    assert s.loc["NSTEP", "basin"] == "global" and s.loc["NSTEP", "distance_to_global"] < 1e-4
    assert s.loc["FIX", "basin"] == "local" and s.loc["FIX", "distance_to_global"] > 0.5
    # TRIEXP's LR never falls below 0.05: it is still bouncing across the global well at t = 140
    assert s.loc["TRIEXP", "basin"] == "global" and 0.05 < s.loc["TRIEXP", "distance_to_global"] < P.ARRIVED
    assert s.loc["NSTEP", "cost"] < s.loc["TRIEXP", "cost"] < s.loc["FIX", "cost"]
    np.testing.assert_allclose(s["cost"], P.surface(s["x"], s["y"]))
    obs = P.observations(fig3)
    assert {k: v[0] for k, v in obs.items()} == {"early": True, "middle": True, "end": True}, obs



@pytest.mark.parametrize("across, along", [(-0.02, 0), (0.04, 0), (0, -0.3), (0, 0.3)])
def test_the_story_survives_small_moves_of_the_start(across, along):
    """Documented in the module: a narrow band across the path, ±0.3 along it."""
    start = np.array(P.START) + across * np.array([1, 1]) / 2**0.5 + along * np.array([1, -1]) / 2**0.5
    assert all(holds for holds, _ in P.observations(P.fig3_paths(start=start)).values())


@pytest.mark.parametrize("across", [-0.04, 0.06])
def test_the_story_breaks_further_across_the_path(across):
    start = np.array(P.START) + across * np.array([1, 1]) / 2**0.5
    assert not all(holds for holds, _ in P.observations(P.fig3_paths(start=start)).values())


def test_observations_fail_when_the_story_does_not_happen(fig3):
    swapped = {"FIX": fig3["NSTEP"], "NSTEP": fig3["FIX"], "TRIEXP": fig3["TRIEXP"]}
    obs = P.observations(swapped)
    assert not obs["middle"][0] and not obs["end"][0]
    late = dict(fig3, TRIEXP=np.repeat(fig3["TRIEXP"][:1], 141, axis=0))   # TRIEXP never moves
    assert not P.observations(late)["early"][0]


def test_plot_fig3_draws_three_path_panels_and_the_lr_curves(fig3, tmp_path):
    out = tmp_path / "fig3.png"
    fig = P.plot_fig3(fig3, out=out)
    assert out.stat().st_size > 0
    panels, lr_ax = fig.axes[:3], fig.axes[3]
    for ax, last in zip(panels, P.PANELS):
        lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1]
        assert [ln.get_label() for ln in lines] == ["FIX", "NSTEP", "TRIEXP"]
        assert all(len(ln.get_xdata()) == last + 1 for ln in lines)
    curves = {ln.get_label(): ln.get_ydata() for ln in lr_ax.get_lines() if len(ln.get_xdata()) > 2}
    for label, spec in P.FIG3_POLICIES.items():
        np.testing.assert_allclose(curves[label], parse(spec)(np.arange(P.ITERS)))
    plt.close(fig)
