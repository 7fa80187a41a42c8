"""Helpers shared by the shape rules."""

from __future__ import annotations

from layerloom.graph.errors import ShapeError
from layerloom.graph.tensor import TensorSpec, fmt_shape


def need_float(name: str, t: TensorSpec) -> None:
    if t.dtype != "float":
        raise ShapeError(
            f"{name} needs float values but receives {t.dtype} tokens {fmt_shape(t.shape)}",
            "insert an Embedding after a token Input",
        )


def need_rank(name: str, t: TensorSpec, ranks: tuple[int, ...], layout: str, fix: str) -> None:
    if t.rank not in ranks:
        raise ShapeError(f"{name} needs {layout}; it receives {fmt_shape(t.shape)}", fix)


def torch_dim(name: str, dim: int, rank: int) -> int:
    """Index into the per-sample shape for a torch dim (which counts the batch)."""
    full = rank + 1
    if not -full <= dim < full:
        raise ShapeError(f"{name}: dim {dim} is out of range for a tensor of rank {full} (N + {rank})")
    d = dim % full
    if d == 0:
        raise ShapeError(f"{name}: dim {dim} is the batch dim", "use a dim of 1 or more, or -1")
    return d - 1


def conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil: bool = False) -> int:
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil:
        out = -(-span // stride) + 1
        # PyTorch: the last window must start inside the input or left padding
        if (out - 1) * stride >= size + padding:
            out -= 1
        return out
    return span // stride + 1
