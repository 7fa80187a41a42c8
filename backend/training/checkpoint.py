"""Checkpoints: a folder that holds everything needed to continue a run.

``model.safetensors``
    The weights, with the graph embedded in the metadata (the format of
    :mod:`layerloom.backend.export.weights`, so ``load_model`` reopens it as a model).
``state.pt``
    Optimizer, schedule and gradient-scaler state, progress (epoch, step, position
    in the epoch), random-number-generator states and the history so far: a dict of
    tensors, numbers, strings and lists written with ``torch.save`` and read back
    with ``torch.load(weights_only=True)``, which refuses anything that would run
    code. Nothing in a checkpoint is ever unpickled as objects or executed.

Each file is written to a temporary name and renamed into place, and both carry the
step they were written at, so a checkpoint cut short by a crash is detected on load
instead of mixing the weights of one step with the optimizer state of another.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from layerloom.backend.export.common import ExportError, WeightsError
from layerloom.backend.export.weights import apply_state, read_safetensors, save_weights
from layerloom.backend.training.events import CheckpointSaved
from layerloom.graph import Graph

CHECKPOINT_FORMAT = "layerloom.checkpoint"
WEIGHTS = "model.safetensors"
STATE = "state.pt"
STEP_KEY = "layerloom.step"
NORMALISATION_KEY = "layerloom.normalisation"


class CheckpointError(Exception):
    """A checkpoint or weights file that cannot be used; the message names it."""


def _tmp_path(path: Path) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return tmp


def load_weights(model: torch.nn.Module, path: str | os.PathLike) -> dict[str, str]:
    """Load safetensors weights into ``model``; returns the file's metadata.

    Raises
    ------
    CheckpointError
        Unreadable file, or tensors that do not fit the model (each one named).
    """
    try:
        metadata, tensors = read_safetensors(path)
        apply_state(model, tensors, str(path))
    except WeightsError as exc:
        raise CheckpointError(str(exc)) from None
    return metadata


def save_checkpoint(folder: str | os.PathLike, model: torch.nn.Module, graph: Graph,
                    state: dict[str, Any], metadata: dict[str, str] | None = None) -> Path:
    """Write a checkpoint folder (created if needed); returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    step = str(state["progress"]["step"])
    try:
        save_weights(graph, model, folder / WEIGHTS, {STEP_KEY: step, **(metadata or {})})
    except ExportError as exc:
        raise CheckpointError(f"cannot write the checkpoint in {folder}: {exc}") from None
    tmp = _tmp_path(folder / STATE)
    try:
        torch.save(state, tmp)
        os.replace(tmp, folder / STATE)
    except BaseException:
        _unlink(tmp)
        raise
    return folder


def load_checkpoint(folder: str | os.PathLike, model: torch.nn.Module) -> dict[str, Any]:
    """Load a checkpoint's weights into ``model`` and return its state dict.

    Raises
    ------
    CheckpointError
        Missing or unreadable files, weights that do not fit, or files written at
        different steps.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no checkpoint folder there")
    for name in (WEIGHTS, STATE):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder}: the checkpoint has no {name}; it is incomplete")
    try:
        state = torch.load(folder / STATE, map_location="cpu", weights_only=True)
    except Exception as exc:  # the safe unpickler refuses anything unexpected
        raise CheckpointError(f"{folder / STATE}: unreadable checkpoint state ({exc})") from None
    if not isinstance(state, dict) or "progress" not in state:
        raise CheckpointError(f"{folder / STATE}: not a LayerLoom checkpoint state")
    metadata = load_weights(model, folder / WEIGHTS)
    if metadata.get(STEP_KEY) != str(state["progress"].get("step")):
        raise CheckpointError(
            f"{folder}: weights (step {metadata.get(STEP_KEY)}) and state "
            f"(step {state['progress'].get('step')}) were written at different steps; "
            "the checkpoint was cut short, use an older one"
        )
    return state


def json_metadata(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class CheckpointMixin:
    """Checkpointing of a :class:`~layerloom.backend.training.trainer.Trainer`: what its state
    is made of, and how a new trainer takes it over to continue the run.

    Besides the optimizer and schedule, a checkpoint keeps the position in the
    epoch (the epoch's permutation is redrawn from the batch-order generator's
    state at the epoch's start), the global random state (dropout), the epoch's
    running sums, the early-stopping state and the history, so that a resumed run
    takes exactly the steps the uninterrupted run would have taken.
    """

    def save_checkpoint(self, folder: str | Path | None = None) -> Path:
        """Write a checkpoint of the run as it is now (between steps)."""
        folder = Path(folder) if folder else self.checkpoint_dir
        if folder is None:
            raise CheckpointError("no checkpoint folder: give one, or checkpoint_dir to the trainer")
        self._drain()
        self._settle()
        gen_state = self.generator.get_state() if self._batch == 0 else self._epoch_gen_state
        state = {
            "format": CHECKPOINT_FORMAT,
            "version": 1,
            "progress": {"epoch": self.epoch, "batch": self._batch, "step": self.step,
                         "steps_per_epoch": self.steps_per_epoch, "elapsed": self.elapsed},
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                "epoch_generator": gen_state,
            },
            "epoch_sums": {"loss_sum": self._loss_sum, "loss_n": self._loss_n,
                           "metrics": self._sums.state()},
            "early": {"best": self._best, "wait": self._wait},
            "history": json.dumps(self.history),
            "settings": json.dumps(self.settings.to_dict()),
        }
        meta = {}
        if self.normalisation is not None:
            meta[NORMALISATION_KEY] = json_metadata(self.normalisation.to_dict())
        path = save_checkpoint(folder, self.model, self.graph, state, meta)
        self._emit(CheckpointSaved(str(path), self.epoch, self.step))
        return path

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{self.resume_from}: not a LayerLoom checkpoint")
        progress = state["progress"]
        if int(progress["steps_per_epoch"]) != self.steps_per_epoch:
            raise CheckpointError(
                f"the checkpoint in {self.resume_from} was written with "
                f"{progress['steps_per_epoch']} steps per epoch but this run has "
                f"{self.steps_per_epoch}; resume with the same dataset, split and batch size"
            )
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.schedule.load_state_dict(state["schedule"])
            if self.scaler is not None and state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(
                f"the checkpoint in {self.resume_from} does not fit these settings ({exc}); "
                "resume with the optimizer and schedule it was written with"
            ) from None
        self.epoch, self._batch, self.step = (int(progress[k]) for k in ("epoch", "batch", "step"))
        self._elapsed_before = float(progress.get("elapsed", 0.0))
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        if self.device.type == "cuda" and rng.get("cuda"):
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.generator.set_state(rng["epoch_generator"])
        self._epoch_gen_state = rng["epoch_generator"]
        sums = state["epoch_sums"]
        self._loss_sum, self._loss_n = float(sums["loss_sum"]), int(sums["loss_n"])
        self._sums.load_state(sums["metrics"])
        self._best, self._wait = state["early"]["best"], int(state["early"]["wait"])
        self.history = json.loads(state["history"])
