"""A segmentation in the app: the preview shows masks, the set-up offers to fit the
last convolution's channels to the classes, the Confusion tab counts pixels, and Try
it shows the predicted mask beside the true one."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from layerloom.graph import Graph
from tests.gui.test_training_helpers import make_host, one_thread, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
SIZE = 16
SHAPES = {"name": "shapes", "options": {"n_samples": 160, "size": SIZE, "seed": 0},
          "normalise": "none", "val_split": 0.25}
SHOTS = os.environ.get("LAYERLOOM_SHOTS", "/tmp")


def conv_segmenter(head: int) -> Graph:
    """Input (1, 16, 16) -> two 3x3 convolutions -> 1x1 convolution of ``head`` channels."""
    g = Graph()
    last = g.add_node("input", {"shape": [1, SIZE, SIZE]}, position=(0.0, 0.0)).id
    for i, (channels, kernel, act) in enumerate(((16, 3, "relu"), (16, 3, "relu"), (head, 1, "none"))):
        node = g.add_node("conv2d", {"channels": channels, "kernel_size": [kernel, kernel],
                                     "padding": "same", "activation": act}, position=(240.0 * (i + 1), 0.0))
        g.connect(last, "out", node.id, "in")
        last = node.id
    g.connect(last, "out", g.add_node("output", position=(960.0, 0.0)).id, "in")
    g.set_settings("dataset", SHAPES)
    g.set_settings("training", {"epochs": 3, "batch_size": 16, "lr": 0.01, "device": "cpu"})
    return g


def test_segmentation_set_up_preview_confusion_and_try_it(qtbot):
    host = make_host(qtbot, conv_segmenter(head=6))
    dock, panel, graph, stack = host.dock, host.dock.setup, host.graph, host.undo_stack
    wait_for(qtbot, lambda: panel.dataset_for_run() is not None)

    # the preview shows each image with its mask below it
    assert panel.preview.kind == "image"
    masks = panel.preview.findChildren(type(panel.preview.summary), "previewMask")
    assert masks and not masks[0].pixmap().isNull() and "px" in masks[0].toolTip()
    assert "mask (16, 16) of 4 classes" in panel.preview.summary.text()
    assert panel.loss_hint.text() == "auto: cross_entropy for segmentation"

    # the last convolution gives one score map per class: the fit sets its channels
    assert panel.fit_output.isVisibleTo(panel)
    assert panel.fit_output.text() == "Set conv2d_3 channels to 4"
    assert "4 classes per pixel" in panel.fit_output.toolTip()
    QTest.mouseClick(panel.fit_output, Qt.MouseButton.LeftButton)
    assert graph.node("conv2d_3").params["channels"] == 4
    assert not panel.fit_output.isVisibleTo(panel)
    stack.undo()
    assert graph.node("conv2d_3").params["channels"] == 6
    stack.redo()
    assert graph.node("conv2d_3").params["channels"] == 4

    run = dock.start()
    wait_for(qtbot, lambda: not dock.running, timeout=60)
    assert run.status == "finished", run.message

    # the confusion matrix counts validation pixels
    dock.tabs.setCurrentWidget(dock.confusion_view)
    matrix = dock.confusion_view.matrix
    assert matrix.shape == (4, 4) and matrix.sum() == run.data.val_size * SIZE * SIZE
    note = dock.confusion_view.note.text()
    assert f"{int(matrix.sum()):,} validation pixels" in note and "mean IoU" in note
    qtbot.wait(300)  # the axes widen to their tick labels on the next paint
    host.grab().save(os.path.join(SHOTS, "segmentation_confusion.png"))

    # Try it: the image, the predicted mask beside the true one, the share right
    dock.tabs.setCurrentWidget(dock.try_it)
    try_it = dock.try_it
    result = try_it.try_sample(2)
    assert try_it.input_stack.currentWidget() is try_it.image
    assert try_it.output_stack.currentWidget() is try_it.masks
    assert result["predicted"].shape == (SIZE, SIZE) and result["probabilities"].shape == (SIZE, SIZE, 4)
    assert np.array_equal(result["true"], run.val.y[2])
    assert result["pixel_accuracy"] == pytest.approx(float((result["predicted"] == run.val.y[2]).mean()))
    for label in (try_it.image, try_it.predicted_mask, try_it.true_mask):
        assert not label.pixmap().isNull()
    verdict = try_it.verdict.text()
    assert verdict.startswith(f"{result['pixel_accuracy']:.1%} of pixels right · predicted ")
    shown = [n for n in ("disc", "square", "triangle") if n in verdict.split(" · true ")[1]]
    assert shown == [run.val.class_names[c] for c in np.unique(run.val.y[2]) if c > 0]
    assert " px" in try_it.verdict.toolTip()
    assert all(name in try_it.mask_legend.text() for name in ("background", "disc", "square", "triangle"))
    host.grab().save(os.path.join(SHOTS, "segmentation_try_it.png"))

    # a classifier run afterwards gets its probability bars back
    try_it.set_run(None)
    assert try_it.output_stack.currentWidget() is try_it.plots
