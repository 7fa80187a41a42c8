"""The latent space of a variational autoencoder: a grid of decoded digits.

For a graph whose Sampling node draws a code of two values (the ``vae_digits``
template), the trained model's decoder is run on a regular grid of codes from -2
to 2 on both axes (:func:`layerloom.backend.generative.latent_grid`) and the
decoded samples are laid side by side, ``z₁`` to the right and ``z₂`` upwards.
The model is the run's CPU copy, taken when the run ends or pauses, so the grid
is drawn then (``layerloom train`` writes the same grid as ``latent_grid.png``).
"""

from __future__ import annotations

from collections.abc import Set

from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QWidget

from layerloom.gui.training.runs.run_record import Run
from layerloom.gui.training.views import plot_style as ps
from layerloom.gui.training.views.image_grid import grid_image, show_grid
from layerloom.gui.training.views.view_header import lay_out_view

NO_CODE = ("The latent space is drawn for a graph with a Sampling node of two values "
           "(a VAE with a 2-D code, like the vae_digits template)")


class LatentView(QWidget):
    """The Latent space tab (objectName ``latentView``)."""

    title = "Latent space"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("latentView")
        self.setToolTip("Codes from -2 to 2 on both axes, each decoded by the trained model: "
                        "what the VAE draws where in its latent space")
        self.run: Run | None = None
        self.grid = None  # the decoded grid drawn, as values
        self._drawn_for = None
        self.plots = ps.graphics_widget(self)
        self.plot = ps.style_plot(self.plots.addPlot(), "Latent space (decoded codes)", "z₂", "z₁")
        self.plot.setAspectLocked(True)
        self.image = grid_image(self.plot)
        self.note = ps.steady_label(NO_CODE, 2, "latentNote")
        lay_out_view(self, None, self.plots, self.note)

    def set_run(self, run: Run | None) -> None:
        self.run = run
        self._drawn_for = None
        self.refresh(full=True)

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        """Draw the grid once the shown run has a model (see :meth:`LiveView.refresh`)."""
        run = self.run
        model = run.model if run is not None else None
        if model is not None and model is self._drawn_for:
            return
        if changed is not None and not full and "status" not in changed:
            return
        if run is None or not any(n.type == "sampling" for n in run.graph.nodes):
            self._clear(NO_CODE)  # (without importing torch: the window shows before it loads)
            return
        from layerloom.backend.generative import (
            SPAN,
            LatentError,
            latent_grid,
            latent_node,
            to_grey,
        )

        node = latent_node(run.graph)
        if node is None or model is None:
            self._clear(NO_CODE if node is None else
                        "Pause or stop the run to draw its latent space" if run.active else
                        "Train the model to draw its latent space")
            return
        try:
            grid = latent_grid(model, node)
        except (LatentError, RuntimeError) as exc:
            self._clear(f"The latent space cannot be drawn: {exc}")
            return
        self._drawn_for = model
        self.grid = grid
        show_grid(self.image, to_grey(grid)[::-1], QRectF(-SPAN, -SPAN, 2 * SPAN, 2 * SPAN))
        self.plot.setRange(xRange=(-SPAN, SPAN), yRange=(-SPAN, SPAN), padding=0.02)
        self.note.setText(f"Run {run.number}: each tile is the decoder's drawing of one code (z₁, z₂); "
                          "neighbours morph into each other where the space is filled")

    def _clear(self, message: str) -> None:
        self._drawn_for = None
        self.grid = None
        self.image.clear()
        self.note.setText(message)
