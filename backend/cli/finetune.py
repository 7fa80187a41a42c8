"""``layerloom train`` options for fine-tuning and best weights.

``--init WEIGHTS``
    Start from the weights of a ``.safetensors`` file (Save Weights, an earlier
    ``layerloom train``'s ``model.safetensors`` or ``best.safetensors``, or its
    folder) instead of fresh ones. Weights that do not fit the graph end the
    command before anything is trained or written, naming the first tensor that
    does not fit and both shapes.
``--freeze NODE...``
    Freeze these nodes (ids or labels) for this run, over what the file says.
``--save-best METRIC``
    Keep the weights of the epoch where METRIC was best (``val_loss``: lowest;
    ``val_accuracy``: highest), restore them at the end and write them as
    ``best.safetensors`` beside ``model.safetensors``. Keeping the best weights by
    the ``monitor`` setting is on by default for runs with validation;
    ``--no-keep-best`` turns it off.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from layerloom.backend.cli import CommandError
from layerloom.graph.settings import MONITORS


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("fine-tuning and best weights")
    g.add_argument("--init", metavar="WEIGHTS",
                   help="start from these weights (.safetensors from Save Weights or an earlier run, "
                   "or its folder) instead of fresh ones")
    g.add_argument("--freeze", nargs="+", action="extend", default=[], metavar="NODE",
                   help="freeze these nodes (ids or labels) for this run: no gradient, not in the "
                   "optimizer (put it after FILE)")
    g.add_argument("--save-best", choices=MONITORS, metavar="METRIC",
                   help="keep the weights of the epoch with the best METRIC (e.g. val_loss, "
                   "val_accuracy), restore them at the end and write best.safetensors")


def apply_freeze(args, graph) -> None:
    """Freeze the ``--freeze`` nodes of ``graph`` (found by id, else by label)."""
    from layerloom.graph import GraphError

    for name in getattr(args, "freeze", None) or ():
        found = [n for n in graph.nodes if n.id == name] or [n for n in graph.nodes if n.label == name]
        if not found:
            known = ", ".join(n.id for n in graph.nodes if not n.spec.is_input and not n.spec.is_output)
            raise CommandError(f"--freeze {name}: no node with that id or label; the nodes are {known}")
        try:
            graph.set_training(found[0].id, {"trainable": False})
        except GraphError as exc:
            raise CommandError(f"--freeze {name}: {exc}") from None


def best_settings(args, settings, has_validation: bool):
    """``settings`` with ``--save-best METRIC`` applied (monitor and keep_best)."""
    metric = getattr(args, "save_best", None)
    if not metric:
        return settings
    if metric.startswith("val_") and not has_validation:
        raise CommandError(f"--save-best {metric} needs a validation set: give --val-split above 0 "
                           "(or save by a training metric such as loss)")
    return settings.replace(monitor=metric, keep_best=True)


def init_model(args, graph, settings):
    """The model ``--init`` starts from (``None`` without it); raises CommandError."""
    path = getattr(args, "init", None)
    if not path:
        return None
    if getattr(args, "resume", None):
        raise CommandError("--init and --resume: a resumed run goes on with its checkpoint's "
                           "weights; give one of them")
    from layerloom.backend.training.init_weights import InitWeightsError, model_from_weights

    try:
        return model_from_weights(graph, path, seed=settings.seed)
    except InitWeightsError as exc:
        raise CommandError(f"--init {path}: {exc}") from None


def write_best(p, trainer, metadata: dict[str, str]) -> Path | None:
    """Write ``best.safetensors`` into the run's output folder (when weights were kept)."""
    from layerloom.backend.training.best import save_best_weights

    return save_best_weights(p.graph, trainer.best, trainer.model, p.out, metadata)
