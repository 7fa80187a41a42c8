"""The channel dropouts and AlphaDropout become the matching ``torch.nn`` modules.

Dropout2d on a sequence ``(C, L)`` is built as ``nn.Dropout1d``: torch 2.13's
``nn.Dropout2d`` drops the same whole channels there, but warns that a future
release will read such an input as unbatched.
"""

from __future__ import annotations

from torch import nn

from layerloom.backend.lowering import Lowering, lowering


@lowering("dropout1d")
def _dropout1d(p, ins, outs):
    return Lowering(nn.Dropout1d(p["p"]))


@lowering("dropout2d")
def _dropout2d(p, ins, outs):
    cls = nn.Dropout1d if ins["in"].rank == 2 else nn.Dropout2d
    return Lowering(cls(p["p"]))


@lowering("dropout3d")
def _dropout3d(p, ins, outs):
    return Lowering(nn.Dropout3d(p["p"]))


@lowering("alpha_dropout")
def _alpha_dropout(p, ins, outs):
    return Lowering(nn.AlphaDropout(p["p"]))
