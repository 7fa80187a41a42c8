"""A run's inputs, loaded and checked once: the graph, its settings with the command
line's overrides, the data, and the output folder.

``layerloom train`` prepares every run (and every process of a distributed one) with
:func:`_prepare`; ``lr-find``, ``sweep`` and the GAN path read their inputs the same
way, and ``plot``'s insight views share its first step, :func:`load_valid_graph`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerloom.backend.cli import EXIT_INVALID, CommandError, finetune
from layerloom.backend.cli.settings_options import overrides


@dataclass
class Prepared:
    """A run's inputs, checked: what every process of a run loads the same way."""

    graph: Any
    settings: Any
    data: Any
    data_settings: Any
    out: Path
    model: Any = None  # the --init weights' model, else None (fresh weights)


def load_valid_graph(file):
    """The graph of ``file``, refused with every error it has when it is not valid;
    raises :class:`CommandError`."""
    from layerloom.graph import GraphFileError, load_graph

    try:
        graph = load_graph(file)
    except GraphFileError as exc:
        raise CommandError(str(exc)) from None
    analysis = graph.analysis()
    if not analysis.valid:
        lines = "\n".join(f"  {nid}: {msg}" for nid, msg in analysis.errors)
        raise CommandError(
            f"{file}: the graph has {len(analysis.errors)} error(s); fix them first:\n{lines}",
            EXIT_INVALID,
        )
    return graph


def _prepare(args, make_out: bool = True, plan: bool = True) -> Prepared:
    """Load and check the graph, settings and data (and unless not ``plan``, that
    the graph fits the data); raises :class:`CommandError`."""
    from layerloom.backend.cli.datasets import parse_options
    from layerloom.backend.datasets import DatasetError
    from layerloom.backend.training import (
        DatasetSettings,
        SettingsError,
        TrainingError,
        TrainSettings,
        plan_run,
        prepare_data,
        resolve_device,
    )

    graph = load_valid_graph(args.file)
    finetune.apply_freeze(args, graph)
    try:
        settings = TrainSettings.from_dict(graph.training)
    except SettingsError as exc:
        raise CommandError(f"{args.file}: training settings: {exc}") from None
    try:
        data_settings = DatasetSettings.from_dict(graph.dataset)
    except SettingsError as exc:
        raise CommandError(f"{args.file}: dataset settings: {exc}") from None
    try:
        settings = settings.replace(**overrides(args, "training"))
        changes = overrides(args, "dataset")
        name = changes.pop("name", data_settings.name)
        if name != data_settings.name:  # other data: its own options, a path from here
            changes.update(name=os.path.abspath(name) if os.path.exists(name) else name, options={})
        data_settings = data_settings.replace(**changes)
        if args.option:
            data_settings = data_settings.replace(
                options={**data_settings.options, **parse_options(args.option)})
    except SettingsError as exc:
        raise CommandError(str(exc)) from None
    base_dir = str(Path(args.file).resolve().parent)
    try:
        resolve_device(settings.device)
        data = prepare_data(data_settings, settings.seed, base_dir)
        if plan:
            plan_run(graph, data.train, settings)
        settings = finetune.best_settings(args, settings, data.val is not None)
        model = finetune.init_model(args, graph, settings)
    except DatasetError as exc:
        raise CommandError(str(exc)) from None
    except TrainingError as exc:
        raise CommandError(f"{args.file}: {exc}") from None
    out = Path(args.out) if args.out else Path("runs") / Path(args.file).stem
    if make_out:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    if args.resume and not Path(args.resume).is_dir():
        raise CommandError(f"--resume {args.resume}: no checkpoint folder there")
    return Prepared(graph, settings, data, data_settings, out, model)
