"""Every built-in layer type, registered on import of :mod:`layerloom.graph`."""

from layerloom.graph.layers import (
    attention,
    conv,
    io_core,
    lookup,
    merge,
    norm_act,
    padding,
    pooling,
    recurrent,
    resampling,
    transformer,
)
from layerloom.graph.registry import register_all

MODULES = (
    io_core,
    merge,
    attention,
    lookup,
    norm_act,
    recurrent,
    conv,
    pooling,
    padding,
    resampling,
    transformer,
)

for _module in MODULES:
    register_all(_module.SPECS)
