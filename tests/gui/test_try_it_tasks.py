"""Try it shows each task as a person wants it (the forecast after the window, the
reconstruction next to the input, the predicted tokens), and Boundary and
Confusion say in one line why they draw nothing for data they do not apply to."""

from __future__ import annotations

import numpy as np
import pytest

from layerloom.backend.templates import load_template
from tests.gui.test_inside_view import opened
from tests.gui.test_training_helpers import make_host, one_thread, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def try_panel(host):
    panel = host.dock.try_it
    host.dock.tabs.setCurrentWidget(panel)
    assert panel.ready
    return panel


def test_forecast_follows_the_input_window(qtbot, tmp_path):
    host, _ = opened(qtbot, tmp_path, "lstm_sine")
    panel = try_panel(host)
    result = panel.try_sample(3)
    assert panel.output_stack.currentWidget() is panel.forecast
    x, y = panel.run.val.x[3], panel.run.val.y[3]
    _, window = panel.forecast.window_curve.getData()
    np.testing.assert_allclose(window, x[:, 0])
    at, predicted = panel.forecast.predicted_points.getData()
    assert list(at) == [20] and predicted[0] == pytest.approx(result["predicted"][0])
    assert panel.forecast.true_points.getData()[1][0] == pytest.approx(float(y[0]))
    assert "the forecast follows the input window" in panel.verdict.text()
    host.grab().save("/tmp/layerloom_try_it_forecast.png")


def test_reconstruction_is_drawn_next_to_the_input(qtbot, tmp_path):
    host, _ = opened(qtbot, tmp_path, "conv_autoencoder_digits")
    panel = try_panel(host)
    result = panel.try_sample(1)
    assert panel.output_stack.currentWidget() is panel.reconstruction
    x = panel.run.val.x[1]
    assert result["mse"] == pytest.approx(float(np.mean((result["predicted"].reshape(x.shape) - x) ** 2)))
    for label in (panel.reconstruction.original, panel.reconstruction.rebuilt):
        image = label.pixmap().toImage()
        assert image.width() == 140 and len({image.pixel(i, j) for i in range(0, 140, 7)
                                             for j in range(0, 140, 7)}) > 3
    assert panel.verdict.text().startswith("Reconstruction error (mean squared, normalised units)")
    host.grab().save("/tmp/layerloom_try_it_autoencoder.png")


def test_predicted_tokens_are_aligned_with_the_input_and_the_truth(qtbot, tmp_path):
    host, _ = opened(qtbot, tmp_path, "transformer_sort")
    panel = try_panel(host)
    result = panel.try_sample(0)
    assert panel.output_stack.currentWidget() is panel.tokens
    table = panel.tokens.table.text()
    assert table.count("<tr>") == 3 and "Predicted" in table and "True" in table
    right = int((result["predicted"] == result["true"]).sum())
    assert table.count("#16a34a") == right and table.count("#dc2626") == 10 - right
    host.grab().save("/tmp/layerloom_try_it_tokens.png")


def test_boundary_and_confusion_say_why_they_draw_nothing(qtbot):
    graph = load_template("lstm_sine")
    graph.set_settings("dataset", {**graph.dataset, "options": {**graph.dataset["options"], "n_samples": 200}})
    graph.set_settings("training", {**graph.training, "epochs": 1, "device": "cpu"})
    host = make_host(qtbot, graph)
    dock = host.dock
    dock._build()
    assert not dock.boundary_view.plots.isVisibleTo(dock.boundary_view)  # no run: no empty axes either
    assert not dock.confusion_view.plots.isVisibleTo(dock.confusion_view)
    run = dock.start()
    wait_for(qtbot, lambda: not dock.running, timeout=60)
    assert run.status == "finished", run.message
    for view in (dock.boundary_view, dock.confusion_view):
        dock.tabs.setCurrentWidget(view)
        view.refresh(full=True)
        assert not view.plots.isVisible()
        assert "\n" not in view.note.text()
    assert dock.boundary_view.note.text().startswith("sine has inputs of shape (20, 1): the decision boundary "
                                                     "is drawn for datasets with two input features")
    assert dock.confusion_view.note.text() == ("The confusion matrix is drawn for classifiers (and "
                                               "segmentations); sine is a regression task")
