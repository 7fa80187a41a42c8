"""The activations of :mod:`layerloom.graph.layers.activations` become the
``torch.nn`` modules of the same names, built with the node's settings."""

from __future__ import annotations

from torch import nn

from layerloom.backend.lowering import Lowering, lowering

# layer id -> (module class, the node's params passed by name)
ACTIVATION_MODULES = {
    "prelu": (nn.PReLU, ("num_parameters", "init")),
    "relu6": (nn.ReLU6, ()),
    "selu": (nn.SELU, ()),
    "celu": (nn.CELU, ("alpha",)),
    "softplus": (nn.Softplus, ("beta", "threshold")),
    "softsign": (nn.Softsign, ()),
    "softshrink": (nn.Softshrink, ("lambd",)),
    "hardshrink": (nn.Hardshrink, ("lambd",)),
    "hardswish": (nn.Hardswish, ()),
    "hardsigmoid": (nn.Hardsigmoid, ()),
    "hardtanh": (nn.Hardtanh, ("min_val", "max_val")),
    "mish": (nn.Mish, ()),
    "log_sigmoid": (nn.LogSigmoid, ()),
    "glu": (nn.GLU, ("dim",)),
    "threshold": (nn.Threshold, ("threshold", "value")),
    "tanhshrink": (nn.Tanhshrink, ()),
    "identity": (nn.Identity, ()),
}


def _register(type_id: str, cls: type[nn.Module], names: tuple[str, ...]) -> None:
    @lowering(type_id)
    def lower(p, ins, outs):
        return Lowering(cls(**{name: p[name] for name in names}))


for _type_id, (_cls, _names) in ACTIVATION_MODULES.items():
    _register(_type_id, _cls, _names)
