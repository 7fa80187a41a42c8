"""Lowerings of the built-in layers, registered on import."""

from backend.lowerings import core, merge  # noqa: F401
