"""Padding and resampling layers become the matching ``torch.nn`` modules."""

from __future__ import annotations

from torch import nn

from layerloom.backend.lowering import Lowering, lowering
from layerloom.graph.layers.resampling import INTERPOLATING

PADS = {
    "zero": (nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d),
    "constant": (nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d),
    "reflection": (nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d),
    "replication": (nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d),
    "circular": (nn.CircularPad1d, nn.CircularPad2d, nn.CircularPad3d),
}


def _pad(cls: type[nn.Module], constant: bool):
    def lower(p, ins, outs):
        return Lowering(cls(p["padding"], p["value"]) if constant else cls(p["padding"]))

    return lower


for _mode, _classes in PADS.items():
    for _nd, _cls in enumerate(_classes, start=1):
        lowering(f"{_mode}_pad{_nd}d")(_pad(_cls, _mode == "constant"))


@lowering("upsample")
def _upsample(p, ins, outs):
    mode = p["mode"]
    # align_corners=False is PyTorch's behaviour for the interpolating modes; giving
    # it explicitly keeps exports and older releases from guessing.
    align = p["align_corners"] if mode in INTERPOLATING else None
    if p["size"] is not None:
        size = p["size"][0] if len(p["size"]) == 1 else p["size"]
        return Lowering(nn.Upsample(size=size, mode=mode, align_corners=align))
    return Lowering(nn.Upsample(scale_factor=p["scale_factor"], mode=mode, align_corners=align))


@lowering("pixel_shuffle")
def _pixel_shuffle(p, ins, outs):
    return Lowering(nn.PixelShuffle(p["upscale_factor"]))


@lowering("pixel_unshuffle")
def _pixel_unshuffle(p, ins, outs):
    return Lowering(nn.PixelUnshuffle(p["downscale_factor"]))


def _window(p) -> dict:
    return {"dilation": p["dilation"], "padding": p["padding"], "stride": p["stride"]}


@lowering("unfold")
def _unfold(p, ins, outs):
    return Lowering(nn.Unfold(p["kernel_size"], **_window(p)))


@lowering("fold")
def _fold(p, ins, outs):
    return Lowering(nn.Fold(p["output_size"], p["kernel_size"], **_window(p)))
