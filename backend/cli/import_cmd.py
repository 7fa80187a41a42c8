"""``layerloom import MODEL.py:Class|MODEL.onnx -o FILE.loom``: bring a model in.

A PyTorch model is named by its file and class (``model.py:Net``); the file is
run to define the class (its code runs: import only files you trust), the class
is created with ``--args`` (a JSON object of keyword arguments) and given the
state dict of ``--weights`` when there is one. An ONNX file brings its weights.

Shapes: a PyTorch trace does not know them, so give the shape of one sample of
each input, without the batch dim: ``--input-shape 1,28,28`` (repeat it for
several inputs, in ``forward``'s order; ``--input-dtype long`` marks token ids).
A model whose inputs all go straight into ``nn.Linear`` needs none, and inputs
that go into ``nn.Embedding`` are token ids by default. ONNX files declare their
shapes; ``--input-shape`` is needed only for a dim the file leaves open (besides
the batch).

Time-first inputs: an input whose batch is in dim 1 (a sequence read by an RNN,
LSTM or GRU with ``batch_first=False``, or a recurrent state ``(layers, N, H)``)
is found when it goes straight into such a layer; ``--batch-dim 1`` says so for
others (once per input, in order). The imported graph takes every input batch
first.

Writes FILE.loom and, next to it, FILE.safetensors with the weights (the graph
embedded, so it also opens on its own). The import is checked: the new graph must
give the source model's outputs (within 1e-5), or nothing is written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from layerloom.backend import import_options
from layerloom.backend.cli import EXIT_INVALID, CommandError

DESCRIPTION = """\
Import a PyTorch nn.Module (FILE.py:ClassName; this runs the code in FILE.py)
or an ONNX file into a LayerLoom graph with its weights. Every layer, function
or operator LayerLoom cannot represent is listed, and then nothing is written.

Input shapes: give the shape of one sample of each input, without the batch
dim (--input-shape 1,28,28), once per input in forward's order. A model whose
inputs go straight into nn.Linear needs none; an ONNX file needs one only for
a dim it leaves open besides the batch."""

EXAMPLES = """examples:
  layerloom import model.py:Net --input-shape 1,28,28 -o net.loom
  layerloom import model.py:Classifier --args '{"hidden": 64}' --weights trained.pt -o clf.loom
  layerloom import text.py:Tagger --input-shape 40 --input-dtype long -o tagger.loom
  layerloom import resnet.onnx -o resnet.loom"""


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name,
        help="import a PyTorch model (FILE.py:Class) or an ONNX file as an editable graph",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="FILE.py:Class|FILE.onnx", help="the model to import")
    p.add_argument("-o", "--output", required=True, metavar="FILE.loom",
                   help="the graph to write; the weights go to FILE.safetensors next to it")
    p.add_argument("--args", metavar="JSON", help="keyword arguments for the class, as a JSON object")
    p.add_argument("-w", "--weights", metavar="STATE",
                   help="a state dict for the PyTorch model (.pt/.pth via torch.save, or .safetensors)")
    p.add_argument("--input-shape", action="append", default=[], metavar="D1,D2,...",
                   help="shape of one sample of an input, without the batch dim (repeat per input)")
    p.add_argument("--input-dtype", action="append", default=[], choices=("float", "long"),
                   help="float (default) or long (token ids) per input, in order")
    p.add_argument("--batch-dim", action="append", default=[], type=int, choices=(0, 1),
                   help="where an input has its batch: 0 (default) or 1 (time first, or an RNN state); "
                        "once per input, in order (PyTorch models)")
    p.add_argument("--flat", action="store_true",
                   help="one sheet of layers; by default each submodule (of a PyTorch model, or named in an "
                        "ONNX file exported from one) becomes a block")
    p.set_defaults(run=run)


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1,28,28"`` -> ``(1, 28, 28)``; also accepts ``(1, 28, 28)`` and ``1x28x28``."""
    try:
        return import_options.parse_shape(text, f"--input-shape {text!r}", "--input-shape 1,28,28")
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def parse_args_json(text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"--args is not valid JSON ({exc.msg} at column {exc.colno}): {text!r}; "
            "write an object such as '{\"hidden\": 64}'"
        ) from None
    if not isinstance(value, dict):
        raise CommandError(f"--args must be a JSON object such as '{{\"hidden\": 64}}', got {text!r}")
    return value


def run(args) -> int:
    from layerloom.backend.importers import ModelImportError, import_file, import_onnx, save_import

    shapes = [parse_shape(s) for s in args.input_shape] or None
    kwargs = parse_args_json(args.args)
    output = Path(args.output)
    if output.suffix.lower() != ".loom":
        raise CommandError(f"the output must be a .loom file, got {args.output!r}")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise CommandError(f"cannot write {output}: the folder {parent} does not exist")
    source = args.model
    try:
        if source.lower().endswith(".onnx"):
            if kwargs is not None or args.weights or args.input_dtype or args.batch_dim:
                raise CommandError("--args, --weights, --input-dtype and --batch-dim apply to PyTorch models; "
                                   "an ONNX file holds its weights, types and layout")
            result = import_onnx(source, shapes, flat=args.flat)
        elif ".py:" in source:
            path = source.rpartition(":")[0]
            if not Path(path).is_file():
                raise CommandError(f"{path}: no such file")
            print(f"note: importing runs the Python code in {path}; import only files you trust", flush=True)
            result = import_file(source, kwargs, args.weights, shapes, args.input_dtype or None, flat=args.flat,
                                 batch_dims=args.batch_dim or None)
        else:
            raise CommandError(
                f"cannot tell what {source!r} is: give a PyTorch model as FILE.py:ClassName "
                "(e.g. model.py:Net) or an ONNX file ending in .onnx"
            )
        for note in result.notes:
            print(f"note: {note}")
        written = save_import(result, output)
    except ModelImportError as exc:
        raise CommandError(str(exc), EXIT_INVALID if exc.problems else 2) from None
    analysis = result.graph.analysis()
    print(
        f"imported {len(result.graph)} nodes, {analysis.total_params:,} parameters "
        f"(outputs match the source model within {result.max_difference:.2g})"
    )
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
