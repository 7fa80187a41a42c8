"""Every built-in layer type, registered on import of :mod:`layerloom.graph`."""

from layerloom.graph.layers import (
    attention,
    conv,
    io_core,
    merge,
    norm_act,
    recurrent,
    tensor_ops,
    tensor_shape,
)
from layerloom.graph.registry import register_all

MODULES = (io_core, merge, attention, norm_act, recurrent, conv, tensor_shape, tensor_ops)

for _module in MODULES:
    register_all(_module.SPECS)
