"""Plots of LR policies and training results (seaborn)."""

from .policies import plot_policies, policy_frame

__all__ = ["plot_policies", "policy_frame"]
