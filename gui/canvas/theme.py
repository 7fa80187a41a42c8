"""Colours, fonts and sizes of the canvas, in one place.

A light, neutral canvas: white node cards with a thin category-coloured header
band, grey wires, and red only for errors (so an error stands out at a glance).
Sizes are multiples of the 20 px grid where they meet it, so snapped nodes line up.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QFont

GRID = 20.0
MAJOR_EVERY = 5  # a darker line every 5 grid cells

NODE_WIDTH = 180.0
HEADER_HEIGHT = 28.0
ROW_HEIGHT = 17.0
BODY_PAD = 7.0
CORNER = 6.0
PORT_RADIUS = 5.0
PORT_HIT = 9.0  # the clickable radius; larger than the dot
PORT_Y = HEADER_HEIGHT / 2  # single ports sit level with the header

BACKGROUND = QColor("#f5f6f8")
GRID_MINOR = QColor("#eceef1")
GRID_MAJOR = QColor("#e1e4e9")

NODE_FILL = QColor("#ffffff")
NODE_BORDER = QColor("#cdd2da")
NODE_SHADOW = QColor(15, 23, 42, 22)
TEXT = QColor("#1e2430")
TEXT_DIM = QColor("#6b7380")
TEXT_FAINT = QColor("#9aa1ad")
FROZEN = QColor("#7aa7d6")  # a frozen node's parameter count, after its snowflake
SELECTION = QColor("#2563eb")
ERROR = QColor("#dc2626")
ERROR_FILL = QColor("#fef2f2")

WIRE = QColor("#8b95a5")
WIRE_LONG = QColor("#b07d2b")  # integer (token id) tensors
WIRE_LABEL_FILL = QColor(255, 255, 255, 235)
WIRE_LABEL_BORDER = QColor("#d9dde3")

PORT_FILL = QColor("#ffffff")
PORT_BORDER = QColor("#7c8595")
PORT_OK = QColor("#16a34a")
PORT_BAD = QColor("#c3c8d0")

CATEGORY_COLOURS = {
    "Input / Output": QColor("#0d9488"),
    "Core": QColor("#2563eb"),
    "Convolution": QColor("#7c3aed"),
    "Pooling": QColor("#0891b2"),
    "Resampling": QColor("#0284c7"),
    "Normalisation": QColor("#d97706"),
    "Activation": QColor("#db2777"),
    "Recurrent": QColor("#16a34a"),
    "Attention": QColor("#c026d3"),
    "Merge": QColor("#475569"),
    "Math": QColor("#ea580c"),
    "Tensor": QColor("#65a30d"),
}

# Level of detail: below this zoom (a 9 pt text would be under 4 px) cards are
# drawn as plain boxes and ports, badges and wire labels are left out, so that a
# graph of thousands of nodes pans and zooms as fast as a small one.
DETAIL_MIN_ZOOM = 0.45


def category_colour(category: str) -> QColor:
    return CATEGORY_COLOURS.get(category, QColor("#64748b"))


@cache
def font(size: float = 9.0, bold: bool = False) -> QFont:
    """The canvas font (the application's family at ``size`` points)."""
    f = QFont()
    f.setPointSizeF(size)
    f.setBold(bold)
    return f


def snap(value: float) -> float:
    return round(value / GRID) * GRID


def snap_point(point: QPointF) -> QPointF:
    return QPointF(snap(point.x()), snap(point.y()))
