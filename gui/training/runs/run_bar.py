"""The row of run controls at the top of the training dock.

Start / Pause / Resume / Stop, the progress bar with the time left, the learning
rate (editable while paused), the run's message (why it could not start, why it
failed, how it ended), the notice that the graph changed since the run started,
and the buttons for the trained model: Save Weights, Open Weights, Export, which
the dock enables when there is a model.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.training.views.labels import steady_label

MESSAGE_STYLES = {
    "info": "color: #334155",
    "error": "color: #b91c1c; font-weight: bold",
    "done": "color: #15803d",
}


PAUSE_TIP = "Pause after the current step"
NO_PAUSE_TIP = ("A run on several processes cannot pause: the processes can only stop together "
                "(Stop keeps what the model learned)")


def format_eta(seconds: float | None) -> str:
    """``"1 min 05 s left"``, ``"12 s left"``; empty when unknown."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min left"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s left"
    return f"{s} s left"


class RunBar(QWidget):
    """Buttons and read-outs of the run (objectName ``runBar``)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("runBar")

        def button(text: str, name: str, tip: str) -> QPushButton:
            b = QPushButton(text)
            b.setObjectName(name)
            b.setToolTip(tip)
            return b

        self.start = button("Start", "startButton", "Train the graph on the dataset (F5)")
        self.pause = button("Pause", "pauseButton", PAUSE_TIP)
        self.resume = button("Resume", "resumeButton", "Go on training (with the learning rate shown)")
        self.stop = button("Stop", "stopButton", "Stop the run after the current step; the model keeps "
                           "what it learned")
        self.continue_run = button("Continue", "continueButton", "Go on training this stopped run from "
                                   "where it stopped (its checkpoint), to the epochs in the set-up")
        self.continue_run.hide()  # shown for a stopped run with a checkpoint (gui/training/finetune.py)
        self.sweep = button("Sweep…", "sweepButton", "Train once per value of one or two settings and "
                            "compare the results (Ctrl+Shift+F5)")
        self.progress = QProgressBar()
        self.progress.setObjectName("trainingProgress")
        self.progress.setRange(0, 200)  # half-percent steps: a repaint only where one shows
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(160)
        self.eta = steady_label(name="etaLabel")
        self.eta.setMinimumWidth(150)  # not a fixed 330 px: that kept the window 1,157 px wide
        self.lr_edit = QLineEdit()
        self.lr_edit.setObjectName("lrEdit")
        self.lr_edit.setFixedWidth(80)
        self.lr_edit.setToolTip("Learning rate of the run: change it while paused, it applies on Resume")
        self.save_weights = button("Save Weights…", "saveWeightsButton",
                                   "Save the trained weights with the graph (.safetensors)")
        self.open_weights = button("Open Weights…", "openWeightsButton",
                                   "Open trained weights saved by LayerLoom")
        self.export = button("Export…", "exportButton", "Export the trained model: ONNX, TorchScript, "
                             "PyTorch code")
        self.message = steady_label(lines=2, name="runMessage")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice = QLabel("The graph has changed since this run started; the run trains the graph as it "
                             "was at Start.")
        self.notice.setObjectName("graphChangedNotice")
        self.notice.setStyleSheet("color: #92400e; background: #fef3c7; padding: 2px 6px; border-radius: 3px")
        self.notice.setWordWrap(True)
        self.notice.hide()

        # two rows, so that the bar fits a window 800 px wide: the run's controls and
        # progress, then its message beside the learning rate and the model's buttons
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for widget in (self.start, self.pause, self.resume, self.stop, self.continue_run, self.sweep):
            row.addWidget(widget)
        row.addWidget(self.progress, 2)
        row.addWidget(self.eta, 1)
        second = QHBoxLayout()
        second.setContentsMargins(0, 0, 0, 0)
        second.addWidget(self.message, 1)
        second.addWidget(QLabel("LR"))
        second.addWidget(self.lr_edit)
        second.addSpacing(8)
        for widget in (self.save_weights, self.open_weights, self.export):
            second.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addLayout(second)
        layout.addWidget(self.notice)
        self.set_state("idle")

    def set_state(self, state: str, has_model: bool = False, pausable: bool = True) -> None:
        """Enable what makes sense in ``state``: idle, preparing, running, paused, or
        ending (the run has reported its end and its thread is finishing).
        ``pausable`` is false for a run on several processes, which can only stop."""
        active = state in ("preparing", "running", "paused", "ending")
        self.start.setEnabled(not active)
        self.pause.setVisible(state != "paused")
        self.pause.setEnabled(state in ("preparing", "running") and pausable)
        self.pause.setToolTip(PAUSE_TIP if pausable else NO_PAUSE_TIP)
        self.resume.setVisible(state == "paused")
        self.stop.setEnabled(active and state != "ending")
        self.lr_edit.setEnabled(state == "paused")
        self.save_weights.setEnabled(has_model and not active)
        self.export.setEnabled(has_model and not active)
        self.open_weights.setEnabled(not active)

    def show_message(self, text: str, kind: str = "info") -> None:
        self.message.setText(text)
        self.message.setToolTip(text)
        if self.message.property("kind") != kind:
            self.message.setStyleSheet(MESSAGE_STYLES.get(kind, ""))
            self.message.setProperty("kind", kind)

    def set_progress(self, fraction: float, text: str, detail: str, eta: float | None) -> None:
        """``text`` in the bar, ``detail`` (step count, speed) and the time left
        beside it."""
        value = round(200 * max(0.0, min(1.0, fraction)))
        bar = self.progress
        if value != bar.value() or text != bar.format():
            # QProgressBar repaints itself at once on a visible change, which here
            # would draw it while this (Python) call holds the interpreter lock
            # and the training thread waits; with updates off it is only marked
            # for the next paint, which Qt does without Python, off the lock.
            bar.setUpdatesEnabled(False)
            try:
                bar.setValue(value)
                bar.setFormat(text)
            finally:
                bar.setUpdatesEnabled(True)
        left = format_eta(eta)
        self.eta.setText(f"{detail} · {left}" if detail and left else detail or left)
