"""The Saliency tab: what a trained classifier looks at, for one validation sample
(or, for a model of images, a sample drawn in the Draw panel).

Two methods (:mod:`layerloom.backend.insight`): *Saliency*, the gradient of the
chosen class's score with respect to the input (a heat map over an image, signed
bars over features), and *Grad-CAM*, the evidence a convolutional layer found for
the class, stretched over the image. The input is drawn beside the map. The work
(one forward and backward pass) runs in a background call on a copy of the run's
CPU model (taken when it ended or paused), so nothing here touches a running model
or blocks the window.
A model or data the method does not apply to gets a one-line reason instead of
empty axes.
"""

from __future__ import annotations

import copy
from collections.abc import Set

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QSpinBox, QWidget

from layerloom.backend.insight.errors import InsightError
from layerloom.gui.background import BackgroundCall, CallKeeper
from layerloom.gui.qt_util import signals_blocked
from layerloom.gui.training.runs.run_record import Run
from layerloom.gui.training.views import plot_style as ps
from layerloom.gui.training.views.sample_source import SampleSourceChoice
from layerloom.gui.training.views.view_header import header_bar, lay_out_view

METHODS = ("Saliency", "Grad-CAM")
HEAT = pg.colormap.get("inferno")


class SaliencyView(QWidget):
    """The Saliency tab (objectName ``saliencyView``)."""

    title = "Saliency"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("saliencyView")
        self.run: Run | None = None
        self.result = None  # the last Saliency or GradCam drawn
        self.job: BackgroundCall | None = None
        self.keeper = CallKeeper(self)
        self._pending = False  # a choice changed while a job ran
        self._copy = self._copy_of = None
        self._shown_for = None
        self.method = QComboBox()
        self.method.setObjectName("saliencyMethod")
        self.method.addItems(METHODS)
        self.method.setToolTip("Saliency: gradient of the class score over the input · Grad-CAM: where a "
                               "convolutional layer found evidence for the class")
        self.sample = QSpinBox()
        self.sample.setObjectName("saliencySample")
        self.sample.setKeyboardTracking(False)
        self.sample.setToolTip("Which validation sample to explain")
        self.source_choice = SampleSourceChoice("saliency")
        self.target = QComboBox()
        self.target.setObjectName("saliencyClass")
        self.target.setToolTip("The class whose score is explained")
        self.node = QComboBox()
        self.node.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.node.setObjectName("saliencyNode")
        self.node.setToolTip("Grad-CAM: the convolutional layer whose feature maps are weighed (default: the last)")
        bar = header_bar("Method", self.method, "Sample", self.source_choice, self.sample,
                         "Class", self.target, "Layer", self.node)
        self.plots = ps.graphics_widget(self)
        self.input_plot = ps.style_plot(self.plots.addPlot(), "Input")
        self.map_plot = ps.style_plot(self.plots.addPlot(), "Saliency")
        for plot in (self.input_plot, self.map_plot):
            plot.setAspectLocked(True)
            plot.invertY(True)
            plot.hideAxis("left")
            plot.hideAxis("bottom")
        self.input_image = pg.ImageItem(axisOrder="row-major")
        self.under_image = pg.ImageItem(axisOrder="row-major")
        self.heat_image = pg.ImageItem(axisOrder="row-major")
        self.heat_image.setOpacity(0.65)
        self.input_plot.addItem(self.input_image)
        self.map_plot.addItem(self.under_image)
        self.map_plot.addItem(self.heat_image)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8)
        self.note = ps.steady_label("Train a classifier (or open trained weights) to see what it looks at", 2,
                                    "saliencyNote")
        lay_out_view(self, bar, self.plots, self.note)
        self.method.currentIndexChanged.connect(self.compute)
        self.sample.valueChanged.connect(self.compute)
        self.source_choice.changed.connect(self._source_changed)
        self.target.currentIndexChanged.connect(self.compute)
        self.node.currentIndexChanged.connect(self.compute)

    # ------------------------------------------------------------------- api
    @property
    def has_data(self) -> bool:
        """Whether the last computation drew a map (an image or bars)."""
        return self.result is not None

    def set_run(self, run: Run | None) -> None:
        self.run = run
        self._shown_for = None
        self.refresh()

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        """Recompute when the run's model changes (it ended, paused, or was opened)."""
        run = self.run
        model = run.model if run is not None else None
        key = (id(run), id(model), id(run.val) if run is not None else None)
        if key == self._shown_for and not full:
            return
        self._shown_for = key
        self._fill_choices()
        self.compute()

    def compute(self, *_args) -> BackgroundCall | None:
        """Explain the chosen sample in the background; returns the job (``None`` when
        the method cannot run, with the reason shown, or when a job is running: the
        newest choice is computed as soon as it ends)."""
        run = self.run
        if run is None or run.model is None or run.val is None:
            self.result = None
            self._clear("Pause or stop the run to see what the model looks at" if run is not None and run.active
                        else "Train a classifier (or open trained weights) to see what it looks at")
            return None
        if self.job is not None:
            self._pending = True
            return None
        data = run.val
        drawn = self.source_choice.sample()
        x, index = (drawn[None], 0) if drawn is not None else (data.x, self.sample.value())
        call = BackgroundCall(explain, self.method.currentText(), self._model_copy(run), run.graph, x,
                              index, data.task, self.target.currentData(), self.node.currentData(),
                              expected=(InsightError,), what="explaining the sample", parent=self)
        call.succeeded.connect(self._succeeded)
        call.failed.connect(self._failed)
        call.finished.connect(self._ended)
        self.job = call
        return self.keeper.start(call)

    def shutdown(self) -> None:
        """Wait for a job still running (before the window goes away)."""
        self.keeper.wait_all()

    def _source_changed(self) -> None:
        self.sample.setVisible(not self.source_choice.drawn)
        self.compute()

    def _model_copy(self, run: Run):
        """A copy of the run's model for the background thread (Try it uses the model
        itself on the GUI thread), made once per model."""
        if self._copy_of is not run.model:
            self._copy = copy.deepcopy(run.model).cpu()
            self._copy_of = run.model
        return self._copy

    def _succeeded(self, result) -> None:
        run = self.run
        if run is None or run.val is None:
            return
        self.result = result
        self._draw(result, run.val)

    def _failed(self, message: str) -> None:
        self.result = None
        self._clear(message)

    def _ended(self) -> None:
        self.job = None
        if self._pending:
            self._pending = False
            self.compute()

    # ---------------------------------------------------------------- drawing
    def _fill_choices(self) -> None:
        run = self.run
        data = run.val if run is not None else None
        self.source_choice.set_data(data)
        with signals_blocked(self.sample), signals_blocked(self.target), signals_blocked(self.node):
            self.sample.setRange(0, max(0, len(data) - 1) if data is not None else 0)
            self.target.clear()
            self.target.addItem("Predicted", None)
            if data is not None and data.task == "classification":
                names = data.class_names or [str(i) for i in range(data.num_classes or 0)]
                for i, name in enumerate(names):
                    self.target.addItem(str(name), i)
            self.node.clear()
            nodes = []
            if run is not None and run.model is not None:
                from layerloom.backend.insight.gradcam import conv_nodes

                try:
                    nodes = conv_nodes(run.graph, run.model)
                except Exception:  # a graph the model no longer matches: no layers to offer
                    nodes = []
            for nid in reversed(nodes):  # the last convolution first: the default
                self.node.addItem(run.graph.node(nid).title, nid)
            self.node.setEnabled(bool(nodes))

    def _clear(self, reason: str) -> None:
        self.input_image.clear()
        self.under_image.clear()
        self.heat_image.clear()
        self._show_bars(False)
        self.note.setText(reason)

    def _show_bars(self, on: bool) -> None:
        if on and self.bars.scene() is None:
            self.map_plot.addItem(self.bars)
        elif not on and self.bars.scene() is not None:
            self.map_plot.removeItem(self.bars)
        for plot in (self.input_plot, self.map_plot):
            plot.setAspectLocked(not on)
            plot.invertY(not on)
            plot.showAxis("left", on)
            plot.showAxis("bottom", on)
        self.input_plot.setVisible(not on)

    def _draw(self, result, data) -> None:
        names = data.class_names or [str(i) for i in range(data.num_classes or 2)]
        name = names[result.target] if result.target < len(names) else str(result.target)
        predicted = names[result.predicted] if result.predicted < len(names) else str(result.predicted)
        grad_cam = hasattr(result, "coarse")
        if not grad_cam and result.kind == "features":
            self._show_bars(True)
            self.input_image.clear()
            self.under_image.clear()
            self.heat_image.clear()
            values = result.values
            brushes = [pg.mkBrush("#2563eb" if v >= 0 else "#dc2626") for v in values]
            self.bars.setOpts(x=np.arange(len(values)), height=values, brushes=brushes)
            labels = data.feature_names or [f"x{i}" for i in range(len(values))]
            self.map_plot.getAxis("bottom").setTicks([[(i, str(n)[:8]) for i, n in enumerate(labels)]])
            self.map_plot.setTitle(f"∂ score of {name} / ∂ feature")
            top = float(np.abs(values).max()) or 1.0
            self.map_plot.getViewBox().setRange(xRange=(-0.6, len(values) - 0.4), yRange=(-top, top))
            self.note.setText(f"Blue: raising the feature raises the score of {name}; red: lowers it · "
                              f"predicted {predicted}")
            return
        self._show_bars(False)
        grey = _grey(result.sample, result.values.shape)
        self.input_image.setImage(grey, autoLevels=True)
        self.under_image.setImage(grey, autoLevels=True)
        heat = result.values if result.values.ndim == 2 else result.values[None, :]
        self.heat_image.setImage(heat, levels=(0.0, 1.0))
        self.heat_image.setLookupTable(HEAT.getLookupTable(nPts=256))
        for plot in (self.input_plot, self.map_plot):
            plot.getViewBox().autoRange(padding=0.02)
        if grad_cam:
            layer = self.run.graph.node(result.node).title if self.run is not None else result.node
            self.map_plot.setTitle(f"Grad-CAM at {layer}")
            self.note.setText(f"Bright: where {layer} found evidence for {name} · predicted {predicted} · "
                              f"coarse map {'x'.join(map(str, result.coarse.shape))}, stretched to the input")
        else:
            self.map_plot.setTitle("|gradient| of the class score")
            prob = getattr(result, "probability", None)
            self.note.setText(f"Bright: pixels whose change moves the score of {name} most "
                              f"(p = {prob:.2f}) · predicted {predicted}")


def explain(method: str, model, graph, x, index: int, task: str, target, node):
    """The background call: saliency or Grad-CAM of one sample."""
    if method == "Grad-CAM":
        from layerloom.backend.insight.gradcam import gradcam

        return gradcam(model, graph, x, index, task, target, node)
    from layerloom.backend.insight.saliency import saliency

    return saliency(model, x, index, task, target)


def _grey(sample: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The sample as a 2-D picture the size of the map (channels averaged)."""
    if sample.ndim == 3:
        return sample.mean(axis=0)
    if sample.ndim == 2 and sample.shape == shape:
        return sample
    return np.asarray(sample, np.float32).reshape(-1, shape[-1]).mean(axis=0)[None, :]
