"""Multi-policy composition for tuning (004 §4.1 Algorithm 1, §5.2 Tables 7–9)."""

import json
from pathlib import Path

import numpy as np
import pytest

from lrkit.policies import MULTI, SINEXP, TRI, TRI2, ChangeLROnPlateau, epochs_to_iterations, parse
from lrkit.tune import Trial
from lrkit.tune.compose import compose_multi, composition_trials, heterogeneous, homogeneous, plateau_compositions

PUBLISHED = Path(__file__).resolve().parents[2] / "lrkit" / "db" / "published"


def published_composite(table: str) -> str:
    rows = json.loads((PUBLISHED / f"004_{table}.json").read_text())["rows"]
    (row,) = [r for r in rows if r["category"] == "composite"]
    return row["policy"]


# ---- Table 7 / 8 / 9 composites ---------------------------------------------------------------


def test_homogeneous_reproduces_table_7_composite_exactly():
    got = homogeneous("TRI(k0=0.001, k1=0.005, l=2000)", [0, 60000, 65000], decay=0.1, l_factors=[1, 0.5, 0.25],
                      families=["TRI", "tri2", "TRI2"])
    want = ("MULTI({0: TRI(k0=0.001, k1=0.005, l=2000), 60000: TRI2(k0=0.0001, k1=0.0005, l=1000), "
            "65000: TRI2(k0=1e-05, k1=5e-05, l=500)})")
    assert got == want == published_composite("table07") == published_composite("table08")
    # the same, written stage by stage
    assert heterogeneous(["TRI(k0=0.001, k1=0.005, l=2000)", "TRI2(k0=0.0001, k1=0.0005, l=1000)",
                          "TRI2(k0=1e-05, k1=5e-05, l=500)"], [0, 60000, 65000]) == want


def test_homogeneous_default_keeps_the_function_and_l():
    got = homogeneous("SIN2(k0=0.01, k1=0.06, l=2000)", [0, 1000, 2000])
    assert got == ("MULTI({0: SIN2(k0=0.01, k1=0.06, l=2000), 1000: SIN2(k0=0.001, k1=0.006, l=2000), "
                   "2000: SIN2(k0=0.0001, k1=0.0006, l=2000)})")
    # γ and NSTEP milestones: γ kept, milestones are time parameters (scaled by l_factors only)
    assert homogeneous("NSTEP(k=0.1, gamma=0.5, l=[100, 200])", [0, 300], decay=0.2, l_factors=[1, 0.5]) == (
        "MULTI({0: NSTEP(k=0.1, gamma=0.5, l=[100, 200]), 300: NSTEP(k=0.02, gamma=0.5, l=[50, 100])})")
    # one stage is a one-stage MULTI
    assert homogeneous("FIX(k=0.1)", [0]) == "MULTI({0: FIX(k=0.1)})"


def test_heterogeneous_reproduces_table_9_composite_exactly():
    ipe = 5005  # ImageNet iterations per epoch at batch 256 (the JSON's assumption)
    starts = [epochs_to_iterations(e, ipe) for e in (0, 5, 35, 50)]
    got = heterogeneous(["FIX(k=0.1)", f"SINEXP(k0=0.1, k1=0.6, l={15 * ipe}, gamma=0.999987)", "FIX(k=0.01)",
                         "FIX(k=0.001)"], starts)
    assert got == published_composite("table09") == (
        "MULTI({0: FIX(k=0.1), 25025: SINEXP(k0=0.1, k1=0.6, gamma=0.999987, l=75075), 175175: FIX(k=0.01), "
        "250250: FIX(k=0.001)})")


# ---- compose_multi ---------------------------------------------------------------------------------


def test_compose_multi_is_the_cartesian_product_in_stable_order():
    specs = compose_multi([["FIX(k=0.1)", "TRI(k0=0.05, k1=0.2, l=100)"],
                           ["FIX(k=0.01)", "SINEXP(k0=0.01, k1=0.05, gamma=0.999, l=50)", "fix(k=1e-2)"],
                           "FIX(k=0.001)"],  # a bare spec is a one-candidate stage
                          [0, 1000, 1500])
    assert len(specs) == 2 * 2 * 1  # "fix(k=1e-2)" is "FIX(k=0.01)" again: de-duplicated
    assert specs[0] == "MULTI({0: FIX(k=0.1), 1000: FIX(k=0.01), 1500: FIX(k=0.001)})"
    assert specs[1] == "MULTI({0: FIX(k=0.1), 1000: SINEXP(k0=0.01, k1=0.05, gamma=0.999, l=50), 1500: FIX(k=0.001)})"
    assert specs[2].startswith("MULTI({0: TRI(k0=0.05, k1=0.2, l=100), 1000: FIX(k=0.01)")
    assert all(str(parse(s)) == s for s in specs)
    grid = compose_multi([[f"FIX(k={k})" for k in (0.1, 0.2, 0.3)], ["FIX(k=0.01)", "FIX(k=0.02)"],
                          ["FIX(k=0.001)", "FIX(k=0.002)"]], [0, 10, 20])
    assert len(grid) == len(set(grid)) == 12


def test_composed_multi_uses_stage_local_time_at_the_boundaries():
    tri, sinexp = TRI(k0=0.01, k1=0.05, l=100), SINEXP(k0=0.001, k1=0.005, gamma=0.99, l=40)
    (spec,) = compose_multi([[str(tri)], [str(sinexp)], ["FIX(k=0.0001)"]], [0, 250, 400])
    p = parse(spec)
    assert isinstance(p, MULTI)
    assert p(0) == tri(0) == 0.01 and p(100) == tri(100) == 0.05 and p(249) == tri(249)
    assert p(250) == sinexp(0) == 0.001  # stage 2 at global 250 sees local t = 0, not tri's or sinexp's t = 250
    assert p(290) == sinexp(40) and p(399) == sinexp(149)
    assert p(400) == 0.0001 and p(10**6) == 0.0001
    t = np.arange(600)
    want = np.where(t < 250, tri(t), np.where(t < 400, sinexp(np.maximum(t - 250, 0)), 0.0001))
    np.testing.assert_array_equal(p(t), want)
    # TRI2 in a later stage halves its amplitude counting from the stage start
    q = parse(homogeneous("TRI(k0=0.001, k1=0.005, l=2000)", [0, 60000, 65000], l_factors=[1, 0.5, 0.25],
                          families=["TRI", "TRI2", "TRI2"]))
    assert q(60000) == pytest.approx(0.0001) and q(61000) == pytest.approx(0.0005)
    assert q(62000) == pytest.approx(0.0001) and q(63000) == pytest.approx(0.0003)  # halved after one cycle
    assert q(65000) == pytest.approx(1e-05) and q(65500) == pytest.approx(5e-05)
    assert q(60000) == TRI2(k0=0.0001, k1=0.0005, l=1000)(0)


# ---- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("boundaries,match", [
    ([10, 100, 200], "the first stage starts at 0"),
    ([0, 100, 100], "100 after 100"),
    ([0, 200, 100], "100 after 200"),
    ([0, 100], r"one per stage \(3 stages\), got 2 boundaries"),
    ([0, 100, 200, 300], "got 4 boundaries"),
    ([0, 1.5, 3], "list of ints >= 0"),
    ([0, -5, 3], "list of ints >= 0"),
    ([0, True, 3], "list of ints >= 0"),
    (100, "list of ints >= 0"),
])
def test_bad_boundaries(boundaries, match):
    with pytest.raises(ValueError, match=rf"field 'boundaries' must be .*{match}"):
        compose_multi([["FIX(k=0.1)"], ["FIX(k=0.01)"], ["FIX(k=0.001)"]], boundaries)


@pytest.mark.parametrize("call,match", [
    (lambda: compose_multi([["FIX(k=0.1)"], ["FIX(q=0.01)"]], [0, 10]), r"'stage_candidates'\[1\]\[0\]: FIX: unknown parameter 'q'"),
    (lambda: compose_multi([["FIX(k=0.1)"], ["NOPE(k=1)"]], [0, 10]), r"'stage_candidates'\[1\]\[0\]: unknown policy"),
    (lambda: compose_multi([["FIX(k=0.1)"], []], [0, 10]), r"'stage_candidates'\[1\] must be a non-empty list"),
    (lambda: compose_multi([], [0]), "'stage_candidates' must be a non-empty list"),
    (lambda: compose_multi([["FIX(k=0.1)"], ["ReduceLROnPlateau(k=0.1)"]], [0, 10]), "state-based and cannot be a MULTI stage"),
    (lambda: compose_multi([[f"FIX(k={i})" for i in range(1, 200)]] * 2, [0, 10]), "39601 combinations"),
    (lambda: heterogeneous(["FIX(k=0.1)", "FIX(k=-1)"], [0, 10]), r"'stages'\[1\]: FIX: parameter 'k' must be a finite number >= 0"),
    (lambda: heterogeneous("FIX(k=0.1)", [0]), "'stages' must be a non-empty list"),
    (lambda: homogeneous("TRI(k0=0.001, k1=0.005, l=2000)", [0, 10], families=["TRI", "TRIEXP"]),
     r"'families'\[1\]: TRIEXP cannot take TRI's parameters .*missing parameter 'gamma'"),
    (lambda: homogeneous("TRI(k0=0.001, k1=0.005, l=2000)", [0, 10], families=["TRI"]), "'families' must be a list of 2"),
    (lambda: homogeneous("TRI(k0=0.001, k1=0.005, l=2000)", [0, 10], families=["TRI", "TRX"]), r"'families'\[1\]: unknown policy"),
    (lambda: homogeneous("TRI(k0=0.001, k1=0.005, l=2000)", [0, 10], l_factors=[1, 0]), "'l_factors' must be a list of 2 finite numbers > 0"),
    (lambda: homogeneous("TRI(k0=0.001, k1=0.005, l=2000)", [0, 10], decay=0), "'decay' must be a finite number > 0"),
    (lambda: homogeneous("0.1*FIX(k=0.1)", [0, 10]), "'family_spec' must be one LR function"),
    (lambda: homogeneous("FIX(k=0.1)", [5, 10]), "'boundaries'"),
])
def test_errors_name_the_field(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---- Change-LR-On-Plateau ---------------------------------------------------------------------------

LEVELS = ["FIX(k=0.001)", "FIX(k=0.005)", "SINEXP(k0=5e-05, k1=0.0006, gamma=0.9999, l=200)", "FIX(k=1e-05)"]


def test_plateau_compositions_sort_descending_and_round_trip():
    specs = plateau_compositions(LEVELS, patience=[5, 10], threshold=(0.05, 0.01), iters=1000)
    assert len(specs) == 4
    for s in specs:
        p = parse(s)
        assert isinstance(p, ChangeLROnPlateau) and str(p) == s and parse(p.to_dict()) == p
        assert p.switch_at == 500 and p.start == 0 and p.monitor == "loss" and p.mode == "min"
        assert [str(q) for q in p.policies] == ["FIX(k=0.005)", "FIX(k=0.001)",
                                               "SINEXP(k0=5e-05, k1=0.0006, gamma=0.9999, l=200)", "FIX(k=1e-05)"]
        t = np.arange(1000)
        means = [q(t).mean() for q in p.policies]
        assert means == sorted(means, reverse=True)
    assert [(parse(s).patience, parse(s).threshold) for s in specs] == [(5, 0.05), (5, 0.01), (10, 0.05), (10, 0.01)]
    assert specs[0] == ("ChangeLROnPlateau(policies=[FIX(k=0.005), FIX(k=0.001), "
                        "SINEXP(k0=5e-05, k1=0.0006, gamma=0.9999, l=200), FIX(k=1e-05)], switch_at=500)")


def test_plateau_compositions_settings():
    # NSTEP-new style (Table 7): FIX levels, starting from k = 0.001 in the middle, accuracy monitored
    levels = ["FIX(k=0.005)", "FIX(k=0.001)", "FIX(k=0.0001)", "FIX(k=8e-07)"]
    (s,) = plateau_compositions(levels, orders="pointwise", start=1, switch_at=60000, patience=10, threshold=0.001,
                                monitor="test_top1")
    p = parse(s)
    assert p.start == 1 and p(0) == 0.001 and p.mode == "max" and p.monitor == "test_top1" and p.switch_at == 60000
    assert len(plateau_compositions(levels, orders="given", switch_at=[100, 200], start=[0, 1], patience=[3, 3])) == 4


@pytest.mark.parametrize("kw,match", [
    (dict(candidates=["FIX(k=0.001)", "FIX(k=0.005)"], orders="given", iters=100),
     r"descending order .* by mean LR .*candidate 1 \(FIX\(k=0.005\)"),
    (dict(candidates=["TRI(k0=0.001, k1=0.01, l=50)", "FIX(k=0.003)"], orders="pointwise", iters=100),
     r"descending order pointwise .* at t=0"),
    (dict(candidates=["FIX(k=0.01)", "FIX(k=0.001)"], orders="sorted", iters=100), "'orders' must be one of"),
    (dict(candidates=["FIX(k=0.01)"], iters=100), "at least 2 distinct"),
    (dict(candidates=["FIX(k=0.01)", "fix(k=0.01)"], iters=100), r"'candidates'\[1\]: FIX\(k=0.01\) is given twice"),
    (dict(candidates=["FIX(k=0.01)", "ReduceLROnPlateau(k=0.1)"], iters=100), r"'candidates'\[1\]: ReduceLROnPlateau is state-based"),
    (dict(candidates=["FIX(k=0.01)", "FIX(k=0.001)"]), "'switch_at' is needed"),
    (dict(candidates=["FIX(k=0.01)", "FIX(k=0.001)"], iters=100, start=2), "parameter 'start' must be an index in 0..1"),
    (dict(candidates=["FIX(k=0.01)", "FIX(k=0.001)"], iters=100, monitor="acc"), "parameter 'monitor' must be one of"),
    (dict(candidates=["FIX(k=0.01)", "FIX(k=0.001)"], iters=0), "'iters' must be an int >= 1"),
])
def test_plateau_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        plateau_compositions(kw.pop("candidates"), **kw)


# ---- trials ------------------------------------------------------------------------------------------


def test_composition_trials():
    multis = compose_multi([["FIX(k=0.1)", "FIX(k=0.05)"], ["FIX(k=0.01)"]], [0, 50])
    trials = composition_trials(multis + ["MULTI({0: fix(k=0.1), 50: FIX(k=1e-2)})"], lams=[0.5, 1], seeds=[0, 1])
    assert len(trials) == 2 * 2 * 2 and all(isinstance(t, Trial) for t in trials)
    assert [t.seed for t in trials[:4]] == [0, 1, 0, 1] and trials[0].lam == 0.5
    for t in trials:
        p = parse(t.spec)
        assert str(p) == t.spec and (isinstance(p, MULTI) if t.lam == 1 else p.lam == 0.5)
    plateau = plateau_compositions(["FIX(k=0.01)", "FIX(k=0.001)"], iters=10, patience=[2, 3])
    pt = composition_trials(plateau)
    assert [parse(t.spec) for t in pt] == [parse(s) for s in plateau] and all(t.lam is None for t in pt)
    with pytest.raises(ValueError, match="'lams' must be None"):
        composition_trials(plateau, lams=[0.5])
    with pytest.raises(ValueError, match=r"'specs'\[0\]: MULTI: stage 1 policy must be a formula policy .* got the state-based ChangeLROnPlateau"):
        composition_trials([f"MULTI({{0: FIX(k=0.1), 5: {plateau[0]}}})"])
    with pytest.raises(ValueError, match=r"'specs'\[1\]: FIX: missing parameter 'k'"):
        composition_trials(["FIX(k=0.1)", "FIX()"])
    with pytest.raises(ValueError, match="'lams' must be a non-empty list of numbers > 0"):
        composition_trials(["FIX(k=0.1)"], lams=[0])


def test_composed_trials_train_and_are_recorded(tmp_path):
    from lrkit.db import Database
    from lrkit.tune import Search, run_search
    from tests.tiny_data import write_tiny_npz

    data = write_tiny_npz(tmp_path / "tiny.npz", n_train=60, n_test=40)
    specs = [heterogeneous(["FIX(k=0.02)", "TRI(k0=0.001, k1=0.01, l=2)"], [0, 5]),
             *plateau_compositions(["FIX(k=0.001)", "FIX(k=0.02)"], iters=10, patience=1, threshold=0.0)]
    base = dict(dataset=data, model="lenet", iters=10, batch_size=20, eval_every=5, eval_batch_size=40)
    url = f"sqlite:///{tmp_path}/t.db"
    res = run_search(Search(base, composition_trials(specs), name="compose"), "local", db=url, progress=False)
    assert list(res.trials["status"]) == ["complete", "complete"] and list(res.trials["spec"]) == specs
    runs = Database(url).runs(source="tune:compose")
    assert len(runs) == 2 and set(runs["policy"]) == set(specs)
    lr = Database(url).get_run(int(res.trials["run_id"].iloc[0]))["curves"]["lr"]
    assert lr[:5] == [0.02] * 5 and lr[5] == 0.001 and lr[6] == pytest.approx(0.0055)  # stage 2 from its t = 0
