"""The node-editor canvas: a scene that follows a :class:`~layerloom.graph.model.Graph` and the
view that shows it. Items draw what the graph and its analysis say; every edit the
user makes on them becomes a command on the undo stack."""

from layerloom.gui.canvas.scene import GraphScene
from layerloom.gui.canvas.view import LAYER_MIME_TYPE, GraphView

__all__ = ["LAYER_MIME_TYPE", "GraphScene", "GraphView"]
