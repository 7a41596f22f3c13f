"""The policy database on SQLite and PostgreSQL: what goes in comes out, bad input is named,
the schema is versioned and migrated, files round-trip."""

import json
import math

import pytest

from lrkit.db import Database, DatabaseError, schema, storage
from lrkit.train.monitor import RunRecord

TASK = {"dataset": "mnist", "model": "lenet", "framework": "pytorch", "optimizer": "momentum", "batch_size": 100,
        "iterations": 50}


def record(policy="SIN2(k0=0.01, k1=0.06, l=20)", status="complete", n=50, seed=0):
    lr = [0.01 + 0.001 * i for i in range(n)]
    loss = [2.3 / (1 + i) for i in range(n)]
    loss[7] = float("nan")
    return RunRecord(config={**{"dataset": "mnist", "model": "lenet", "optimizer": "momentum", "policy": policy,
                                "iters": n, "batch_size": 100, "seed": seed, "device": "cpu"}},
                     policy=policy, environment={"torch": "2.x", "device": "cpu"}, status=status, message="",
                     curves={"lr": lr, "loss": loss},
                     evals={"iteration": [25, 50], "top1": [0.9, 0.95], "top5": [0.99, 1.0], "test_loss": [0.3, 0.2]},
                     summary={"highest_top1": 0.95, "highest_top1_iteration": 50, "final_top1": 0.95, "highest_top5": 1.0,
                              "iterations": n, "iterations_to_target": None, "wall_time_s": 1.5})


def test_a_recorded_run_comes_back_whole(db_url):
    db = Database(db_url)
    rid = db.record_run(record())
    got = db.get_run(rid)
    assert got["status"] == "complete" and got["policy"] == "SIN2(k0=0.01, k1=0.06, l=20)"
    assert got["task"] == {**TASK, "iterations": 50}
    assert got["curves"]["lr"] == pytest.approx([0.01 + 0.001 * i for i in range(50)], rel=0, abs=0)
    assert math.isnan(got["curves"]["loss"][7]) and got["curves"]["loss"][0] == 2.3
    assert got["curves"]["eval_top1"] == [0.9, 0.95]
    assert got["summary"]["highest_top1"] == 0.95 and got["summary"]["wall_time_s"] == 1.5
    assert got["environment"]["torch"] == "2.x" and got["ended_at"] is not None
    df = db.runs(dataset="mnist", model="lenet")
    assert df["policy"].tolist() == ["SIN2(k0=0.01, k1=0.06, l=20)"] and df["category"].tolist() == ["cyclic"]


def test_specs_are_stored_canonical_and_policies_shared(db_url):
    db = Database(db_url)
    a = db.add_result(TASK, "SIN2(k0=.01, k1=0.06, l=20)", {"highest_top1": 0.9})
    b = db.add_result(TASK, "SIN2(k0=0.01,k1=0.06,l=20)", {"highest_top1": 0.91})
    df = db.runs(policy="SIN2(k1=0.06, k0=0.01, l=20)")
    assert sorted(df["id"]) == sorted([a, b]) and set(df["policy"]) == {"SIN2(k0=0.01, k1=0.06, l=20)"}
    assert db.count(policy="SIN2(k1=0.06, k0=0.01, l=20)") == 2 and db.count(policy="FIX(k=0.1)") == 0
    assert len(db.tasks()) == 1


def test_bad_input_names_the_field(db_url):
    db = Database(db_url)
    with pytest.raises(ValueError, match="unknown field.*epochs.*allowed: dataset, model"):
        db.add_result({**TASK, "epochs": 3}, "FIX(k=0.1)", {})
    with pytest.raises(ValueError, match="field 'dataset' must be a non-empty string"):
        db.add_result({"model": "lenet"}, "FIX(k=0.1)", {})
    with pytest.raises(ValueError, match="field 'status' must be one of running, complete"):
        db.add_result(TASK, "FIX(k=0.1)", {}, status="done")
    from lrkit.policies import PolicyError

    with pytest.raises(PolicyError):
        db.add_result(TASK, "FIX(q=0.1)", {})
    with pytest.raises(DatabaseError, match="no run with id 999"):
        db.get_run(999)


def test_unsupported_url_is_refused():
    with pytest.raises(DatabaseError, match="allowed: sqlite, postgresql"):
        Database("mysql://u@h/db")


def test_a_database_that_cannot_be_opened_is_one_clear_error_in_seconds(tmp_path):
    import time

    with pytest.raises(DatabaseError, match=r"cannot open the database Database\('sqlite:///.*'\): unable to open"):
        Database(f"sqlite:///{tmp_path}")  # a folder, not a database file
    started = time.monotonic()
    with pytest.raises(DatabaseError, match=r"cannot open the database Database\('postgresql\+psycopg://nobody:\*\*\*@"
                                            r"127\.0\.0\.1:1/x'\): connection failed"):
        Database("postgresql+psycopg://nobody:secret@127.0.0.1:1/x")  # refused; the password is not printed
    assert time.monotonic() - started < 10  # a few tries, not the 30 lock retries


def test_started_runs_are_unfinished_until_finished(db_url):
    db = Database(db_url)
    rid = db.start_run(TASK, "FIX(k=0.1)", seed=3)
    assert db.runs(status="running")["id"].tolist() == [rid]
    db.finish_run(rid, record(status="diverged"))
    assert db.get_run(rid)["status"] == "diverged"
    rid2 = db.start_run(TASK, "FIX(k=0.1)")
    assert db.close_unfinished() == 1 and db.get_run(rid2)["status"] == "failed"


def test_export_import_round_trip(db_url, tmp_path):
    db = Database(db_url)
    db.record_run(record())
    db.add_result(TASK, "FIX(k=0.01)", {"highest_top1": 0.99, "highest_top1_std": 0.001, "repeats": 5},
                  source="paper:x#Table 1", extra={"note": "n"})
    doc = db.export(curves=True)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc))
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    assert other.import_file(path) == 2
    a, b = db.export(curves=True)["runs"], other.export(curves=True)["runs"]
    strip = ("id", "started_at", "ended_at", "host", "pid")
    assert [{k: v for k, v in r.items() if k not in strip} for r in a] == \
           [{k: v for k, v in r.items() if k not in strip} for r in b]


def test_a_run_record_file_imports(db_url, tmp_path):
    path = tmp_path / "run.json"
    record(seed=4).save(path)
    db = Database(db_url)
    assert db.import_file(path) == 1
    assert db.runs()["seed"].tolist() == [4]
    bad = tmp_path / "bad.json"
    bad.write_text("{\"what\": 1}")
    with pytest.raises(DatabaseError, match="not an lrkit export"):
        db.import_file(bad)


def test_schema_version_and_migrations(db_url, monkeypatch):
    db = Database(db_url)
    assert db.schema_version() == storage.SCHEMA_VERSION == 1
    db.add_result(TASK, "FIX(k=0.1)", {"highest_top1": 0.5})
    db.close()
    calls = []

    def to_v2(conn):
        calls.append(1)
        conn.exec_driver_sql("CREATE TABLE extra_v2 (id INTEGER PRIMARY KEY)")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(storage.MIGRATIONS, 2, to_v2)
    db2 = Database(db_url)
    assert db2.schema_version() == 2 and calls == [1]
    assert db2.runs()["highest_top1"].tolist() == [0.5]
    Database(db_url)  # already at 2: not migrated again
    assert calls == [1]
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    with pytest.raises(DatabaseError, match="schema version 2; this lrkit knows up to 1"):
        Database(db_url)


def test_sqlite_runs_in_wal_mode(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    with db.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_default_url_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LRKIT_DB_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert Database().url.endswith("env.db")
    monkeypatch.delenv("LRKIT_DB_URL")
    monkeypatch.delenv("LRKIT_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert storage.default_url() == f"sqlite:///{tmp_path / '.lrkit' / 'lrkit.db'}"
    monkeypatch.setenv("LRKIT_HOME", str(tmp_path / "h"))
    assert storage.default_url() == f"sqlite:///{tmp_path / 'h' / 'lrkit.db'}"
