"""A VAE in the app: the loss plot draws each loss term beside the total, and the
Latent space tab draws the trained decoder's grid of digits."""

from __future__ import annotations

import os

import numpy as np
import pytest

from layerloom.backend.templates import load_template
from tests.gui.test_training_helpers import make_host, one_thread, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
SHOTS = os.environ.get("LAYERLOOM_SHOTS", "/tmp")


def test_vae_terms_on_the_loss_plot_and_its_latent_space(qtbot):
    graph = load_template("vae_digits")
    graph.training = {**graph.training, "epochs": 12, "device": "cpu"}
    host = make_host(qtbot, graph)
    dock = host.dock
    latent = dock.latent_view
    dock.tabs.setCurrentWidget(latent)
    assert latent.title == "Latent space" and dock.tabs.tabText(dock.tabs.currentIndex()) == "Latent space"
    assert "Sampling node of two values" in latent.note.text()  # no run yet

    run = dock.start()
    wait_for(qtbot, lambda: not dock.running, timeout=120)
    assert run.status == "finished", run.message
    assert {"loss_reconstruction", "loss_kl"} <= set(run.final)

    # the loss plot: the total (steps, validation) and each term, training and validation
    terms = dock.loss_view.terms.items
    assert set(terms) == {"loss_reconstruction", "val_loss_reconstruction", "loss_kl", "val_loss_kl"}
    x, y = terms["val_loss_reconstruction"].getData()
    assert len(x) == 12 and y[-1] == pytest.approx(run.final["val_loss_reconstruction"])
    legend = [label.text for _, label in dock.loss_view.legend.items]
    assert {"reconstruction", "kl", "reconstruction (val)", "kl (val)"} <= set(legend)

    # the latent space: a 15 x 15 grid of decoded 8x8 digits, drawn once the run has ended
    wait_for(qtbot, lambda: latent.grid is not None)
    assert latent.grid.shape == (15 * 9 - 1, 15 * 9 - 1)
    tiles = latent.grid[:8, :8], latent.grid[-8:, -8:]
    assert all(np.nanmax(t) > 0.5 for t in tiles)  # ink in the corners' digits
    assert not np.allclose(*tiles)  # different codes draw different digits
    assert "each tile is the decoder's drawing" in latent.note.text()
    # Try it does not read the decoded image as class scores
    assert dock.try_it.try_sample(0) is None
    assert "outputs a reconstruction of its input" in dock.try_it.verdict.text()
    host.resize(1700, 900)  # room for the loss plot's legend beside the grid
    qtbot.wait(300)
    host.grab().save(os.path.join(SHOTS, "vae_latent_space.png"))
    dock.grab().save(os.path.join(SHOTS, "vae_training.png"))  # the README's picture
