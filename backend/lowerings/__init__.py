"""Lowerings of the built-in layers, registered on import."""

from layerloom.backend.lowerings import attention, conv, core, merge, norm_act, recurrent  # noqa: F401
