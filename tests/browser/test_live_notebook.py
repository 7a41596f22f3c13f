"""The live panel in a real browser: JupyterLab on loopback, headless Chromium (Debian's ``chromium``,
driven by Playwright through ``executable_path``) opens notebooks/live_policy_editing.ipynb, runs it,
drags the k1 slider while LeNet trains, and checks that the running training picked up the change (the
panel's history in the page, and the run's record: the LR from the edit iteration on follows the new
policy). The test sets the notebook's parameters (a long run, snapshots in a temp folder) in the copy it
serves. A screenshot is kept in ``$LRKIT_ARTIFACTS`` (default ``build/artifacts/``).

Without Chromium or Playwright the test is skipped, saying why — except under ``CI=true``, where it
fails (``.ci/run`` installs Debian's chromium when it is missing)."""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest

from lrkit.policies import parse
from tests.notebooks.helpers import read, set_parameters
from tests.tiny_data import write_tiny_npz

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "live_policy_editing.ipynb"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def _missing(why: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why} (CI=true: .ci/run installs Debian's chromium; pip install playwright)")
    pytest.skip(why)


def _chromium() -> str:
    path = os.environ.get("LRKIT_CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if not path:
        _missing("no Chromium found (apt-get install chromium, or set LRKIT_CHROMIUM)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _artifacts() -> Path:
    d = Path(os.environ.get("LRKIT_ARTIFACTS") or ROOT / "build" / "artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a copy of the notebook (a run long enough to edit, snapshots in a temp folder) from a
    temp folder, on 127.0.0.1 with a token."""
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out"
    nb = read(NOTEBOOK.stem)
    params = dict(ITERS=20000, OUT=str(out))
    if not os.environ.get("LRKIT_DATA_DIR"):  # no real MNIST here: the same notebook on the tiny dataset
        params["DATASET"] = write_tiny_npz(tmp_path / "tiny.npz")
    set_parameters(nb, **params)
    nbformat.write(nb, work / NOTEBOOK.name)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, MPLBACKEND="Agg",
               JUPYTER_CONFIG_DIR=str(tmp_path / "jcfg"), JUPYTER_RUNTIME_DIR=str(tmp_path / "jrt"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "jws"), JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "jset"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--allow-root",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None", "--ServerApp.open_browser=False"]
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(cmd, env=env, cwd=work, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError("jupyter lab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(0.3)
        yield {"url": f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", "out": out, "log": tmp_path / "lab.log"}
    finally:
        # SIGTERM: the server shuts its kernels down and exits (well under a second); SIGINT would only ask
        # "Shutdown this Jupyter server (y/[n])?" and resume, leaving the wait below to time out
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def chromium():
    """Chromium's path, once Playwright is known to import: checked before JupyterLab starts."""
    path = _chromium()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("Playwright is not installed (pip install playwright; its browsers are not needed)")
    return path


def test_slider_edit_reaches_the_running_training(chromium, lab):
    from playwright.sync_api import sync_playwright

    shot = _artifacts() / "live_policy_editing.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        try:
            page.goto(lab["url"])
            page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')",
                                   timeout=60_000)
            page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
                return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel
                       && w.sessionContext.session.kernel.status === 'idle'; }""", timeout=60_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            panel = page.locator(".lrkit-live-panel")
            panel.wait_for(timeout=90_000)
            # the training thread is running and its progress reaches the page (widget updates from threads)
            page.wait_for_function("() => { const e = document.querySelector('.lrkit-live-iteration');"
                                   " return e && parseInt(e.textContent) >= 20; }", timeout=90_000)
            handle = page.locator(".lrkit-param-k1 .noUi-handle")
            handle.scroll_into_view_if_needed()
            box = handle.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x - 40, y, steps=8)  # k1 down (log scale), released once: one edit
            page.mouse.up()
            readout = page.locator(".lrkit-param-k1 .widget-readout").inner_text()
            # the edit is applied at the next iteration and listed in the panel's history
            page.wait_for_function("() => document.querySelectorAll('.lrkit-live-history li').length >= 2",
                                   timeout=60_000)
            time.sleep(1.5)  # a few iterations under the new policy
            page.locator(".lrkit-live-panel button", has_text="Snapshot").click()
            page.wait_for_function("() => document.querySelector('.lrkit-live-panel').innerText.includes('snapshot at')",
                                   timeout=30_000)
            page.screenshot(path=str(shot), full_page=True)
            history_text = page.locator(".lrkit-live-history").inner_text()
            page.locator(".lrkit-live-panel button", has_text="Stop").click()
            page.wait_for_function("() => document.querySelector('.lrkit-live-status').innerText.startsWith('stopped')",
                                   timeout=60_000)
        except Exception:
            page.screenshot(path=str(shot), full_page=True)
            print("jupyter log:\n", lab["log"].read_text()[-4000:])
            raise
        finally:
            browser.close()
    assert "k1=" in history_text and len(re.findall(r"t=\d+", history_text)) >= 2
    snaps = sorted(lab["out"].glob("live-snapshot-t*.json"), key=lambda p: int(p.stem.split("-t")[-1]))
    assert snaps, "the Snapshot button wrote no record"
    rec = json.loads(snaps[-1].read_text())
    first, edit = rec["history"][0], rec["history"][1]
    new = parse(edit["policy"])
    assert edit["time"] == "global" and edit["iteration"] > 0
    assert new.k1 < parse(first["policy"]).k1 and new.k1 == pytest.approx(float(readout), rel=0.01)  # the slider's
    s = edit["iteration"]
    lrs = np.asarray(rec["curves"]["lr"], dtype=float)
    end = rec["history"][2]["iteration"] if len(rec["history"]) > 2 else len(lrs)
    assert end > s, "no iteration ran under the edited policy"
    np.testing.assert_array_equal(lrs[s:end], new(np.arange(s, end)))  # the running training follows it
    assert shot.exists() and shot.stat().st_size > 10_000
