"""Text and JSON specs of policies: ``parse`` reads them, ``str(policy)``/``policy.to_dict()`` write them.

Text specs are Python-call syntax read with :mod:`ast` (never ``eval``)::

    SINEXP(k0=1e-4, k1=0.9, gamma=0.99994, l=2000)
    NSTEP(k=0.1, gamma=0.1, l=[32000, 48000])
    MULTI({0: TRI(k0=0.1, k1=0.5, l=1500), 30000: TRI(k0=0.01, k1=0.05, l=1000)})
    0.1*TRI(k0=0.0001, k1=0.9, l=2000)          # λ coefficient, canonical form of SCALE

Names are case-insensitive; parameters may also be given positionally in declaration order.
JSON specs are ``{"name": "SINEXP", "k0": 0.0001, ...}`` (MULTI: ``{"name": "MULTI", "stages":
[{"start": 0, "policy": {...}}, ...]}``; SCALE: ``{"name": "SCALE", "lam": 0.1, "policy": {...}}``).
"""

from __future__ import annotations

import ast
import difflib
import json
from dataclasses import MISSING
from typing import Any, Mapping

from .base import Policy, PolicyError, is_number
from .registry import lookup


def parse(spec: Any) -> Policy:
    """A policy from a text spec, a JSON string, a dict, or a policy (returned as is)."""
    if isinstance(spec, Policy):
        return spec
    if isinstance(spec, Mapping):
        return from_dict(spec)
    if not isinstance(spec, str):
        raise PolicyError(f"a policy spec must be a string, a dict or a policy, got {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise PolicyError("empty policy spec; expected e.g. 'FIX(k=0.01)'")
    if text.startswith("{"):
        try:
            return from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise PolicyError(f"could not parse JSON policy spec {spec!r}: {e}") from None
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise PolicyError(f"could not parse policy spec {spec!r}: {e.msg} at column {e.offset}") from None
    return _policy(tree.body, spec)


def from_dict(d: Mapping[str, Any]) -> Policy:
    """A policy from its JSON form (see the module docstring)."""
    if not isinstance(d, Mapping) or "name" not in d:
        raise PolicyError(f"a JSON policy spec needs a 'name' key, got {d!r}")
    return build(d["name"], {k: v for k, v in d.items() if k != "name"})


def build(name: str, kwargs: Mapping[str, Any]) -> Policy:
    """Construct policy ``name`` from keyword parameters, with clear errors for unknown/missing ones."""
    cls = lookup(name)
    fields = cls.parameters()
    allowed = [f.name for f in fields]
    for k in kwargs:
        if k not in allowed:
            close = difflib.get_close_matches(k, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise PolicyError(f"{cls.name}: unknown parameter {k!r}{hint} Allowed: {', '.join(allowed)}")
    for f in fields:
        if f.default is MISSING and f.name not in kwargs:
            raise PolicyError(
                f"{cls.name}: missing parameter {f.name!r} ({f.metadata.get('doc', '')}). "
                f"Required: {', '.join(g.name for g in fields if g.default is MISSING)}"
            )
    return cls(**kwargs)


# ---- AST walking ---------------------------------------------------------------------------------


def _policy(node: ast.AST, spec: str) -> Policy:
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise PolicyError(f"in {spec!r}: expected a policy name before '(', got {ast.unparse(node.func)!r}")
        cls = lookup(node.func.id)
        names = [f.name for f in cls.parameters()]
        if len(node.args) > len(names):
            raise PolicyError(f"{cls.name}: takes at most {len(names)} parameters ({', '.join(names)}), got {len(node.args)}")
        kwargs: dict[str, Any] = {}
        for pname, arg in zip(names, node.args):
            kwargs[pname] = _value(arg, spec)
        for kw in node.keywords:
            if kw.arg is None:
                raise PolicyError(f"{cls.name}: '**' is not allowed in a policy spec")
            if kw.arg in kwargs:
                raise PolicyError(f"{cls.name}: parameter {kw.arg!r} given twice")
            kwargs[kw.arg] = _value(kw.value, spec)
        return build(cls.name, kwargs)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        left, right = _value(node.left, spec), _value(node.right, spec)
        if isinstance(right, Policy) and is_number(left):
            return build("SCALE", {"lam": left, "policy": right})
        if isinstance(left, Policy) and is_number(right):
            return build("SCALE", {"lam": right, "policy": left})
        raise PolicyError(f"in {spec!r}: '*' must join a number λ and a policy, got {ast.unparse(node)!r}")
    if isinstance(node, ast.Name):
        return build(node.id, {})
    raise PolicyError(f"in {spec!r}: expected a policy like NAME(param=value, ...), got {ast.unparse(node)!r}")


def _value(node: ast.AST, spec: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _value(node.operand, spec)
        if not is_number(v):
            raise PolicyError(f"in {spec!r}: a sign must precede a number, got {ast.unparse(node)!r}")
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_value(e, spec) for e in node.elts]
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:
                raise PolicyError(f"in {spec!r}: '**' is not allowed in a policy spec")
            key = _value(k, spec)
            if key in out:
                raise PolicyError(f"in {spec!r}: stage start {key!r} given twice")
            out[key] = _value(v, spec)
        return out
    if isinstance(node, (ast.Call, ast.BinOp)):
        return _policy(node, spec)
    raise PolicyError(f"in {spec!r}: unsupported value {ast.unparse(node)!r} (numbers, strings, lists and policies only)")
