"""Every built-in layer type, registered on import of :mod:`layerloom.graph`."""

from layerloom.graph.layers import (
    activations,
    attention,
    conv,
    io_core,
    merge,
    norm_act,
    normalisation,
    recurrent,
    regularisation,
)
from layerloom.graph.registry import register_all

MODULES = (io_core, merge, attention, norm_act, recurrent, conv, normalisation, activations, regularisation)

for _module in MODULES:
    register_all(_module.SPECS)
