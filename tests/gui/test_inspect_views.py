"""The Saliency and Landscape tabs draw data (not empty axes) for the templates they
apply to, say in one line why for the ones they do not, and keep the GUI thread free
while the landscape is computed."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from layerloom.backend.templates import load_template
from layerloom.gui.training.views import landscape_view
from tests.gui.test_training_helpers import make_host, one_thread, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def trained_host(qtbot, name: str, epochs: int):
    graph = load_template(name)
    graph.training = {**graph.training, "epochs": epochs, "device": "cpu"}
    host = make_host(qtbot, graph)
    run = host.dock.start()
    wait_for(qtbot, lambda: not host.dock.running and run.model is not None, timeout=180)
    return host, run


def settled(qtbot, view):
    """Wait for the Saliency tab's background call (and any choice made meanwhile)."""
    wait_for(qtbot, lambda: view.job is None and not view._pending, timeout=60)
    return view


def compute_landscape(qtbot, view):
    job = view.compute()
    assert job is not None and not view.compute_button.isEnabled() and view.cancel_button.isEnabled()
    wait_for(qtbot, lambda: view.job is None, timeout=60)
    return job


def test_saliency_and_gradcam_of_the_digits_cnn_draw_heat_maps(qtbot):
    host, run = trained_host(qtbot, "cnn_digits", 1)
    view = host.dock.saliency_view
    host.dock.tabs.setCurrentWidget(view)
    view.refresh(full=True)
    assert view.job is not None  # computed off the GUI thread
    settled(qtbot, view)
    assert view.has_data and view.result.kind == "image"
    heat = view.heat_image.image
    assert heat.shape == (8, 8) and heat.max() == pytest.approx(1.0) and heat.std() > 0.05
    assert view.input_image.image is not None
    assert view.node.count() == 2 and view.node.currentData() == "conv2d_2"  # the last conv first
    view.method.setCurrentText("Grad-CAM")
    settled(qtbot, view)
    assert view.result.node == "conv2d_2" and view.heat_image.image.shape == (8, 8)
    assert view.heat_image.image.max() == pytest.approx(1.0)
    assert "Grad-CAM at Conv 32" in view.map_plot.titleLabel.text
    emb = host.dock.embedding_view
    emb.refresh(full=True)
    assert not emb.has_data and "no Embedding node" in emb.note.text()
    view.target.setCurrentIndex(view.target.findData(3))
    view.sample.setValue(5)  # asked while the class's job runs: computed right after it
    settled(qtbot, view)
    assert view.result.target == 3 and view.has_data
    assert view._copy is not run.model and view._copy_of is run.model  # the run's model is left alone
    view.grab().save("/tmp/layerloom_gradcam_view.png")
    host.close()


def test_saliency_of_two_features_draws_bars_and_the_landscape_a_random_plane_with_the_path(qtbot):
    host, run = trained_host(qtbot, "mlp_two_moons", 2)
    sal = settled(qtbot, host.dock.saliency_view)
    assert sal.result.kind == "features" and len(sal.bars.opts["height"]) == 2
    assert np.any(np.asarray(sal.bars.opts["height"]) != 0)
    assert run.weight_path is not None and len(run.weight_path.steps) >= 10
    view = host.dock.landscape_view
    host.dock.tabs.setCurrentWidget(view)
    view.grid.setValue(9)
    compute_landscape(qtbot, view)
    surface = view.surface
    assert view.has_data and surface.kind == "random" and surface.losses.shape == (9, 9)
    assert np.isfinite(surface.losses).all() and surface.losses.std() > 0
    assert len(view.contours) > 0 and len(view.path_curve.xData) == len(run.weight_path.steps)
    assert surface.path_losses[-1] < surface.path_losses[0]  # training went downhill
    view.directions.setCurrentIndex(view.directions.findData("pca"))
    compute_landscape(qtbot, view)
    assert view.surface.kind == "pca" and "training path" in view.note.text()
    host.close()


def test_single_neuron_landscape_is_the_exact_bowl_with_the_descent_steps(qtbot):
    host, run = trained_host(qtbot, "single_neuron_line", 40)
    sal = settled(qtbot, host.dock.saliency_view)
    assert not sal.has_data and "classifiers" in sal.note.text()  # a regression: said in one line
    view = host.dock.landscape_view
    host.dock.tabs.setCurrentWidget(view)
    view.grid.setValue(31)
    compute_landscape(qtbot, view)
    s = view.surface
    assert s.kind == "exact" and s.x_label == "weight w" and len(s.path) == 41  # step 0 and 40 steps
    low = np.unravel_index(np.nanargmin(s.losses), s.losses.shape)
    assert abs(s.xs[low[1]] - 2.0) < 0.3 and abs(s.ys[low[0]] + 1.0) < 0.3  # the bowl's bottom: y = 2x - 1
    assert np.all(np.diff(s.path_losses) <= 1e-6)  # gradient descent on a bowl never climbs
    view.grab().save("/tmp/layerloom_landscape_view.png")
    view.refresh()
    assert view.has_data
    run.model = copy.deepcopy(run.model)  # the run went on: other weights
    view.refresh()
    assert not view.has_data and view.compute_button.isEnabled()
    host.close()


def test_a_landscape_over_budget_shows_the_estimate_and_offers_a_smaller_grid(qtbot, monkeypatch):
    monkeypatch.setattr(landscape_view, "BUDGET", 0.002)
    host, run = trained_host(qtbot, "single_neuron_line", 5)
    view = host.dock.landscape_view
    view.grid.setValue(101)
    job = compute_landscape(qtbot, view)
    assert not view.has_data and "needs about" in view.note.text() and "ms per loss evaluation" in view.note.text()
    assert job.fits is not None and view.grid.value() == max(3, job.fits) < 101
    host.close()


def test_embedding_tab_draws_the_word_vectors_with_their_names(qtbot):
    host, run = trained_host(qtbot, "word_embeddings", 3)
    view = host.dock.embedding_view
    host.dock.tabs.setCurrentWidget(view)
    view.refresh(full=True)
    assert view.has_data and len(view.points.data) == 27
    assert {label.textItem.toPlainText() for label in view.labels} >= {"cat", "red", "plum", "the"}
    assert "principal components" in view.note.text()
    sal = settled(qtbot, host.dock.saliency_view)
    assert not sal.has_data and "token ids have none" in sal.note.text()
    view.grab().save("/tmp/layerloom_embedding_view.png")
    host.close()
