"""``layerloom export FILE --format onnx|torchscript|python|safetensors -o OUT``.

FILE is a ``.loom`` graph (with ``--weights W.safetensors`` for trained weights, or
freshly initialised ones, with a note saying so) or a ``.safetensors`` file saved
by LayerLoom, which holds both. The format may be left out when OUT's suffix
names it (``.onnx``, ``.pt``, ``.py``, ``.safetensors``).

``--format train-script`` writes a standalone training script instead (runnable
with torchrun; ``--with-data`` adds the file's dataset as ``.npz``): see
:mod:`layerloom.backend.export.train_script`.
"""

from __future__ import annotations

from pathlib import Path

from layerloom.backend.cli import EXIT_INVALID, CommandError

FORMAT_NAMES = ("onnx", "torchscript", "python", "safetensors", "train-script")


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name,
        help="export a graph as ONNX, TorchScript, PyTorch source or safetensors",
        description="Export a graph and its weights. Every export is loaded back and "
        "checked against the model before it is written.",
    )
    p.add_argument("file", help="the .loom graph, or a .safetensors file saved by LayerLoom")
    p.add_argument("-w", "--weights", help="trained weights (.safetensors) for a .loom graph")
    p.add_argument(
        "-f", "--format", choices=FORMAT_NAMES,
        help="what to write (default: from the suffix of OUT)",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the file to write")
    p.add_argument("--seed", type=int, default=0, help="seed for fresh weights (default 0)")
    p.add_argument("--network", metavar="NAME",
                   help="export one block node on its own (its label or block name; in a GAN "
                   "project also generator or discriminator)")
    p.add_argument("--with-data", action="store_true",
                   help="train-script: also write the file's dataset as OUT's name with .npz, "
                   "so the script runs out of the box")
    p.set_defaults(run=run)


def run(args) -> int:
    from layerloom.backend.export import ExportError, export_model, format_for
    from layerloom.backend.export.common import check_target

    try:
        check_target(args.output)  # before the (slow) loading and compiling
    except ExportError as exc:
        raise CommandError(str(exc)) from None
    fmt = args.format or format_for(args.output)
    if fmt is None:
        raise CommandError(
            f"cannot tell the format from {args.output!r}; add --format "
            f"({'|'.join(FORMAT_NAMES)})"
        )
    if args.with_data and fmt != "train-script":
        raise CommandError(f"--with-data goes with --format train-script, not {fmt}")
    graph, model = _load(args)
    try:
        if args.network:  # one network alone (a GAN's generator): backend.export.network
            from layerloom.backend.export.network import extract_network

            graph, model = extract_network(graph, model, args.network)
        if fmt == "train-script":  # a standalone training script (backend.export.train_script)
            from layerloom.backend.export.train_script import export_train_script

            result = export_train_script(graph, model, args.output, with_data=args.with_data,
                                         base_dir=str(Path(args.file).resolve().parent))
        else:
            result = export_model(graph, model, args.output, fmt)
    except ExportError as exc:
        raise CommandError(str(exc)) from None
    for note in result.notes:
        print(f"note: {note}")
    written = ", ".join(str(p) for p in result.files)
    check = "" if fmt == "safetensors" else (
        f" (checked against the model: largest difference {result.max_difference:.2g})"
    )
    print(f"wrote {written}{check}")
    return 0


def _load(args):
    """The graph and its compiled model with the requested weights."""
    from layerloom.backend.compile import compile_graph
    from layerloom.backend.export import WeightsError, load_model, load_weights
    from layerloom.graph import GraphFileError, GraphInvalidError, load_graph

    path = Path(args.file)
    try:
        if path.suffix.lower() == ".safetensors":
            if args.weights:
                raise CommandError(f"{path} already holds its weights; leave out --weights")
            return load_model(path)
        graph = load_graph(path)
        model = compile_graph(graph, seed=args.seed)
        if args.weights:
            load_weights(model, args.weights)
        else:
            print(f"note: no --weights given; exporting freshly initialised weights (seed {args.seed})")
        return graph, model
    except GraphInvalidError as exc:
        lines = "".join(f"\n  {node}: {message}" for node, message in exc.errors)
        raise CommandError(
            f"{path} is not a valid graph ({len(exc.errors)} error(s)); fix them and export again:{lines}",
            EXIT_INVALID,
        ) from None
    except (GraphFileError, WeightsError) as exc:
        raise CommandError(str(exc)) from None
    except (RuntimeError, ValueError) as exc:  # torch refusing a layer's settings
        raise CommandError(f"cannot build the model of {path}: {str(exc).splitlines()[0]}") from None
