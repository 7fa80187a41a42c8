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

A checkpoint is crash-consistent: it is written whole into a new folder beside the
old one, every file flushed to disk, the folder marked ready by a rename, and only
then swapped in for the old checkpoint, which is deleted last. A kill or a full disk
at any point leaves a complete checkpoint under the real name (the old one, or the
new one, which :func:`recover_checkpoint` puts in place when the kill fell between the
two renames of the swap); leftover temporaries are removed on the next save or load.
Both files also carry the step they were written at, so files mixed by hand are
detected on load instead of combining the weights of one step with the state of another.
"""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from layerloom.backend.export.common import ExportError, WeightsError
from layerloom.backend.export.weights import (
    apply_state,
    load_tensor_file,
    read_safetensors,
    write_weights,
)
from layerloom.backend.training.events import CheckpointSaved
from layerloom.graph import Graph
from layerloom.graph.fileio import describe_write_error, fsync_folder, write_atomic

CHECKPOINT_FORMAT = "layerloom.checkpoint"
WEIGHTS = "model.safetensors"
STATE = "state.pt"
STEP_KEY = "layerloom.step"
NORMALISATION_KEY = "layerloom.normalisation"
# Suffixes of the folders beside a checkpoint while it is replaced.
WRITING, READY, OLD = ".writing", ".ready", ".old"


class CheckpointError(Exception):
    """A checkpoint or weights file that cannot be used; the message names it."""


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
    """Write a checkpoint folder, replacing the one there only once the new one is
    complete on disk; returns its path.

    Raises
    ------
    CheckpointError
        The checkpoint could not be written (a full disk, no permission); the
        previous checkpoint, if any, is still in place.
    """
    folder = Path(folder)
    what = f"the checkpoint in {folder}"
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        recover_checkpoint(folder)
        staged = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=WRITING,
                                       dir=folder.parent))
    except OSError as exc:
        raise CheckpointError(describe_write_error(exc, what)) from None
    try:
        step = str(state["progress"]["step"])
        write_weights(graph, model, staged / WEIGHTS, {STEP_KEY: step, **(metadata or {})})
        _fsync_file(staged / WEIGHTS)
        buffer = io.BytesIO()
        torch.save(state, buffer)  # in memory: the disk write below reports a full disk
        write_atomic(staged / STATE, buffer.getvalue())
        fsync_folder(staged)
        ready = staged.with_name(staged.name[: -len(WRITING)] + READY)
        os.rename(staged, ready)
        staged = ready
        _swap_in(ready, folder)
    except ExportError as exc:
        raise CheckpointError(f"cannot write {what}: {exc}") from None
    except CheckpointError:
        raise
    except (OSError, RuntimeError) as exc:
        raise CheckpointError(describe_write_error(exc, what)) from None
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return folder


def recover_checkpoint(folder: str | os.PathLike) -> None:
    """Put a checkpoint back under ``folder``'s name if a kill fell inside a swap,
    and remove the temporaries of interrupted saves.

    A folder marked ready is complete, so it wins over the old checkpoint it was
    replacing; a folder still being written is never used.
    """
    folder = Path(folder)
    parent = folder.parent
    if not parent.is_dir():
        return
    leftovers = sorted(p for p in parent.glob(f".{glob.escape(folder.name)}.*")
                       if p.is_dir() and p.name.endswith((WRITING, READY, OLD)))
    if not folder.exists():
        for suffix in (READY, OLD):
            candidates = [p for p in leftovers if p.name.endswith(suffix)]
            if candidates:
                os.rename(candidates[-1], folder)
                fsync_folder(parent)
                leftovers.remove(candidates[-1])
                break
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)


def _swap_in(ready: Path, folder: Path) -> None:
    """Rename ``ready`` to ``folder``; an existing ``folder`` is set aside first and
    deleted only after the new one is in place."""
    old = None
    if folder.exists():
        foreign = sorted(set(os.listdir(folder)) - {WEIGHTS, STATE})
        if foreign:
            raise CheckpointError(
                f"{folder} holds other files ({', '.join(foreign[:3])}); a checkpoint "
                "replaces its whole folder, so give it a folder of its own")
        old = ready.with_name(ready.name[: -len(READY)] + OLD)
        os.rename(folder, old)
    os.rename(ready, folder)
    fsync_folder(folder.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def load_checkpoint(folder: str | os.PathLike, model: torch.nn.Module) -> dict[str, Any]:
    """Load a checkpoint's weights into ``model`` and return its state dict.

    Raises
    ------
    CheckpointError
        Missing or unreadable files, weights that do not fit, or files written at
        different steps.
    """
    folder = Path(folder)
    try:
        recover_checkpoint(folder)
    except OSError:
        pass  # a read-only run folder: read what is there
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no checkpoint folder there")
    for name in (WEIGHTS, STATE):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder}: the checkpoint has no {name}; it is incomplete")
    try:
        state = load_tensor_file(folder / STATE)
    except WeightsError as exc:  # the safe unpickler refuses anything unexpected
        raise CheckpointError(f"unreadable checkpoint state: {exc}") from None
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
            "best_weights": self.best.state_dict() if getattr(self, "best", None) is not None else {},
            "history": json.dumps(self.history),
            "settings": json.dumps(self.settings.to_dict()),
        }
        meta = {}
        if self.normalisation is not None:
            meta[NORMALISATION_KEY] = json_metadata(self.normalisation.to_dict())
        path = save_checkpoint(folder, self.model, self.graph, state, meta)
        self._checkpointed = (self.step, time.perf_counter())
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
        if getattr(self, "best", None) is not None and state.get("best_weights"):
            self.best.load_state_dict(state["best_weights"])
        self.history = json.loads(state["history"])
