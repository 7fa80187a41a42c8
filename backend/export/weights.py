"""Weights as safetensors, with the graph inside: one file reopens as a model.

The file's metadata holds the graph as ``.loom`` JSON text (``layerloom.graph.dumps``), so a
trained model is one ``.safetensors`` file that :func:`load_model` turns back into
the graph and the compiled module with its weights. safetensors stores raw tensor
bytes and a JSON header: nothing is unpickled or executed when it is read.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from layerloom.backend.compile import CompiledGraph, compile_graph
from layerloom.backend.export.common import (
    ExportError,
    ExportResult,
    WeightsError,
    check_target,
    first_line,
    publish,
    staging,
)
from layerloom.graph import Graph, dumps, loads
from layerloom.graph.fileio import describe_write_error

WEIGHTS_FORMAT = "layerloom.weights"
WEIGHTS_FORMAT_VERSION = "1"
MAX_LISTED = 6  # tensors named in one error message


def save_weights(
    graph: Graph, model: nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None
) -> ExportResult:
    """Write ``model``'s state_dict and ``graph`` to one ``.safetensors`` file.

    The file is written under a temporary name, read back and compared tensor by
    tensor, then renamed over ``path``.

    Parameters
    ----------
    graph : Graph
        The graph ``model`` was compiled from; embedded as JSON in the metadata.
    model : nn.Module
        Usually a :class:`~layerloom.backend.compile.CompiledGraph`.
    path : path-like
        The target file.
    metadata : dict of str, optional
        Extra string entries for the file's metadata (a run's step, the input
        normalisation); the format keys and the graph cannot be overridden.

    Raises
    ------
    ExportError
        The file cannot be written, or does not read back identical.
    """
    path = check_target(path)
    with staging(path) as staged:
        write_weights(graph, model, staged, metadata)
        files = publish(staged, path)
    return ExportResult(path, "safetensors", files)


def write_weights(
    graph: Graph, model: nn.Module, target: Path, extra: dict[str, str] | None = None
) -> None:
    """Write the weights file at ``target`` and check that it reads back identical
    (the caller stages and publishes it)."""
    from safetensors.torch import save_file

    tensors = {
        name: t.detach().to("cpu").contiguous().clone() for name, t in model.state_dict().items()
    }
    metadata = {
        **(extra or {}),
        "format": WEIGHTS_FORMAT,
        "format_version": WEIGHTS_FORMAT_VERSION,
        "graph": dumps(graph),
    }
    try:
        save_file(tensors, str(target), metadata=metadata)
    except Exception as exc:  # safetensors reports a full disk as its own error type
        raise ExportError(describe_write_error(exc, target.name)) from None
    _verify(target, tensors, metadata)


def _verify(staged: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    from safetensors import safe_open

    with safe_open(str(staged), framework="pt") as f:
        if f.metadata() != metadata or set(f.keys()) != set(tensors):
            raise ExportError(f"the weights written to {staged.name} do not read back as written")
        for name, tensor in tensors.items():
            if not _same_bytes(f.get_tensor(name), tensor):
                raise ExportError(f"tensor {name!r} does not read back as written")


def _same_bytes(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-for-bit equality (NaN weights are saved as they are, and equal themselves)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """The metadata and tensors of a ``.safetensors`` file.

    Raises
    ------
    WeightsError
        The file is missing, unreadable or not in the safetensors format.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "does not exist"
        raise WeightsError(f"weights file {path} {problem}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except OSError as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # safetensors raises its own error types for bad files
        raise WeightsError(
            f"{path} is not a readable safetensors file ({first_line(exc)})"
        ) from None
    return metadata, tensors


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load the tensors of a ``.safetensors`` file into ``model`` (in place).

    Every tensor of ``model``'s state_dict must be in the file with the same shape,
    and the file must hold nothing else; floating-point tensors saved in another
    precision are converted. Nothing is changed unless everything matches.

    Raises
    ------
    WeightsError
        Naming each tensor that is missing, unexpected or of the wrong shape.
    """
    _, tensors = read_safetensors(path)
    apply_state(model, tensors, str(path))
    return model


def apply_state(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Check ``tensors`` against ``model``'s state_dict, then load them."""
    expected = model.state_dict()
    problems = []
    for name, target in expected.items():
        if name not in tensors:
            problems.append(f"tensor {name!r} {_shape(target)} is missing")
        elif tuple(tensors[name].shape) != tuple(target.shape):
            problems.append(
                f"tensor {name!r} has shape {_shape(tensors[name])} in the file; "
                f"the graph needs {_shape(target)}"
            )
        elif tensors[name].dtype != target.dtype and not (
            tensors[name].is_floating_point() and target.is_floating_point()
        ):
            problems.append(
                f"tensor {name!r} is {tensors[name].dtype} in the file; the graph needs {target.dtype}"
            )
    problems += [
        f"tensor {name!r} {_shape(t)} is not used by the graph"
        for name, t in tensors.items()
        if name not in expected
    ]
    if problems:
        listed = "; ".join(problems[:MAX_LISTED])
        more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise WeightsError(
            f"the weights in {source} do not match the graph: {listed}{more}. "
            "Were they saved from another version of this graph?"
        )
    with torch.no_grad():
        for name, target in expected.items():
            target.copy_(tensors[name].to(dtype=target.dtype))


def load_model(path: str | os.PathLike, seed: int | None = 0) -> tuple[Graph, CompiledGraph]:
    """Reopen a ``.safetensors`` file written by :func:`save_weights`.

    Returns
    -------
    (Graph, CompiledGraph)
        The embedded graph and its compiled module holding the file's weights
        (in eval mode; call ``.train()`` to go on training).

    Raises
    ------
    WeightsError
        The file is unreadable, holds no LayerLoom graph, or its tensors do not
        match the graph.
    GraphFileError
        The embedded graph cannot be read (same checks as a ``.loom`` file).
    GraphInvalidError
        The embedded graph is not valid.
    """
    metadata, tensors = read_safetensors(path)
    if metadata.get("format") != WEIGHTS_FORMAT or "graph" not in metadata:
        raise WeightsError(
            f"{path} holds weights but no LayerLoom graph; open the .loom file it belongs "
            "to and give this file as its weights"
        )
    version = metadata.get("format_version")
    if version != WEIGHTS_FORMAT_VERSION:
        raise WeightsError(
            f"{path} has weights format version {version!r}; this LayerLoom reads version "
            f"{WEIGHTS_FORMAT_VERSION}, please update"
        )
    graph = loads(metadata["graph"], f"{path} (embedded graph)")
    model = compile_graph(graph, seed=seed)
    apply_state(model, tensors, str(path))
    model.eval()
    return graph, model


def _shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape))


REFUSED_PICKLE = ("holds pickled Python objects besides tensors, which could run code when "
                  "read; LayerLoom refused it. Save plain tensors (model.state_dict()) or use "
                  "a .safetensors file")


def load_tensor_file(path: str | os.PathLike) -> object:
    """``torch.load(path, weights_only=True)``: tensors, numbers, text and containers.

    Raises
    ------
    WeightsError
        Unreadable, or holding objects that would need code to rebuild; the message
        says so instead of repeating torch's advice to switch the check off.
    """
    import pickle

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "weights only" in str(exc).lower():
            raise WeightsError(f"{path} {REFUSED_PICKLE}") from None
        raise WeightsError(f"{path} is not a readable torch file: {_first(exc)}") from None
    except Exception as exc:  # zip errors, truncation, wrong magic number
        raise WeightsError(f"{path} is not a readable torch file: {_first(exc)}") from None


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
