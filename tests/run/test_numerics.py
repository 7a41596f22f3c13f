"""The numerics version: the golden run, and a version change that makes stored runs train again."""

import os

import pytest

from lrkit.numerics import GOLDEN_CONFIG, NUMERICS_VERSION, record_version, stored_golden
from tests.reproduce.helpers import write_recipe

needs_mnist = pytest.mark.skipif(not os.environ.get("LRKIT_DATA_DIR"),
                                 reason="LRKIT_DATA_DIR is not set: the golden run trains on the real MNIST (CI sets it)")


@needs_mnist
def test_the_golden_run_matches_the_curve_stored_for_this_numerics_version():
    from lrkit.run.golden import golden_run

    stored = stored_golden()
    assert NUMERICS_VERSION in stored, (f"no golden curve for numerics version {NUMERICS_VERSION}: "
                                        "run `python -m lrkit.run.golden --write`")
    fresh = golden_run()
    want = stored[NUMERICS_VERSION]["loss"]
    assert len(fresh["loss"]) == len(want) == GOLDEN_CONFIG["iters"]
    worst = max(abs(a - b) for a, b in zip(fresh["loss"], want))
    # one thread, fixed seed: the same machine gives the same bits; other CPUs differ in the last bits of
    # their sums, far below what a change of initialisation, data order or optimizer math moves the curve
    assert worst < 2e-3, (f"the golden loss curve moved by {worst:.3g}: the numbers changed, so bump "
                          "lrkit.numerics.NUMERICS_VERSION and store its curve (python -m lrkit.run.golden --write)")


def test_a_record_without_a_version_is_of_the_first():
    assert record_version({"environment": {}}) == 1
    assert record_version({"environment": {"numerics_version": 3}}) == 3


@needs_mnist
def test_a_new_numerics_version_makes_resume_train_again_unless_asked(tmp_path, monkeypatch):
    import dataclasses

    import lrkit.numerics
    import lrkit.run.store
    import lrkit.train
    from lrkit.reproduce import reproduce
    from lrkit.train.data import load_dataset

    ds = load_dataset("mnist")
    ds = dataclasses.replace(ds, x_test=ds.x_test[:100], y_test=ds.y_test[:100])
    write_recipe(tmp_path, '[[rows]]\npolicy = "FIX(k=0.01)"\n')
    monkeypatch.setenv("LRKIT_REPRODUCTIONS_DIR", str(tmp_path))
    monkeypatch.delenv("LRKIT_RUN_CACHE", raising=False)
    first = reproduce("tiny", profile="quick", out=tmp_path / "a", progress=False, data=ds)
    rec = first["results"][0]["records"][0]
    assert rec["environment"]["numerics_version"] == NUMERICS_VERSION and rec["trained_for"] == "tiny/quick"
    assert "commit" in rec["environment"] and rec["environment"]["source_hash"]

    real_train, trained = lrkit.train.train, []
    monkeypatch.setattr(lrkit.train, "train", lambda cfg, *a, **k: trained.append(cfg.policy) or real_train(cfg, *a, **k))
    reproduce("tiny", profile="quick", out=tmp_path / "a", progress=False, data=ds, resume=True)
    assert trained == []  # same version: reused
    for module in (lrkit.numerics, lrkit.run.store):
        monkeypatch.setattr(module, "NUMERICS_VERSION", NUMERICS_VERSION + 1)
    marked = reproduce("tiny", profile="quick", out=tmp_path / "b", progress=False, data=ds, reuse=[tmp_path / "a"],
                       other_numerics=True)
    assert trained == [] and marked["table"][0]["other_numerics"]
    assert "† reused runs of another numerics version" in (tmp_path / "b" / "table.md").read_text()
    again = reproduce("tiny", profile="quick", out=tmp_path / "a", progress=False, data=ds, resume=True)
    assert trained == ["FIX(k=0.01)"]  # the stored run is of the old version: trained again
    assert again["results"][0]["records"][0]["stale_numerics"] == [NUMERICS_VERSION]
