"""Every built-in layer type, registered on import of :mod:`layerloom.graph`."""

from layerloom.graph.layers import (
    arithmetic,
    attention,
    conv,
    io_core,
    matrix,
    merge,
    norm_act,
    recurrent,
)
from layerloom.graph.registry import register_all

MODULES = (io_core, merge, attention, norm_act, recurrent, conv, arithmetic, matrix)

for _module in MODULES:
    register_all(_module.SPECS)
