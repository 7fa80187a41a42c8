"""ONNX translations of the torch operators torch 2.13's exporter cannot write.

``torch.onnx.export(dynamo=True)`` has no translation of
``aten._adaptive_avg_pool3d`` (AdaptiveAvgPool3d) unless the output size is 1.
Here it is: an ``AveragePool`` when the output size divides the input's (the
common case, which the ONNX importer reads back as AvgPool3d), else, dim by dim,
the mean of each of PyTorch's windows (``Slice``, ``ReduceMean``, ``Concat``;
averaging over a box is averaging over each of its sides in turn).
"""

from __future__ import annotations

import torch
from onnxscript import opset18 as op


def _window(i: int, size: int, out: int) -> tuple[int, int]:
    """PyTorch's adaptive window ``i`` of ``out`` over ``size`` values."""
    return (i * size) // out, -((-(i + 1) * size) // out)


def adaptive_avg_pool3d(x, output_size):
    spatial = [int(d) for d in x.shape[2:]]
    output_size = [int(o) for o in output_size]
    if all(s % o == 0 for s, o in zip(spatial, output_size, strict=True)):
        kernel = [s // o for s, o in zip(spatial, output_size, strict=True)]
        return op.AveragePool(x, kernel_shape=kernel, strides=kernel)
    for axis, (size, out) in enumerate(zip(spatial, output_size, strict=True), start=2):
        if size == out:
            continue
        parts = []
        for i in range(out):
            start, end = _window(i, size, out)
            part = op.Slice(x, op.Constant(value_ints=[start]), op.Constant(value_ints=[end]),
                            op.Constant(value_ints=[axis]))
            parts.append(op.ReduceMean(part, op.Constant(value_ints=[axis]), keepdims=1))
        x = op.Concat(*parts, axis=axis) if len(parts) > 1 else parts[0]
    return x


TRANSLATIONS = {torch.ops.aten._adaptive_avg_pool3d.default: adaptive_avg_pool3d}
