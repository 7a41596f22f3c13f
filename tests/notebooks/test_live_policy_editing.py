"""notebooks/live_policy_editing.ipynb runs headless (nbclient, real MNIST) on a short run: the test sets its
parameters, makes two edits mid-run the way a user would with the widgets (a parameter of the running
policy, then a new stage of another family scaled by λ) and one that is refused, waits for the end, and
the replayed MULTI spec reproduces the run's LR trace."""

import json
import os

import pytest
from nbclient import NotebookClient

from tests.notebooks.helpers import NOTEBOOKS, insert_after, outputs, read, set_parameters, text

ITERS = 300

# the user's edits, made from Python while the run trains (the notebook's panel and L are in scope)
EDITS = f"""\
import time
while panel.run.t < {ITERS} // 3 and not panel.done:
    time.sleep(0.05)
print('edit 1:', panel.apply(k1=0.03), 'from iteration', panel.run.t)
while panel.run.t < 2 * {ITERS} // 3 and not panel.done:
    time.sleep(0.05)
print('edit 2:', panel.apply(f'COS(k0=0.001, k1=0.02, l={{L // 2}})', lam=0.5, restart=True), 'from iteration', panel.run.t)
try:
    panel.apply('TRI(k0=0.01, k1=-1, l=100)')
except ValueError as e:
    print('refused, the run goes on:', e)
panel.wait()"""


def test_the_notebook_names_no_environment_variable():
    # a researcher's notebook: its run is set in its parameters cell, not by variables CI sets
    assert "os.environ" not in (NOTEBOOKS / "live_policy_editing.py").read_text()


def test_live_notebook_executes_with_two_edits_and_replays(monkeypatch, tmp_path):
    if not os.environ.get("LRKIT_DATA_DIR"):
        pytest.skip("LRKIT_DATA_DIR is not set: the notebook trains LeNet on the real MNIST (CI sets it)")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = read("live_policy_editing")
    set_parameters(nb, ITERS=ITERS, OUT=str(tmp_path))
    insert_after(nb, "panel = live(", EDITS)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    assert not [o for o in outputs(nb) if o.get("output_type") == "error"]
    printed = text(nb)
    assert "replay reproduces the run's LR trace: True" in printed
    assert f"status: complete | iterations: {ITERS} | edits: 2" in printed
    assert "refused, the run goes on:" in printed
    widgets = [o for o in outputs(nb) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, "the panel was not displayed"
    snaps = sorted(tmp_path.glob("live-snapshot-*.json"))
    record = json.loads(snaps[-1].read_text())
    assert [h["time"] for h in record["history"]] == ["global", "global", "restart"]
    assert record["history"][2]["policy"].startswith("0.5*COS(")
