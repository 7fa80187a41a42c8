"""Drawing a sample of one's own: the pad paints, erases and undoes strokes with the
mouse; the Inside, Saliency and Try it tabs follow the drawn sample as it changes;
and Draw is not offered for a model that does not take images."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from layerloom.backend import compile_graph, save_weights
from layerloom.backend.templates import load_template
from layerloom.gui.training.views.draw_pad import DrawPad
from tests.gui.test_inside_view import opened, show
from tests.gui.test_training_helpers import make_host, one_thread, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton


def mouse(pad, kind, point: QPointF, button, buttons) -> None:
    event = QMouseEvent(kind, point, pad.mapToGlobal(point), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(pad, event)


def stroke(pad, points, button=LEFT) -> None:
    """Press at the first point (model pixel ``(row, column)``), move through the rest, release."""
    at = [pad.widget_point(r, c) for r, c in points]
    mouse(pad, QMouseEvent.Type.MouseButtonPress, at[0], button, button)
    for point in at[1:]:
        mouse(pad, QMouseEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, button)
    mouse(pad, QMouseEvent.Type.MouseButtonRelease, at[-1], button, Qt.MouseButton.NoButton)


def test_the_pad_paints_erases_and_undoes_strokes(qtbot):
    pad = DrawPad(1, 8, 8)
    qtbot.addWidget(pad)
    pad.resize(240, 240)
    pad.show()
    qtbot.waitExposed(pad)
    pad.brush = 1.0
    stroke(pad, [(1.5, 4.5), (6.5, 4.5)])  # a vertical 1 down column 4
    first = pad.intensity()
    assert first.shape == (1, 8, 8)
    assert first[0, 1:7, 4].min() > 0.9  # the stroke is continuous between the two points
    assert first[0, :, 0].max() == 0 and first[0, 0, :].max() < 0.5
    stroke(pad, [(3.5, 1.5), (3.5, 6.5)])
    second = pad.intensity()
    assert second[0, 3, 1:7].min() > 0.9
    pad.brush = 2.0
    stroke(pad, [(3.5, 4.5)], RIGHT)  # the right button erases
    assert pad.intensity()[0, 3, 4] < 0.1
    pad.setFocus()
    qtbot.keyClick(pad, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Z: the erase is undone
    np.testing.assert_allclose(pad.intensity(), second)
    assert pad.undo()
    np.testing.assert_allclose(pad.intensity(), first)
    pad.clear()
    assert not pad.intensity().any()
    assert pad.undo()
    np.testing.assert_allclose(pad.intensity(), first)
    pad.grab().save("/tmp/layerloom_draw_pad.png")


@pytest.fixture(scope="module")
def trained_cnn(tmp_path_factory):
    """The digits CNN after one short epoch (weights file)."""
    from layerloom.backend.training import DatasetSettings, Trainer, TrainSettings, prepare_data

    graph = load_template("cnn_digits")
    settings = TrainSettings.from_dict({**graph.training, "epochs": 2}).replace(device="cpu")
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), settings.seed)
    model = compile_graph(graph, seed=0)
    final = Trainer(graph, data.train, data.val, settings, model=model).run()
    assert final.kind != "failed", final.message
    path = tmp_path_factory.mktemp("cnn") / "cnn_digits.safetensors"
    save_weights(graph, model, path)
    return path


def open_trained(qtbot, path):
    host = make_host(qtbot, load_template("cnn_digits"))
    run = host.dock.open_weights(str(path))
    wait_for(qtbot, lambda: run.val is not None and run.model is not None, timeout=60)
    return host, run


def test_inside_and_saliency_follow_the_drawn_sample(qtbot, tmp_path):
    host, view = opened(qtbot, tmp_path, "cnn_digits")
    host.resize(1280, 800)
    show(qtbot, view, "activations", "output_1")
    assert "validation sample 0" in view.result[1].title
    host.grab().save("/tmp/layerloom_inside_validation.png")
    choice = view.source_choice
    assert choice.draw_button.isEnabled()
    panel = choice.open_panel()
    assert panel is host.dock.drawing.panel and panel.isVisible() and choice.drawn
    assert view.sample.isHidden() and choice.draw_button.isVisible()
    wait_for(qtbot, lambda: view.result is not None and view.result[0] == "figure"
             and "drawn sample" in view.result[1].title and not view._busy)
    blank = view.result[1].data["probabilities"]
    view.result = None
    stroke(panel.pad, [(1.5, 4.5), (6.5, 4.5)])
    drawn = host.dock.drawing.sample()
    ink = host.dock.drawing.ink
    assert drawn[0, 4, 4] == pytest.approx(float(ink.high[0, 0, 0]), abs=1e-4)  # full ink: the data's brightest
    assert drawn[0, 4, 0] == pytest.approx(float(ink.low[0, 0, 0]), abs=1e-4)  # background: its darkest
    wait_for(qtbot, lambda: view.result is not None and not view._busy)  # recomputed after the debounce
    figure = view.result[1]
    assert figure.title == "Output: output for drawn sample" or "drawn sample" in figure.title
    assert "no true class" in figure.note
    assert not np.allclose(figure.data["probabilities"], blank)
    np.testing.assert_allclose(figure.panels[0].images[0], drawn[0])  # the input panel is the drawing
    host.dock.tabs.setCurrentWidget(view)
    host.resize(1280, 800)
    qtbot.wait(50)
    host.grab().save("/tmp/layerloom_inside_drawn.png")
    panel.grab().save("/tmp/layerloom_draw_panel.png")

    saliency = host.dock.saliency_view
    host.dock.tabs.setCurrentWidget(saliency)
    saliency.refresh(full=True)
    saliency.source_choice.set_drawn(True)
    wait_for(qtbot, lambda: saliency.job is None and saliency.result is not None, timeout=30)
    np.testing.assert_allclose(saliency.result.sample, drawn)
    host.grab().save("/tmp/layerloom_saliency_drawn.png")


def test_try_it_predicts_a_drawn_digit(qtbot, trained_cnn):
    host, run = open_trained(qtbot, trained_cnn)
    panel = host.dock.try_it
    host.dock.tabs.setCurrentWidget(panel)
    assert panel.ready
    expected = panel.try_sample(5)
    draw = panel.source_choice.open_panel()
    draw.start_from_sample(5)  # drawing over validation sample 5: the same input, the same prediction
    wait_for(qtbot, lambda: panel.result is not None and panel.result["true"] is None
             and np.allclose(panel.result["probabilities"], expected["probabilities"], atol=1e-5))
    draw.clear_button.click()
    draw.pad.brush = 1.0
    stroke(draw.pad, [(1.5, 2.5), (1.5, 5.5), (6.5, 3.5)])  # a 7
    wait_for(qtbot, lambda: not np.allclose(panel.result["probabilities"], expected["probabilities"]))
    probs = panel.result["probabilities"]
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1.0, abs=1e-4)
    names = [str(c) for c in range(10)]
    assert panel.verdict.text().startswith(f"Predicted {names[int(np.argmax(probs))]} (")
    assert "for the drawn sample" in panel.verdict.text()
    assert panel.sample.isHidden() and panel.random.isHidden()
    heights = panel.bars.opts["height"]
    assert len(heights) == 10 and max(heights) == pytest.approx(probs.max())
    host.resize(1280, 800)
    qtbot.wait(50)
    host.grab().save("/tmp/layerloom_try_it_drawn.png")
    draw.grab().save("/tmp/layerloom_draw_panel_seven.png")
    panel.source_choice.set_drawn(False)  # back to the validation sample
    assert panel.result["true"] is not None and panel.sample.isVisible()


def test_draw_is_not_offered_for_the_moons_mlp(qtbot, tmp_path):
    host, view = opened(qtbot, tmp_path, "mlp_two_moons")
    for choice in (view.source_choice, host.dock.saliency_view.source_choice, host.dock.try_it.source_choice):
        assert not choice.draw_button.isEnabled()
        assert not choice.choice.model().item(1).isEnabled()
        assert choice.draw_button.toolTip() == ("Drawing needs an image input (channels, height, width); "
                                                "this model takes (2)")
        assert choice.open_panel() is None and not choice.drawn
    assert host.dock.drawing.panel is None


def test_a_colour_brush_paints_each_channel(qtbot):
    from layerloom.gui.training.views.draw_panel import COLOURS

    pad = DrawPad(3, 16, 16)
    qtbot.addWidget(pad)
    pad.resize(200, 200)
    pad.show()
    qtbot.waitExposed(pad)
    assert pad.factor == 4
    pad.brush, pad.ink = 2.0, np.asarray(dict(COLOURS)["Red"], np.float32)
    stroke(pad, [(8.0, 3.0), (8.0, 12.0)])
    red = pad.intensity()[:, 8, 4:11]
    assert red[0].min() > 0.9 and red[1].max() < 0.2 and red[2].max() < 0.2


@pytest.mark.parametrize("template", ["conv_autoencoder_digits", "unet_shapes"])
def test_try_it_on_a_drawn_sample_for_autoencoders_and_segmentation(qtbot, tmp_path, template):
    host, _ = opened(qtbot, tmp_path, template)
    panel = host.dock.try_it
    host.dock.tabs.setCurrentWidget(panel)
    draw = panel.source_choice.open_panel()
    stroke(draw.pad, [(2.5, 2.5), (5.5, 5.5)])
    drawn = host.dock.drawing.sample()
    wait_for(qtbot, lambda: panel.result is not None and panel.result["true"] is None
             and np.array_equal(panel._x, drawn))  # tried on the stroke, after the debounce
    if template == "unet_shapes":
        assert panel.output_stack.currentWidget() is panel.masks
        assert panel.result["predicted"].shape == drawn.shape[1:]
        assert panel.true_mask.text() == "(a drawn sample has no true mask)"
        assert panel.verdict.text().startswith("Predicted") and "in the drawn sample" in panel.verdict.text()
    else:
        assert panel.output_stack.currentWidget() is panel.reconstruction
        expected = float(np.mean((panel.result["predicted"].reshape(drawn.shape) - drawn) ** 2))
        assert panel.result["mse"] == pytest.approx(expected, rel=1e-4)


def test_the_views_hear_of_a_drawing_at_most_every_150_ms_also_while_it_goes_on(qtbot):
    from layerloom.backend.datasets import Dataset
    from layerloom.gui.training.views.drawn_source import DEBOUNCE_MS, DrawnSource

    x = np.linspace(0, 1, 4 * 64, dtype=np.float32).reshape(4, 1, 8, 8)
    data = Dataset("tiny", x, np.zeros(4, np.int64), "classification", (1, 8, 8), "float", (), 2, None, "")
    source = DrawnSource()
    source.set_data(data)
    panel = source.open()
    qtbot.addWidget(panel)
    panel.pad.brush = 2.0
    heard = []
    source.changed.connect(lambda: heard.append(source.sample().copy()))
    for k in range(16):  # a stroke that goes on for about 16 x 40 ms
        stroke(panel.pad, [(1.5 + k * 0.3, 1.5)])
        qtbot.wait(40)
    during = len(heard)
    qtbot.wait(2 * DEBOUNCE_MS)
    assert 2 <= during < 16  # updates while drawing, not one per mouse move
    np.testing.assert_allclose(heard[-1], source.sample())  # the last one is the finished picture
    assert heard[-1][0, 1, 1] == pytest.approx(1.0)  # full ink: the data's brightest value
