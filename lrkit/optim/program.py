"""A policy as a small program a kernel can run: η(t) on the device, from the step counter alone.

Every formula policy writes η(t) once against the ``xp`` namespace of :mod:`lrkit.policies._array`.
:func:`compile_policy` runs that same formula on a symbolic ``t`` and records each operation, so any
policy built from the library (MULTI stages, λ·policy, SHIFT, warm-up schedules, …) becomes a
straight-line program — no per-family code in the kernels, and a new policy needs no kernel change.

The program is in SSA form over float64 registers::

    r[0]          = t                      (the iteration index, t = 0 is the first step)
    r[1 .. C]     = consts[0 .. C-1]
    r[C+1+i]      = OP_i(r[a_i], r[b_i], r[c_i])      for each instruction i = (op, a, b, c)
    η(t)          = r[out]

``count_le`` becomes a sum of comparisons and ``clip`` a min/max pair, so the kernels implement only
the opcodes of :data:`OPCODES`. :func:`run_program` is the readable reference interpreter (numpy,
float64); the C++ and CUDA kernels in ``csrc/`` implement the same opcodes with the same numpy
semantics (``MOD`` is the floored modulo of ``numpy.mod``; comparisons give 1.0 or 0.0).

State-based policies (Reduce-LR-On-Plateau) decide from metrics on the host; they cannot be compiled
and raise :class:`ProgramError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

OPCODES = ("ADD", "SUB", "MUL", "DIV", "POW", "NEG", "FLOOR", "MOD", "ABS", "SIN", "COS", "EXP", "LOG", "SQRT",
           "MIN", "MAX", "GE", "GT", "WHERE")
OP = {name: i for i, name in enumerate(OPCODES)}
MAX_REGISTERS = 512  # the kernels' register file (1 + consts + instructions)


class ProgramError(TypeError):
    """The policy cannot be turned into a device program (it branches on data or keeps state)."""


@dataclass(frozen=True)
class Program:
    """A compiled policy: ``code`` rows are (opcode, a, b, c) register indices; ``out`` the result register."""

    code: tuple  # tuple of (op, a, b, c)
    consts: tuple  # float64 constants, registers 1..C
    out: int
    source: str = ""

    @property
    def n_registers(self) -> int:
        return 1 + len(self.consts) + len(self.code)

    def arrays(self):
        """``(code int32 [n, 4], consts float64 [C])`` as numpy arrays (what the kernels read)."""
        code = np.asarray(self.code, dtype=np.int32).reshape(-1, 4)
        return code, np.asarray(self.consts, dtype=np.float64)

    def pack(self, capacity: int = MAX_REGISTERS):
        """The fixed-size descriptor the kernels read: ``(meta int32[4], code int32[capacity, 4],
        consts float64[capacity])`` with ``meta = (n_code, n_consts, out, 0)``. Fixed sizes let a live
        edit overwrite the buffers in place (no re-allocation, a captured CUDA graph stays valid)."""
        if len(self.code) > capacity or len(self.consts) > capacity:
            raise ProgramError(f"policy {self.source} needs {len(self.code)} instructions and {len(self.consts)} "
                               f"constants; the descriptor holds {capacity} of each")
        meta = np.array([len(self.code), len(self.consts), self.out, 0], dtype=np.int32)
        code = np.zeros((capacity, 4), dtype=np.int32)
        code[: len(self.code)] = np.asarray(self.code, dtype=np.int32).reshape(-1, 4)
        consts = np.zeros(capacity, dtype=np.float64)
        consts[: len(self.consts)] = self.consts
        return meta, code, consts

    def __call__(self, t):
        return run_program(self, t)


class _Sym:
    """A traced value: register ``reg`` of the program being built."""

    __slots__ = ("tb", "reg")
    __array_priority__ = 1000  # numpy scalars defer to our reflected operators

    def __init__(self, tb: "_Builder", reg: int):
        self.tb, self.reg = tb, reg

    def __bool__(self):
        raise ProgramError("the policy branches on t in Python (if/and/or on a traced value); "
                           "write the branch with xp.where so it can run on the device")

    def __float__(self):
        raise ProgramError("the policy converts t to a Python float; write the formula with xp operations")

    def _bin(op, swap=False):
        def f(self, other):
            return self.tb.emit(op, other, self) if swap else self.tb.emit(op, self, other)
        return f

    __add__, __radd__ = _bin("ADD"), _bin("ADD", True)
    __sub__, __rsub__ = _bin("SUB"), _bin("SUB", True)
    __mul__, __rmul__ = _bin("MUL"), _bin("MUL", True)
    __truediv__, __rtruediv__ = _bin("DIV"), _bin("DIV", True)
    __pow__, __rpow__ = _bin("POW"), _bin("POW", True)
    __mod__ = _bin("MOD")
    __ge__ = _bin("GE")
    __gt__ = _bin("GT")

    def __le__(self, other):  # a <= b  ⇔  b >= a
        return self.tb.emit("GE", other, self)

    def __lt__(self, other):
        return self.tb.emit("GT", other, self)

    def __neg__(self):
        return self.tb.emit("NEG", self)

    def __abs__(self):
        return self.tb.emit("ABS", self)

    __hash__ = None


_FOLD = {
    "ADD": lambda a, b: a + b, "SUB": lambda a, b: a - b, "MUL": lambda a, b: a * b, "DIV": lambda a, b: a / b,
    "POW": lambda a, b: a ** b, "NEG": lambda a: -a, "FLOOR": math.floor, "MOD": lambda a, b: float(np.mod(a, b)),
    "ABS": abs, "SIN": math.sin, "COS": math.cos, "EXP": math.exp, "LOG": math.log, "SQRT": math.sqrt,
    "MIN": min, "MAX": max, "GE": lambda a, b: float(a >= b), "GT": lambda a, b: float(a > b),
    "WHERE": lambda c, a, b: a if c else b,
}


class _Builder:
    """Records operations on the symbolic t; folds constants and shares repeated sub-expressions."""

    def __init__(self):
        self.code: list[tuple] = []  # (op, operands); an operand is ("t",), ("c", value) or ("i", index)
        self.seen: dict[tuple, _Sym] = {}
        self.t = _Sym(self, ("t",))

    def operand(self, x) -> tuple:
        if isinstance(x, _Sym):
            if x.tb is not self:
                raise ProgramError("values from two different traces were mixed")
            return x.reg
        if isinstance(x, (bool, np.bool_, int, float, np.floating, np.integer)):
            return ("c", float(x))
        raise ProgramError(f"cannot use a {type(x).__name__} in a device program")

    def emit(self, op: str, *args):
        if not any(isinstance(a, _Sym) for a in args):
            return _FOLD[op](*[float(a) for a in args])
        ops = tuple(self.operand(a) for a in args)
        key = (op, tuple(("c", repr(o[1])) if o[0] == "c" else o for o in ops))  # repr: -0.0 and nan are keys too
        if key not in self.seen:
            self.code.append((op, ops))
            self.seen[key] = _Sym(self, ("i", len(self.code) - 1))
        return self.seen[key]

    def finish(self, result, source: str) -> Program:
        consts: list[float] = []
        const_reg: dict[str, int] = {}

        def const(v: float) -> int:
            if repr(v) not in const_reg:
                consts.append(v)
                const_reg[repr(v)] = len(consts)
            return const_reg[repr(v)]

        for _, ops in self.code:  # constants in order of first use
            for o in ops:
                if o[0] == "c":
                    const(o[1])
        if not isinstance(result, _Sym):
            const(float(result))
        first = 1 + len(consts)

        def reg(o) -> int:
            return 0 if o[0] == "t" else const_reg[repr(o[1])] if o[0] == "c" else first + o[1]

        code = tuple((OP[op], *[reg(o) for o in ops], *[0] * (3 - len(ops))) for op, ops in self.code)
        out = reg(result.reg) if isinstance(result, _Sym) else const_reg[repr(float(result))]
        prog = Program(code=code, consts=tuple(consts), out=out, source=source)
        if prog.n_registers > MAX_REGISTERS:
            raise ProgramError(f"policy {source} needs {prog.n_registers} registers; the kernels hold {MAX_REGISTERS}")
        return prog


def _sym_unary(op: str):
    return lambda self, x: self.tb.emit(op, x)


class _SymOps:
    """The ``xp`` namespace of the policies, recording instead of computing."""

    def __init__(self, tb: _Builder):
        self.tb = tb

    floor, sin, cos, exp, log, sqrt, abs = (_sym_unary(op) for op in ("FLOOR", "SIN", "COS", "EXP", "LOG", "SQRT", "ABS"))

    def mod(self, x, m):
        return self.tb.emit("MOD", x, m)

    def minimum(self, a, b):
        return self.tb.emit("MIN", a, b)

    def maximum(self, a, b):
        return self.tb.emit("MAX", a, b)

    def where(self, c, a, b):
        return self.tb.emit("WHERE", c, a, b)

    def clip(self, x, lo=None, hi=None):
        if lo is not None:
            x = self.tb.emit("MAX", x, lo)
        if hi is not None:
            x = self.tb.emit("MIN", x, hi)
        return x

    def count_le(self, t, edges: Sequence[float]):
        n = 0.0
        for e in edges:
            n = n + self.tb.emit("GE", t, float(e))
        return n

    def full_like(self, t, value):
        return float(value)


def compile_policy(policy) -> Program:
    """Trace ``policy``'s formula into a :class:`Program` (raises :class:`ProgramError` if it cannot)."""
    from lrkit.policies import MetricPolicy, Policy, parse

    if not isinstance(policy, (str, dict, Policy)):
        raise ProgramError(f"compile_policy: expected a policy or a spec, got {type(policy).__name__}")
    policy = parse(policy)
    if isinstance(policy, MetricPolicy):
        raise ProgramError(f"{policy.name} is state-based (it decides from metrics on the host) and cannot run "
                           "as a device program; use it through PolicyLR / the monitor")
    tb = _Builder()
    result = policy._lr(tb.t, _SymOps(tb))
    return tb.finish(result, str(policy))


# The reference semantics of each opcode (numpy, float64); the C++/CUDA interpreter mirrors this table.
_NUMPY_OPS = {
    "ADD": lambda a, b, c: a + b, "SUB": lambda a, b, c: a - b, "MUL": lambda a, b, c: a * b,
    "DIV": lambda a, b, c: a / b, "POW": lambda a, b, c: np.power(a, b), "NEG": lambda a, b, c: -a,
    "FLOOR": lambda a, b, c: np.floor(a), "MOD": lambda a, b, c: np.mod(a, b), "ABS": lambda a, b, c: np.abs(a),
    "SIN": lambda a, b, c: np.sin(a), "COS": lambda a, b, c: np.cos(a), "EXP": lambda a, b, c: np.exp(a),
    "LOG": lambda a, b, c: np.log(a), "SQRT": lambda a, b, c: np.sqrt(a), "MIN": lambda a, b, c: np.minimum(a, b),
    "MAX": lambda a, b, c: np.maximum(a, b), "GE": lambda a, b, c: (a >= b).astype(np.float64),
    "GT": lambda a, b, c: (a > b).astype(np.float64), "WHERE": lambda a, b, c: np.where(a != 0, b, c),
}
assert tuple(_NUMPY_OPS) == OPCODES


def _np_op(op: int, a, b, c):
    if not 0 <= op < len(OPCODES):
        raise ValueError(f"unknown opcode {op}")
    with np.errstate(all="ignore"):
        return _NUMPY_OPS[OPCODES[op]](a, b, c)


def run_program(prog: Program, t: Any):
    """The reference interpreter: η(t) for a scalar or array ``t`` (float64, numpy semantics)."""
    tt = np.asarray(t, dtype=np.float64)
    regs = [tt] + [np.full_like(tt, c) for c in prog.consts]
    for op, a, b, c in prog.code:
        regs.append(np.broadcast_to(_np_op(op, regs[a], regs[b], regs[c]), tt.shape))
    out = np.asarray(regs[prog.out], dtype=np.float64)
    return float(out) if out.ndim == 0 else out.copy()
