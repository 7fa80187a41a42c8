"""Training > Find learning rate: the range test in a dialog, off the GUI thread.

The test (:mod:`layerloom.backend.training.lr_find`) trains a snapshot of the graph
for a few dozen steps while the rate grows; the plot draws the loss against the
rate as each step comes, then marks the suggested rate. "Use this rate" sets the
graph's learning rate (one undoable edit); closing the dialog stops a test that
still runs.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QSpinBox, QWidget

from layerloom.graph import Graph
from layerloom.gui.training.setup.background_dialog import BackgroundRunDialog


class _FindThread(QThread):
    """Runs the range test; ``step`` per step, then ``done`` or ``failed``."""

    step = Signal(int, float, float)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, graph: Graph, base_dir: str | None, dataset_obj: Any, start: float, end: float,
                 steps: int, parent=None):
        super().__init__(parent)
        self.graph, self.base_dir, self.dataset_obj = graph, base_dir, dataset_obj
        self.start_rate, self.end_rate, self.steps = start, end, steps
        self.stop = threading.Event()

    def run(self) -> None:
        from layerloom.backend.datasets import DatasetError
        from layerloom.backend.training import (
            DatasetSettings,
            LrFindError,
            SettingsError,
            TrainingError,
            TrainSettings,
            find_lr,
            prepare_data,
        )

        try:
            settings = TrainSettings.from_dict(self.graph.training)
            data = prepare_data(DatasetSettings.from_dict(self.graph.dataset), seed=settings.seed,
                                base_dir=self.base_dir, dataset=self.dataset_obj)
            finding = find_lr(self.graph, data.train, settings, self.start_rate, self.end_rate,
                              self.steps, on_step=self.step.emit, stop=self.stop)
        except (DatasetError, LrFindError, SettingsError, TrainingError, OSError) as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # never a traceback in the window: one line that says what
            self.failed.emit(f"the test failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        else:
            self.done.emit(finding)


class RateField(QLineEdit):
    """A learning rate as text (``1e-6``, ``0.01``); :meth:`value` is ``None`` for
    anything that is not a positive number."""

    def __init__(self, value: float, name: str):
        super().__init__(f"{value:g}")
        self.setObjectName(name)

    def value(self) -> float | None:
        try:
            rate = float(self.text().strip())
        except ValueError:
            return None
        return rate if math.isfinite(rate) and rate > 0 else None

    def setValue(self, rate: float) -> None:  # noqa: N802 (as the spin boxes beside it)
        self.setText(f"{rate:g}")


class LrFindDialog(BackgroundRunDialog):
    """The range test for ``graph`` (a snapshot is tested); ``use_rate(rate)`` applies
    the chosen rate to the graph (the set-up panel's undoable edit) and returns
    whether it was taken."""

    def __init__(self, graph: Graph, use_rate: Callable[[float], bool], base_dir: str | None = None,
                 dataset_obj: Any = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("lrFindDialog")
        self.setWindowTitle("Find a learning rate")
        self.graph, self.use_rate = graph, use_rate
        self.base_dir, self.dataset_obj = base_dir, dataset_obj
        self.finding = None
        self._rates: list[float] = []
        self._losses: list[float] = []

        intro = QLabel(
            "Trains the graph from fresh weights for a short run while the learning rate grows "
            "step by step. The loss stays flat while the rate is too small, falls, then blows up; "
            "the suggested rate is where it falls fastest (or a tenth of the rate of the lowest loss, "
            "when that is smaller). The weights are thrown away.")
        intro.setWordWrap(True)
        self.min_box = RateField(1e-6, "lrFindMin")
        self.max_box = RateField(1.0, "lrFindMax")
        self.steps_box = QSpinBox()
        self.steps_box.setObjectName("lrFindSteps")
        self.steps_box.setRange(5, 1000)
        self.steps_box.setValue(100)
        form = QFormLayout()
        form.addRow("From rate", self.min_box)
        form.addRow("To rate", self.max_box)
        form.addRow("Steps", self.steps_box)
        self.min_box.setToolTip("The first, smallest rate tried")
        self.max_box.setToolTip("The last, largest rate tried (the test stops early once the loss blows up)")
        self.steps_box.setToolTip("Rates tried, spaced evenly on a log scale; one training step each")

        self.plot = pg.PlotWidget()
        self.plot.setObjectName("lrFindPlot")
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate")
        self.plot.setLabel("left", "training loss")
        self.plot.setMinimumHeight(220)
        self.raw_curve = self.plot.plot([], [], pen=pg.mkPen((150, 150, 150), width=1))
        self.curve = self.plot.plot([], [], pen=pg.mkPen((31, 119, 180), width=2))
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen((214, 39, 40), width=1.5))
        self.marker.setVisible(False)
        self.plot.addItem(self.marker)

        self.progress.setTextVisible(False)
        self.status.setText("Press Run to start the test.")
        self.status.setObjectName("lrFindStatus")
        self.run_button = self._button("&Run", "lrFindRun", self.start,
                                       "Start the test with the graph's current settings and data")
        self.stop_button = self._button("&Stop", "lrFindStop", self.stop, enabled=False)
        self.use_button = self._button(
            "&Use this rate", "lrFindUse", self._use,
            "Set the graph's learning rate to the suggestion (Undo takes it back)", enabled=False)
        self._lay_out(intro, form, self.plot, [self.run_button, self.stop_button, self.use_button])
        self.resize(560, 520)

    # -------------------------------------------------------------- actions
    def start(self) -> None:
        if self.running:
            return
        start, end, steps = self.min_box.value(), self.max_box.value(), self.steps_box.value()
        if start is None or end is None:
            self.status.setText("The rates must be positive numbers, such as 1e-6 or 0.5.")
            return
        if end <= start:
            self.status.setText(f"The last rate ({end:g}) must be larger than the first ({start:g}).")
            return
        self.finding = None
        self._rates, self._losses = [], []
        self.curve.setData([], [])
        self.raw_curve.setData([], [])
        self.marker.setVisible(False)
        self.use_button.setEnabled(False)
        self.progress.setRange(0, steps)
        self.progress.setValue(0)
        self.status.setText("Testing…")
        thread = _FindThread(self.graph.copy(), self.base_dir, self.dataset_obj, start, end, steps, self)
        thread.step.connect(self._step)
        thread.done.connect(self._done)
        thread.failed.connect(self._failed)
        self._launch(thread)

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.stop.set()
            self.status.setText("Stopping after this step…")

    def _use(self) -> None:
        if self.finding is None or self.finding.suggested is None:
            return
        rate = float(f"{self.finding.suggested:.2g}")
        if self.use_rate(rate):
            self.status.setText(f"The learning rate is now {rate:g} (Edit > Undo takes it back).")

    # -------------------------------------------------------------- results
    def _step(self, step: int, rate: float, loss: float) -> None:
        self._rates.append(rate)
        self._losses.append(loss)
        self.progress.setValue(step)
        self.raw_curve.setData(self._rates, self._losses)

    def _done(self, finding) -> None:
        self.finding = finding
        self.progress.setValue(self.progress.maximum())
        if finding.rates:
            self.raw_curve.setData(finding.rates, finding.losses)
            self.curve.setData(finding.rates, finding.smoothed)
            top = max(finding.smoothed[0], min(finding.smoothed)) * 1.5
            low = min(finding.smoothed)
            self.plot.setYRange(low - 0.05 * (top - low), top)
        if finding.suggested is not None:
            self.marker.setValue(math.log10(finding.suggested))
            self.marker.setVisible(True)
            self.use_button.setEnabled(True)
            self.use_button.setText(f"&Use {finding.suggested:.2g}")
        self.status.setText(finding.summary()[0].upper() + finding.summary()[1:] + ".")

    def _failed(self, message: str) -> None:
        self.status.setText(f"The test could not run: {message}")

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)

    def _cancel(self) -> None:
        self.thread.stop.set()
