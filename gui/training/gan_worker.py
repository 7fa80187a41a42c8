"""The training thread of a GAN project (``"task": "gan"``).

Like :class:`~layerloom.gui.training.worker.TrainingWorker` it prepares the data and
queues every event for the dock's timer to drain; the trainer is
:class:`~layerloom.backend.training.gan.GanTrainer`, which reports both losses and
the discriminator's accuracies (``gan``) and the generator's samples from fixed
noise (``gan_samples``, at most every :data:`SAMPLE_EVERY` seconds) itself, so
there is no probe to run between steps.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject

from layerloom.gui.training.worker_base import RunWorker

SAMPLE_EVERY = 0.5  # seconds between two pictures of the generator's samples
REPORT_EVERY = 0.05  # seconds between two loss reports


class GanWorker(RunWorker):
    """One GAN run in its own thread; parameters as :class:`RunWorker`'s."""

    pausable = True
    object_name = "ganWorker"

    def __init__(self, graph, training: dict[str, Any], dataset: dict[str, Any],
                 base_dir: str | None = None, dataset_obj=None, hist_node: str | None = None,
                 parent: QObject | None = None):
        super().__init__(graph, training, dataset, base_dir, dataset_obj, hist_node, parent)
        self._want_stop = False
        self._want_pause = False
        self._pending_lr: float | None = None

    def pause(self) -> None:
        with self._lock:
            self._want_pause = True
            if self.trainer is not None:
                self.trainer.pause()

    def resume(self) -> None:
        with self._lock:
            self._want_pause = False
            if self.trainer is not None:
                self.trainer.resume()

    def stop(self) -> None:
        with self._lock:
            self._want_stop = True
            if self.trainer is not None:
                self.trainer.stop()

    def set_lr(self, lr: float) -> None:
        """Both networks learn at ``lr`` from the next step."""
        with self._lock:
            if self.trainer is not None:
                self.trainer.set_lr(lr)
            else:
                self._pending_lr = float(lr)

    def trained_model(self):
        """The whole graph's model (noise -> generator -> discriminator) on the CPU."""
        trainer = self.trainer
        return trainer.model.to("cpu") if trainer is not None and trainer.model is not None else None

    def _run(self) -> None:
        from layerloom.backend.datasets import DatasetError
        from layerloom.backend.training import Failed, SettingsError
        from layerloom.backend.training.gan import GanTrainer

        try:
            data = self._prepare_data()
        except (SettingsError, DatasetError) as exc:
            self.queue(Failed(str(exc)))
            return
        trainer = GanTrainer(self.graph, data.train, self.settings, on_event=self.queue,
                             min_step_interval=REPORT_EVERY, sample_every=SAMPLE_EVERY)
        with self._lock:
            self.trainer = trainer
            if self._pending_lr is not None:
                trainer.set_lr(self._pending_lr)
            if self._want_pause:
                trainer.pause()
            if self._want_stop:
                trainer.stop()
        trainer.run()
