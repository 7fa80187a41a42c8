"""The wire a node is about to be dropped into.

While an unwired node is dragged across the canvas (or a layer from the palette,
or while the quick-add popup is open over a wire), the wire it would go into is
lit: green when the node fits there, red when it does not. Which wire: for a
dragged card, of the wires its card crosses, the one nearest the cursor (as
Blender does); for a palette drag or the popup, the wire under the cursor.

The plan for each (node, wire) pair is worked out once per drag
(:func:`~layerloom.gui.canvas.insertion.insert_plan`) and forgotten when the graph changes.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtWidgets import QGraphicsScene

from layerloom.graph.model import Edge
from layerloom.graph.registry import REGISTRY
from layerloom.gui.canvas.edge_item import EdgeItem
from layerloom.gui.canvas.insertion import Plan, insert_plan
from layerloom.gui.canvas.node_item import NodeItem

PATH_SAMPLES = 48  # points along a wire for its distance to the cursor


def distance_to_wire(item: EdgeItem, pos: QPointF) -> float:
    """About how far ``pos`` is from the curve of ``item`` (scene units)."""
    path = item.path()
    best = float("inf")
    for i in range(PATH_SAMPLES + 1):
        p = path.pointAtPercent(i / PATH_SAMPLES)
        best = min(best, (p.x() - pos.x()) ** 2 + (p.y() - pos.y()) ** 2)
    return best ** 0.5


def wire_near(scene: QGraphicsScene, pos: QPointF, radius: float) -> EdgeItem | None:
    """The wire whose curve passes within ``radius`` of ``pos``, nearest first."""
    box = QRectF(pos.x() - radius, pos.y() - radius, 2 * radius, 2 * radius)
    near = [(distance_to_wire(i, pos), i) for i in scene.items(box) if isinstance(i, EdgeItem)]
    near = [(d, i) for d, i in near if d <= radius]
    return min(near, key=lambda pair: pair[0])[1] if near else None


def wire_under_card(scene: QGraphicsScene, card: NodeItem, cursor: QPointF) -> EdgeItem | None:
    """Of the wires the card crosses, the one nearest ``cursor``."""
    crossed = [i for i in scene.items(card.mapToScene(card.shape())) if isinstance(i, EdgeItem)
               and card.node_id not in (i.edge.source, i.edge.target)]
    return min(crossed, key=lambda i: distance_to_wire(i, cursor)) if crossed else None


class WireDrop:
    """The lit wire of ``scene`` and its plan; at most one at a time."""

    def __init__(self, scene: QGraphicsScene) -> None:
        self._scene = weakref.ref(scene)  # the scene owns this
        self.item: EdgeItem | None = None
        self.plan: Plan | None = None
        self.subject: str | None = None  # the node id or layer type it was lit for
        self.card: NodeItem | None = None  # the dragged card, ringed like the wire
        self._plans: dict[tuple[str, Edge], Plan] = {}

    def node_dragged(self, card: NodeItem, cursor: QPointF) -> None:
        """A card dragged with the cursor at ``cursor``: light the wire it would go
        into (only a lone node without wires goes into one)."""
        scene = self._scene()
        nid = card.node_id
        if scene.selected_node_ids() != [nid] or scene.graph.edges_of(nid):
            self.clear()
            return
        self.hover(wire_under_card(scene, card, cursor), nid,
                   lambda edge: insert_plan(scene.graph, edge, nid), card)

    def light(self, edge: Edge | None, type_id: str) -> None:
        """A new layer of ``type_id`` held over the wire ``edge`` (``None``: over
        none): light the wire green when the layer would go in, red when not."""
        scene = self._scene()
        item = None
        if edge is not None and edge in scene.graph.edges and type_id in REGISTRY:
            item = scene.edge_item(edge)
        if item is None:
            self.clear()
            return
        type_id = REGISTRY.resolve(type_id)
        node_id = scene.graph.new_id(type_id)
        self.hover(item, type_id, lambda e: insert_plan(scene.graph, e, node_id, type_id))

    def light_at(self, pos: QPointF, type_id: str, radius: float) -> Edge | None:
        """The same for the wire within ``radius`` of ``pos`` (a palette drag);
        returns that wire."""
        wire = wire_near(self._scene(), pos, radius)
        edge = wire.edge if wire is not None else None
        self.light(edge, type_id)
        return edge

    def hover(self, item: EdgeItem | None, subject: str, plan_for: Callable[[Edge], Plan],
              card: NodeItem | None = None) -> None:
        """Light ``item`` for ``subject`` (``None``: no wire), planning with
        ``plan_for``; ring ``card`` (the dragged node, which hides part of the wire)
        in the same colour."""
        if item is None:
            self.clear()
            return
        key = (subject, item.edge)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_for(item.edge)
        if item is not self.item or card is not self.card:
            self.clear()
        self.item, self.plan, self.subject, self.card = item, plan, subject, card
        item.set_drop_hint(plan.fits)
        if card is not None:
            card.set_drop_hint(plan.fits)

    def take(self, subject: str) -> tuple[Edge, Plan] | None:
        """The lit wire and its plan if lit for ``subject``; unlights it."""
        found = None
        if self.item is not None and self.subject == subject and shiboken6.isValid(self.item):
            found = (self.item.edge, self.plan)
        self.clear()
        return found

    def clear(self) -> None:
        item, card = self.item, self.card
        self.item = self.plan = self.subject = self.card = None
        for lit in (item, card):
            if lit is not None and shiboken6.isValid(lit):
                lit.set_drop_hint(None)

    def forget(self) -> None:
        """The graph changed: unlight, and drop every plan made for the old graph."""
        self.clear()
        self._plans.clear()
