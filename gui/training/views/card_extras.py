"""Items a training view hangs on the canvas's node cards (gradient badges,
output thumbnails): at most one of a kind per card, kept in an attribute of the
card, and made, updated, listed and removed the same way for every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtWidgets import QGraphicsItem


def card_extra(item, attribute: str) -> QGraphicsItem | None:
    """The extra ``item`` (a node card) holds in ``attribute``, if it is still its child."""
    extra = getattr(item, attribute, None)
    if extra is not None and shiboken6.isValid(extra) and extra.parentItem() is item:
        return extra
    return None


def sync_card_extras(scene, values: dict[str, Any], attribute: str,
                     make: Callable[[QGraphicsItem], QGraphicsItem],
                     update: Callable[[QGraphicsItem, Any], None]) -> int:
    """Give each card whose node id is in ``values`` an extra (made by ``make(card)``
    the first time, then ``update(extra, value)``) and remove the others' extras.
    Node ids the scene does not show are skipped. Returns how many extras show."""
    shown = 0
    for item in scene.node_items():
        extra = card_extra(item, attribute)
        if item.node_id in values:
            if extra is None:
                extra = make(item)
                setattr(item, attribute, extra)
            update(extra, values[item.node_id])
            shown += 1
        elif extra is not None:
            if extra.scene() is not None:
                extra.scene().removeItem(extra)
            setattr(item, attribute, None)
    return shown


def card_extras(scene, attribute: str) -> dict[str, QGraphicsItem]:
    """The extras on the cards, by node id."""
    out = {}
    for item in scene.node_items():
        extra = card_extra(item, attribute)
        if extra is not None:
            out[item.node_id] = extra
    return out
