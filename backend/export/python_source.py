"""Readable, standalone PyTorch source for a compiled graph.

The export is one ``.py`` file a user can paste into a project: an ``nn.Module``
class whose ``__init__`` builds named layers (``self.conv_1 = nn.Conv2d(1, 6,
kernel_size=(5, 5))``) and whose ``forward`` runs them in the graph's order with
the nodes' names as variables. It imports only torch and the standard library:
LayerLoom's own small module classes are copied in by their source, and the
weights, written next to it as ``<name>.safetensors``, are read by a loader of a
dozen lines in the file itself (the safetensors format is an 8-byte header
length, a JSON header and raw little-endian bytes), so neither LayerLoom nor the
safetensors package is needed.

Before the files are kept, a fresh Python process that cannot import LayerLoom
imports the generated file, builds the model, loads the weights with the file's
own loader and must reproduce the compiled model's outputs on two batch sizes.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from layerloom.backend.compile import CompiledGraph
from layerloom.backend.export.common import (
    BATCH_SIZES,
    ExportError,
    ExportResult,
    check_target,
    eval_mode,
    example_inputs,
    publish,
    reference_outputs,
    staging,
    token_limit,
)
from layerloom.backend.export.constructors import constructor_call, literal
from layerloom.backend.export.python_forward import forward_source
from layerloom.backend.export.source_bundle import Bundle, is_own_module
from layerloom.backend.export.weights import write_weights
from layerloom.graph import Graph
from layerloom.graph.fileio import describe_write_error

ALLOWED_IMPORTS = ("torch", "json", "struct", "sys", "math", "pathlib", "__future__", "typing")
CHECK_TIMEOUT_S = 300

HEADER = '''\
from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import torch
'''

LOADER = '''\
SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}


def load_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Read the tensors of a .safetensors file with nothing but Python and torch.

    The format: 8 bytes giving the length of a JSON header (little-endian), the
    header (each tensor's dtype, shape and byte range), then the tensors' raw
    little-endian bytes. Nothing in the file is executed.
    """
    if sys.byteorder != "little":
        raise RuntimeError("this loader reads little-endian tensors on little-endian machines only")
    data = bytearray(Path(path).read_bytes())
    (header_length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_length])
    header.pop("__metadata__", None)
    start = 8 + header_length
    tensors = {}
    for name, info in header.items():
        dtype = SAFETENSORS_DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        count = (end - begin) // dtype.itemsize
        if count:
            flat = torch.frombuffer(data, dtype=dtype, count=count, offset=start + begin).clone()
        else:
            flat = torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"])
    return tensors
'''

# Run in a separate, isolated Python process: imports the generated file while
# LayerLoom's packages are blocked, and compares its outputs with the expected ones.
CHECK_SCRIPT = r'''
import importlib.util, json, sys
sys.modules["layerloom"] = None
import torch
source, weights, expected = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("layerloom_export_check", source)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
model = module.load_model(weights)
data = module.load_safetensors(expected)
report = {"parameters": sum(p.numel() for p in model.parameters()), "batches": {}}
for batch in sorted({key.split(".")[0] for key in data}):
    count = sum(1 for key in data if key.startswith(batch + ".input."))
    inputs = [data[f"{batch}.input.{i}"] for i in range(count)]
    with torch.no_grad():
        outputs = model(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    diffs = []
    for i, out in enumerate(outputs):
        want = data[f"{batch}.output.{i}"]
        if tuple(out.shape) != tuple(want.shape):
            diffs.append(f"output {i + 1} has shape {tuple(out.shape)}, expected {tuple(want.shape)}")
        else:
            out, want = out.double(), want.double()
            diff = (out - want).abs()
            diff[(out == want) | (out.isnan() & want.isnan())] = 0.0  # same infinity, NaN on both sides
            diffs.append(float(diff.max()) if out.numel() else 0.0)
    report["batches"][batch] = diffs
print(json.dumps(report))
'''


def export_python(graph: Graph, model: CompiledGraph, path: str | os.PathLike) -> ExportResult:
    """Write ``model`` as standalone PyTorch source plus its weights.

    Parameters
    ----------
    graph : Graph
        The graph ``model`` was compiled from (names, title, embedded in the weights).
    model : CompiledGraph
        The compiled model with its weights.
    path : path-like
        The ``.py`` file to write; the weights go to the same name with the suffix
        ``.safetensors``.

    Returns
    -------
    ExportResult
        ``files`` lists the source and the weights file.

    Raises
    ------
    ExportError
        The model holds something that cannot be written as standalone source, or
        the generated file does not reproduce the model.
    """
    path = check_target(path)
    if path.suffix != ".py":
        raise ExportError(f"the Python export writes a .py file; got {path.name!r}")
    weights = path.with_suffix(".safetensors")
    with eval_mode(model):
        text = python_source(graph, model, weights.name)
        check_imports(text, ALLOWED_IMPORTS, "the generated source")
        files, worst = write_checked(graph, model, path, text)
    notes = [f"the weights are in {weights.name}, next to the source; load_model() reads them"]
    return ExportResult(path, "python", files, notes, worst)


def write_checked(graph: Graph, model: CompiledGraph, path: Path, text: str,
                  metadata: dict[str, str] | None = None,
                  write_more: Callable[[Path], None] | None = None) -> tuple[list[Path], float]:
    """Write the source ``text`` at ``path`` and the model's weights next to it
    (``.safetensors``, with ``metadata``), check that the source reproduces the
    model in a fresh process, and only then move them into place.

    ``write_more`` is called with the staged source's path to write side files
    (their names taken from it) before the check. Returns the files written and
    the largest difference seen. Call it in eval mode.
    """
    with staging(path) as staged:
        try:
            staged.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ExportError(describe_write_error(exc, str(path))) from None
        staged_weights = staged.with_suffix(".safetensors")
        write_weights(graph, model, staged_weights, metadata)
        if write_more is not None:
            write_more(staged)
        worst = _run_check(staged, staged_weights, model)
        return publish(staged, path), worst


def class_name(graph: Graph) -> str:
    """``Model``, or the graph's title in CamelCase (``MnistCnn``) when it has one."""
    title = str(graph.meta.get("title", "")) if isinstance(graph.meta, dict) else ""
    words = re.findall(r"[A-Za-z0-9]+", title)
    name = "".join(w[:1].upper() + w[1:].lower() for w in words)
    if not name or not name.isidentifier() or name[0].isdigit() or name in ("Model",):
        return "Model"
    return name


def python_source(graph: Graph, model: CompiledGraph, weights_name: str) -> str:
    """The text of the standalone file (see the module docstring)."""
    bundle = Bundle()
    blocks = _Blocks(bundle)
    layer_lines = blocks.layer_lines(model)
    forward = forward_source(model, bundle)
    title = class_name(graph)
    bundle.imports.add("from torch import nn")
    extra = [i for i in bundle.imports if i != "import torch"]
    imports = "\n".join(sorted(i for i in extra if i.startswith("import ")) + sorted(i for i in extra if i.startswith("from ")))
    parts = [
        _docstring(graph, model, title, weights_name),
        HEADER + (imports + "\n" if imports else ""),
        *bundle.sources,
        *blocks.sources,
        _class(title, graph, layer_lines, forward),
        LOADER,
        _loader_function(title, weights_name),
        _main(model),
    ]
    return "\n\n\n".join(p.rstrip("\n") for p in parts) + "\n"


class _Blocks:
    """The classes written for the model's blocks: one per block definition (a
    second class, ``Encoder2``, only where an instance's exposed values make its
    layers differ), each with its layers and forward, nested as the blocks are."""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.sources: list[str] = []
        self._names: dict[str, str] = {}  # class text without its name -> class name
        self._taken: set[str] = set()

    def layer_lines(self, model: nn.Module) -> list[str]:
        lines = [f"        self.{name} = {self.construct(name, module)}" for name, module in model.named_children()]
        for name, value in list(model.named_parameters(recurse=False)) + list(model.named_buffers(recurse=False)):
            lines.append(_root_tensor(model, name, value))
        return lines

    def construct(self, name: str, module: nn.Module) -> str:
        cls = type(module)
        if isinstance(module, CompiledGraph):
            return f"{self.block_class(module)}()"
        children = list(module.named_children())
        if cls in (nn.Module, nn.ModuleList) and children and all(k.isdigit() for k, _ in children):
            self.bundle.imports.add("from torch import nn")
            items = ", ".join(self.construct(f"{name}[{k}]", m) for k, m in children)
            return f"nn.ModuleList([{items}])"
        if getattr(nn, cls.__name__, None) is cls:
            self.bundle.imports.add("from torch import nn")
            return constructor_call(module, f"nn.{cls.__name__}")
        if is_own_module(cls.__module__):
            return constructor_call(module, self.bundle.name_of(cls))
        raise ExportError(
            f"layer {name!r} is a {cls.__module__}.{cls.__name__}, which a standalone file cannot build"
        )

    def block_class(self, module: CompiledGraph) -> str:
        lines = self.layer_lines(module)
        body = "\n".join(lines) if lines else "        pass"
        text = ("    def __init__(self) -> None:\n        super().__init__()\n"
                f"{body}\n\n{forward_source(module, self.bundle)}")
        if text not in self._names:
            base = type(module).__name__
            name, i = base, 2
            while name in self._taken or name in self.bundle.names or name == "Model":
                name, i = f"{base}{i}", i + 1
            self._taken.add(name)
            self._names[text] = name
            self.sources.append(f"class {name}(nn.Module):\n    \"\"\"Block {base}.\"\"\"\n\n{text}")
        return self._names[text]


def _root_tensor(model: nn.Module, name: str, value: torch.Tensor) -> str:
    """A parameter or buffer held by the model itself (not by a layer)."""
    shape = literal(tuple(value.shape))
    empty = f"torch.empty({shape}, dtype={literal(value.dtype)})"
    if isinstance(value, nn.Parameter):
        return f"        self.{name} = nn.Parameter({empty})"
    if name in model._non_persistent_buffers_set:
        raise ExportError(f"the model's buffer {name!r} is not saved with the weights; it cannot be exported")
    return f"        self.register_buffer({name!r}, {empty})"


def _docstring(graph: Graph, model: CompiledGraph, title: str, weights_name: str) -> str:
    meta_title = str(graph.meta.get("title", "")).strip() if isinstance(graph.meta, dict) else ""
    heading = f"{meta_title or title}: a PyTorch model exported from LayerLoom."
    inputs = ", ".join(f"{n} {_shape(s)}" for n, s in zip(_arg_names(model), model.input_specs, strict=True))
    outputs = ", ".join(_shape(s) for s in model.output_specs)
    lines = [
        heading, "",
        "Needs only torch. Build the model with the trained weights saved next to this file:", "",
        f"    model = load_model()  # reads {weights_name}",
        "    outputs = model(...)", "",
        f"Inputs: {inputs}. Outputs: {outputs} (N is the batch size).",
    ]
    text = "\n".join(lines).replace('"""', "'''").replace("\\", "/")
    return f'"""{text}\n"""'


def _shape(spec) -> str:
    dims = ", ".join(["N", *map(str, spec.shape)])
    kind = "token ids (int64)" if spec.dtype == "long" else "float32"
    return f"({dims}) {kind}"


def _arg_names(model: CompiledGraph) -> list[str]:
    return [n.name for n in model.graph.nodes if n.op == "placeholder"]


def _class(title: str, graph: Graph, layer_lines: list[str], forward: str) -> str:
    summary = f"The graph as an nn.Module: {len(layer_lines)} layers, in the order they run."
    body = "\n".join(layer_lines) if layer_lines else "        pass"
    return (
        f"class {title}(nn.Module):\n"
        f'    """{summary}"""\n\n'
        "    def __init__(self) -> None:\n"
        "        super().__init__()\n"
        f"{body}\n\n"
        f"{forward}"
    )


def _loader_function(title: str, weights_name: str) -> str:
    return (
        f"WEIGHTS = Path(__file__).with_name({weights_name!r})\n\n\n"
        f"def load_model(weights: str | Path = WEIGHTS) -> {title}:\n"
        f'    """A {title} with the weights of a .safetensors file, in eval mode."""\n'
        f"    model = {title}()\n"
        "    model.load_state_dict(load_safetensors(weights))\n"
        "    return model.eval()\n"
    )


def _main(model: CompiledGraph) -> str:
    limit = token_limit(model)
    examples = []
    for spec in model.input_specs:
        shape = literal((2, *spec.shape))
        if spec.dtype == "long":
            examples.append(f"torch.randint(0, {limit}, {shape})")
        else:
            examples.append(f"torch.randn{shape}" if len(spec.shape) else "torch.randn(2)")
    return (
        'if __name__ == "__main__":\n'
        "    model = load_model()\n"
        "    with torch.no_grad():\n"
        f"        outputs = model({', '.join(examples)})\n"
        "    for output in outputs if isinstance(outputs, tuple) else (outputs,):\n"
        '        print(tuple(output.shape), output.flatten()[:5].tolist())\n'
    )


def check_imports(text: str, allowed: tuple[str, ...], what: str) -> None:
    """The generated file may import the top-level modules ``allowed`` only (torch
    and parts of the standard library); ``what`` names it in the error."""
    for node in ast.walk(ast.parse(text)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            if name.split(".")[0] not in allowed:
                raise ExportError(f"{what} would import {name}; it must need only torch")


def _run_check(source: Path, weights: Path, model: CompiledGraph) -> float:
    """Import the generated file in a fresh process and compare its outputs."""
    from safetensors.torch import save_file

    data = {}
    for batch in BATCH_SIZES:
        inputs = example_inputs(model, model.input_specs, batch, seed=batch)
        for i, t in enumerate(inputs):
            data[f"b{batch}.input.{i}"] = t.contiguous()
        for i, t in enumerate(reference_outputs(model, inputs)):
            data[f"b{batch}.output.{i}"] = t.contiguous()
    expected = source.parent / "expected.safetensors"
    save_file(data, str(expected))
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-B", "-c", CHECK_SCRIPT, str(source), str(weights), str(expected)],
            capture_output=True, text=True, timeout=CHECK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise ExportError(f"checking the generated source took over {CHECK_TIMEOUT_S} s") from None
    finally:
        expected.unlink(missing_ok=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise ExportError(f"the generated source fails when run: {lines[-1] if lines else 'no message'}")
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ExportError("the generated source's check printed no result") from None
    count = sum(p.numel() for p in model.parameters())
    if report["parameters"] != count:
        raise ExportError(
            f"the generated source builds {report['parameters']:,} parameters; the model has {count:,}"
        )
    worst = 0.0
    for batch, diffs in report["batches"].items():
        for i, diff in enumerate(diffs):
            if isinstance(diff, str):
                raise ExportError(f"the generated source (batch {batch[1:]}): {diff}")
            if not diff <= 1e-5:
                raise ExportError(
                    f"the generated source does not reproduce the model: output {i + 1} differs by "
                    f"up to {diff:.3g} at batch size {batch[1:]}"
                )
            worst = max(worst, diff)
    return worst

