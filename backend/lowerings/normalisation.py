"""GroupNorm, InstanceNorm, RMSNorm and LocalResponseNorm become the matching
``torch.nn`` modules; the channel count and the normalised shape come from the
inferred input, so the layer adapts when the layer before it changes."""

from __future__ import annotations

from torch import nn

from layerloom.backend.lowering import Lowering, lowering
from layerloom.graph.layers.normalisation import instance_norm_kind, rms_norm_shape

INSTANCE_NORMS = {"InstanceNorm1d": nn.InstanceNorm1d, "InstanceNorm2d": nn.InstanceNorm2d,
                  "InstanceNorm3d": nn.InstanceNorm3d}


@lowering("group_norm")
def _group_norm(p, ins, outs):
    return Lowering(nn.GroupNorm(p["num_groups"], ins["in"].shape[0], eps=p["eps"], affine=p["affine"]))


@lowering("instance_norm")
def _instance_norm(p, ins, outs):
    t = ins["in"]
    cls = INSTANCE_NORMS[instance_norm_kind(t.rank)]
    return Lowering(cls(
        t.shape[0], eps=p["eps"], momentum=p["momentum"], affine=p["affine"],
        track_running_stats=p["track_running_stats"],
    ))


@lowering("rms_norm")
def _rms_norm(p, ins, outs):
    return Lowering(nn.RMSNorm(rms_norm_shape(p, ins["in"]), eps=p["eps"],
                               elementwise_affine=p["elementwise_affine"]))


@lowering("local_response_norm")
def _local_response_norm(p, ins, outs):
    return Lowering(nn.LocalResponseNorm(p["size"], alpha=p["alpha"], beta=p["beta"], k=p["k"]))
