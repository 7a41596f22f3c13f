import matplotlib.pyplot as plt
import numpy as np
import pytest

from lrkit.policies import parse
from lrkit.viz import plot_policies, policy_frame


def test_policy_frame_is_tidy_and_exact():
    specs = ["FIX(k=0.1)", "TRI(k0=0.01, k1=0.06, l=100)"]
    df = policy_frame(specs, iters=1000, points=None)
    assert list(df.columns) == ["iteration", "lr", "policy"]
    assert len(df) == 2000 and set(df["policy"]) == {str(parse(s)) for s in specs}
    tri = df[df["policy"] == "TRI(k0=0.01, k1=0.06, l=100)"]
    np.testing.assert_array_equal(tri["lr"].to_numpy(), parse(specs[1])(np.arange(1000)))


def test_policy_frame_samples_and_keeps_the_ends():
    df = policy_frame("FIX(k=0.1)", iters=64000, points=500)
    assert df["iteration"].iloc[0] == 0 and df["iteration"].iloc[-1] == 63999 and len(df) <= 500


def test_plot_draws_one_line_per_policy():
    ax = plot_policies(["FIX(k=0.1)", "STEP(k=0.1, gamma=0.5, l=100)", "SIN2(k0=0.01, k1=0.06, l=50)"], 500,
                       labels=["fix", "step", "sin2"], log_y=True, title="t")
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2]
    assert len(lines) == 3
    assert ax.get_yscale() == "log" and ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fix", "step", "sin2"]
    ydata = lines[1].get_ydata()
    np.testing.assert_allclose(np.sort(np.unique(np.round(ydata, 12)))[::-1][:2], [0.1, 0.05])
    plt.close(ax.figure)


def test_bad_arguments():
    with pytest.raises(ValueError, match="iters must be an int > 0"):
        policy_frame("FIX(k=0.1)", iters=0)
    with pytest.raises(ValueError, match="got 1 labels for 2 policies"):
        policy_frame(["FIX(k=0.1)", "FIX(k=0.2)"], iters=10, labels=["a"])
