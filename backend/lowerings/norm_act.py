"""Normalisation and activation layers become the matching ``torch.nn`` modules."""

from __future__ import annotations

from torch import nn

from layerloom.backend.lowering import Lowering, lowering
from layerloom.graph.layers.norm_act import batch_norm_kind, layer_norm_shape

BATCH_NORMS = {"BatchNorm1d": nn.BatchNorm1d, "BatchNorm2d": nn.BatchNorm2d, "BatchNorm3d": nn.BatchNorm3d}

# Activations without parameters: one module class each.
PLAIN_ACTIVATIONS = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}


@lowering("batch_norm")
def _batch_norm(p, ins, outs):
    t = ins["in"]
    cls = BATCH_NORMS[batch_norm_kind(t.rank)]
    return Lowering(cls(
        t.shape[0], eps=p["eps"], momentum=p["momentum"], affine=p["affine"],
        track_running_stats=p["track_running_stats"],
    ))


@lowering("layer_norm")
def _layer_norm(p, ins, outs):
    return Lowering(nn.LayerNorm(
        layer_norm_shape(p, ins["in"]), eps=p["eps"],
        elementwise_affine=p["elementwise_affine"], bias=p["bias"],
    ))


def _register_plain(type_id: str, cls: type[nn.Module]) -> None:
    @lowering(type_id)
    def lower(p, ins, outs):
        return Lowering(cls())


for _type_id, _cls in PLAIN_ACTIVATIONS.items():
    _register_plain(_type_id, _cls)


@lowering("leaky_relu")
def _leaky_relu(p, ins, outs):
    return Lowering(nn.LeakyReLU(p["negative_slope"]))


@lowering("elu")
def _elu(p, ins, outs):
    return Lowering(nn.ELU(p["alpha"]))


@lowering("gelu")
def _gelu(p, ins, outs):
    return Lowering(nn.GELU(approximate=p["approximate"]))


@lowering("softmax")
def _softmax(p, ins, outs):
    return Lowering(nn.Softmax(dim=p["dim"]))


@lowering("log_softmax")
def _log_softmax(p, ins, outs):
    return Lowering(nn.LogSoftmax(dim=p["dim"]))
