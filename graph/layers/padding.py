"""Padding in 1, 2 and 3 dims: with zeros, a constant, the reflection of the input,
its edge values (replication) or its other end (circular).

``padding`` is given per side as in PyTorch, starting from the last dim:
``(left, right)`` pads the last dim, ``(left, right, top, bottom)`` the last two,
``(left, right, top, bottom, front, back)`` the last three. Negative values crop.
The shape rules refuse what PyTorch refuses (a reflection as wide as the input, a
circular padding that wraps around more than once, an empty result).
"""

from __future__ import annotations

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float
from layerloom.graph.params import Float, Ints
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

MAX_PAD = 1_024
SIDES = ("left, right", "left, right, top, bottom", "left, right, top, bottom, front, back")
MODES = {  # type id prefix -> (palette name prefix, what it pads with)
    "zero": ("ZeroPad", "zeros"),
    "constant": ("ConstantPad", "a constant value"),
    "reflection": ("ReflectionPad", "the input reflected at its edges (the edge itself not repeated)"),
    "replication": ("ReplicationPad", "copies of the input's edge values"),
    "circular": ("CircularPad", "the input's other end (wrapped around)"),
}
LAYOUTS = {1: "(C, L) or (L,)", 2: "(C, H, W) or (H, W)", 3: "(C, D, H, W) or (D, H, W)"}


def pairs(padding) -> list[tuple[int, int]]:
    """``(before, after)`` for each padded dim, last dim first (PyTorch's order)."""
    return [(padding[2 * i], padding[2 * i + 1]) for i in range(len(padding) // 2)]


def _pad_rule(mode: str, nd: int):
    name = f"{MODES[mode][0]}{nd}d"

    def rule(p, ins):
        t = ins["in"]
        need_float(name, t)
        padding = p["padding"]
        if mode in ("zero", "constant"):
            if t.rank < nd:
                raise ShapeError(
                    f"{name} pads the last {nd} dims; the input {fmt_shape(t.shape)} has {t.rank} per sample, "
                    "so it would pad the batch dim",
                    f"use {MODES[mode][0]}{t.rank}d, or pad a tensor of {nd} or more dims",
                )
        elif t.rank not in (nd, nd + 1):
            fix = (f"use {MODES[mode][0]}{t.rank - 1}d" if 1 <= t.rank - 1 <= 3 and t.rank - 1 != nd
                   else f"insert a Reshape to {LAYOUTS[nd].split(' or ')[0]}")
            raise ShapeError(f"{name} needs {LAYOUTS[nd]}; it receives {fmt_shape(t.shape)}", fix)
        shape = list(t.shape)
        for i, (before, after) in enumerate(pairs(padding)):
            d = t.rank - 1 - i
            size = shape[d]
            if mode == "reflection" and (before >= size or after >= size):
                raise ShapeError(
                    f"{name} padding {fmt_shape((before, after))} must be smaller than the size {size} "
                    f"of the dim it reflects (input {fmt_shape(t.shape)})",
                    f"use padding of at most {size - 1} there, or ReplicationPad{nd}d",
                )
            if mode == "circular" and (before > size or after > size):
                raise ShapeError(
                    f"{name} padding {fmt_shape((before, after))} wraps around the size {size} "
                    f"more than once (input {fmt_shape(t.shape)})",
                    f"use padding of at most {size} there",
                )
            if mode in ("zero", "constant") and size + min(before, 0) + min(after, 0) < 0:
                raise ShapeError(
                    f"{name} padding {fmt_shape((before, after))} crops more than the size {size} of dim {d + 1} "
                    f"of {fmt_shape(t.shape)} holds (PyTorch crops before it pads)",
                    f"crop at most {size} values there",
                )
            shape[d] = size + before + after
            if shape[d] < 1:
                raise ShapeError(
                    f"{name} padding {fmt_shape(padding)} crops dim {d + 1} of {fmt_shape(t.shape)} to "
                    f"{shape[d]}: nothing is left",
                    "crop less (negative padding removes values)",
                )
        return {"out": t.with_shape(tuple(shape))}

    return rule


def _pad_spec(mode: str, nd: int) -> LayerSpec:
    prefix, what = MODES[mode]
    params = [
        Ints("padding", 1, f"Size added on each side ({SIDES[nd - 1]}), starting from the last dim; "
             "one value pads every side; negative values crop",
             length=2 * nd, minimum=-MAX_PAD, maximum=MAX_PAD, key=True),
    ]
    if mode == "constant":
        params.append(Float("value", 0.0, "The value the padding holds", key=True))
    example = {"padding": tuple(range(1, 2 * nd + 1)) if mode not in ("reflection", "circular") else (1, 2) * nd}
    if mode == "constant":
        example["value"] = 0.5
    return LayerSpec(
        f"{mode}_pad{nd}d", f"{prefix}{nd}d", "Resampling",
        f"Pads the last {nd} dim{'s' if nd > 1 else ''} with {what} (torch.nn.{prefix}{nd}d).",
        tuple(params), _pad_rule(mode, nd),
        keywords=("padding", "pad", "border", mode, "crop"),
        examples=(Example({"in": TensorSpec((2, *(4,) * nd))}, example),),
    )


SPECS = [_pad_spec(mode, nd) for mode in MODES for nd in (1, 2, 3)]
