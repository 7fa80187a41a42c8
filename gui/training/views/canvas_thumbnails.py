"""Output thumbnails on the canvas: under each node card, a small picture of what
the node outputs for the current sample (View ▸ Output Thumbnails; computed by
:mod:`layerloom.gui.training.thumbnails`).

Like the gradient badges (:mod:`.canvas_badges`), a thumbnail is a child item of
the scene's :class:`~layerloom.gui.canvas.node_item.NodeItem`, created and owned
here: the canvas needs no change, and a node that is deleted (or a scene rebuilt
when a file opens or a block is entered) takes its thumbnail with it. Zoomed out
below the cards' level of detail, a thumbnail draws nothing.

A thumbnail sits under its card (below the gradient badge during a run); where
another card is there, beside it at the right; where a card is there too, it
hides (``crowded``) rather than cover a card.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QFontMetricsF, QImage, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from layerloom.gui.canvas import theme
from layerloom.gui.canvas.node_item import NodeItem
from layerloom.gui.training.views import canvas_badges
from layerloom.gui.training.views.card_extras import card_extra, card_extras, sync_card_extras

GAP = 4.0  # between the card (or its gradient badge) and the thumbnail
PAD = 3.0
CAPTION_SIZE = 7.0
ATTRIBUTE = "_output_thumbnail"  # where a card keeps its thumbnail
CAPTION_HEIGHT = 12.0


def to_qimage(rgb: np.ndarray) -> QImage:
    """An ``(H, W, 3)`` uint8 array as a QImage that owns its pixels."""
    rgb = np.ascontiguousarray(rgb, np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class OutputThumbnail(QGraphicsItem):
    """The picture of a node's output under its card, with a one-line caption."""

    def __init__(self, parent: QGraphicsItem):
        super().__init__(parent)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(2)
        self.image = QImage()
        self.caption = ""
        self.drawn = False  # whether the last paint drew the picture (not zoomed out)
        self.crowded = False  # hidden: other cards leave it no room under or beside its own
        self._rect = QRectF()

    def set_picture(self, image: QImage, caption: str, tip: str) -> None:
        """Show ``image`` (drawn one pixel per scene unit) above ``caption``."""
        parent = self.parentItem()
        width = getattr(parent, "width", theme.NODE_WIDTH)
        metrics = QFontMetricsF(theme.font(CAPTION_SIZE))
        self.image = image
        self.caption = metrics.elidedText(caption, Qt.TextElideMode.ElideRight, width - 2 * PAD)
        rect = QRectF(0, 0, width, image.height() + CAPTION_HEIGHT + 2 * PAD)
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.setToolTip(tip)
        self.place()
        self.update()

    def place(self) -> None:
        """Under the card (below its gradient badge when it has one), else beside
        it, wherever no other card is; hidden where both are taken."""
        parent = self.parentItem()
        y = getattr(parent, "height", theme.HEADER_HEIGHT) + GAP
        badge = canvas_badges._badge(parent)
        if badge is not None and badge.isVisible():
            y += canvas_badges.HEIGHT + canvas_badges.GAP
        width = getattr(parent, "width", theme.NODE_WIDTH)
        for x, top in ((0.0, y), (width + 2 * GAP, 0.0)):
            if self._room_at(x, top):
                if self.pos().x() != x or self.pos().y() != top:
                    self.setPos(x, top)
                self.crowded = False
                self.setVisible(True)
                return
        self.crowded = True
        self.setVisible(False)

    def _room_at(self, x: float, y: float) -> bool:
        """Whether no other card overlaps this thumbnail at ``(x, y)`` of its card."""
        parent, scene = self.parentItem(), self.scene()
        if scene is None:
            return True
        rect = parent.mapRectToScene(self._rect.translated(x, y)).adjusted(-2, -2, 2, 2)
        return not any(isinstance(item, NodeItem) and item is not parent
                       for item in scene.items(rect, Qt.ItemSelectionMode.IntersectsItemBoundingRect))

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        self.drawn = option.levelOfDetailFromTransform(painter.worldTransform()) >= theme.DETAIL_MIN_ZOOM
        if not self.drawn or self.image.isNull():
            return  # zoomed out: the cards alone
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(theme.NODE_BORDER, 1))
        painter.setBrush(QBrush(theme.NODE_FILL))
        painter.drawRoundedRect(self._rect.adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
        x = (self._rect.width() - self.image.width()) / 2
        painter.drawImage(QRectF(x, PAD, self.image.width(), self.image.height()), self.image)
        painter.setFont(theme.font(CAPTION_SIZE))
        painter.setPen(theme.TEXT_DIM)
        painter.drawText(QRectF(PAD, PAD + self.image.height(), self._rect.width() - 2 * PAD, CAPTION_HEIGHT),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.caption)


def _thumbnail(item) -> OutputThumbnail | None:
    return card_extra(item, ATTRIBUTE)


def set_canvas_thumbnails(scene, pictures: dict[str, tuple[QImage, str, str]]) -> int:
    """Show a thumbnail under each node of ``pictures`` (``{node id: (image,
    caption, tooltip)}``) and remove the others. Node ids the scene does not show
    are skipped. Returns how many thumbnails show."""
    return sync_card_extras(scene, pictures, ATTRIBUTE, OutputThumbnail, lambda thumb, p: thumb.set_picture(*p))


def place_canvas_thumbnails(scene) -> None:
    """Move each thumbnail under its card again (a card grew, a badge came or went)."""
    for thumb in canvas_thumbnails(scene).values():
        thumb.place()


def clear_canvas_thumbnails(scene) -> None:
    """Remove every output thumbnail from the scene."""
    set_canvas_thumbnails(scene, {})


def canvas_thumbnails(scene) -> dict[str, OutputThumbnail]:
    """The thumbnails on the cards, by node id (for tests and screenshots); a
    ``crowded`` one is hidden."""
    return card_extras(scene, ATTRIBUTE)
