"""004 Fig. 2's form for any table's runs: LR, top-1 and top-5 panels from a results document."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from lrkit.viz import plot_lr_and_accuracy, runs_frame  # noqa: E402
from tests.reproduce.helpers import record  # noqa: E402


def _results():
    a = record("FIX(k=0.01)", top1=(0.5, 0.9))
    a["evals"]["top5"] = [0.8, 0.99]
    b = record("NSTEP(k=0.1, gamma=0.1, l=[2])", top1=(0.4, "nan"))
    b["evals"]["top5"] = [0.7, None]
    return [{"config": a["config"], "row": {"policy": "FIX(k=0.01)"}, "records": [a]},
            {"config": b["config"], "row": {"policy": "NSTEP(k=0.1, gamma=0.1, l=[32000])", "label": "Caffe NSTEP"},
             "records": [b]},
            {"config": a["config"], "row": {"policy": "FIX(k=1)"}, "records": []}]  # not run: left out


def test_frames_hold_every_eval_of_the_first_record_and_label_rows(tmp_path):
    lr, ev = runs_frame(_results())
    assert set(lr["run"]) == {"FIX(k=0.01)", "Caffe NSTEP"} and len(lr) == 8
    fix = ev[ev["run"] == "FIX(k=0.01)"]
    assert fix[fix["metric"] == "top-1"]["accuracy (%)"].tolist() == pytest.approx([50, 90])
    assert fix[fix["metric"] == "top-5"]["accuracy (%)"].tolist() == pytest.approx([80, 99])
    nstep = ev[ev["run"] == "Caffe NSTEP"]  # a non-number (a diverged eval) is left out
    assert nstep["accuracy (%)"].tolist() == pytest.approx([40, 70])
    fig = plot_lr_and_accuracy(_results(), path=tmp_path / "fig2.png", title="t")
    assert [ax.get_title() for ax in fig.axes[:3]] == ["learning rate", "test top-1 accuracy", "test top-5 accuracy"]
    assert fig.axes[0].get_yscale() == "log" and (tmp_path / "fig2.png").stat().st_size > 10_000
    with pytest.raises(ValueError, match="holds no finished run"):
        plot_lr_and_accuracy([_results()[2]])
