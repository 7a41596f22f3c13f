"""Plots of LR policies and training results (seaborn)."""

from .mopt import plot_mopt
from .policies import plot_policies, policy_frame

__all__ = ["plot_mopt", "plot_policies", "policy_frame"]
