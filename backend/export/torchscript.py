"""TorchScript export: scripted when the model scripts, traced otherwise.

Scripting keeps every branch of the model's code; some modules cannot be
scripted (torch's recurrent layers called through ``super()``, for instance), and
those models are traced instead, which records the operations one example input
takes. Whichever is used, the saved file is loaded back with ``torch.jit.load``
and must reproduce the model on two batch sizes before it replaces the target.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import torch

from layerloom.backend.compile import CompiledGraph
from layerloom.backend.export.common import (
    BATCH_SIZES,
    ExportError,
    ExportResult,
    as_tuple,
    check_close,
    check_target,
    eval_mode,
    example_inputs,
    first_line,
    publish,
    reference_outputs,
    staging,
)
from layerloom.graph import Graph, dumps
from layerloom.graph.fileio import describe_write_error

GRAPH_FILE = "layerloom_graph.json"  # the graph, kept in the archive's extra files


def export_torchscript(graph: Graph, model: CompiledGraph, path: str | os.PathLike) -> ExportResult:
    """Write ``model`` as a TorchScript archive (``torch.jit.save``).

    Parameters
    ----------
    graph : Graph
        The graph ``model`` was compiled from; stored in the archive as
        ``layerloom_graph.json``.
    model : CompiledGraph
        The compiled model with its weights; exported in eval mode.
    path : path-like
        The target file (``.pt``).

    Returns
    -------
    ExportResult
        ``notes`` say whether the model was scripted or traced, and what a traced
        model cannot do (other sequence lengths).

    Raises
    ------
    ExportError
        Neither scripting nor tracing gives a file that reproduces the model.
    """
    path = check_target(path)
    extra = {GRAPH_FILE: dumps(graph)}
    failures = []
    with eval_mode(model), staging(path) as staged:
        for method in ("script", "trace"):
            try:
                module = _convert(model, method)
                _save(module, staged, extra, path)
                loaded = _load(staged)
                worst = _verify(loaded, model)
            except ExportError as exc:
                failures.append(f"{method}: {exc}")
                continue
            notes = [f"the model was {'scripted' if method == 'script' else 'traced'}"]
            if method == "trace":
                notes += _length_notes(loaded, model)
            files = publish(staged, path)
            return ExportResult(path, "torchscript", files, notes, worst)
    raise ExportError("TorchScript cannot hold this model (" + "; ".join(failures) + ")")


def _convert(model: CompiledGraph, method: str) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if method == "script":
                return torch.jit.script(model)
            # Traced without gradients: torch's attention modules take their
            # inference path then, and the trace records that path.
            examples = example_inputs(model, model.input_specs, BATCH_SIZES[0])
            with torch.no_grad():
                return torch.jit.trace(model, examples, check_trace=False)
        except Exception as exc:  # scripting and tracing raise many error types
            raise ExportError(f"cannot {method} the model: {first_line(exc)}") from None


def _save(module, staged: Path, extra: dict[str, str], path: Path) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.save's deprecation notice
            # Into memory first: torch's C++ writer aborts the whole process on a
            # full disk, Python's file write reports it.
            buffer = io.BytesIO()
            torch.jit.save(module, buffer, _extra_files=extra)
    except Exception as exc:
        raise ExportError(f"cannot save the TorchScript model: {first_line(exc)}") from None
    try:
        staged.write_bytes(buffer.getvalue())
    except OSError as exc:
        raise ExportError(describe_write_error(exc, str(path))) from None


def _load(staged: Path) -> torch.jit.ScriptModule:
    """The saved file loaded back (in eval mode), as a user will load it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return torch.jit.load(str(staged), map_location="cpu").eval()
        except Exception as exc:
            raise ExportError(f"the saved TorchScript file does not load: {first_line(exc)}") from None


def _verify(loaded: torch.jit.ScriptModule, model: CompiledGraph) -> float:
    """The largest difference between ``loaded`` and ``model`` on two batch sizes."""
    worst = 0.0
    for batch in BATCH_SIZES:
        inputs = example_inputs(model, model.input_specs, batch, seed=batch)
        expected = reference_outputs(model, inputs)
        what = f"the TorchScript file (batch {batch})"
        try:
            with torch.no_grad():
                got = as_tuple(loaded(*inputs))
        except Exception as exc:
            raise ExportError(f"{what} fails: {first_line(exc)}") from None
        worst = max(worst, check_close(got, expected, what))
    return worst


def _length_notes(loaded: torch.jit.ScriptModule, model: CompiledGraph) -> list[str]:
    """A trace may have recorded a sequence length as a constant: try another
    length wherever the model itself accepts one, and say where it fails."""
    notes = []
    for i, spec in enumerate(model.input_specs):
        if spec.rank == 0 or not (spec.dtype == "long" or spec.rank == 2):
            continue
        sizes = [list(s.shape) for s in model.input_specs]
        length = sizes[i][0]
        sizes[i][0] = length - 1 if length > 2 else length + 1
        inputs = example_inputs(model, model.input_specs, BATCH_SIZES[0], sizes)
        try:
            expected = reference_outputs(model, inputs)
        except Exception:
            continue  # the model itself needs this length: nothing was lost
        try:
            with torch.no_grad():
                check_close(as_tuple(loaded(*inputs)), expected, "trace")
        except Exception:
            name = model.input_names[i]
            notes.append(
                f"the traced model only accepts a sequence length of {length} for input "
                f"{name!r}; pad or cut sequences to {length}, or use the Python export"
            )
    return notes
