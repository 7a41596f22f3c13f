"""LR policies as pure functions of the iteration t (t = 0 is the first iteration).

Families (one file each): fixed (FIX), decaying (STEP, NSTEP, EXP, INV, POLY), cyclic (TRI, TRI2,
TRIEXP, SIN, SIN2, SINEXP, COS, COS2, COSEXP), composite (MULTI, SCALE = the λ coefficient, SHIFT), LLM
fine-tuning (CONSTANT, LINEAR, COSINE, WSD, INVSQRT, and DeepSpeed's WarmupLR, WarmupDecayLR,
WarmupCosineLR), and the state-based ReduceLROnPlateau and ChangeLROnPlateau (004 Algorithm 1).

>>> from lrkit.policies import parse
>>> p = parse("TRI2(k0=0.01, k1=0.06, l=2000)")
>>> p(0), p(2000), round(p(6000), 12)   # amplitude halved after the first cycle
(0.01, 0.06, 0.035)
"""

# Import order is registration order (the order of `lrkit policy list`): the paper's families first.
from . import fixed, decaying, cyclic, compose, llm, deepspeed, plateau  # noqa: F401,I001
from .base import MetricPolicy, Policy, PolicyError
from .compose import MULTI, SCALE, SHIFT
from .cyclic import COS, COS2, COSEXP, SIN, SIN2, SINEXP, TRI, TRI2, TRIEXP
from .decaying import EXP, INV, NSTEP, POLY, STEP
from .deepspeed import WarmupCosineLR, WarmupDecayLR, WarmupLR
from .fixed import FIX
from .llm import CONSTANT, COSINE, INVSQRT, LINEAR, WSD
from .plateau import ChangeLROnPlateau, ReduceLROnPlateau
from .registry import REGISTRY, lookup, names
from .scheduler import PolicyLR
from .spec import build, from_dict, parse
from .units import epochs_to_iterations, from_epochs, iterations_per_epoch

__all__ = [
    "Policy", "PolicyError", "MetricPolicy", "PolicyLR", "parse", "from_dict", "build", "lookup", "names",
    "REGISTRY", "from_epochs", "epochs_to_iterations", "iterations_per_epoch",
    "FIX", "STEP", "NSTEP", "EXP", "INV", "POLY",
    "TRI", "TRI2", "TRIEXP", "SIN", "SIN2", "SINEXP", "COS", "COS2", "COSEXP",
    "MULTI", "SCALE", "SHIFT", "CONSTANT", "LINEAR", "COSINE", "WSD", "INVSQRT",
    "WarmupLR", "WarmupDecayLR", "WarmupCosineLR", "ReduceLROnPlateau", "ChangeLROnPlateau",
]
