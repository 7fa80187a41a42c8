"""Try it: run the trained model on one validation sample and show what it says.

The sample is shown as the model sees it (an image for image data, a curve for a
signal, the values for a few features, the tokens for a sequence), next to the
model's prediction: the class probabilities as bars with the true class marked,
the predicted value(s) against the true ones for a regression, the predicted
tokens, or for a segmentation the predicted mask beside the true one (a colour per
class) with the share of pixels right. For a model of text (data with a character
vocabulary, such as the ``text`` dataset) tokens are shown as text and the right
side becomes a :class:`~layerloom.gui.training.runs.text_generator.TextGenerator`:
a prompt, and the text the model writes after it. The model is a CPU copy taken
when the run ended or paused, so trying it never disturbs a run.
"""

from __future__ import annotations

from collections.abc import Set

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.qt_util import signals_blocked
from layerloom.gui.training.runs.run_record import Run
from layerloom.gui.training.runs.text_generator import TextGenerator
from layerloom.gui.training.runs.try_it_pages import (
    ForecastPage,
    ReconstructionPage,
    TokensPage,
    is_forecast,
    is_reconstruction,
)
from layerloom.gui.training.setup.dataset_preview import mask_colours, mask_thumbnail, thumbnail
from layerloom.gui.training.views import plot_style as ps
from layerloom.gui.training.views.sample_source import SampleSourceChoice

TOP_CLASSES = 10
IMAGE_SIZE = 140


class TryItPanel(QWidget):
    """The Try it tab (objectName ``tryItPanel``)."""

    title = "Try it"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tryItPanel")
        self.run: Run | None = None
        self.result: dict | None = None
        self._rng = np.random.default_rng()

        self.sample = QSpinBox()
        self.sample.setObjectName("trySample")
        self.sample.setKeyboardTracking(False)
        self.source_choice = SampleSourceChoice("try")
        self.random = QPushButton("Random sample")
        self.random.setObjectName("tryRandom")
        self.verdict = ps.steady_label("Train a model (or open trained weights) to try it on a sample", 2,
                                       "tryVerdict")
        self.subject = QLabel()
        self.subject.setObjectName("tryRunLabel")
        self.subject.setToolTip("The run and graph whose trained model is tried")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 0, 4, 0)
        bar.addWidget(self.subject)
        bar.addWidget(QLabel("Sample"))
        bar.addWidget(self.source_choice)
        bar.addWidget(self.sample)
        bar.addWidget(self.random)
        bar.addStretch(1)

        self.input_stack = QStackedWidget()
        self.input_stack.setFixedWidth(240)
        self.image = QLabel()
        self.image.setObjectName("tryImage")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel()
        self.text.setObjectName("tryInputText")
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.signal_plots = ps.graphics_widget()
        self.signal_plot = ps.style_plot(self.signal_plots.addPlot(), "Input")
        self.signal_curve = ps.curve("#2563eb", 1.5)
        self.signal_plot.addItem(self.signal_curve)
        for page in (self.text, self.image, self.signal_plots):
            self.input_stack.addWidget(page)
        self.plots = ps.graphics_widget()
        self.prob_plot = ps.style_plot(self.plots.addPlot(), "Prediction", "probability")
        self.prob_plot.showGrid(x=False, y=True, alpha=ps.GRID_ALPHA)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.prob_plot.addItem(self.bars)
        self.generator = TextGenerator()
        self.masks = self._mask_page()
        self.forecast, self.reconstruction, self.tokens = ForecastPage(), ReconstructionPage(), TokensPage()
        self.output_stack = QStackedWidget()
        for page in (self.plots, self.generator, self.masks, self.forecast, self.reconstruction, self.tokens):
            self.output_stack.addWidget(page)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.input_stack)
        body.addWidget(self.output_stack, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.verdict)  # a line of its own: a narrow tab still shows it
        layout.addLayout(body, 1)
        self.sample.valueChanged.connect(self.try_sample)
        self.random.clicked.connect(self.try_random)
        self.source_choice.changed.connect(self._source_changed)
        self._enable(False)

    def _mask_page(self) -> QWidget:
        """Predicted and true mask side by side, with the class colours' legend."""
        page = QWidget()
        page.setObjectName("tryMasks")
        self.predicted_mask, self.true_mask = QLabel(), QLabel()
        self.predicted_mask.setObjectName("tryPredictedMask")
        self.true_mask.setObjectName("tryTrueMask")
        self.mask_legend = QLabel()
        self.mask_legend.setObjectName("tryMaskLegend")
        self.mask_legend.setWordWrap(True)
        grid = QGridLayout(page)
        for column, (title, picture) in enumerate((("Predicted mask", self.predicted_mask),
                                                    ("True mask", self.true_mask))):
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            picture.setToolTip(f"{title}: one colour per class (legend below)")
            heading = QLabel(title)
            heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(heading, 1, column)
            grid.addWidget(picture, 2, column)
        grid.addWidget(self.mask_legend, 3, 0, 1, 2)
        grid.setRowStretch(0, 1)  # centred, level with the input image
        grid.setRowStretch(4, 1)
        return page

    # ------------------------------------------------------------------- api
    def set_subject(self, text: str) -> None:
        """Name the run and graph being tried (``Run 2 · adam, lr 0.01 · moons · moons.loom``)."""
        self.subject.setText(f"<b>{text.split(' · ')[0]}</b> of {text.rsplit(' · ', 1)[-1]} ·" if text else "")
        self.subject.setToolTip(f"Trying the model of {text}" if text else "")

    def set_run(self, run: Run | None) -> None:
        """Use ``run``'s model (when it has one) and validation set."""
        self.run = run
        self.source_choice.set_data(self._samples())
        ready = self.ready
        self._enable(ready)
        vocabulary = self.vocabulary
        self.generator.set_model(run.model if ready and vocabulary is not None else None, vocabulary)
        self.output_stack.setCurrentWidget(self.generator if ready and vocabulary is not None else self.plots)
        if not ready:
            self.result = None
            self.bars.setOpts(x=[], height=[])
            self.output_stack.setCurrentWidget(self.plots)
            if run is not None and run.active:
                self.verdict.setText("Pause or stop the run to try the model")
            elif run is not None and run.model is not None:
                self.verdict.setText("Loading the data to try the model on…")
            else:
                self.verdict.setText("Train a model (or open trained weights) to try it on a sample")
            return
        with signals_blocked(self.sample):
            self.sample.setRange(0, len(self._samples()) - 1)
        self.try_sample(self.sample.value())

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        """Once the run has ended (``full``), try its trained model; during a run
        there is no model to try."""
        if full:
            self.set_run(self.run)

    @property
    def ready(self) -> bool:
        run = self.run
        return run is not None and run.model is not None and self._samples() is not None \
            and len(self._samples()) > 0

    @property
    def vocabulary(self) -> str | None:
        """The characters of the token ids where the run's data is text, else ``None``."""
        data = self._samples()
        return getattr(data, "vocabulary", None)

    def try_random(self) -> None:
        if self.ready:
            self.sample.setValue(int(self._rng.integers(len(self._samples()))))

    def try_sample(self, index: int) -> dict | None:
        """Run the model on sample ``index`` (the drawn sample where it is the source);
        returns what was shown."""
        if not self.ready:
            return None
        from layerloom.backend.training.probes import predict

        run, data = self.run, self._samples()
        drawn = self.source_choice.sample()
        if drawn is not None:
            x, y = drawn[None], None
        else:
            index = max(0, min(int(index), len(data) - 1))
            x, y = data.x[index: index + 1], data.y[index]
        if _reconstructs(run):  # a VAE: its output redraws the input, it does not predict the labels
            self.verdict.setText("This model outputs a reconstruction of its input, not the "
                                 f"{data.task} targets: see the Loss plot's terms and the Latent space tab")
            return None
        objective = _objective_of(run)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            out = predict(run.model, x, *objective, data.task)[0]
        except Exception as exc:  # a model that cannot run on its data says why
            self.verdict.setText(f"The model could not run on this sample: {type(exc).__name__}: "
                                 f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
            return None
        finally:
            QApplication.restoreOverrideCursor()
        self._show_input(data, x[0], run)
        self._x = x[0]
        self.result = self._show_output(data, out, y)
        return self.result

    # ---------------------------------------------------------------- drawing
    def _samples(self):
        run = self.run
        if run is None:
            return None
        return run.val

    def _enable(self, on: bool) -> None:
        for widget in (self.sample, self.random):
            widget.setEnabled(on)
            widget.setVisible(not self.source_choice.drawn)

    def _source_changed(self) -> None:
        self._enable(self.ready)
        self.try_sample(self.sample.value())

    def _show_input(self, data, x: np.ndarray, run: Run) -> None:
        if data.input_dtype == "long":
            what = "text" if data.vocabulary is not None else "tokens"
            self.text.setText(f"{what}: {data.tokens_text(x)}")
            self.input_stack.setCurrentWidget(self.text)
        elif len(data.input_shape) == 3:
            self.image.setPixmap(thumbnail(x, IMAGE_SIZE))
            self.input_stack.setCurrentWidget(self.image)
        elif len(data.input_shape) == 1 and data.input_shape[0] <= 16:
            raw = _raw(run, x)
            names = data.feature_names or [f"x{i}" for i in range(len(raw))]
            self.text.setText("\n".join(f"{n}: {v:.4g}" for n, v in zip(names, raw, strict=False)))
            self.input_stack.setCurrentWidget(self.text)
        else:
            flat = np.asarray(x, np.float64).reshape(len(x), -1)[0] if np.ndim(x) > 1 else np.asarray(x)
            self.signal_curve.setData(np.arange(len(flat)), flat)
            self.signal_plot.getViewBox().autoRange(padding=0.05)
            self.input_stack.setCurrentWidget(self.signal_plots)

    def _show_output(self, data, out: np.ndarray, y) -> dict:
        task = data.task
        page = self.masks if task == "segmentation" else self.generator if self.vocabulary else self.plots
        self.output_stack.setCurrentWidget(page)
        if task == "segmentation":
            return self._show_masks(data, np.asarray(out), None if y is None else np.asarray(y))
        if task == "classification":
            probs = np.asarray(out, np.float64).reshape(-1)
            names = list(data.class_names or [str(i) for i in range(len(probs))])
            order = np.argsort(-probs)[:TOP_CLASSES]
            true = int(y) if y is not None else -1
            brushes = [pg.mkBrush("#16a34a" if i == true else "#94a3b8") for i in order]
            self.bars.setOpts(x=np.arange(len(order)), height=probs[order], brushes=brushes)
            self.prob_plot.getAxis("bottom").setTicks([[(k, names[i][:10]) for k, i in enumerate(order)]])
            self.prob_plot.getViewBox().setRange(xRange=(-0.6, len(order) - 0.4), yRange=(0, 1.05), padding=0)
            predicted = int(order[0])
            if y is None:
                self.verdict.setText(f"Predicted {names[predicted]} ({probs[predicted]:.0%}) for the drawn "
                                     f"sample · next: {names[int(order[1])] if len(order) > 1 else '-'}")
                return {"predicted": predicted, "true": None, "probabilities": probs}
            mark = "right" if predicted == true else "wrong"
            self.verdict.setText(f"Predicted {names[predicted]} ({probs[predicted]:.0%}) · true class "
                                 f"{names[true]} · {mark}")
            return {"predicted": predicted, "true": true, "probabilities": probs}
        self.bars.setOpts(x=[], height=[])
        if task == "sequence":
            predicted = np.asarray(out).argmax(axis=-1).reshape(-1)
            true = np.asarray(y).reshape(-1)
            right = int((predicted == true).sum())
            what = "characters" if data.vocabulary is not None else "tokens"
            self.verdict.setText(f"Predicted {data.tokens_text(predicted)} · true {data.tokens_text(true)} · "
                                 f"{right}/{len(true)} {what} right")
            if not self.vocabulary:  # text has its generator instead
                names = list(data.class_names or [str(i) for i in range(int(data.num_classes or 0) or
                                                                         int(np.asarray(out).shape[-1]))])
                self.output_stack.setCurrentWidget(self.tokens)
                self.tokens.show(names, self._x, predicted, true)
            return {"predicted": predicted, "true": true}
        predicted = np.asarray(out, np.float64).reshape(-1)
        true = np.asarray(y, np.float64).reshape(-1) if y is not None else None
        if is_reconstruction(data):
            self.output_stack.setCurrentWidget(self.reconstruction)
            shown = self.reconstruction.show(self._x, predicted)
            self.verdict.setText(f"Reconstruction error (mean squared, normalised units) {shown['mse']:.4g}")
            return {"predicted": predicted, "true": true, "mse": shown["mse"]}
        self.verdict.setText("Predicted " + ", ".join(f"{v:.4g}" for v in predicted) + (
            " · true " + ", ".join(f"{v:.4g}" for v in true) if true is not None else " for the drawn sample"))
        if is_forecast(data) and true is not None:
            self.output_stack.setCurrentWidget(self.forecast)
            self.forecast.show(self._x, predicted, true)
            self.verdict.setText(self.verdict.text() + " · the forecast follows the input window")
        return {"predicted": predicted, "true": true}


    def _show_masks(self, data, probs: np.ndarray, true: np.ndarray | None) -> dict:
        """``probs`` ``(H, W, C)`` per pixel; ``true`` the ``(H, W)`` mask (``None``
        for a drawn sample)."""
        classes = int(data.num_classes)
        predicted = probs.argmax(axis=-1)
        self.predicted_mask.setPixmap(mask_thumbnail(predicted, classes, IMAGE_SIZE))
        names = list(data.class_names or [str(i) for i in range(classes)])
        self.mask_legend.setText("  ".join(
            f'<span style="color: rgb({r}, {g}, {b})">■</span> {name}'
            for (r, g, b), name in zip(mask_colours(classes).tolist(), names, strict=True)))

        def kinds(mask: np.ndarray) -> str:  # the classes a mask holds besides the background
            present = [names[c] for c in np.unique(mask) if c > 0]
            return ", ".join(present) if present else f"{names[0]} only"

        if true is None:
            self.true_mask.clear()
            self.true_mask.setText("(a drawn sample has no true mask)")
            self.verdict.setText(f"Predicted {kinds(predicted)} in the drawn sample")
            self.verdict.setToolTip(f"Predicted {data.label_text(predicted)}")
            return {"predicted": predicted, "true": None, "probabilities": probs}
        self.true_mask.setPixmap(mask_thumbnail(true, classes, IMAGE_SIZE))
        right = float((predicted == true).mean())

        self.verdict.setText(f"{right:.1%} of pixels right · predicted "
                             f"{kinds(predicted)} · true {kinds(true)}")
        self.verdict.setToolTip(f"Predicted {data.label_text(predicted)}; true {data.label_text(true)}")
        return {"predicted": predicted, "true": true, "pixel_accuracy": right, "probabilities": probs}


def _reconstructs(run: Run) -> bool:
    """The model's (first) Output is not compared with the dataset's targets: its
    target is the input, or it has no loss (loss nodes train the model)."""
    names = getattr(run.model, "output_names", None)
    if not names or not run.graph.has_node(names[0]):
        return False
    params = run.graph.node(names[0]).params
    return params["target"] == "input" or params["loss"] == "none"


def _objective_of(run: Run) -> tuple[str, bool]:
    """``(loss name, single output)`` as the run's loss reads the outputs."""
    from layerloom.backend.training.losses import default_loss

    data = run.val
    loss = run.training.get("loss", "auto")
    if loss == "auto":
        loss = default_loss(data.task)
    shapes = getattr(run.model, "output_specs", None)
    single = bool(shapes) and tuple(shapes[0].shape) == (1,) and data.task == "classification"
    return loss, single


def _raw(run: Run, x: np.ndarray) -> np.ndarray:
    """Undo the input normalisation, to show values in the data's own units."""
    norm = run.normalisation
    x = np.asarray(x, np.float64)
    if norm is None or norm.method == "none":
        return x.reshape(-1)
    return (x * np.asarray(norm.scale) + np.asarray(norm.shift)).reshape(-1)
