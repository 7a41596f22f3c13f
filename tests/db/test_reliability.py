"""Many writers at once, and a writer killed mid-run, on SQLite and PostgreSQL (the issue's bar:
eight processes writing 100 runs each leave 800 complete runs)."""

import multiprocessing as mp
import os
import signal
import sqlite3
import time

from lrkit.db import Database

TASK = {"dataset": "cifar10", "model": "cnn3", "framework": "pytorch", "optimizer": "momentum", "batch_size": 100,
        "iterations": 200}
POLICIES = ["FIX(k=0.001)", "TRI2(k0=0.001, k1=0.006, l=20)", "COS(k0=0.001, k1=0.006, l=20)", "SIN2(k0=0.001, k1=0.006, l=20)"]


def _writer(url, worker, n, barrier):
    db = Database(url)
    barrier.wait()
    for i in range(n):
        policy = POLICIES[(worker + i) % len(POLICIES)]
        rid = db.start_run(TASK, policy, seed=worker * 1000 + i)
        db.finish_run(rid, {"status": "complete", "curves": {"lr": [0.001] * 200, "loss": [1.0] * 200},
                            "evals": {"iteration": [100, 200], "top1": [0.5, 0.6]},
                            "summary": {"highest_top1": 0.6, "final_top1": 0.6, "iterations": 200}})
    db.close()


def test_eight_processes_write_800_complete_runs(db_url):
    Database(db_url).close()  # the schema exists before the writers start (they also init: harmless)
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(8)
    procs = [ctx.Process(target=_writer, args=(db_url, w, 100, barrier)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0] * 8
    db = Database(db_url)
    df = db.runs()
    assert len(df) == 800 == db.count(status="complete") and set(df["status"]) == {"complete"}
    assert sorted(df["seed"]) == sorted(w * 1000 + i for w in range(8) for i in range(100))
    assert len(db.tasks()) == 1 and df["policy"].nunique() == len(POLICIES)
    assert db.get_run(int(df["id"].iloc[-1]))["curves"]["lr"] == [0.001] * 200


def _doomed_writer(url, started):
    db = Database(url)
    db.start_run(TASK, "FIX(k=0.01)", seed=7)
    started.set()
    while True:  # writes finished runs until killed, some in the middle of their transaction
        rid = db.start_run(TASK, "FIX(k=0.001)", seed=1)
        db.finish_run(rid, {"status": "complete", "curves": {"lr": [0.001] * 5000, "loss": [1.0] * 5000},
                            "summary": {"highest_top1": 0.5}})


def test_a_writer_killed_mid_run_leaves_a_readable_database(db_url):
    Database(db_url).close()
    ctx = mp.get_context("fork")
    started = ctx.Event()
    p = ctx.Process(target=_doomed_writer, args=(db_url, started))
    p.start()
    assert started.wait(60)
    time.sleep(0.5)
    os.kill(p.pid, signal.SIGKILL)
    p.join(30)
    db = Database(db_url)
    df = db.runs()
    unfinished = df[df["status"] == "running"]
    assert 7 in unfinished["seed"].tolist()  # the run it had started stays there, marked unfinished
    assert set(df["status"]) <= {"running", "complete"}
    assert (df[df["status"] == "complete"]["highest_top1"] == 0.5).all()
    if db_url.startswith("sqlite"):
        path = db_url.split("sqlite:///", 1)[1]
        with sqlite3.connect(path) as c:
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.add_result(TASK, "FIX(k=0.1)", {"highest_top1": 0.1})  # and writable
    assert db.close_unfinished() == len(unfinished)
