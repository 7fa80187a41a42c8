"""Training in the app: the training dock and its views.

:class:`~layerloom.gui.training.dock.TrainingDock` turns the graph on the canvas into a
trained model while the user watches it learn; the training itself runs in a
thread (:mod:`layerloom.gui.training.worker`, on the base of
:mod:`layerloom.gui.training.worker_base`) around the backend's trainer. The live
views are in ``views/``, the set-up panel in ``setup/``, the runs and their files
in ``runs/``. Importing this package does not import torch: the dock imports it
once the window shows.
"""

from layerloom.gui.training.dock import TrainingDock
from layerloom.gui.training.views.canvas_badges import clear_canvas_badges, set_canvas_badges

__all__ = ["TrainingDock", "clear_canvas_badges", "set_canvas_badges"]
