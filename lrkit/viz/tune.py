"""Plots of tuning results: the policy × λ heat map of 000 Fig. 6 (drawn by :mod:`lrkit.tune.heatmap`, where
a search saves it)."""

from lrkit.tune.heatmap import plot_heatmap

__all__ = ["plot_heatmap"]
