"""Controlling a run from another thread: pause, resume, stop and a new learning rate.

The GUI's thread (or a Ctrl-C handler) flips a few ``threading`` flags; the trainer's
loop honours them between steps: it waits while ``_go`` is clear, ends once
``_stop`` is set, and takes a new rate with :meth:`StepControl._take_lr`.
:class:`~layerloom.backend.training.trainer.Trainer` and
:class:`~layerloom.backend.training.gan.GanTrainer` share this; each loop decides
what a pause and a stop mean for its own steps.
"""

from __future__ import annotations

import threading

from layerloom.backend.training.settings import check_values


class StepControl:
    """Thread-safe pause/resume/stop/set_lr; call :meth:`_init_control` in ``__init__``."""

    def _init_control(self) -> None:
        self._stop = threading.Event()
        self._go = threading.Event()
        self._go.set()
        self._lock = threading.Lock()
        self._pending_lr: float | None = None

    def pause(self) -> None:
        """Pause before the next step (thread-safe)."""
        self._go.clear()

    def resume(self) -> None:
        """Continue after :meth:`pause` (thread-safe)."""
        self._go.set()

    def stop(self) -> None:
        """Stop before the next step and finish, a Trainer after a checkpoint (thread-safe)."""
        self._stop.set()
        self._go.set()

    def set_lr(self, lr: float) -> None:
        """Use learning rate ``lr`` from the next step (on resume when paused); a GAN's
        two networks both learn at it.

        A running schedule continues from the new rate (its reference rates are
        scaled by the same factor).
        """
        lr = check_values("training", {"lr": lr})["lr"]
        with self._lock:
            self._pending_lr = lr

    @property
    def paused(self) -> bool:
        """True once :meth:`pause` was asked and until :meth:`resume` or :meth:`stop`."""
        return not self._go.is_set() and not self._stop.is_set()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was asked."""
        return self._stop.is_set()

    def _take_lr(self) -> float | None:
        """The rate :meth:`set_lr` asked for since the last call, else ``None``."""
        with self._lock:
            lr, self._pending_lr = self._pending_lr, None
        return lr
