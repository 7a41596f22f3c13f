"""The ``lrkit`` command line."""
