"""lrkit: benchmark, select, compose and tune learning-rate policies for PyTorch training."""

__version__ = "0.1.0"

from . import policies  # noqa: E402,F401
from .policies import parse  # noqa: E402,F401
from .train.registry import register_dataset, register_model  # noqa: E402,F401
