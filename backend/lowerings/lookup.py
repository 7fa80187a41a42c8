"""EmbeddingBag and Bilinear: plain ``torch.nn`` modules."""

from __future__ import annotations

from torch import nn

from layerloom.backend.lowering import Lowering, lowering
from layerloom.graph.layers.lookup import NO_MAX_NORM, NO_PADDING


def max_norm(p) -> float | None:
    return None if p["max_norm"] == NO_MAX_NORM else p["max_norm"]


@lowering("embedding_bag")
def _embedding_bag(p, ins, outs):
    pad = None if p["padding_idx"] == NO_PADDING else p["padding_idx"]
    return Lowering(nn.EmbeddingBag(p["num_embeddings"], p["embedding_dim"], mode=p["mode"],
                                    padding_idx=pad, max_norm=max_norm(p)))


@lowering("bilinear")
def _bilinear(p, ins, outs):
    return Lowering(nn.Bilinear(ins["in1"].shape[-1], ins["in2"].shape[-1], p["out_features"], bias=p["bias"]))
