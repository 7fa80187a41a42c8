"""A GAN project in the app: it trains in the background, the GAN tab shows both
losses, the discriminator's accuracies and the generated samples from fixed noise
(points over the real ones for 2-D data, a grid of images otherwise), and a
generator that does not fit its discriminator is refused with both shapes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from layerloom.backend.templates import load_template
from tests.gui.test_training_helpers import make_host, one_thread, steps_during, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
SHOTS = os.environ.get("LAYERLOOM_SHOTS", "/tmp")


def mixture(epochs: int = 40, n_samples: int = 600):
    graph = load_template("gan_mixture")
    graph.dataset = {**graph.dataset, "options": {**graph.dataset["options"], "n_samples": n_samples}}
    graph.training = {**graph.training, "epochs": epochs, "device": "cpu"}
    return graph


def test_a_gan_run_shows_losses_accuracies_and_points_over_the_real_ones(qtbot):
    host = make_host(qtbot, mixture(epochs=300))
    dock = host.dock
    run = dock.start()
    assert run is not None
    assert dock.tabs.currentWidget() is dock.gan_view  # a GAN run brings its tab forward
    wait_for(qtbot, lambda: run.gan is not None and run.gan.latest is not None, timeout=30)
    assert steps_during(qtbot, run, 0.5) > 0  # trains in the background: the window keeps going
    dock.pause()
    wait_for(qtbot, lambda: run.status == "paused")
    view = dock.gan_view
    view.refresh(full=True)
    for name in ("d_loss", "g_loss", "real_accuracy", "fake_accuracy"):
        x, y = view.curves[name].getData()
        assert x is not None and len(x) >= 1 and np.isfinite(y).any(), name
    fake_x, _ = view.fake_points.getData()
    real_x, _ = view.real_points.getData()
    assert len(fake_x) == 512 and len(real_x) == 512
    assert "discriminator steps" in view.note.text()
    dock.resume()
    dock.stop()
    wait_for(qtbot, lambda: not dock.running, timeout=30)
    assert run.status == "stopped", run.message
    assert run.model is not None


def test_the_mixture_run_finishes_with_its_modes_counted(qtbot):
    host = make_host(qtbot, mixture(epochs=30))
    dock = host.dock
    run = dock.start()
    wait_for(qtbot, lambda: not dock.running, timeout=120)
    assert run.status == "finished", run.message
    assert "modes_covered" in run.final
    view = dock.gan_view
    assert "modes covered" in view.note.text()
    assert not host.dock.setup.fit_input.isVisibleTo(host.dock.setup)  # the noise is not the data
    assert run.gan.samples.epoch == 30
    qtbot.wait(300)
    host.grab().save(os.path.join(SHOTS, "gan_mixture_window.png"))
    for tab in (dock.try_it, dock.boundary_view, dock.weights_view, dock.runs_panel):
        dock.tabs.setCurrentWidget(tab)  # the other tabs take a GAN run without an error
        qtbot.wait(100)


def test_the_generator_exports_alone_from_the_export_dialog(qtbot, tmp_path):
    import onnxruntime

    from layerloom.gui.training.runs.export_dialog import ExportDialog

    host = make_host(qtbot, mixture(epochs=1, n_samples=200))
    dock = host.dock
    run = dock.start()
    wait_for(qtbot, lambda: not dock.running, timeout=60)
    dialog = ExportDialog(run.graph, run.model, str(tmp_path), "ring")
    qtbot.addWidget(dialog)
    assert dialog.network.currentData() == "generator"  # what a GAN's user keeps
    dialog.set_format("onnx")
    assert dialog.start_export()
    wait_for(qtbot, lambda: not dialog.busy, timeout=60)
    assert dialog.error is None, dialog.error
    session = onnxruntime.InferenceSession(str(tmp_path / "ring.onnx"))
    assert session.get_inputs()[0].shape[1:] == [8] and session.get_outputs()[0].shape[1:] == [2]


def test_the_digits_gan_draws_a_grid_of_images(qtbot):
    graph = load_template("dcgan_digits")
    graph.training = {**graph.training, "epochs": 1, "device": "cpu"}
    host = make_host(qtbot, graph)
    dock = host.dock
    run = dock.start()
    wait_for(qtbot, lambda: not dock.running, timeout=120)
    assert run.status == "finished", run.message
    image = dock.gan_view.image.image
    assert image is not None and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] > 8 * 8  # 8 rows of 8x8 digits with gaps


def test_a_generator_that_does_not_fit_is_refused_with_both_shapes(qtbot):
    graph = mixture()
    body = graph.blocks["generator"].body
    last = next(n for n in body.nodes if n.label == "Point (x, y)")
    body.set_param(last.id, "units", 3)
    host = make_host(qtbot, graph)
    assert host.dock.start() is None
    message = host.dock.run_bar.message.text()
    assert "This GAN cannot train" in message and "(3,)" in message and "(2,)" in message


def test_the_gan_settings_are_in_the_set_up_form(qtbot):
    host = make_host(qtbot, mixture())
    panel = host.dock.setup
    labels = [panel.training_form.itemAt(r, panel.training_form.ItemRole.LabelRole)
              for r in range(panel.training_form.rowCount())]
    texts = " ".join(item.widget().text().lower() for item in labels if item is not None and item.widget())
    more = " ".join(w.text().lower() for w in panel.findChildren(type(labels[0].widget())))
    assert "gan loss" in more and "discriminator steps" in more and "task" in (texts + more)
