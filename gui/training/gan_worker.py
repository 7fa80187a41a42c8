"""The training thread of a GAN project (``"task": "gan"``).

Like :class:`~layerloom.gui.training.worker.TrainingWorker` it prepares the data and
queues every event for the dock's timer to drain; the trainer is
:class:`~layerloom.backend.training.gan.GanTrainer`, which reports both losses and
the discriminator's accuracies (``gan``) and the generator's samples from fixed
noise (``gan_samples``, at most every :data:`SAMPLE_EVERY` seconds) itself, so
there is no probe to run between steps.
"""

from __future__ import annotations

from layerloom.gui.training.worker_base import RunWorker

SAMPLE_EVERY = 0.5  # seconds between two pictures of the generator's samples
REPORT_EVERY = 0.05  # seconds between two loss reports


class GanWorker(RunWorker):
    """One GAN run in its own thread; parameters as :class:`RunWorker`'s. Its controls
    are :class:`RunWorker`'s: :meth:`set_lr` sets both networks' learning rate, and
    :meth:`trained_model` is the whole graph's model (noise -> generator ->
    discriminator) on the CPU."""

    pausable = True
    object_name = "ganWorker"

    def _run(self) -> None:
        from layerloom.backend.training.gan import GanTrainer

        data = self._prepared_data()
        if data is None:
            return
        trainer = GanTrainer(self.graph, data.train, self.settings, on_event=self.queue,
                             min_step_interval=REPORT_EVERY, sample_every=SAMPLE_EVERY)
        self._adopt_trainer(trainer)
        trainer.run()
