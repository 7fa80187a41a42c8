"""EmbeddingBag (a bag of token ids to one vector) and Bilinear (two inputs to one
output through a learned bilinear form).

Both follow the matching ``torch.nn`` modules; one sample of an EmbeddingBag is a
bag ``(T,)`` of token ids (the batch holds one bag per sample, torch's 2-d input),
and Bilinear's two inputs share every dim but the last, as torch requires.
"""

from __future__ import annotations

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float
from layerloom.graph.params import Bool, Choice, Float, Int
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

NO_PADDING = -1
NO_MAX_NORM = 0.0


# --------------------------------------------------------------- EmbeddingBag
def _bag_rule(p, ins):
    t = ins["in"]
    if t.dtype != "long":
        raise ShapeError(
            f"EmbeddingBag looks up token ids but receives {t.dtype} values {fmt_shape(t.shape)}",
            "set the Input's dtype to long (token ids)",
        )
    if t.rank != 1:
        raise ShapeError(
            f"EmbeddingBag needs one bag of token ids (T,) per sample; it receives {fmt_shape(t.shape)}",
            "insert a Flatten or Reshape to (T,), or use Embedding for a sequence of vectors",
        )
    pad, n = p["padding_idx"], p["num_embeddings"]
    if pad != NO_PADDING and pad >= n:
        raise ShapeError(
            f"EmbeddingBag: padding_idx {pad} is not a token id of a vocabulary of {n} (0..{n - 1})",
            f"use a padding_idx below {n}, or -1 for none",
        )
    return {"out": TensorSpec((p["embedding_dim"],), "float")}


def max_norm_param() -> Float:
    return Float("max_norm", NO_MAX_NORM,
                 "Vectors looked up with a larger (L2) norm are rescaled to this norm, in the table "
                 "itself (as torch does); 0 for none", minimum=0.0, maximum=1e6)


# ------------------------------------------------------------------ Bilinear
def _bilinear_rule(p, ins):
    a, b = ins["in1"], ins["in2"]
    need_float("Bilinear", a)
    need_float("Bilinear", b)
    if a.shape[:-1] != b.shape[:-1]:
        raise ShapeError(
            f"Bilinear needs inputs that differ only in the last dim; in1 is {fmt_shape(a.shape)}, "
            f"in2 is {fmt_shape(b.shape)}",
            "reshape one input so the leading dims agree",
        )
    return {"out": a.with_shape((*a.shape[:-1], p["out_features"]))}


def _bilinear_params(p, ins, outs):
    o, f1, f2 = p["out_features"], ins["in1"].shape[-1], ins["in2"].shape[-1]
    return o * f1 * f2 + (o if p["bias"] else 0)


def _bilinear_flops(p, ins, outs):
    rows = outs["out"].numel // p["out_features"]
    return rows * 2 * p["out_features"] * ins["in1"].shape[-1] * (ins["in2"].shape[-1] + 1)


SPECS = [
    LayerSpec(
        "embedding_bag", "EmbeddingBag", "Attention",
        "Sums, averages or takes the max of the learned vectors of a bag of token ids: (T,) long -> (E,).",
        (
            Int("num_embeddings", 1000, "Vocabulary size: token ids run from 0 to num_embeddings - 1",
                minimum=1, maximum=10_000_000, key=True),
            Int("embedding_dim", 64, "Size of each token's vector (and of the result)",
                minimum=1, maximum=65_536, key=True),
            Choice("mode", "mean", ("sum", "mean", "max"), "How the bag's vectors are combined", key=True),
            Int("padding_idx", NO_PADDING,
                "Token id left out of the bag (its vector stays zero, no gradient); -1 for none",
                minimum=-1, maximum=10_000_000),
            max_norm_param(),
        ),
        _bag_rule, param_count=lambda p, i, o: p["num_embeddings"] * p["embedding_dim"],
        flops=lambda p, i, o: i["in"].shape[0] * p["embedding_dim"],
        keywords=("bag of words", "token", "vocabulary", "text", "nlp", "pooling", "fasttext"),
        examples=(Example({"in": TensorSpec((6,), "long")}, {"num_embeddings": 10, "embedding_dim": 8,
                                                              "mode": "max"}),),
    ),
    LayerSpec(
        "bilinear", "Bilinear", "Merge",
        "A learned bilinear form of two inputs: out_k = in1ᵀ·W_k·in2 + b_k (torch.nn.Bilinear).",
        (
            Int("out_features", 16, "Size of the output's last dim", minimum=1, maximum=100_000, key=True),
            Bool("bias", True, "Learn a bias per output feature"),
        ),
        _bilinear_rule, inputs=("in1", "in2"), param_count=_bilinear_params, flops=_bilinear_flops,
        keywords=("bilinear", "pairwise", "interaction", "two inputs"),
        examples=(Example({"in1": TensorSpec((5,)), "in2": TensorSpec((3,))}, {"out_features": 4}),),
    ),
]
