import os
import subprocess
import sys

import pytest

from lrkit.cli.main import main
from lrkit.policies import parse


def test_show_prints_values_at_requested_iterations(capsys, tmp_path):
    out = tmp_path / "plots" / "fig.png"  # the folder is created
    rc = main(["policy", "show", "SIN2(k0=0.01,k1=0.06,l=2000)", "FIX(k=0.01)", "--iters", "10000",
               "--at", "0,2000,6000", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "[0] SIN2(k0=0.01, k1=0.06, l=2000)" in text and "[1] FIX(k=0.01)" in text
    rows = {int(line.split()[0]): [float(x) for x in line.split()[1:]]
            for line in text.splitlines() if line.strip() and line.split()[0].isdigit()}
    assert sorted(rows) == [0, 2000, 6000]
    assert rows[2000] == pytest.approx([0.06, 0.01]) and rows[6000] == pytest.approx([0.035, 0.01])
    assert out.exists() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_show_default_points(capsys):
    assert main(["policy", "show", "STEP(k=1, gamma=0.5, l=100)", "--iters", "400"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.split()[0].isdigit()]
    assert [int(r[0]) for r in rows] == [0, 100, 200, 300, 399]
    assert [float(r[1]) for r in rows] == [parse("STEP(k=1, gamma=0.5, l=100)")(t) for t in (0, 100, 200, 300, 399)]


def test_show_bad_spec_is_a_clear_error(capsys):
    assert main(["policy", "show", "SINE2(k0=0.1, k1=0.2, l=3)"]) == 2
    assert "did you mean 'SIN2'" in capsys.readouterr().err


def test_list_names_every_policy(capsys):
    assert main(["policy", "list"]) == 0
    text = capsys.readouterr().out
    for name in ["FIX", "NSTEP", "TRIEXP", "COS2", "MULTI", "SCALE", "WSD", "WarmupCosineLR"]:
        assert f"\n{name} " in "\n" + text


def test_console_script_is_installed():
    """`lrkit` on PATH (next to this interpreter) runs the same CLI."""
    exe = os.path.join(os.path.dirname(sys.executable), "lrkit")
    res = subprocess.run([exe, "policy", "show", "FIX(k=0.5)", "--iters", "10", "--at", "3"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1].split() == ["3", "0.5"]
