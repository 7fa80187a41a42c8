"""Training: settings, the trainer, its events and checkpoints. No Qt.

Typical use (the command line and the GUI both do this)::

    settings = TrainSettings.from_dict(graph.training)
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), seed=settings.seed)
    trainer = Trainer(graph, data.train, data.val, settings, on_event=print,
                      checkpoint_dir="run/checkpoint", normalisation=data.normalisation)
    final = trainer.run()          # blocks this thread; never raises
    # from another thread: trainer.pause(), trainer.resume(), trainer.stop(),
    # trainer.set_lr(1e-4)

Several processes: ``layerloom train FILE --nproc N`` (:mod:`.launch` starts them,
:mod:`.distributed` trains in each), or from a program ``train_command(path, N)``
for a child process; ``device_count(device)`` says how many processes fit.

Names are imported on first use (PEP 562), so ``layerloom.backend.training.settings`` (pure
Python) loads without torch: the command line builds its parser without paying
for the torch import.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "checkpoint": ("CheckpointError", "load_checkpoint", "load_weights"),
    "checks": ("TrainingError", "plan_run", "resolve_device"),
    "data": ("TrainingData", "prepare_data"),
    "distributed": ("DistributedTrainer", "device_count", "worker_env"),
    "launch": ("LaunchError", "LaunchOptions", "launch", "train_command"),
    "events": ("STOP_REASONS", "CheckpointSaved", "Confusion", "Epoch", "EventQueue", "Failed",
               "Finished", "NodeStats", "Note", "Paused", "Resumed", "Started", "Stats", "Step"),
    "losses": ("Objective", "default_loss"),
    "lr_find": ("LrFindError", "LrFinding", "find_lr"),
    "sweep": ("SweepError",),
    "sweep_run": ("Sweep", "Trial"),
    "settings": ("LOSSES", "OPTIMIZERS", "PRECISIONS", "SCHEDULES", "DatasetSettings",
                 "SettingsError", "TrainSettings"),
    "trainer": ("Trainer",),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'layerloom.backend.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
