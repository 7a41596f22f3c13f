"""Plots of LR policies and training results (seaborn)."""

from .budgets import budget_frame, plot_budgets
from .llm import fig7_frame, plot_fig7
from .mopt import plot_mopt
from .paths import fig3_paths, plot_fig3
from .policies import plot_policies, policy_frame
from .runs import plot_lr_and_accuracy, runs_frame
from .tune import plot_heatmap

__all__ = ["budget_frame", "fig3_paths", "fig7_frame", "plot_budgets", "plot_fig3", "plot_fig7", "plot_heatmap",
           "plot_lr_and_accuracy", "plot_mopt", "plot_policies", "policy_frame", "runs_frame"]
