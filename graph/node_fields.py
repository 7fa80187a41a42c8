"""A node's id, label and position, checked the same way wherever they come in:
adding a node, renaming or moving it, an undo command, a file being loaded."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from layerloom.graph.errors import GraphError

_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_LABEL = 80
MAX_COORD = 1e7


def check_id(node_id: Any) -> None:
    """``node_id`` if it is a valid node id, else :class:`GraphError`."""
    if not isinstance(node_id, str) or not _ID_RE.match(node_id):
        raise GraphError(
            f"node id {node_id!r} is not valid: use letters, digits and _ (up to 64, not starting with a digit)"
        )


def check_label(label: Any) -> str:
    """``label`` if it is a valid node label, else :class:`GraphError`."""
    if not isinstance(label, str):
        raise GraphError(f"label must be text, got {label!r}")
    if len(label) > MAX_LABEL or any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in label):
        raise GraphError(f"label must be one line of at most {MAX_LABEL} characters, got {label[:100]!r}")
    return label


def check_position(position: Iterable[float]) -> tuple[float, float]:
    """``position`` as two finite floats inside the canvas, else :class:`GraphError`."""
    if isinstance(position, (str, bytes, dict)):
        raise GraphError(f"position must be two numbers, got {position!r}")
    try:
        x, y = position
        if any(isinstance(v, (bool, str, bytes)) for v in (x, y)):
            raise TypeError
        x, y = float(x), float(y)
    except (TypeError, ValueError):
        raise GraphError(f"position must be two numbers, got {position!r}") from None
    except OverflowError:
        raise GraphError(f"position {position!r} is outside the canvas (limit ±{MAX_COORD:g})") from None
    if not (abs(x) <= MAX_COORD and abs(y) <= MAX_COORD):
        raise GraphError(f"position {position!r} is outside the canvas (limit ±{MAX_COORD:g})")
    return (x, y)
