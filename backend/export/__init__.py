"""Export a compiled graph: safetensors weights (with the graph inside), ONNX,
TorchScript and standalone PyTorch source.

Every exporter writes under a temporary name, checks what it wrote against the
compiled model (reloading it and comparing outputs), and only then renames it
over the target; a failure raises :class:`ExportError` and leaves no file.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from layerloom.backend.compile import CompiledGraph
from layerloom.backend.export.common import ExportError, ExportResult, WeightsError
from layerloom.backend.export.onnx_export import export_onnx
from layerloom.backend.export.python_source import export_python
from layerloom.backend.export.torchscript import export_torchscript
from layerloom.backend.export.train_script import export_train_script
from layerloom.backend.export.weights import load_model, load_weights, save_weights
from layerloom.graph import Graph

Exporter = Callable[[Graph, CompiledGraph, "str | os.PathLike"], ExportResult]

# Format name -> (exporter, usual file suffix).
FORMATS: dict[str, tuple[Exporter, str]] = {
    "safetensors": (save_weights, ".safetensors"),
    "onnx": (export_onnx, ".onnx"),
    "torchscript": (export_torchscript, ".pt"),
    "python": (export_python, ".py"),
    "train-script": (export_train_script, ".py"),  # chosen by name: ".py" means "python"
}


def format_for(path: str | os.PathLike) -> str | None:
    """The format a file name asks for by its suffix (``model.onnx`` -> ``onnx``)."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    aliases = {".ts": "torchscript", ".torchscript": "torchscript"}
    for name, (_, known) in FORMATS.items():
        if suffix == known:
            return name
    return aliases.get(suffix)


def export_model(graph: Graph, model: CompiledGraph, path: str | os.PathLike, fmt: str) -> ExportResult:
    """Export with the exporter of format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return FORMATS[fmt][0](graph, model, path)


__all__ = [
    "FORMATS", "ExportError", "ExportResult", "WeightsError",
    "export_model", "export_onnx", "export_python", "export_torchscript", "export_train_script",
    "format_for",
    "load_model", "load_weights", "save_weights",
]
