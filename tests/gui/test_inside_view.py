"""The Inside tab draws each view with data for the templates it applies to, says
in one line when a view does not apply, follows the canvas selection, and shows
the model live during a run without stopping it."""

from __future__ import annotations

import numpy as np
import pytest

from layerloom.backend import compile_graph, save_weights
from layerloom.backend.templates import load_template
from tests.gui.test_training_helpers import make_host, moons_mlp, one_thread, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def opened(qtbot, tmp_path, name: str):
    """A host window with template ``name`` and freshly initialised weights opened as a run."""
    graph = load_template(name)
    if name == "gpt_chars":
        graph.set_settings("dataset", {**graph.dataset, "options": {"length": 32, "n_samples": 200, "seed": 0}})
    host = make_host(qtbot, graph)
    path = tmp_path / f"{name}.safetensors"
    save_weights(host.graph, compile_graph(host.graph, seed=0), path)
    run = host.dock.open_weights(str(path))
    wait_for(qtbot, lambda: run.val is not None, timeout=60)
    view = host.dock.inside_view
    host.dock.tabs.setCurrentWidget(view)
    return host, view


def show(qtbot, view, name: str, node: str | None = None, **options):
    """Pick view ``name`` and ``node``; wait for the result; returns it."""
    view.result = None
    view.set_view(name)
    if node is not None:
        assert view.select_node(node)
    else:
        view.node_box.setCurrentIndex(0)  # the view's choice
    for option, value in options.items():
        view.option_fields[option][1].setValue(value)
    view.result = None
    view.update_view()
    wait_for(qtbot, lambda: view.result is not None and not view._busy, timeout=60)
    return view.result


def has_data(view) -> None:
    image = view.figure_view.image()
    assert not image.isNull() and image.width() > 300
    pixels = np.array([[image.pixel(x, y) for x in range(0, image.width(), 3)]
                       for y in range(40, image.height() - 30, 3)])
    assert len(np.unique(pixels)) > 20, "the view looks empty"
    assert not view.figure_view.message


@pytest.mark.parametrize("template,cases", [
    ("cnn_digits", [("activations", "conv2d_1", {}), ("activations", "output_1", {}),
                    ("filters", None, {}), ("filters", "conv2d_2", {"channel": 2}),
                    ("activation", "conv2d_1", {})]),
    ("transformer_sort", [("attention", None, {}), ("activations", "transformer_encoder_layer_2", {})]),
    ("gpt_chars", [("attention", "block_1", {"layer": 1}), ("activations", "dense_1", {})]),
    ("lstm_sine", [("activations", "lstm_1", {})]),
    ("conv_autoencoder_digits", [("activations", "max_pool2d_2", {}), ("activations", "sigmoid_1", {})]),
])
def test_each_view_draws_data_for_the_templates_it_applies_to(qtbot, tmp_path, template, cases):
    host, view = opened(qtbot, tmp_path, template)
    for name, node, options in cases:
        result = show(qtbot, view, name, node, **options)
        assert result[0] == "figure", result
        has_data(view)
        assert "computed and drawn in" in view.status.text()
    host.grab().save(f"/tmp/layerloom_inside_{template}.png")


def test_a_view_that_does_not_apply_says_why_and_canvas_selection_picks_the_node(qtbot, tmp_path):
    host, view = opened(qtbot, tmp_path, "cnn_digits")
    result = show(qtbot, view, "attention")
    assert result == ("message", "The attention view needs a node that computes attention (Multi-head "
                                 "attention, a Transformer layer, or a block with one); this model computes none")
    assert view.figure_view.figure is None and view.figure_view.image().isNull()
    assert view.figure_view.text.text() == result[1]
    view.set_view("filters")
    host.scene.clearSelection()
    host.scene.node_item("dense_1").setSelected(True)
    assert view.node == "dense_1"
    view.result = None
    view.update_view()
    wait_for(qtbot, lambda: view.result is not None and not view._busy, timeout=30)
    assert view.result[0] == "message" and view.result[1].startswith(
        "Filters are drawn for convolution layers; Dense 64 is a Dense layer; this graph's are: Conv 16")


def test_the_view_follows_a_run_live_without_stopping_it(qtbot):
    host = make_host(qtbot, moons_mlp())
    dock = host.dock
    view = dock.inside_view
    dock.tabs.setCurrentWidget(view)
    view.set_view("activations")
    run = dock.start()
    wait_for(qtbot, lambda: run.weights is not None and view.result is not None
             and view.status.text().startswith("step"), timeout=60)
    first = run.weights.step
    assert view.result[0] == "figure"
    has_data(view)
    wait_for(qtbot, lambda: run.weights.step > first, timeout=30)  # another copy, a second later
    assert run.status == "running"
    host.grab().save("/tmp/layerloom_inside_live.png")
    dock.stop()
    wait_for(qtbot, lambda: not dock.running, timeout=30)
    wait_for(qtbot, lambda: not view._busy and view.result is not None, timeout=30)
    assert view.result[0] == "figure" and "step" not in view.status.text()
