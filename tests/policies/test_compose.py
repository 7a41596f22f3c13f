"""MULTI stages and the λ coefficient."""

import numpy as np
import pytest

from lrkit.policies import FIX, MULTI, SCALE, SINEXP, TRI, PolicyError, parse

TABLE_I_MULTI = (
    "MULTI({0: TRI(k0=0.1, k1=0.5, l=1500), 30000: TRI(k0=0.01, k1=0.05, l=1000), "
    "60000: TRI(k0=0.001, k1=0.005, l=500)})"
)


def test_table_i_composite_uses_local_time():
    p = parse(TABLE_I_MULTI)
    a, b, c = TRI(k0=0.1, k1=0.5, l=1500), TRI(k0=0.01, k1=0.05, l=1000), TRI(k0=0.001, k1=0.005, l=500)
    t = np.arange(0, 64000)
    want = np.where(t < 30000, a(t), np.where(t < 60000, b(np.maximum(t - 30000, 0)), c(np.maximum(t - 60000, 0))))
    np.testing.assert_array_equal(p(t), want)
    assert p(29999) == a(29999) and p(30000) == 0.01 and p(31000) == 0.05 and p(60000) == 0.001 and p(60500) == 0.005


def test_heterogeneous_and_nested_stages():
    inner = MULTI(stages=[(0, FIX(k=0.001)), (10, FIX(k=0.0001))])
    s = SINEXP(k0=0.01, k1=0.1, gamma=0.999, l=100)
    p = MULTI(stages={0: FIX(k=0.1), 500: s, 2000: inner})
    assert p(499) == 0.1
    assert p(500) == s(0) and p(650) == s(150)
    assert p(2009) == 0.001 and p(2010) == 0.0001 and p(10**6) == 0.0001
    assert parse(str(p)) == p


def test_stages_accept_specs_and_pairs():
    p = MULTI(stages=[(0, "FIX(k=0.1)"), (100, {"name": "FIX", "k": 0.01})])
    assert p(99) == 0.1 and p(100) == 0.01


@pytest.mark.parametrize(
    "spec,match",
    [
        ("MULTI({0: FIX(k=0.1), 300: FIX(k=0.2), 200: FIX(k=0.3)})", "out of order"),
        ("MULTI({10: FIX(k=0.1)})", "first stage must start at iteration 0"),
        ("MULTI({})", "at least one"),
        ("MULTI({0: FIX(k=0.1), -5: FIX(k=0.1)})", "start must be an iteration number >= 0"),
        ("MULTI({0: FIX(k=0.1), 0: FIX(k=0.2)})", "given twice"),
        ("MULTI({0: 0.1})", "policy must be a policy"),
    ],
)
def test_bad_stages(spec, match):
    with pytest.raises(PolicyError, match=match):
        parse(spec)


def test_lambda_coefficient():
    base = parse("TRIEXP(k0=0.0001, k1=0.9, gamma=0.99994, l=2000)")
    for text in ("0.1*TRIEXP(k0=0.0001, k1=0.9, gamma=0.99994, l=2000)", "TRIEXP(k0=0.0001, k1=0.9, gamma=0.99994, l=2000)*0.1",
                 "SCALE(lam=0.1, policy=TRIEXP(k0=0.0001, k1=0.9, gamma=0.99994, l=2000))"):
        p = parse(text)
        assert isinstance(p, SCALE) and p.lam == 0.1 and p.policy == base
        assert p(2000) == pytest.approx(0.1 * base(2000), rel=1e-15)
        assert str(p) == "0.1*TRIEXP(k0=0.0001, k1=0.9, gamma=0.99994, l=2000)"
    assert 0.1 * base == parse("0.1*" + str(base)) == base * 0.1
    nested = 0.5 * (0.1 * base)
    assert str(nested) == "0.5*(0.1*TRIEXP(k0=0.0001, k1=0.9, gamma=0.99994, l=2000))"
    assert parse(str(nested)) == nested
    # λ composes with stages
    m = 2 * parse(TABLE_I_MULTI)
    assert m(30000) == pytest.approx(0.02)


@pytest.mark.parametrize("text,match", [("-0.1*FIX(k=0.1)", "lam"), ("0*FIX(k=0.1)", "lam"),
                                        ("FIX(k=0.1)*FIX(k=0.2)", "number"), ("'a'*FIX(k=0.1)", "number")])
def test_bad_lambda(text, match):
    with pytest.raises(PolicyError, match=match):
        parse(text)


@pytest.mark.parametrize("text,where", [
    ("MULTI({0: FIX(k=0.1), 50: ReduceLROnPlateau(k=0.1)})", "MULTI: stage 1 policy"),
    ("MULTI({0: FIX(k=0.1), 50: 0.5*ChangeLROnPlateau(policies=[FIX(k=0.1), FIX(k=0.01)])})", "SCALE: parameter 'policy'"),
    ("0.5*ReduceLROnPlateau(k=0.1)", "SCALE: parameter 'policy'"),
    ("SHIFT(offset=10, policy=ReduceLROnPlateau(k=0.1))", "SHIFT: parameter 'policy'"),
    ("ChangeLROnPlateau(policies=[FIX(k=0.1), ReduceLROnPlateau(k=0.01)])", r"ChangeLROnPlateau: policies\[1\]"),
])
def test_a_state_based_policy_cannot_hide_inside_a_composite(text, where):
    # a composite only evaluates what it holds and never hands metrics on: a nested plateau policy
    # would keep its starting LR without a word, so it is refused, naming the field and what is allowed
    with pytest.raises(PolicyError, match=where + r" must be a formula policy \(fixed, decaying, cyclic, composite, llm\), "
                       r"got the state-based \w+: \w+ does not pass training metrics on"):
        parse(text)


def test_state_based_policies_stay_usable_as_the_whole_spec():
    from lrkit.policies import ReduceLROnPlateau

    p = parse("ReduceLROnPlateau(k=0.1, patience=1, factor=0.5)")
    assert isinstance(p, ReduceLROnPlateau) and p(0) == 0.1
    p.observe(0, {"loss": 1.0})
    p.observe(1, {"loss": 1.0})
    assert p(2) == 0.05
    assert parse("MULTI({0: FIX(k=0.1), 5: 0.5*SHIFT(offset=5, policy=FIX(k=0.2))})")(7) == pytest.approx(0.1)
