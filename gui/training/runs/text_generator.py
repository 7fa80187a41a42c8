"""Generate text with a trained character-level model (part of the Try it tab).

A prompt, how many characters to write, the temperature and the seed; Generate
(or Enter in the prompt) runs :func:`layerloom.backend.text_generation.generate_text`
in a background thread, so the window stays responsive, and shows the prompt in
bold followed by what the model wrote. The same settings give the same text.
"""

from __future__ import annotations

import html
import time

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.background import BackgroundCall, CallKeeper
from layerloom.gui.training.views.labels import steady_label

DEFAULT_PROMPT = "the "
DEFAULT_LENGTH = 200
MAX_LENGTH = 5000  # characters per click (the command line allows more)
DEFAULT_TEMPERATURE = 0.8
MAX_TEMPERATURE = 5.0
MAX_SEED = 999_999


class TextGenerator(QWidget):
    """Prompt, settings, Generate button and the generated text (objectName ``tryGenerator``)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tryGenerator")
        self.model = None
        self.vocabulary: str | None = None
        self.result: dict | None = None
        self.error: str | None = None
        self.keeper = CallKeeper(self)
        self._call: BackgroundCall | None = None

        self.prompt = QLineEdit(DEFAULT_PROMPT)
        self.prompt.setObjectName("tryPrompt")
        self.prompt.setToolTip("The text the model continues (Enter generates)")
        self.length = QSpinBox()
        self.length.setObjectName("tryLength")
        self.length.setRange(1, MAX_LENGTH)
        self.length.setValue(DEFAULT_LENGTH)
        self.length.setToolTip("How many characters to generate")
        self.temperature = QDoubleSpinBox()
        self.temperature.setObjectName("tryTemperature")
        self.temperature.setRange(0.0, MAX_TEMPERATURE)
        self.temperature.setSingleStep(0.1)
        self.temperature.setDecimals(2)
        self.temperature.setValue(DEFAULT_TEMPERATURE)
        self.temperature.setToolTip("Softmax temperature: 0 always takes the likeliest character, "
                                    "1 follows the model's own odds, higher is wilder")
        self.seed = QSpinBox()
        self.seed.setObjectName("trySeed")
        self.seed.setRange(0, MAX_SEED)
        self.seed.setToolTip("Seed of the random draws: the same seed gives the same text")
        self.button = QPushButton("Generate")
        self.button.setObjectName("tryGenerate")
        self.button.setToolTip("Write text after the prompt, one character at a time (Enter in the prompt)")
        self.output = QTextEdit()
        self.output.setObjectName("tryGenerated")
        self.output.setReadOnly(True)
        self.output.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.output.setPlaceholderText("Generated text appears here")
        self.status = steady_label("", 1, "tryGenerateStatus")

        prompt_row = QHBoxLayout()
        prompt_row.setContentsMargins(0, 0, 0, 0)
        prompt_row.addWidget(QLabel("Prompt"))
        prompt_row.addWidget(self.prompt, 1)
        prompt_row.addWidget(self.button)
        settings_row = QHBoxLayout()
        settings_row.setContentsMargins(0, 0, 0, 0)
        for text, widget in (("Length", self.length), ("Temperature", self.temperature), ("Seed", self.seed)):
            settings_row.addWidget(QLabel(text))
            settings_row.addWidget(widget)
            settings_row.addSpacing(8)
        settings_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(2)
        layout.addLayout(prompt_row)
        layout.addLayout(settings_row)
        layout.addWidget(self.output, 1)
        layout.addWidget(self.status)
        self.button.clicked.connect(self.generate)
        self.prompt.returnPressed.connect(self.generate)
        self.set_model(None, None)

    # ------------------------------------------------------------------- api
    def set_model(self, model, vocabulary: str | None) -> None:
        """Generate with ``model``, whose token ids stand for ``vocabulary``'s characters."""
        self.model, self.vocabulary = model, vocabulary
        self._update_button()
        if model is None:
            self.status.setText("")
        elif vocabulary is not None:
            self.status.setText(f"The model knows {len(vocabulary)} characters: {vocabulary!r}")

    @property
    def busy(self) -> bool:
        return self._call is not None

    def generate(self) -> BackgroundCall | None:
        """Start generating with the fields' settings; returns the background call."""
        if self.busy or self.model is None or self.vocabulary is None:
            return None
        from layerloom.backend.text_generation import GenerationError, generate_text

        settings = {"prompt": self.prompt.text(), "length": self.length.value(),
                    "temperature": round(self.temperature.value(), 6), "seed": self.seed.value()}
        call = BackgroundCall(generate_text, self.model, self.vocabulary, settings["prompt"],
                              settings["length"], settings["temperature"], settings["seed"],
                              expected=(GenerationError,), what="generating text", parent=self)
        model, started = self.model, time.perf_counter()
        call.succeeded.connect(lambda text: self._done(model, settings, text, time.perf_counter() - started))
        call.failed.connect(self._failed)
        call.finished.connect(self._ended)
        self._call = call
        self.error = None
        self._update_button()
        self.status.setText(f"Generating {settings['length']} characters…")
        self.keeper.start(call)
        return call

    # -------------------------------------------------------------- results
    def _done(self, model, settings: dict, text: str, seconds: float) -> None:
        if model is not self.model:  # another model was chosen meanwhile
            return
        self.result = {**settings, "text": text}
        self.output.setHtml(
            f"<pre style='white-space: pre-wrap'><b>{html.escape(settings['prompt'])}</b>"
            f"{html.escape(text)}</pre>")
        message = (f"Generated {len(text)} characters in {seconds:.1f} s (temperature "
                   f"{settings['temperature']:g}, seed {settings['seed']})")
        self.status.setText(message)
        self._show_status(message)

    def _failed(self, message: str) -> None:
        self.error = message
        self.status.setText(f"Cannot generate: {message}")
        self._show_status(f"Cannot generate: {message}")

    def _ended(self) -> None:
        self._call = None
        self._update_button()

    def _update_button(self) -> None:
        self.button.setEnabled(self.model is not None and self.vocabulary is not None and not self.busy)

    def _show_status(self, message: str) -> None:
        window = self.window()
        if hasattr(window, "show_status"):
            window.show_status(message, 6000)
