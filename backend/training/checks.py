"""Checks made before the first training step, and the device choice.

A run that cannot work should say so at once, quoting both sides and the fix,
instead of failing deep inside torch after the first batch: the dataset's samples
against the graph's Input node, the model's output against the targets and the
number of classes, the loss against the task, and the labels against the classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from layerloom.backend.datasets import Dataset
from layerloom.backend.training.loss_terms import has_loss_terms, plan_terms
from layerloom.backend.training.losses import Objective, ObjectiveError, describe_shapes
from layerloom.backend.training.metrics import metric_names
from layerloom.backend.training.settings import TrainSettings
from layerloom.graph import Graph, TensorSpec, fmt_shape


class TrainingError(Exception):
    """A run that cannot start or go on; the message says why and what to do."""


@dataclass(frozen=True)
class Plan:
    """What the checks established: the ports to feed and the loss to use."""

    input_id: str
    output_id: str
    input_spec: TensorSpec
    output_spec: TensorSpec
    objective: Objective  # or LossTerms, for a graph with loss terms (training/loss_terms.py)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA, then MPS, then CPU; a named device must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(
                f"device {name!r} was asked for, but no CUDA GPU is available to this "
                f"PyTorch ({torch.__version__}); use device cpu or auto"
            )
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise TrainingError(
                f"device {name!r} was asked for, but there are only "
                f"{torch.cuda.device_count()} CUDA device(s) (cuda:0..); pick another"
            )
        return torch.device(name)
    if name == "mps":
        if not _mps_available():
            raise TrainingError(
                "device 'mps' was asked for, but Apple's Metal backend is not available "
                "here; use device cpu or auto"
            )
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def _dtype_words(dtype: str) -> str:
    return "token ids (long)" if dtype == "long" else "float features"


def plan_run(graph: Graph, data: Dataset, settings: TrainSettings) -> Plan:
    """Check that ``graph`` can train on ``data`` with ``settings``.

    Raises
    ------
    TrainingError
        With a message quoting the shapes, dtypes, labels or names at fault and the
        change that fixes it.
    """
    analysis = graph.analysis()
    if not analysis.valid:
        lines = "\n".join(f"  {nid}: {msg}" for nid, msg in analysis.errors)
        raise TrainingError(f"the graph has {len(analysis.errors)} error(s):\n{lines}")
    for definition in graph.blocks:  # a loss is a term of the whole graph's training
        inner = [n.title for n in definition.body.nodes if n.spec.loss]
        if inner:
            raise TrainingError(
                f"block {definition.name!r} holds the loss node(s) {', '.join(inner)}; loss nodes "
                "are trained only at the top level of the graph: move them out of the block "
                "(wire the block's outputs to them), or ungroup it")
    inputs, outputs = graph.inputs(), graph.outputs()
    terms = has_loss_terms(graph)
    if len(inputs) != 1 or (len(outputs) != 1 and not terms):
        raise TrainingError(
            f"training needs a graph with one Input and one Output node; this one has "
            f"{len(inputs)} Input(s) and {len(outputs)} Output(s). Datasets give one input "
            "tensor and one target per sample"
        )
    inp, outp = inputs[0], outputs[0]
    in_spec = analysis.nodes[inp.id].out
    out_spec = analysis.nodes[outp.id].inputs["in"]
    if len(data) == 0:
        raise TrainingError(f"the training set of {data.name!r} is empty; add data or lower val_split")
    data_spec = TensorSpec(tuple(data.input_shape), data.input_dtype)
    if data_spec.shape != in_spec.shape:
        raise TrainingError(
            f"the dataset {data.name!r} gives samples of shape {fmt_shape(data_spec.shape)} "
            f"but the Input node {inp.title!r} expects {fmt_shape(in_spec.shape)}; "
            f"set the Input node's shape to {fmt_shape(data_spec.shape)}"
        )
    if data_spec.dtype != in_spec.dtype:
        raise TrainingError(
            f"the dataset {data.name!r} gives {_dtype_words(data_spec.dtype)} but the Input "
            f"node {inp.title!r} expects {_dtype_words(in_spec.dtype)}; set its dtype to "
            f"{data_spec.dtype}"
            + (" and feed it to an Embedding layer" if data_spec.dtype == "long" else "")
        )
    check_labels(data)
    if terms:  # several outputs or loss nodes: the weighted sum of their terms
        try:
            objective = plan_terms(graph, analysis, data, settings)
        except ObjectiveError as exc:
            raise TrainingError(str(exc)) from None
        _check_monitor(settings, objective.task)
        return Plan(inp.id, outp.id, in_spec, out_spec, objective)
    problem = describe_shapes(out_spec.shape, data.task, data.num_classes, tuple(data.target_shape))
    if problem:
        raise TrainingError(problem)
    try:
        objective = Objective(settings.loss, data.task, data.num_classes, out_spec.shape,
                              settings.huber_delta)
    except ObjectiveError as exc:
        raise TrainingError(str(exc)) from None
    _check_monitor(settings, data.task)
    return Plan(inp.id, outp.id, in_spec, out_spec, objective)


def _check_monitor(settings: TrainSettings, task: str) -> None:
    metric = settings.monitor.removeprefix("val_")
    names = metric_names(task) if task != "none" else ()
    if metric != "loss" and metric not in names:
        allowed = ", ".join(f"{p}{m}" for p in ("", "val_") for m in ("loss", *names))
        what = "a run on loss terms only" if task == "none" else f"a {task} task"
        raise TrainingError(
            f"monitor {settings.monitor!r} is not measured for {what}; choose one of {allowed}"
        )


def check_labels(data: Dataset) -> None:
    """Class labels lie in ``0..num_classes-1``; inputs and targets are finite."""
    if data.task != "regression" and len(data):
        y = np.asarray(data.y)
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= data.num_classes:
            bad = lo if lo < 0 else hi
            where = int(np.argwhere(y == bad)[0][0])
            what = {"sequence": "token", "segmentation": "mask class"}.get(data.task, "label")
            raise TrainingError(
                f"{what} {bad} (sample {where} of {data.name!r}) is outside the "
                f"{data.num_classes} classes 0..{data.num_classes - 1}; fix the labels, or "
                "give the dataset (and the model's output) more classes"
            )
    for name, array in (("inputs", data.x), ("targets", data.y)):
        if np.issubdtype(array.dtype, np.floating) and array.size and not np.isfinite(array).all():
            where = int(np.argwhere(~np.isfinite(array.reshape(len(array), -1)))[0][0])
            raise TrainingError(
                f"the {name} of {data.name!r} contain NaN or infinite values (first at sample "
                f"{where}); remove or fill them before training"
            )


def describe_failure(exc: Exception, trainer) -> str:
    """The ``failed`` message for an exception raised while ``trainer`` ran.

    Errors LayerLoom raised already say what to do and are kept as they are;
    running out of memory gets the batch size and the fix; anything else is named
    with the epoch and step where it happened.
    """
    from layerloom.backend.training.checkpoint import CheckpointError
    from layerloom.backend.training.settings import SettingsError
    from layerloom.graph import GraphInvalidError

    if isinstance(exc, (TrainingError, SettingsError, CheckpointError, GraphInvalidError)):
        return str(exc)
    busy = trainer.step or trainer._batch
    where = f" at epoch {trainer.epoch + 1}, step {trainer.step + 1}" if busy else ""
    text = str(exc)
    lowered = text.lower()
    device = trainer.device
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in lowered \
            or "can't allocate memory" in lowered:
        if device is not None and device.type == "cuda":
            torch.cuda.empty_cache()
        batch = getattr(trainer, "_bs", None)
        if batch is None:
            return (f"out of memory on {device or 'this machine'} while setting up the run (the "
                    "dataset and the model are loaded then): use a smaller dataset or model, "
                    "or train on another device")
        return (f"out of memory on {device}{where} with batch size {batch}: lower the batch "
                "size, make the model smaller, or train on another device")
    if trainer.settings.compile and "dynamo" in type(exc).__module__ + text:
        return f"torch.compile failed{where} ({type(exc).__name__}: {text}); turn compile off"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"training failed{where}: {type(exc).__name__}: {first}"
