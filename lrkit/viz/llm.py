"""000 Fig. 7 (drawn by :mod:`lrkit.llm.fig7`, where the Table V runner saves it)."""

from lrkit.llm.fig7 import FIG7_COLORS, fig7_frame, plot_fig7

__all__ = ["FIG7_COLORS", "fig7_frame", "plot_fig7"]
