"""Checks of the notebooks' coding exercises: one module per group of notebooks, shared helpers in
``checking``."""
