"""Live badges on the canvas while a run goes: each layer node shows its gradient
norm, coloured from healthy to vanishing or exploding, and, after a ReLU, the share
of dead units.

The badges are small child items of the scene's :class:`~layerloom.gui.canvas.node_item.NodeItem`
objects, created and owned here: the canvas needs no change, and a node that is
deleted (or a scene rebuilt when a file opens) takes its badge with it.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsSimpleTextItem

from layerloom.gui.canvas import theme
from layerloom.gui.training.views.card_extras import card_extra, card_extras, sync_card_extras
from layerloom.gui.training.views.health import (
    HEALTH_COLOURS,
    HEALTH_WORDS,
    format_norm,
    grad_health,
)

HEIGHT = 16.0
PAD = 5.0
GAP = 4.0  # between the card and the badge
ATTRIBUTE = "_training_badge"  # where a card keeps its badge


class GradientBadge(QGraphicsItem):
    """A pill under a node card: ``∇ 3.2e-3 · 25% dead``."""

    def __init__(self, parent: QGraphicsItem):
        super().__init__(parent)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(3)
        self.text = QGraphicsSimpleTextItem(self)
        self.text.setFont(theme.font(7.5, bold=True))
        self.text.setBrush(QBrush(QColor("#ffffff")))
        self.colour = HEALTH_COLOURS["none"]
        self.health = "none"
        self._rect = QRectF()
        self._shown: tuple | None = None  # (text, health, position) on show

    def set_values(self, grad_norm: float | None, dead_fraction: float | None) -> None:
        """Show these values; a badge whose text, colour and place stay the same
        is left alone (each change repaints part of the canvas, which takes the
        interpreter lock from the training thread)."""
        health = grad_health(grad_norm)
        text = f"∇ {format_norm(grad_norm)}"
        if dead_fraction is not None:
            text += f" · {dead_fraction:.0%} dead"
        parent = self.parentItem()
        pos = (0.0, getattr(parent, "height", theme.HEADER_HEIGHT) + GAP)
        if (text, health, pos) == self._shown:
            return
        self._shown = (text, health, pos)
        self.health = health
        self.colour = HEALTH_COLOURS[health]
        if text != self.text.text():
            self.prepareGeometryChange()
            self.text.setText(text)
            width = self.text.boundingRect().width() + 2 * PAD
            self._rect = QRectF(0, 0, width, HEIGHT)
            self.text.setPos(PAD, (HEIGHT - self.text.boundingRect().height()) / 2)
        tip = f"Gradient norm {format_norm(grad_norm)}: {HEALTH_WORDS[self.health]}"
        if dead_fraction is not None:
            tip += f"\n{dead_fraction:.0%} of the units after its ReLU output zero for every probe sample"
        self.setToolTip(tip)
        self.setPos(*pos)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(Qt.PenStyle.NoPen))
        painter.setBrush(QBrush(self.colour))
        painter.drawRoundedRect(self._rect, HEIGHT / 2, HEIGHT / 2)


def _badge(item) -> GradientBadge | None:
    return card_extra(item, ATTRIBUTE)


def set_canvas_badges(scene, values: dict[str, tuple[float | None, float | None]]) -> int:
    """Show a badge on each node of ``values`` (``{node id: (grad norm, dead share)}``)
    and remove badges from nodes not in it. Node ids that the scene no longer has
    (deleted since the run started) are skipped. Returns how many badges show."""
    return sync_card_extras(scene, values, ATTRIBUTE, GradientBadge, lambda badge, v: badge.set_values(*v))


def clear_canvas_badges(scene) -> None:
    """Remove every training badge from the scene."""
    set_canvas_badges(scene, {})


def canvas_badges(scene) -> dict[str, GradientBadge]:
    """The badges on show, by node id (for tests and screenshots)."""
    return card_extras(scene, ATTRIBUTE)
