"""A run on several processes: ``layerloom train --nproc N`` as a child process,
followed through its events file.

The in-app trainer is one process. For a run on several GPUs the dock starts the
command line's launcher instead (:func:`layerloom.backend.training.train_command`), on a
snapshot of the graph saved in the run's own temporary folder, and this worker
(a thread, like :class:`~layerloom.gui.training.worker.TrainingWorker`, with the same
attributes the dock uses) follows it:

- rank 0 writes every training event as a JSON line to ``events.jsonl``; the
  thread reads the new lines a few times a second, turns them back into the
  backend's event classes and puts them in the same queue the in-process worker
  fills, so the dock's timer draws them through the same batched path;
- Stop sends the launcher SIGINT: every process stops after the same step, rank 0
  keeps a checkpoint and writes the model; if they are not gone within
  :data:`KILL_AFTER_S` the whole process group is killed;
- the run's end is told by the launcher's exit status: 0 or 130 (stopped) and
  the model is read from ``out/model.safetensors`` (so Save, Export and Try it
  work as after an in-app run); anything else is a failure whose message is the
  launcher's last ``error:`` line on stderr, which names the rank at fault (rank
  0's own ``failed`` event only says that it lost its peers).

Pause and a new learning rate are not offered: the processes agree on stopping
only. The weights, dead units and decision boundary follow rank 0's checkpoint,
which it writes after every epoch: the thread loads it into a CPU copy of the
model and measures it as the in-process worker measures its live model (at most
twice a second, less often when loading takes long). Gradients stay in the
training processes, so the gradient view stays empty; the run says so in a note.
The run's folder is removed when the thread ends.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from layerloom.backend.training.events import EventsTail
from layerloom.gui.training.worker_base import STATS_INTERVAL, ProbeProblem, RunWorker

POLL_S = 0.1  # seconds between two reads of the events file
KILL_AFTER_S = 15.0  # after Stop, the processes get this long to save and end
EXIT_STOPPED = 130
PROBE_SHARE = 0.1  # at most this share of the time goes to measuring checkpoints
NO_GRADIENTS = ("gradients are not shown for a run on several processes; weights and the decision "
                "boundary follow rank 0's checkpoint after each epoch")
ERROR_PREFIX = "error: "


def launcher_message(stderr: str, code: int, reported: str = "") -> str:
    """What went wrong: the launcher's last ``error:`` line on stderr (which names
    the rank at fault), else what rank 0 ``reported``, else the exit status and
    the last line of stderr."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(ERROR_PREFIX):
            return line[len(ERROR_PREFIX):]
    if reported:
        return reported
    tail = f": {lines[-1]}" if lines else ""
    return f"the training processes ended with status {code}{tail}"


class ProcessWorker(RunWorker):
    """One run on ``processes`` processes, started and followed from a thread.

    Parameters are those of :class:`~layerloom.gui.training.worker_base.RunWorker`, plus
    ``processes`` (more than 1) and ``folder``: where the run's folder is made
    (the system's temporary folder by default).

    Attributes
    ----------
    queue : EventQueue
        Everything the run reports, oldest first (rank 0's events).
    folder : Path or None
        The run's folder while it exists: ``model.loom``, ``events.jsonl``,
        ``stderr.txt`` and ``out/``.
    data : TrainingData or None
        The data prepared as the processes prepare it (same settings and seed).
    model
        The trained model (CPU, read from ``out/model.safetensors``) once the
        run has ended.
    """

    object_name = "processWorker"

    def __init__(self, graph, training: dict[str, Any], dataset: dict[str, Any], processes: int,
                 base_dir: str | None = None, dataset_obj=None, hist_node: str | None = None,
                 folder: str | None = None, parent: QObject | None = None):
        super().__init__(graph, training, dataset, base_dir, dataset_obj, hist_node, parent)
        self.processes = int(processes)  # hist_node is measured on rank 0's checkpoints
        self.model = None
        self.folder: Path | None = None
        self._parent_folder = folder
        self._process: subprocess.Popen | None = None
        self._stop_asked: float | None = None
        self._seen = {"epochs": 0, "step": 0, "began": time.monotonic()}

    # ---------------------------------------------------------------- control
    def set_lr(self, lr: float) -> None:
        from layerloom.backend.training import SettingsError

        raise SettingsError("the learning rate of a run on several processes cannot change while it runs")

    def stop(self) -> None:
        """Ask every process to stop after the same step (SIGINT to the launcher)."""
        with self._lock:
            if self._stop_asked is None:
                self._stop_asked = time.monotonic()
                self._signal_stop()

    def _signal_stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(OSError):
            if os.name == "posix":
                process.send_signal(signal.SIGINT)
            else:  # no SIGINT for a child on Windows: end it (the last epoch's checkpoint stays)
                process.terminate()

    def trained_model(self):
        return self.model

    # -------------------------------------------------------------------- run
    def _abandon(self) -> None:
        self._kill()

    def _ended(self) -> None:
        if self._process is not None:
            _LIVE.discard(self._process)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def _run(self) -> None:
        from layerloom.backend.training import train_command

        self.folder = folder = Path(tempfile.mkdtemp(prefix="layerloom-run-", dir=self._parent_folder))
        loom, events, out = folder / "model.loom", folder / "events.jsonl", folder / "out"
        self._save_snapshot(loom)
        extra = ("--no-record",)  # the dock keeps the run beside the user's graph; the child's copy is temporary
        if self.start_model is not None:  # fine-tuning: the processes start from its weights
            from layerloom.backend.export import save_weights

            extra += ("--init", str(save_weights(self.graph, self.start_model, folder / "init.safetensors").path))
        command = train_command(loom, self.processes, out=out, events=events, extra=extra)
        with open(folder / "stderr.txt", "wb") as stderr:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=stderr, cwd=folder, start_new_session=os.name == "posix")
        _LIVE.add(process)
        with self._lock:
            self._process = process
            if self._stop_asked is not None:  # Stop before the child existed
                self._signal_stop()
        self._prepare_data()
        final = self._follow(process, EventsTail(events))
        code = process.returncode
        if code in (0, EXIT_STOPPED) and final is not None and final.kind == "finished":
            self._read_model(out / "model.safetensors", final)
            return
        self._report_end(code, final, _tail_text(folder / "stderr.txt"))

    def _save_snapshot(self, path: Path) -> None:
        """The graph as a ``.loom`` file in the run's folder, its data path made
        absolute (a relative one was relative to the document's folder)."""
        from layerloom.backend.training import DatasetSettings, SettingsError
        from layerloom.graph import save_graph

        snapshot = self.graph.copy()
        snapshot.set_settings("training", self.training)
        dataset = dict(self.dataset)
        try:
            name = DatasetSettings.from_dict(dataset).resolve_name(self.base_dir)
        except SettingsError:  # the child says what is wrong with the section
            name = ""
        if name and os.path.exists(name):
            dataset["name"] = os.path.abspath(name)
        snapshot.set_settings("dataset", dataset)
        save_graph(snapshot, path)

    def _prepare_data(self) -> None:
        """The same split and scaling as the child's (same settings and seed), for
        the boundary's scatter while it runs and Try it after it."""
        with contextlib.suppress(Exception):  # the child reports what is wrong with the data
            super()._prepare_data()

    def _follow(self, process: subprocess.Popen, tail: EventsTail):
        """Queue rank 0's events until the launcher ends; returns the run's own
        final event (``finished``/``failed``), held back for :meth:`_run`."""
        final = None
        while True:
            ended = process.poll() is not None
            for event in tail.read():
                if event.kind in ("finished", "failed"):
                    final = event
                    continue
                self.queue(event)
                self._count(event)
                if event.kind == "started":
                    self.queue(ProbeProblem(NO_GRADIENTS))
                elif event.kind == "checkpoint":
                    self._measure(Path(event.path) / "model.safetensors", event.epoch, event.step)
            if ended:
                return final
            with self._lock:
                if self._stop_asked is not None and time.monotonic() - self._stop_asked > KILL_AFTER_S:
                    self._kill()
            time.sleep(POLL_S)

    # ------------------------------------------------------------ live views
    def _measure(self, weights: Path, epoch: int, step: int, force: bool = False) -> None:
        """Statistics and boundary of the model in ``weights`` (rank 0's latest),
        spaced so that measuring takes at most :data:`PROBE_SHARE` of the time."""
        began = time.monotonic()
        if self._probe_failed or self.data is None or (not force and began < self._next_probe):
            return
        from layerloom.backend.training.checkpoint import load_weights

        try:
            probe = self._probe or self._make_probe()
            load_weights(probe.model, weights)
            self.queue(probe.live_stats(epoch, step, self.hist_node))
            boundary = probe.boundary(step)
            if boundary is not None:
                self.queue(boundary)
        except Exception as exc:  # a statistic must never end the run
            self._report_probe(exc, "the weights are not shown for this run")
            return
        cost = time.monotonic() - began
        self._next_probe = began + max(STATS_INTERVAL, cost / PROBE_SHARE)

    def _make_probe(self):
        import torch

        from layerloom.backend.compile import compile_graph
        from layerloom.backend.training import TrainSettings, plan_run
        from layerloom.backend.training.probes import LiveProbe

        settings = TrainSettings.from_dict(self.training)
        data = self.data
        objective = plan_run(self.graph, data.train, settings).objective
        model = compile_graph(self.graph, seed=settings.seed)
        source = data.val if data.val is not None else data.train
        self._probe = LiveProbe(model, model.module_nodes, list(self.graph.topological_order()),
                                torch.as_tensor(source.x[:256]), objective, data.train.task, settings.seed)
        return self._probe

    def _count(self, event) -> None:
        seen = self._seen
        if event.kind == "started":
            seen["began"], seen["step"] = time.monotonic(), event.first_step - 1
        elif event.kind == "epoch":
            seen["epochs"] += 1
        if event.kind in ("step", "epoch"):
            seen["step"] = event.step

    def _kill(self) -> None:
        """End the launcher and every process it started, at once."""
        if self._process is not None:
            _kill_group(self._process)

    def _read_model(self, path: Path, final) -> None:
        from layerloom.backend.training.events import Failed
        from layerloom.gui.training.runs.model_files import ModelFileError, open_trained

        try:
            opened = open_trained(path)
        except ModelFileError as exc:
            self.queue(Failed(f"the run ended but its trained model could not be read: {exc}"))
            return
        self.model = opened.model
        self._measure(path, final.epochs, final.steps, force=True)
        self.queue(final)

    def _report_end(self, code: int, final, stderr: str) -> None:
        from layerloom.backend.training.events import Failed, Finished

        if code == EXIT_STOPPED or (self._stop_asked is not None and code < 0):
            # stopped before the model was written, or killed after Stop: no model to keep
            seen = self._seen
            self.queue(Finished("stopped", {}, time.monotonic() - seen["began"], seen["epochs"], seen["step"]))
            return
        if code == 0 and final is not None:
            self.queue(final)
            return
        message = launcher_message(stderr, code, final.message if final is not None and final.kind == "failed" else "")
        if code == 0:  # ended well but rank 0 wrote no final event (should not happen)
            message = "the training processes ended without reporting how the run ended"
        self.queue(Failed(message))


_LIVE: set[subprocess.Popen] = set()  # launchers still running


def _tail_text(path: Path, limit: int = 64 * 1024) -> str:
    """The last ``limit`` bytes of a text file (stderr holds a line per epoch)."""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - limit))
        return handle.read().decode("utf-8", errors="replace")


def _kill_group(process: subprocess.Popen) -> None:
    """End ``process`` and the processes of its group (the workers) at once."""
    if process.poll() is not None:
        return
    with contextlib.suppress(OSError):
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    process.wait()


@atexit.register
def _end_children() -> None:  # pragma: no cover - interpreter shutdown
    """The app is ending without having stopped a run (a crash): end its
    processes too rather than leave them training unseen."""
    for process in list(_LIVE):
        _kill_group(process)
