"""How healthy a layer's gradient looks, in words and colours shared by the
gradient-flow view and the badges on the canvas.

The bands are rules of thumb for the norm of one layer's whole gradient: below
about 1e-6 a layer has stopped learning (vanishing), above about 1e3 updates
overshoot (exploding). They are deliberately wide: the point is to make a
problem visible at a glance, not to grade a healthy network.
"""

from __future__ import annotations

import math

from PySide6.QtGui import QColor

VANISHING = 1e-6
WEAK = 1e-4
LARGE = 1e2
EXPLODING = 1e3

HEALTH_COLOURS = {
    "vanishing": QColor("#64748b"),
    "weak": QColor("#0ea5e9"),
    "healthy": QColor("#16a34a"),
    "large": QColor("#f59e0b"),
    "exploding": QColor("#dc2626"),
    "none": QColor("#cbd5e1"),
}

HEALTH_WORDS = {
    "vanishing": "vanishing: this layer has almost stopped learning",
    "weak": "small: this layer learns slowly",
    "healthy": "healthy",
    "large": "large: updates may overshoot",
    "exploding": "exploding: lower the learning rate or clip gradients",
    "none": "no gradient yet",
}


def grad_health(norm: float | None) -> str:
    """``"vanishing"``, ``"weak"``, ``"healthy"``, ``"large"``, ``"exploding"``, or
    ``"none"`` when there is no gradient (``None``) and ``"exploding"`` for NaN/inf."""
    if norm is None:
        return "none"
    if not math.isfinite(norm):
        return "exploding"
    if norm < VANISHING:
        return "vanishing"
    if norm < WEAK:
        return "weak"
    if norm > EXPLODING:
        return "exploding"
    if norm > LARGE:
        return "large"
    return "healthy"


def format_norm(value: float | None) -> str:
    """Short text for a norm: ``3.2e-05``, ``0.041``, ``12.5``."""
    if value is None:
        return "–"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if 1e-2 <= abs(value) < 1e3:
        return f"{value:.3g}"
    return f"{value:.1e}"
