"""Tensor descriptions carried by edges: shape without the batch dim, and dtype."""

from __future__ import annotations

import math
from dataclasses import dataclass

DTYPES = ("float", "long")


@dataclass(frozen=True)
class TensorSpec:
    """Shape of one sample (the batch dim ``N`` is implied) and element type."""

    shape: tuple[int, ...]
    dtype: str = "float"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def with_shape(self, shape) -> TensorSpec:
        return TensorSpec(tuple(int(s) for s in shape), self.dtype)

    def __str__(self) -> str:
        dims = ", ".join(["N", *map(str, self.shape)])
        suffix = "" if self.dtype == "float" else f" {self.dtype}"
        return f"({dims}){suffix}"


def fmt_shape(shape) -> str:
    """``(784,)`` style text for messages (without the batch dim)."""
    shape = tuple(shape)
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(map(str, shape)) + ")"
