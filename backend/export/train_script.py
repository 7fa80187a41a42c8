"""A standalone training script: ``layerloom export FILE --format train-script``.

For users who move to a cluster without LayerLoom: one ``.py`` file that needs
only torch, runnable with ``python train.py`` (one process) or ``torchrun
--nproc-per-node N train.py`` (DistributedDataParallel). It holds

- the model class of the Python export (:func:`layerloom.backend.export.python_source.
  python_source`, reused as it is: the same class, loader and weights file),
- the file's training settings (optimizer, loss, schedule, clipping, early
  stopping, precision, seed) and the task they train on, as a Python literal,
- the training loop of :mod:`layerloom.backend.export.train_script_runtime`, copied in.

Next to it go ``<name>.safetensors``, the initial weights (the graph's weights as
exported: freshly initialised or trained with ``--weights``, with the graph in
their metadata so that ``layerloom`` reopens the script's trained output), and,
with ``with_data``, ``<name>.npz``: the file's dataset as LayerLoom prepares it
(split with the run's seed and normalised), with arrays ``x``, ``y``, ``x_val``,
``y_val``. The script reads its data from an ``.npz`` given with ``--data``.

Before the files are kept, the model part is checked like the Python export: a
fresh Python process that cannot import LayerLoom imports the script and must
reproduce the model's outputs.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import pprint
from pathlib import Path

import numpy as np

from layerloom.backend.compile import CompiledGraph
from layerloom.backend.export import train_script_runtime
from layerloom.backend.export.common import ExportError, ExportResult, check_target, eval_mode
from layerloom.backend.export.python_source import (
    check_imports,
    class_name,
    python_source,
    write_checked,
)
from layerloom.graph import Graph
from layerloom.graph.fileio import describe_write_error

ALLOWED_IMPORTS = ("torch", "__future__", "typing", "argparse", "ast", "ctypes", "json", "math",
                   "os", "struct", "sys", "time", "zipfile", "pathlib", "gc")


def export_train_script(graph: Graph, model: CompiledGraph, path: str | os.PathLike, *,
                        with_data: bool = False, base_dir: str | None = None) -> ExportResult:
    """Write a standalone training script for ``graph`` with ``model``'s weights.

    Parameters
    ----------
    graph : Graph
        The graph, with its ``training`` and ``dataset`` sections (the dataset tells
        the task and classes the loss is built for).
    model : CompiledGraph
        The compiled model; its weights are the script's starting point.
    path : path-like
        The ``.py`` file; ``.safetensors`` (and ``.npz``) of the same name go next to it.
    with_data : bool
        Also write the file's dataset as ``.npz``, so the script runs out of the box.
    base_dir : str, optional
        Folder that relative data paths of the graph are relative to.

    Raises
    ------
    ExportError
        Unusable settings or dataset, a model that cannot be written as source,
        or a script that does not reproduce the model.
    """
    path = check_target(path)
    if path.suffix != ".py":
        raise ExportError(f"the train-script export writes a .py file; got {path.name!r}")
    settings, data, plan = _training_plan(graph, base_dir)
    weights = path.with_suffix(".safetensors")
    config = _config(graph, model, settings, data, plan)
    meta = {"layerloom.normalisation": json.dumps(data.normalisation.to_dict())}
    write_data = (lambda staged: _write_data(data, staged.with_suffix(".npz"))) if with_data else None
    with eval_mode(model):
        text = script_source(graph, model, weights.name, config, path.name)
        check_imports(text, ALLOWED_IMPORTS, "the training script")
        files, worst = write_checked(graph, model, path, text, meta, write_data)
    notes = [f"the initial weights are in {weights.name}, next to the script (--init none: "
             "start from a fresh initialisation)",
             f"run it with: torchrun --nproc-per-node N {path.name} --data DATA.npz "
             "(--batch-size is the global batch)"]
    if with_data:
        notes.append(f"the dataset {data.train.name!r} is in {path.with_suffix('.npz').name} "
                     f"({len(data.train)} training, {len(data.val) if data.val else 0} validation "
                     "samples, normalised); the script reads it by default")
    return ExportResult(path, "train-script", files, notes, worst)


def _training_plan(graph: Graph, base_dir: str | None):
    from layerloom.backend.datasets import DatasetError
    from layerloom.backend.training import (
        DatasetSettings,
        SettingsError,
        TrainingError,
        TrainSettings,
        plan_run,
        prepare_data,
    )

    try:
        settings = TrainSettings.from_dict(graph.training)
        data_settings = DatasetSettings.from_dict(graph.dataset)
    except SettingsError as exc:
        raise ExportError(f"the graph's settings cannot be used: {exc}") from None
    if not data_settings.name:
        raise ExportError("the train-script export needs the graph's dataset (it sets the task, "
                          "the classes and the loss); choose one in the dataset settings")
    try:
        data = prepare_data(data_settings, settings.seed, base_dir)
        plan = plan_run(graph, data.train, settings)
    except (DatasetError, TrainingError) as exc:
        raise ExportError(f"cannot prepare the training script: {exc}") from None
    return settings, data, plan


def _config(graph: Graph, model: CompiledGraph, settings, data, plan) -> dict:
    from layerloom.backend.node_training import frozen_names
    from layerloom.backend.training.distributed import has_unused_parameters

    objective = plan.objective
    if objective.name == "terms":
        raise ExportError("the training script trains on one loss; this graph sets its own loss terms "
                          "(several Outputs or loss nodes): train it with layerloom train instead")
    title = str(graph.meta.get("title", "")).strip() if isinstance(graph.meta, dict) else ""
    return {
        "title": title or class_name(graph),
        "settings": settings.to_dict(),
        "objective": {
            "task": objective.task, "loss": objective.name, "num_classes": objective.num_classes,
            "output_shape": list(objective.output_shape), "huber_delta": objective.huber_delta,
            "single_output": objective.single_output, "threshold": objective.threshold,
        },
        "monitor_mode": settings.monitor_mode,
        "input": {"shape": list(data.train.input_shape), "dtype": data.train.input_dtype},
        "find_unused_parameters": has_unused_parameters(model),
        "frozen": frozen_names(model),  # the frozen nodes' parameters: not trained
    }


def _write_data(data, target: Path) -> None:
    arrays = {"x": np.ascontiguousarray(data.train.x), "y": np.ascontiguousarray(data.train.y)}
    if data.val is not None:
        arrays.update(x_val=np.ascontiguousarray(data.val.x), y_val=np.ascontiguousarray(data.val.y))
    try:
        with open(target, "wb") as handle:
            np.savez(handle, **arrays)
    except OSError as exc:
        raise ExportError(describe_write_error(exc, target.name)) from None


# ------------------------------------------------------------------ source
def script_source(graph: Graph, model: CompiledGraph, weights_name: str, config: dict,
                  script_name: str = "train.py") -> str:
    """The text of the script: the Python export's model part, the runtime, the settings."""
    model_part = _cut(python_source(graph, model, weights_name), drop_main=True)
    runtime = inspect.getsource(train_script_runtime)
    runtime_imports, runtime_body = _split_imports(_cut(runtime, drop_main=False))
    head, body = _split_imports(model_part)
    title = config["title"].replace('"""', "'''")
    doc = "\n".join([
        f'"""{title}: a training script exported from LayerLoom.',
        "",
        "Needs only torch. Train in one process, or on N processes / GPUs with",
        "DistributedDataParallel (one GPU per process with nccl; gloo on the CPU):",
        "",
        f"    python {script_name} --data data.npz",
        f"    torchrun --nproc-per-node N {script_name} --data data.npz",
        "",
        "and on M machines, the same command on each with its node rank K (0..M-1):",
        "",
        "    torchrun --nnodes M --node-rank K --master-addr HOST --master-port 29500 "
        f"--nproc-per-node N {script_name}",
        "",
        "The data file holds arrays x (inputs) and y (targets), optionally x_val and y_val,",
        "scaled the way the model expects. --batch-size is the global batch, split between",
        f"the processes. The initial weights are read from {weights_name} next to this file",
        "(--init none: a fresh initialisation); rank 0 writes model.safetensors and",
        "metrics.json into --out (LayerLoom opens that model.safetensors). See --help.",
        '"""',
    ]).replace("\\", "/")
    literal = pprint.pformat(config, width=96, sort_dicts=False)
    tail = (
        f"CONFIG = {literal}\n\n\n"
        'if __name__ == "__main__":\n'
        f"    sys.exit(main(sys.argv[1:], {class_name(graph)}, CONFIG, __file__, load_safetensors))\n"
    )
    parts = [doc + "\n\n" + _merge_imports(head, runtime_imports), body, runtime_body, tail]
    return "\n\n\n".join(p.strip("\n") for p in parts) + "\n"


def _merge_imports(*blocks: str) -> str:
    """One import block from several (one line per import), sorted as isort does:
    ``__future__``, the standard library, then torch."""
    lines = {line.strip() for block in blocks for line in block.splitlines() if line.strip()}

    def group(line: str) -> int:
        module = line.split()[1]
        return 0 if module == "__future__" else 2 if module.split(".")[0] == "torch" else 1

    sections = []
    for number in range(3):
        chosen = [line for line in lines if group(line) == number]
        plain = sorted(line for line in chosen if line.startswith("import "))
        froms = sorted(line for line in chosen if line.startswith("from "))
        if chosen:
            sections.append("\n".join(plain + froms))
    return "\n\n".join(sections) + "\n"


def _cut(text: str, drop_main: bool) -> str:
    """``text`` without its module docstring (and its ``if __name__ == ...`` block)."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    drop = []
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        drop.append((first.lineno, first.end_lineno))
    if drop_main:
        for node in tree.body:
            if isinstance(node, ast.If) and "__name__" in ast.unparse(node.test):
                drop.append((node.lineno, node.end_lineno))
    for start, end in sorted(drop, reverse=True):
        del lines[start - 1:end]
    return "".join(lines)


def _split_imports(text: str) -> tuple[str, str]:
    """The leading import statements of ``text`` and the rest."""
    tree = ast.parse(text)
    end = 0
    for node in tree.body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            break
        end = node.end_lineno
    lines = text.splitlines(keepends=True)
    return "".join(lines[:end]).strip("\n") + "\n", "".join(lines[end:])


__all__ = ["export_train_script", "script_source"]
