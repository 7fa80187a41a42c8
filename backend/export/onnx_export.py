"""ONNX export with the dynamo exporter, checked in onnxruntime before it is kept.

The batch dim of every input is dynamic. Sequence inputs (token ids, or (T, F)
features feeding recurrent or attention layers) ask for a dynamic length too; the
exporter may fix it (a Flatten after the sequence needs one length), and some
exports bake the length into their operations (a recurrent layer's unrolled loop,
a reshape) while the file still declares it variable.
Either way the file must say what it can do: after export, every dim the file
declares variable is tried at a second size in onnxruntime against the PyTorch
model. A dim that fails is written into the file as fixed, and the result's notes
(and the file's metadata) say so. The batch dim must pass, or nothing is written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import torch

from layerloom.backend.compile import CompiledGraph
from layerloom.backend.export.common import (
    BATCH_SIZES,
    ExportError,
    ExportResult,
    check_close,
    check_target,
    eval_mode,
    example_inputs,
    first_line,
    publish,
    reference_outputs,
    staging,
)
from layerloom.backend.export.naming import io_names
from layerloom.graph import Graph
from layerloom.graph.fileio import describe_write_error

BATCH = "batch"
SEQUENCE_CATEGORIES = ("Recurrent", "Attention")


def export_onnx(graph: Graph, model: CompiledGraph, path: str | os.PathLike) -> ExportResult:
    """Write ``model`` as an ONNX file with a dynamic batch dim.

    The file is checked with ``onnx.checker`` and run in onnxruntime on two batch
    sizes (and a second length for every variable sequence dim) against the
    PyTorch outputs, within 1e-5, before it is renamed over ``path``.

    Parameters
    ----------
    graph : Graph
        The graph ``model`` was compiled from (names and sequence inputs).
    model : CompiledGraph
        The compiled model, with its weights; exported in eval mode.
    path : path-like
        The target ``.onnx`` file (large models also get ``<name>.data``).

    Returns
    -------
    ExportResult
        ``notes`` tell of every dim the file keeps fixed.

    Raises
    ------
    ExportError
        The exporter fails, or the file does not reproduce the model.
    """
    path = check_target(path)
    inputs_names, output_names = io_names(graph, model)
    sequence = _sequence_inputs(graph, model)
    with eval_mode(model), staging(path) as staged:
        examples = example_inputs(model, model.input_specs, BATCH_SIZES[0])
        program = _export(model, examples, inputs_names, output_names, sequence)
        try:
            program.save(str(staged))
        except OSError as exc:
            raise ExportError(describe_write_error(exc, str(path))) from None
        notes, worst = _check(staged, model, inputs_names, sequence)
        files = publish(staged, path)
    return ExportResult(path, "onnx", files, notes, worst)


def _sequence_inputs(graph: Graph, model: CompiledGraph) -> list[bool]:
    """Which inputs are sequences whose length may vary: token ids (T,) or
    features (T, F) from which a recurrent or attention layer is reached."""
    reach = graph.nx_graph()
    flags = []
    for nid, spec in zip(model.input_names, model.input_specs, strict=True):
        if not ((spec.dtype == "long" and spec.rank == 1) or (spec.dtype == "float" and spec.rank == 2)):
            flags.append(False)
            continue
        downstream = nx.descendants(reach, nid)
        flags.append(any(graph.node(d).spec.category in SEQUENCE_CATEGORIES for d in downstream))
    return flags


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter logs and warns a lot about things that are not the user's
    business (missing torchvision, deprecations); keep the command line clean."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _rename_clashes(model) -> None:
    """Give a fresh name to an inner value that has an output's name: the exporter
    names values after their operators (``squeeze``) and then gives the outputs
    their names, so an output called ``squeeze`` would be written twice."""
    graph = model.graph
    outputs = {id(v) for v in graph.outputs}
    taken = {v.name for node in graph.all_nodes() for v in node.outputs if v.name}
    taken |= {v.name for v in graph.inputs if v.name}
    wanted = {v.name for v in graph.outputs}
    for node in graph.all_nodes():
        for value in node.outputs:
            if value.name in wanted and id(value) not in outputs:
                i = 1
                while f"{value.name}_{i}" in taken:
                    i += 1
                value.name = f"{value.name}_{i}"
                taken.add(value.name)


def _export(model, examples, input_names, output_names, sequence):
    from layerloom.backend.export.onnx_translations import TRANSLATIONS

    batch = torch.export.Dim(BATCH)
    lengths = {}

    def shapes(with_sequence: bool):
        out = []
        for i, is_sequence in enumerate(sequence):
            dims = {0: batch}
            if with_sequence and is_sequence:
                lengths.setdefault(i, torch.export.Dim(f"{input_names[i]}_length"))
                dims[1] = lengths[i]
            out.append(dims)
        return tuple(out)

    attempts = [True, False] if any(sequence) else [False]
    error = None
    for with_sequence in attempts:
        try:
            with _quiet(), torch.no_grad():
                program = torch.onnx.export(
                    model, examples, dynamo=True, verbose=False,
                    input_names=input_names, output_names=output_names,
                    dynamic_shapes=shapes(with_sequence), custom_translation_table=TRANSLATIONS,
                )
            _rename_clashes(program.model)
            return program
        except Exception as exc:  # the exporter raises many types; report the first line
            error = exc
    raise ExportError(f"the ONNX exporter cannot export this model: {first_line(error)}")


def _check(staged: Path, model, input_names, sequence) -> tuple[list[str], float]:
    """Check the file; fix in it every non-batch dim that does not hold. Returns the
    notes for the user and the largest difference seen."""
    import onnx

    try:
        onnx.checker.check_model(str(staged))
    except Exception as exc:
        raise ExportError(f"the ONNX file fails onnx.checker: {first_line(exc)}") from None
    declared = _declared_dims(staged)
    notes = []
    for i, is_sequence in enumerate(sequence):
        if is_sequence and isinstance(declared[i][1], int):
            notes.append(_fixed_note(input_names[i], declared[i][1]))
    for i, dims in enumerate(declared):
        if dims[0] != BATCH:
            raise ExportError(
                f"the ONNX exporter fixed the batch size of input {input_names[i]!r} at "
                f"{dims[0]}; the export needs a variable batch size"
            )
    worst = _run_batches(staged, model)
    failing = []
    for symbol, places in _symbols(declared).items():
        sizes = [list(spec.shape) for spec in model.input_specs]
        for i, d in places:
            base = sizes[i][d - 1]
            sizes[i][d - 1] = base - 1 if base > 2 else base + 1
        try:
            worst = max(worst, _run(staged, model, BATCH_SIZES[0], sizes))
        except ExportError:
            failing.append(symbol)
            for i, d in places:
                notes.append(_fixed_note(input_names[i], model.input_specs[i].shape[d - 1]))
    if failing:
        _fix_dims(staged, failing, declared, model, notes)
        onnx.checker.check_model(str(staged))
        worst = max(worst, _run_batches(staged, model))
    return notes, worst


def _fixed_note(name: str, length: int) -> str:
    return (
        f"the sequence length of input {name!r} is fixed at {length} in the ONNX file "
        f"(this model does not export with a variable length); pad or cut sequences to "
        f"{length}, or use the TorchScript or Python export for other lengths"
    )


def _declared_dims(staged: Path) -> list[list[int | str]]:
    import onnx

    proto = onnx.load(str(staged), load_external_data=False)
    initializers = {t.name for t in proto.graph.initializer}
    dims = []
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        dims.append([d.dim_param if d.HasField("dim_param") else d.dim_value
                     for d in value.type.tensor_type.shape.dim])
    return dims


def _symbols(declared) -> dict[str, list[tuple[int, int]]]:
    """Non-batch symbolic dims: symbol -> [(input index, dim)]."""
    found: dict[str, list[tuple[int, int]]] = {}
    for i, dims in enumerate(declared):
        for d, dim in enumerate(dims):
            if d > 0 and isinstance(dim, str):
                found.setdefault(dim, []).append((i, d))
    return found


def _session(staged: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(staged), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ExportError(f"onnxruntime cannot load the ONNX file: {first_line(exc)}") from None


def _run_batches(staged: Path, model) -> float:
    return max(_run(staged, model, batch) for batch in BATCH_SIZES)


def _run(staged: Path, model, batch: int, sizes=None) -> float:
    """Run the file in onnxruntime and compare with the model; the difference."""
    session = _session(staged)
    inputs = example_inputs(model, model.input_specs, batch, sizes, seed=batch)
    what = f"the ONNX file (batch {batch})"
    try:
        expected = reference_outputs(model, inputs)
    except Exception as exc:
        raise ExportError(f"the model itself fails on these sizes: {first_line(exc)}") from None
    feeds = {arg.name: t.numpy() for arg, t in zip(session.get_inputs(), inputs, strict=True)}
    try:
        got = session.run(None, feeds)
    except Exception as exc:
        raise ExportError(f"{what} fails in onnxruntime: {first_line(exc)}") from None
    return check_close([torch.from_numpy(g) for g in got], expected, what)


def _fix_dims(staged: Path, symbols: list[str], declared, model, notes: list[str]) -> None:
    """Write the example size in place of each failing symbolic dim, everywhere the
    file declares it, and record the notes in the file's metadata."""
    import onnx

    sizes = {}
    for symbol, places in _symbols(declared).items():
        if symbol in symbols:
            i, d = places[0]
            sizes[symbol] = model.input_specs[i].shape[d - 1]
    external = any(p != staged for p in staged.parent.iterdir())
    proto = onnx.load(str(staged))
    graph = proto.graph
    for value in [*graph.input, *graph.output, *graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and dim.dim_param in sizes:
                dim.dim_value = sizes[dim.dim_param]
    entry = proto.metadata_props.add()
    entry.key = "layerloom.fixed_dims"
    entry.value = " ".join(notes)
    if external:
        for extra in staged.parent.iterdir():
            if extra != staged:
                extra.unlink()
        onnx.save_model(proto, str(staged), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=f"{staged.name}.data")
    else:
        onnx.save_model(proto, str(staged))
