"""``layerloom plot FILE --weights W VIEW [--node N] [--sample I] -o OUT.png``.

Draws one view of :mod:`layerloom.backend.views` (node outputs, filters,
attention, activation functions, and any view registered there) to a PNG, for a
slide or a report. FILE is a ``.loom`` graph (its weights from ``--weights``, or
fresh ones, with a note saying so) or a ``.safetensors`` file saved by LayerLoom,
which holds both. The sample is an index into the validation set, split and
normalised as training did (the graph's seed), or with ``--image`` a picture of
one's own (:mod:`~layerloom.backend.cli.image_option`). Each view's own options become
``--NAME`` options here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from layerloom.backend.cli import EXIT_UNREADABLE, CommandError

EXIT_NOT_APPLICABLE = 3  # the view does not apply to this node, model or data


INSIGHT_HELP = ("saliency: the gradient of a class score over the input; gradcam: Grad-CAM over a "
                "convolutional layer; landscape: the loss around the weights along two directions, with "
                "the training path; embedding: an Embedding layer's vectors in 2-D")


def add_parser(subs, name: str) -> None:
    from layerloom.backend.cli import image_option, inspect_cmd
    from layerloom.backend.views import list_views

    views = list_views()
    names = [v.name for v in views] + list(inspect_cmd.VIEWS)
    listing = "; ".join(f"{v.name}: {v.help}" for v in views) + "; " + INSIGHT_HELP
    p = subs.add_parser(
        name, help="draw a view of the inside of a network (node outputs, filters, attention, ...) to a PNG",
        description=f"Draw one view to a PNG image. The views: {listing}.",
    )
    p.add_argument("file", metavar="FILE", help="the .loom graph, or a .safetensors file saved by LayerLoom")
    p.add_argument("view", choices=names, metavar="VIEW", help=f"the view: {', '.join(names)}")
    p.add_argument("-w", "--weights", help="trained weights (.safetensors) for a .loom graph; for "
                   f"{', '.join(inspect_cmd.VIEWS)} also the folder 'layerloom train' wrote, and without it "
                   "the graph is trained here first")
    p.add_argument("-n", "--node", help="the node's id (default: the view's choice, e.g. the first convolution)")
    p.add_argument("-s", "--sample", type=_index, default=0, help="index in the validation set (default 0)")
    image_option.add_option(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the .png file to write")
    p.add_argument("--width", type=_width, default=900, help="image width in pixels (default 900)")
    p.add_argument("--seed", type=int, default=0, help="seed for fresh weights (default 0)")
    seen: dict[str, type] = {}
    for view in views:
        for option, (kind, _default, help_text) in view.options.items():
            if option in seen:
                continue
            seen[option] = kind
            p.add_argument(f"--{option.replace('_', '-')}", dest=f"view_{option}", type=kind, default=None, metavar=option.upper(),
                           help=f"{view.name}: {help_text}")
    inspect_cmd.add_options(p)
    p.set_defaults(run=run)


def _index(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _width(text: str) -> int:
    import argparse

    value = _index(text)
    if not 300 <= value <= 4000:
        raise argparse.ArgumentTypeError(f"must be from 300 to 4000 pixels, got {value}")
    return value


def run(args) -> int:
    from layerloom.backend.cli import image_option, inspect_cmd
    from layerloom.backend.views import VIEWS, NotApplicable, ViewContext
    from layerloom.backend.views.render import to_png

    if args.view in inspect_cmd.VIEWS:
        return inspect_cmd.run(args)

    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise CommandError(f"the output must be a .png file; got {args.output!r}")
    if not out.parent.is_dir():
        raise CommandError(f"no folder {out.parent} to write {out.name} in")
    view = VIEWS[args.view]
    image = image_option.takes_image(args, "sample" in view.needs)
    graph, model = _load(args, "model" in view.needs)
    data, normalisation = _data(args, graph) if "data" in view.needs else (None, None)
    own = image_option.own_sample(args, data, normalisation) if image else None
    options = {name: getattr(args, f"view_{name}", None) for name in view.options}
    ctx = ViewContext(graph, model, data, args.node, args.sample, {k: v for k, v in options.items() if v is not None},
                      own=own, own_name=image_option.own_name(args) if image else "")
    try:
        figure = view.compute(ctx)
    except NotApplicable as exc:
        raise CommandError(f"{args.view}: {exc}", EXIT_NOT_APPLICABLE) from None
    try:
        to_png(figure, out, width=args.width)
    except OSError as exc:
        raise CommandError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"{out}: {figure.title}" + (f" ({figure.note})" if figure.note else ""))
    return 0


def _load(args, need_model: bool):
    """The graph and, when the view needs one, its model (CPU, eval mode)."""
    from layerloom.graph import GraphError, GraphFileError, load_graph

    path = Path(args.file)
    if not path.exists():
        raise CommandError(f"no such file: {args.file}")
    if path.suffix == ".safetensors":
        if args.weights:
            raise CommandError("a .safetensors file holds its weights already; leave out --weights")
        from layerloom.backend.export import WeightsError, load_model

        try:
            return load_model(path)
        except (WeightsError, GraphError, GraphFileError) as exc:
            raise CommandError(str(exc)) from None
    try:
        graph = load_graph(path)
    except GraphFileError as exc:
        raise CommandError(str(exc)) from None
    analysis = graph.analysis()
    if not analysis.valid:
        first = "; ".join(f"{nid}: {msg}" for nid, msg in analysis.errors[:3])
        raise CommandError(f"{args.file}: the graph has {len(analysis.errors)} error(s); fix them first: {first}")
    if not need_model and not args.weights:
        return graph, None
    from layerloom.backend.compile import compile_graph
    from layerloom.backend.export import WeightsError, load_weights

    model = compile_graph(graph, seed=args.seed)
    if args.weights:
        try:
            load_weights(model, args.weights)
        except WeightsError as exc:
            raise CommandError(str(exc)) from None
    else:
        print(f"note: no --weights given: drawing freshly initialised weights (seed {args.seed})", file=sys.stderr)
    return graph, model.eval()


def _data(args, graph):
    """The validation set (else the training set), split and normalised as training
    did, and the normalisation applied."""
    from layerloom.backend.datasets import DatasetError
    from layerloom.backend.training import (
        DatasetSettings,
        SettingsError,
        TrainSettings,
        prepare_data,
    )

    try:
        settings = TrainSettings.from_dict(graph.training)
        data = prepare_data(DatasetSettings.from_dict(graph.dataset), settings.seed,
                            str(Path(args.file).resolve().parent))
    except (SettingsError, DatasetError) as exc:
        raise CommandError(f"{args.file}: cannot load its data: {exc}", EXIT_UNREADABLE) from None
    return (data.val if data.val is not None else data.train), data.normalisation
