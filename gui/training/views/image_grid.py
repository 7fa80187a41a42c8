"""A grid of small images drawn as one picture in a plot (the Latent space tab's
decoded codes, the GAN tab's generated samples): grey levels 0-255, no automatic
levels, the picture placed on a rectangle of the plot's coordinates.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF


def grid_image(plot: pg.PlotItem) -> pg.ImageItem:
    """An empty picture in ``plot``, rows first (as numpy holds them)."""
    image = pg.ImageItem(axisOrder="row-major")
    plot.addItem(image)
    return image


def show_grid(image: pg.ImageItem, grey: np.ndarray, rect: QRectF) -> None:
    """Draw ``grey`` (uint8 levels, row 0 at the bottom) over ``rect``."""
    image.setImage(grey, autoLevels=False, levels=(0, 255))
    image.setRect(rect)
