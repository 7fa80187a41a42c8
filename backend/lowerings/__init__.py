"""Lowerings of the built-in layers, registered on import."""

from backend.lowerings import attention, conv, core, merge, norm_act, recurrent  # noqa: F401
