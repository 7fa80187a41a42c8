"""Channel dropouts (Dropout1d, Dropout2d, Dropout3d) and AlphaDropout, next to
Dropout in the Core category.

The channel dropouts zero whole channels of a channels-first feature map while
training. PyTorch also takes inputs without a batch dim, so a per-sample shape of
the wrong rank would silently be read with the batch as channels; the rules
refuse those with a fix, on purpose. Dropout2d follows torch 2.13 on a sequence
``(C, L)``: torch reads the batched ``(N, C, L)`` as one-dimensional channels and
drops whole channels, as Dropout1d does (it warns that a future release will
read it otherwise); LayerLoom builds that node as ``nn.Dropout1d``, which does the
same without the warning and keeps doing it.
"""

from __future__ import annotations

from layerloom.graph.errors import ShapeError
from layerloom.graph.params import Float
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

LAYOUTS = {2: "a sequence (C, L)", 3: "an image (C, H, W)", 4: "a volume (C, D, H, W)"}


def _p(what: str) -> Float:
    return Float("p", 0.5, f"Probability of dropping {what}", minimum=0.0, maximum=1.0, key=True)


def _channel_rule(name: str, ranks: tuple[int, ...]):
    def rule(p, ins):
        t = ins["in"]
        if t.rank not in ranks:
            raise ShapeError(
                f"{name} drops whole channels of {' or '.join(LAYOUTS[r] for r in ranks)}; "
                f"it receives {fmt_shape(t.shape)}" + _dropout2d_note(name, t),
                _channel_fix(t),
            )
        return {"out": t}

    return rule


def _dropout2d_note(name: str, t: TensorSpec) -> str:
    if name != "Dropout2d" or t.rank not in (1, 4):
        return ""
    # torch 2.13 runs these with a warning that they will become an error
    return (", which torch 2.13 deprecates (it warns, and drops single values of (F,) or "
            "channels of (C, D, H, W))")


def _channel_fix(t: TensorSpec) -> str:
    rank = t.rank
    if rank == 1:
        return "use Dropout for features (F,): it drops single values"
    return {2: "use Dropout1d (or Dropout2d) for (C, L)", 3: "use Dropout2d for (C, H, W)",
            4: "use Dropout3d for (C, D, H, W)"}.get(rank, "use Dropout, which takes any shape")


def _same_rule(p, ins):
    return {"out": ins["in"]}


def _example(*shape: int) -> Example:
    return Example({"in": TensorSpec(shape)}, {"p": 0.2})


def _dropout(type_id: str, name: str, doc: str, rule, examples, keywords=(), what="a channel",
             passes_width=True) -> LayerSpec:
    return LayerSpec(
        type_id, name, "Core", doc, (_p(what),), rule,
        keywords=("regularisation", "regularization", "dropout", *keywords), passes_width=passes_width,
        examples=examples,
    )


SPECS = [
    _dropout(
        "dropout1d", "Dropout1d",
        "Zeroes whole channels of a sequence (C, L) with probability p while training; identity at inference.",
        _channel_rule("Dropout1d", (2,)), (_example(4, 6),), ("channel", "spatial dropout"),
    ),
    _dropout(
        "dropout2d", "Dropout2d",
        "Zeroes whole channels of an image (C, H, W) with probability p while training (on (C, L): "
        "whole channels, as torch 2.13 does); identity at inference.",
        _channel_rule("Dropout2d", (2, 3)), (_example(3, 4, 4), _example(4, 6)),
        ("channel", "spatial dropout"),
    ),
    _dropout(
        "dropout3d", "Dropout3d",
        "Zeroes whole channels of a volume (C, D, H, W) with probability p while training; identity at inference.",
        _channel_rule("Dropout3d", (4,)), (Example({"in": TensorSpec((2, 3, 3, 3))}, {"p": 0.2}),),
        ("channel", "spatial dropout"),
        passes_width=False,  # a volume never carries the width of a model's output
    ),
    _dropout(
        "alpha_dropout", "AlphaDropout",
        "Dropout for SELU networks: keeps mean and variance while training, dropping a value "
        "to SELU's negative limit; identity at inference.",
        _same_rule, (_example(4, 6),), ("selu", "self-normalizing", "self-normalising"), what="a value",
    ),
]
