"""Policies compiled to device programs: the reference interpreter gives exactly the policy's η(t)."""

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrkit.optim import OPCODES, ProgramError, compile_policy, run_program
from lrkit.policies import MetricPolicy, Policy, parse
from lrkit.policies.base import lr_param
from tests.policies.examples import EXAMPLES

COMPILABLE = [s for s in EXAMPLES if not isinstance(parse(s), MetricPolicy)]


@pytest.mark.parametrize("spec", COMPILABLE)
def test_program_equals_the_policy(spec):
    pol = parse(spec)
    prog = compile_policy(pol)
    t = np.concatenate([np.arange(0, 5000.0), np.arange(5000.0, 200000.0, 37.0)])
    np.testing.assert_array_equal(run_program(prog, t), pol(t))  # same float64 ops in the same order
    assert run_program(prog, 1234) == pol(1234)
    code, consts = prog.arrays()
    assert code.dtype == np.int32 and code.shape == (len(prog.code), 4) and consts.dtype == np.float64
    assert ((0 <= code[:, 0]) & (code[:, 0] < len(OPCODES))).all() and (code[:, 1:] < prog.n_registers).all()
    assert 0 <= prog.out < prog.n_registers


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(COMPILABLE), st.integers(min_value=0, max_value=10**9))
def test_program_equals_the_policy_at_any_step(spec, t):
    pol = parse(spec)  # numpy's scalar and array pow may differ in the last bit: a few ulps
    assert run_program(compile_policy(pol), t) == pytest.approx(pol(t), rel=1e-15, abs=0)


@dataclass(frozen=True, repr=False)
class Twice(Policy):
    name = "Twice"
    k: float = lr_param("LR")

    def _lr(self, t, xp):
        return self.k * (xp.sin(t / 2.0) + xp.sin(t / 2.0))


def test_constants_are_folded_and_repeats_shared():
    assert compile_policy("FIX(k=0.01)").code == () and compile_policy("0.5*(2*FIX(k=0.01))").consts == (0.01,)
    twice = compile_policy(Twice(k=0.1))
    assert [OPCODES[c[0]] for c in twice.code] == ["DIV", "SIN", "ADD", "MUL"]  # sin(t/2) computed once
    assert run_program(twice, 3.0) == Twice(k=0.1)(3.0)
    assert compile_policy("STEP(k=0.1, gamma=0.1, l=500)").source == "STEP(k=0.1, gamma=0.1, l=500)"


def test_specs_and_dicts_compile_too():
    a = compile_policy("SIN2(k0=0.01, k1=0.06, l=2000)")
    b = compile_policy(parse("SIN2(k0=0.01, k1=0.06, l=2000)").to_dict())
    assert a == b


@dataclass(frozen=True, repr=False)
class Branchy(Policy):
    name = "Branchy"
    k: float = lr_param("LR")

    def _lr(self, t, xp):
        return self.k if t < 10 else self.k / 10  # Python control flow on t: not traceable


def test_what_cannot_be_compiled_says_why():
    with pytest.raises(ProgramError, match="branches on t in Python.*xp.where"):
        compile_policy(Branchy(k=0.1))
    with pytest.raises(ProgramError, match="ReduceLROnPlateau is state-based"):
        compile_policy("ReduceLROnPlateau(k=0.01, factor=0.5, patience=3)")
    with pytest.raises(ProgramError, match="expected a policy or a spec"):
        compile_policy(3.0)
    many = "NSTEP(k=0.1, gamma=0.9, l=[" + ", ".join(str(100 * i) for i in range(1, 400)) + "])"
    with pytest.raises(ProgramError, match="registers; the kernels hold 512"):
        compile_policy(many)
