"""Reading an ONNX file before anything runs it: the protobuf, its external data
(read only from inside the model's folder, never through a link out of it) and
the sizes its tensors claim, each checked with a message that names the file."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

from layerloom.backend.export.common import first_line
from layerloom.backend.importers.common import ModelImportError
from layerloom.graph.fileio import OverBudget, check_budget


def load_model(path: str | os.PathLike):
    """Read an ONNX file, checking its external data locations before loading them.

    Raises
    ------
    ModelImportError
        The file is missing or not ONNX, or external data points outside the
        model's folder or to a missing file.
    """
    import onnx
    from onnx.external_data_helper import load_external_data_for_model

    path = Path(path)
    if not path.is_file():
        raise ModelImportError(f"{path}: {'is a folder' if path.is_dir() else 'no such file'}")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelImportError(f"{path} is not a readable ONNX file: {first_line(exc)}") from None
    check_text(proto, path)
    base = path.resolve().parent
    tensors = list(_model_tensors(proto))
    external = [t for t in tensors if t.data_location == onnx.TensorProto.EXTERNAL]
    for tensor in external:
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        check_location(location, base, tensor.name, path)
    check_tensor_sizes(tensors, path)
    if external:
        try:
            load_external_data_for_model(proto, str(base))
        except Exception as exc:
            raise ModelImportError(f"cannot read the external data of {path}: {first_line(exc)}") from None
    return proto


def check_text(message, path: Path, where: str = "") -> None:
    """Refuse a name or other text field that is not UTF-8.

    ONNX's protobuf schema lets a damaged file parse with such a string; protobuf then
    hands it out as bytes, and the first use as text (a node's output name given to
    onnxruntime) fails with a UnicodeDecodeError instead of a message.
    """
    from google.protobuf.descriptor import FieldDescriptor

    for descriptor, value in message.ListFields():
        repeated = getattr(descriptor, "is_repeated", None)
        if repeated is None:  # protobuf before 6 has the label instead
            repeated = descriptor.label == FieldDescriptor.LABEL_REPEATED
        values = value if repeated else [value]
        here = f"{where}.{descriptor.name}" if where else descriptor.name
        if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            for i, item in enumerate(values):
                check_text(item, path, f"{here}[{i}]" if repeated else here)
        elif descriptor.type == FieldDescriptor.TYPE_STRING:
            for item in values:
                if not isinstance(item, str):
                    raise ModelImportError(f"{path} is not a readable ONNX file: {here} holds "
                                           f"{bytes(item)!r}, which is not UTF-8 text")


def check_location(location: str, base: Path, tensor: str, path: Path) -> Path:
    """The file an external data ``location`` names, refused unless it lies inside
    ``base`` (the model's folder): no absolute path, no ``..``, no link out."""
    posix, windows = PurePosixPath(location), PureWindowsPath(location)
    escapes = (
        not location
        or posix.is_absolute() or windows.is_absolute() or bool(windows.drive)
        or ".." in posix.parts or ".." in windows.parts
    )
    try:
        target = (base / location).resolve() if not escapes else None
    except (RuntimeError, OSError):  # a symlink loop
        raise ModelImportError(f"{path}: the external data file {location!r} of tensor {tensor!r} "
                               "is a loop of symbolic links") from None
    if escapes or not target.is_relative_to(base):
        raise ModelImportError(
            f"{path}: tensor {tensor!r} keeps its data at {location!r}, outside the model's folder "
            f"{base}; LayerLoom reads external data only from files next to the model"
        )
    if not target.is_file():
        raise ModelImportError(f"{path}: the external data file {location!r} of tensor {tensor!r} is missing")
    return target


def _model_tensors(proto) -> Iterator:
    """Every TensorProto of the model: its graph's and those inside its model-local
    functions (onnxruntime reads a function's external data too)."""
    yield from _tensors(proto.graph)
    for function in proto.functions:
        yield from _node_tensors(function.node)


def _tensors(graph) -> Iterator:
    """Every TensorProto of ``graph``: initializers and attribute tensors, also
    inside subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    yield from _node_tensors(graph.node)


def _node_tensors(nodes) -> Iterator:
    for node in nodes:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def check_tensor_sizes(tensors, path: Path) -> None:
    """Refuse tensors whose declared size is over the memory budget, or that declare
    more elements than they hold (reading them would fail deep inside numpy)."""
    import onnx

    total = 0
    for tensor in tensors:
        count = math.prod(int(d) for d in tensor.dims) if tensor.dims else 1
        if any(int(d) < 0 for d in tensor.dims):
            raise ModelImportError(f"{path}: tensor {tensor.name!r} has a negative dim {list(tensor.dims)}")
        try:
            itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        except (KeyError, TypeError, ValueError):
            itemsize = 8
        needed = count * itemsize
        total += needed
        try:
            check_budget(needed, f"tensor {tensor.name!r} of {path.name} ({count:,} elements)")
        except OverBudget as exc:
            raise ModelImportError(str(exc)) from None
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            continue
        held = _held_elements(tensor, itemsize)
        if held is not None and held != count:
            raise ModelImportError(
                f"{path}: tensor {tensor.name!r} declares {count:,} elements "
                f"(dims {list(tensor.dims)}) but holds {held:,}; the file is damaged")
    try:
        check_budget(total, f"the weights of {path.name}")
    except OverBudget as exc:
        raise ModelImportError(str(exc)) from None


def _held_elements(tensor, itemsize: int) -> int | None:
    """How many elements the tensor's data fields hold, for the plain numeric types
    (``None`` for packed, complex and string types, whose count is not that simple)."""
    if tensor.data_type not in _PLAIN_TYPES:
        return None
    if tensor.raw_data:
        return len(tensor.raw_data) // itemsize
    for name in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
        values = getattr(tensor, name)
        if len(values):
            return len(values)
    return 0


# FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64, BOOL, FLOAT16, DOUBLE, UINT32,
# UINT64, BFLOAT16: one stored value per element.
_PLAIN_TYPES = frozenset({1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 16})
