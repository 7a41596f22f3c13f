"""``lrkit db``: init, import, export, list, show, top — against a SQLite file."""

import json

from lrkit.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_init_top_list_show(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    code, out, _ = run(capsys, "db", "--db", url, "init")
    assert code == 0 and "published results added" in out
    code, out, _ = run(capsys, "db", "--db", url, "top", "--dataset", "mnist", "--model", "lenet", "--optimizer",
                       "momentum", "-k", "3")
    assert code == 0 and "(exact task)" in out and out.count("| ") > 3 and "SIN2(k0=0.01, k1=0.06, l=2000)" in out
    code, out, _ = run(capsys, "db", "--db", url, "top", "--dataset", "mnist", "--model", "lenet", "--metric",
                       "iters_to_target", "--target-acc", "0.991", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["rows"][0]["policy"] == "COS(k0=0.01, k1=0.06, l=2000)" and doc["level"] == "exact task"
    code, out, _ = run(capsys, "db", "--db", url, "list", "--dataset", "svhn")
    assert code == 0 and out.count("svhn") == 3
    code, out, _ = run(capsys, "db", "--db", url, "show", "1")
    assert code == 0 and '"status": "complete"' in out


def test_import_export_round_trip(tmp_path, capsys):
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    from lrkit.db import Database

    Database(a).add_result({"dataset": "mnist", "model": "lenet"}, "FIX(k=0.01)", {"highest_top1": 0.99})
    out_file = tmp_path / "e.json"
    code, out, _ = run(capsys, "db", "--db", a, "export", "--source", "lrkit", "-o", str(out_file))
    assert code == 0 and "1 runs written" in out
    code, out, _ = run(capsys, "db", "--db", b, "import", str(out_file))
    assert code == 0 and "1 runs imported" in out
    assert Database(b).runs()["highest_top1"].tolist() == [0.99]


def test_bad_input_is_named_with_exit_2(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    code, _, err = run(capsys, "db", "--db", url, "top", "--dataset", "mnist", "--model", "lenet", "--metric", "speed")
    assert code == 2 and "allowed: highest_acc" in err
    code, _, err = run(capsys, "db", "--db", url, "list", "--status", "done")
    assert code == 2 and "allowed: running, complete" in err
    code, _, err = run(capsys, "db", "--db", url, "show", "12345")
    assert code == 2 and "no run with id 12345" in err
    code, _, err = run(capsys, "db", "--db", "mysql://x/y", "list")
    assert code == 2 and "allowed: sqlite, postgresql" in err
    code, _, err = run(capsys, "db", "--db", url, "import", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err
    code, _, err = run(capsys, "db", "--db", f"sqlite:///{tmp_path}", "list")  # a folder
    assert code == 2 and err.startswith("lrkit db: cannot open the database") and "Traceback" not in err
