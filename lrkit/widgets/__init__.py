"""Widgets for Jupyter: edit a running training's LR policy live (:class:`LivePanel`, :func:`live`)."""

from .controls import default_values, editable_families, make_control, read_control
from .panel import LivePanel, live, render_png

__all__ = ["LivePanel", "live", "render_png", "make_control", "read_control", "default_values", "editable_families"]
