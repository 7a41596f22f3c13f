"""Behaviour every registered policy shares: specs round-trip, back ends agree, time units convert."""

import json
import math

import numpy as np
import pytest
import torch

from lrkit.policies import REGISTRY, MetricPolicy, Policy, PolicyError, from_epochs, parse

from .examples import EXAMPLES

T = np.array([0, 1, 2, 37, 99, 100, 499, 500, 1000, 1999, 2000, 2001, 4000, 30000, 32000, 60250, 64000, 100000])


def test_every_policy_has_an_example():
    covered = {type(parse(s)).name for s in EXAMPLES}
    assert covered == {cls.name for cls in REGISTRY.values()}


@pytest.mark.parametrize("spec", EXAMPLES)
def test_text_spec_round_trips(spec):
    p = parse(spec)
    assert isinstance(p, Policy)
    assert str(p) == spec  # the examples are written canonically
    assert parse(str(p)) == p
    assert hash(parse(str(p))) == hash(p)


@pytest.mark.parametrize("spec", EXAMPLES)
def test_json_spec_round_trips(spec):
    p = parse(spec)
    d = json.loads(json.dumps(p.to_dict()))
    assert parse(d) == p
    assert parse(json.dumps(d)) == p


@pytest.mark.parametrize("spec", EXAMPLES)
def test_scalar_numpy_and_torch_agree(spec):
    p = parse(spec)
    arr = p(T)
    assert arr.dtype == np.float64 and arr.shape == T.shape
    scal = np.array([p(int(t)) for t in T])
    assert all(isinstance(p(int(t)), float) for t in T[:3])
    # numpy's vectorised pow/sin may differ from its scalar loop in the last ulp
    np.testing.assert_allclose(arr, scal, rtol=1e-15, atol=0)
    ten = p(torch.tensor(T))
    assert ten.dtype == torch.float64
    np.testing.assert_allclose(ten.numpy(), arr, rtol=1e-12, atol=1e-300)
    lst = p(T.tolist())
    np.testing.assert_allclose(lst, arr, rtol=1e-15, atol=0)
    assert np.all(np.isfinite(arr)) and np.all(arr >= 0)


@pytest.mark.parametrize("spec", EXAMPLES)
def test_float_iterations_are_accepted(spec):
    p = parse(spec)
    assert p(10.0) == p(10)


# Step-count schedules whose formulas have discrete offsets (DeepSpeed's log(t + 1) warm-up, the
# ⌈ratio·total⌉ warm-up length) convert their durations but cannot be exactly time-invariant.
DISCRETE = [s for s in EXAMPLES if "warmup_ratio" in s or (s.startswith("Warmup") and "'linear'" not in s)]


@pytest.mark.parametrize("spec", [s for s in EXAMPLES if s not in DISCRETE])
def test_time_rescaling(spec):
    """from_epochs(p, n)(e·n) == p(e): a policy written in epochs, converted to iterations."""
    p = parse(spec)
    n = 7
    q = from_epochs(p, n)
    e = T[T < 20000]
    np.testing.assert_allclose(q(e * n), p(e), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("spec", DISCRETE)
def test_time_rescaling_of_step_count_schedules_scales_their_durations(spec):
    p = parse(spec)
    q = from_epochs(p, 7)
    for name, v in p.params().items():
        kind = type(p).__dataclass_fields__[name].metadata.get("time")
        if kind == "time" and v is not None:
            assert getattr(q, name) == 7 * v
        elif kind is None:
            assert getattr(q, name) == v


def test_from_epochs_table9_style_composite():
    """Stages given in epochs land on the right iterations (e.g. ImageNet, 5005 iterations/epoch)."""
    p = from_epochs("MULTI({0: FIX(k=0.1), 30: STEP(k=0.01, gamma=0.1, l=10)})", 5005)
    assert str(p) == "MULTI({0: FIX(k=0.1), 150150: STEP(k=0.01, gamma=0.1, l=50050)})"
    assert p(150149) == 0.1 and p(150150) == 0.01 and math.isclose(p(150150 + 50050), 0.001)


@pytest.mark.parametrize("spec", EXAMPLES)
def test_negative_iteration_is_rejected(spec):
    with pytest.raises(ValueError, match="t must be >= 0"):
        parse(spec)(-1)


@pytest.mark.parametrize("spec", EXAMPLES)
def test_lambda_scales_every_policy(spec):
    p = parse(spec)
    if isinstance(p, MetricPolicy):  # λ·p would never hand p its metrics: refused (tests/policies/test_compose.py)
        with pytest.raises(PolicyError, match="state-based"):
            0.25 * p
        return
    q = 0.25 * p
    np.testing.assert_allclose(q(T), 0.25 * p(T), rtol=1e-15)
    assert str(q).startswith("0.25*")


def test_policies_are_immutable():
    p = parse("FIX(k=0.1)")
    with pytest.raises(AttributeError):
        p.k = 0.2
    q = p.replace(k=0.2)
    assert q(0) == 0.2 and p(0) == 0.1


def test_equal_values_equal_policies():
    assert parse("STEP(k=0.1, gamma=0.5, l=100)") == parse("step(0.1, 0.5, 100)")
    assert parse("STEP(k=0.1, gamma=0.5, l=100)") != parse("STEP(k=0.1, gamma=0.5, l=101)")
    assert parse("FIX(k=0.1)") != parse("CONSTANT(lr=0.1)")


def test_empty_and_zero_dim_inputs():
    p = parse("TRI(k0=0.1, k1=0.2, l=10)")
    assert p(np.array([], dtype=np.int64)).shape == (0,)
    assert isinstance(p(np.int64(5)), float)
    assert math.isclose(p(np.array(5)), 0.15)
