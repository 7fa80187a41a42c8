"""Every built-in layer type, registered on import of :mod:`graph`."""

from graph.layers import io_core, merge
from graph.registry import register_all

MODULES = (io_core, merge)

for _module in MODULES:
    register_all(_module.SPECS)
