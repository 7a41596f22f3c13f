"""Text/JSON spec parsing: canonical forms and clear errors."""

import pytest

from lrkit.policies import NSTEP, SINEXP, PolicyError, parse


def test_issue_example_and_canonical_form():
    p = parse("SINEXP(k0=1e-4, k1=0.9, gamma=0.99994, l=2000)")
    assert p == SINEXP(k0=0.0001, k1=0.9, gamma=0.99994, l=2000)
    assert str(p) == "SINEXP(k0=0.0001, k1=0.9, gamma=0.99994, l=2000)"
    assert p.to_dict() == {"name": "SINEXP", "k0": 0.0001, "k1": 0.9, "gamma": 0.99994, "l": 2000}


def test_case_insensitive_names_positional_args_and_whitespace():
    assert parse("  nstep( 0.1, 0.1, [32000,48000] ) ") == NSTEP(k=0.1, gamma=0.1, l=(32000, 48000))
    assert parse("warmuplr(warmup_max_lr=1e-3)").name == "WarmupLR"


def test_integral_floats_of_iterations_become_ints():
    p = parse("TRI(k0=0.1, k1=0.2, l=2000.0)")
    assert p.l == 2000 and isinstance(p.l, int) and str(p) == "TRI(k0=0.1, k1=0.2, l=2000)"
    assert parse("TRI(k0=0.1, k1=0.2, l=2.5)").l == 2.5


@pytest.mark.parametrize(
    "spec,match",
    [
        ("SINE2(k0=0.1, k1=0.2, l=10)", r"unknown policy 'SINE2'; did you mean 'SIN2'\?"),
        ("FOO(k=1)", r"unknown policy 'FOO'.*Known policies: .*FIX"),
        ("STEP(k=0.1, gamma=0.1)", r"STEP: missing parameter 'l'"),
        ("STEP(k=0.1, gamma=0.1, l=10, lr=3)", r"STEP: unknown parameter 'lr'.*Allowed: k, gamma, l"),
        ("STEP(k=0.1, gama=0.1, l=10)", r"unknown parameter 'gama'; did you mean 'gamma'\?"),
        ("STEP(k=0.1, gamma=0.1, l=0)", r"STEP: parameter 'l' must be a finite number > 0"),
        ("TRI(k0=0.1, k1=0.2, l=-3)", r"TRI: parameter 'l' must be a finite number > 0"),
        ("EXP(k=0.1, gamma=0)", r"EXP: parameter 'gamma' must be a finite number > 0, got 0"),
        ("EXP(k=0.1, gamma=-0.5)", r"EXP: parameter 'gamma' must be"),
        ("FIX(k=-0.01)", r"FIX: parameter 'k' must be a finite number >= 0, got -0.01"),
        ("TRI(k0=-1, k1=0.2, l=3)", r"TRI: parameter 'k0' must be a finite number >= 0"),
        ("FIX(k='a')", r"FIX: parameter 'k' must be a finite number"),
        ("FIX(k=True)", r"FIX: parameter 'k' must be a finite number"),
        ("NSTEP(k=0.1, gamma=0.1, l=[48000, 32000])", r"NSTEP: parameter 'l' must be strictly increasing"),
        ("NSTEP(k=0.1, gamma=0.1, l=[100, 100])", r"strictly increasing"),
        ("NSTEP(k=0.1, gamma=0.1, l=[])", r"NSTEP: parameter 'l' must be a non-empty list"),
        ("NSTEP(k=0.1, gamma=0.1, l=5)", r"NSTEP: parameter 'l' must be a non-empty list"),
        ("POLY(k=0.1, p=0, max_iter=10)", r"POLY: parameter 'p' must be a finite number > 0"),
        ("FIX(k=0.1, k=0.2)", r"given twice|keyword argument repeated"),
        ("FIX(0.1, 0.2)", r"FIX: takes at most 1 parameters"),
        ("FIX(k=0.1", r"could not parse policy spec"),
        ("", r"empty policy spec"),
        ("FIX(k=1e999)", r"must be a finite number"),
        ("FIX(k=a)", r"unsupported value 'a'"),
        ("os.system('x')", r"expected a policy name"),
        ('{"k": 1}', r"needs a 'name' key"),
        ('{"name": "FIX", "k": }', r"could not parse JSON"),
        ("WSD(lr=1e-3, total=100, decay=10, shape='exp')", r"WSD: parameter 'shape' must be one of 'linear', 'cosine', 'sqrt'"),
    ],
)
def test_errors_name_policy_parameter_and_rule(spec, match):
    with pytest.raises(PolicyError, match=match):
        parse(spec)


def test_policy_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse("FIX(k=-1)")


def test_parse_returns_policies_unchanged_and_rejects_other_types():
    p = parse("FIX(k=0.1)")
    assert parse(p) is p
    with pytest.raises(PolicyError, match="must be a string, a dict or a policy"):
        parse(3.0)
