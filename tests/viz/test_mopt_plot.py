"""plot_mopt (004 Fig. 7): the applied LR as a line, η* as points, on a log axis."""

import json

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PathCollection

from lrkit.train import RunRecord
from lrkit.viz import plot_mopt


def record(policy="FIX(k=0.1)", n=40, every=10, ratio=0.5):
    lr = [0.1 * 0.99**t for t in range(n)]
    ts = list(range(0, n - 2, every))
    mopt = {"iteration": ts, "lr": [lr[t + 1] for t in ts], "mopt_lr": [ratio * lr[t + 1] for t in ts]}
    return RunRecord(policy=policy, curves={"lr": lr, "loss": [1.0] * n}, mopt=mopt)


def points(ax):
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def test_one_run_has_the_lr_line_and_the_mopt_points():
    rec = record()
    rec.mopt["mopt_lr"][1] = float("nan")  # not drawable on a log axis: left out
    ax = plot_mopt(rec)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), rec.curves["lr"])
    (pts,) = points(ax)
    offsets = pts.get_offsets()
    assert offsets[:, 0].tolist() == [0, 20, 30]
    np.testing.assert_allclose(offsets[:, 1], [rec.mopt["mopt_lr"][i] for i in (0, 2, 3)])
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["applied LR", "M-opt LR η*"]
    plt.close(ax.figure)


def test_several_runs_from_records_dicts_and_files(tmp_path):
    a, b = record("FIX(k=0.1)"), record("EXP(k=0.1, gamma=0.99)", ratio=2.0)
    b.save(tmp_path / "b.json")
    c = json.loads(record("POLY(k=0.1, p=1.2, l=40)").to_json())
    fig, ax = plt.subplots()
    assert plot_mopt([a, tmp_path / "b.json", c], ax=ax) is ax
    assert len(ax.get_lines()) == 3 and len(points(ax)) == 3
    assert len(ax.get_legend().get_texts()) == 6
    plt.close(fig)


def test_a_record_without_measurements_draws_its_lr():
    rec = record()
    rec.mopt = {"iteration": [], "lr": [], "mopt_lr": []}
    ax = plot_mopt(rec)
    assert len(ax.get_lines()) == 1 and len(points(ax)[0].get_offsets()) == 0
    plt.close(ax.figure)
