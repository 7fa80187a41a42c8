"""``layerloom plot FILE VIEW -o OUT.png`` for saliency, Grad-CAM, the loss landscape
and an embedding (:mod:`layerloom.backend.insight`; the other views are
:mod:`layerloom.backend.views`').

The graph is FILE (a ``.loom``); its weights come from ``--weights`` (a
``.safetensors`` file or the folder ``layerloom train`` wrote). Without
``--weights`` the graph is first trained here with its own settings, recording the
training path, so the landscape can draw it. The sample (``--sample``) is taken
from the validation set, normalised as in training.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from layerloom.backend.cli import EXIT_INVALID, CommandError
from layerloom.backend.cli.prepare import load_valid_graph

VIEWS = ("saliency", "gradcam", "landscape", "embedding")
DIRECTIONS = ("auto", "random", "pca", "exact")
DEFAULT_BUDGET = 300.0  # seconds a landscape may take before the command asks for a smaller grid


def add_options(p) -> None:
    """The options of these views on ``layerloom plot``'s parser (which owns
    FILE, VIEW, --weights, --node, --sample and -o)."""
    p.add_argument("--class", dest="target", type=_non_negative, metavar="C",
                   help="saliency, gradcam: class whose score is explained (default: the predicted one)")
    p.add_argument("--grid", type=_grid, metavar="N",
                   help="landscape: points per side (default 21; 41 for a single neuron)")
    p.add_argument("--directions", choices=DIRECTIONS, default="auto",
                   help="landscape: random (filter-normalised), pca (of the training path), exact "
                   "(single neuron); auto: exact for a single neuron, else random")
    p.add_argument("--span", type=_positive, default=1.0, metavar="S",
                   help="landscape: random directions run from -S to S (default 1)")
    p.add_argument("--max-seconds", type=_positive, default=DEFAULT_BUDGET, metavar="T",
                   help=f"landscape: refuse a grid estimated to take longer (default {DEFAULT_BUDGET:g})")


def _number(text: str, kind):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'a whole number' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None


def _non_negative(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _grid(text: str) -> int:
    from layerloom.backend.insight.landscape import MAX_GRID, MIN_GRID

    value = _number(text, int)
    if not MIN_GRID <= value <= MAX_GRID:
        raise argparse.ArgumentTypeError(f"must be from {MIN_GRID} to {MAX_GRID}, got {value}")
    return value


def _positive(text: str) -> float:
    value = _number(text, float)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def run(args) -> int:
    from layerloom.backend.cli import image_option
    from layerloom.backend.insight import InsightError

    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise CommandError(f"-o {args.output}: the output is a PNG; give a name ending in .png")
    if not out.parent.exists():
        raise CommandError(f"-o {args.output}: the folder {out.parent} does not exist")
    graph, settings, data = _prepare(args)
    args.own = None
    if image_option.takes_image(args, args.view in image_option.INSIGHT_SAMPLE_VIEWS):  # before any training
        args.own = image_option.own_sample(args, data.val if data.val is not None else data.train,
                                           data.normalisation)
    elif args.view in ("saliency", "gradcam"):
        _index(args, data.val if data.val is not None else data.train)  # before any training
    if args.node is not None:
        _check_node(args, graph, settings)
    model, path = _model(args, graph, settings, data)
    try:
        fig = _draw(args, graph, settings, data, model, path)
    except InsightError as exc:
        raise CommandError(str(exc), EXIT_INVALID) from None
    from layerloom.backend.insight.render import save

    try:
        save(fig, out)
    except OSError as exc:
        raise CommandError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out}")
    return 0


def _prepare(args):
    """The graph (refused as ``layerloom train`` refuses it), its settings on the CPU
    and its data. The rest is not train's ``_prepare``: here ``--seed`` is the seed of
    fresh weights rather than a training setting, the views run on the CPU whatever
    the file's device, and a graph that does not fit its data exits as invalid (1)."""
    from layerloom.backend.datasets import DatasetError
    from layerloom.backend.training import (
        DatasetSettings,
        SettingsError,
        TrainingError,
        TrainSettings,
        plan_run,
        prepare_data,
    )

    graph = load_valid_graph(args.file)
    try:
        settings = TrainSettings.from_dict(graph.training).replace(device="cpu")
        data_settings = DatasetSettings.from_dict(graph.dataset)
        data = prepare_data(data_settings, settings.seed, str(Path(args.file).resolve().parent))
        plan_run(graph, data.train, settings)
    except (SettingsError, DatasetError) as exc:
        raise CommandError(f"{args.file}: {exc}") from None
    except TrainingError as exc:
        raise CommandError(f"{args.file}: {exc}", EXIT_INVALID) from None
    return graph, settings, data


def _model(args, graph, settings, data):
    """The model with its weights, and the training path (``None`` with --weights)."""
    from layerloom.backend.compile import compile_graph

    model = compile_graph(graph, seed=settings.seed)
    if args.weights:
        from layerloom.backend.cli.sample import model_path
        from layerloom.backend.export import WeightsError
        from layerloom.backend.export.weights import load_weights

        try:
            load_weights(model, model_path(args.weights))
        except WeightsError as exc:
            raise CommandError(str(exc)) from None
        model.eval()
        return model, None
    from layerloom.backend.training import Trainer

    print(f"no --weights: training {Path(args.file).name} first ({settings.epochs} epochs, its own settings)",
          file=sys.stderr)
    trainer = Trainer(graph, data.train, data.val, settings, model=model, record_path=True)
    final = trainer.run()
    if final.kind == "failed":
        raise CommandError(f"training failed: {final.message}", EXIT_INVALID)
    model.eval()
    return model, trainer.weight_path.snapshot() if trainer.weight_path.enabled else None


def _draw(args, graph, settings, data, model, path):
    from layerloom.backend.insight import render

    val = data.val if data.val is not None else data.train
    names = val.class_names
    x, index = (args.own[None], 0) if getattr(args, "own", None) is not None else (val.x, None)
    if args.view == "saliency":
        from layerloom.backend.insight.saliency import saliency

        index = _index(args, val) if index is None else index
        return render.saliency_figure(saliency(model, x, index, val.task, args.target), names)
    if args.view == "gradcam":
        from layerloom.backend.insight.gradcam import gradcam

        index = _index(args, val) if index is None else index
        return render.gradcam_figure(gradcam(model, graph, x, index, val.task, args.target, args.node), names)
    if args.view == "embedding":
        from layerloom.backend.insight.embedding import projection

        return render.embedding_figure(projection(model, graph, args.node, val))
    from layerloom.backend.insight.landscape import landscape, probe_for

    probe = probe_for(model, graph, settings, data.train)
    surface = landscape(probe, args.grid, args.directions, span=args.span, seed=settings.seed, path=path,
                        budget=args.max_seconds)
    return render.landscape_figure(surface)


def _check_node(args, graph, settings) -> None:
    """A --node that cannot work is refused before any training (on the untrained model)."""
    from layerloom.backend.compile import compile_graph
    from layerloom.backend.insight.embedding import embedding_nodes
    from layerloom.backend.insight.gradcam import conv_nodes

    if args.view not in ("gradcam", "embedding"):
        raise CommandError(f"--node applies to gradcam and embedding, not to {args.view}")
    model = compile_graph(graph, seed=settings.seed)
    found = conv_nodes(graph, model) if args.view == "gradcam" else embedding_nodes(graph, model)
    what = "a convolutional layer with feature maps" if args.view == "gradcam" else "an Embedding"
    if args.node not in found:
        choices = f"choose one of {', '.join(found)}" if found else "this model has none"
        raise CommandError(f"--node {args.node}: not {what}; {choices}", EXIT_INVALID)


def _index(args, val) -> int:
    if args.sample >= len(val):
        raise CommandError(f"--sample {args.sample}: the validation set has {len(val)} samples "
                           f"(0 to {len(val) - 1})")
    return args.sample
