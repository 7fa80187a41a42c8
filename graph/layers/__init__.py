"""Every built-in layer type, registered on import of :mod:`layerloom.graph`."""

from layerloom.graph.layers import (
    activations,
    arithmetic,
    attention,
    conv,
    io_core,
    lookup,
    losses,
    matrix,
    merge,
    norm_act,
    normalisation,
    padding,
    pooling,
    recurrent,
    regularisation,
    resampling,
    sampling,
    tensor_ops,
    tensor_shape,
    transformer,
)
from layerloom.graph.registry import register_all

MODULES = (
    io_core,
    regularisation,
    merge,
    attention,
    lookup,
    norm_act,
    normalisation,
    activations,
    recurrent,
    conv,
    pooling,
    padding,
    resampling,
    arithmetic,
    matrix,
    tensor_shape,
    tensor_ops,
    sampling,
    transformer,
    losses,
)

for _module in MODULES:
    register_all(_module.SPECS)
