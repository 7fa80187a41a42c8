"""Building a big graph's canvas items a slice at a time, so the window stays live.

Making one card costs about half a millisecond (texts laid out, ports, badge), so
20,000 of them in one go would freeze the window for ten seconds. A graph of up to
:data:`AT_ONCE` nodes is built at once, as before; a bigger one is built in slices
of :data:`SLICE_MS` from a zero-delay timer: nodes first, then wires, with the
event loop turning between slices (repaints, input, the Cancel of other work).

The scene stays correct while a build runs: an item not built yet is simply made
later from the graph as it is then, an edit made meanwhile is shown at once where
its items exist, and anything that needs every item (a lookup of a node not built
yet, selecting all, auto-layout) finishes the build first (:meth:`SceneBuilder.finish`).
"""

from __future__ import annotations

import math
import time
import weakref
from collections import deque

from PySide6.QtCore import QObject, QRectF, QTimer, Signal
from PySide6.QtWidgets import QGraphicsScene

from layerloom.graph.model import Edge
from layerloom.gui import heap

AT_ONCE = 400  # graphs up to this many nodes are built in one go
SLICE_MS = 30  # longest run of item building between two turns of the event loop
CHECK_EVERY = 16  # items built between two looks at the clock
# Objects set apart from cycle collection by big opens (some 45 a node), above which
# opening a small graph hands back what of them is alive: one collection then (a few
# hundred ms with PyTorch loaded) finds the cycles among the old graph's leftovers.
RELEASE_AFTER = 10_000
ITEMS_PER_CARD = 6  # about: the card, its texts and ports


class SceneBuilder(QObject):
    """Builds the items of ``scene``'s graph, at once or in slices.

    ``scene`` is the :class:`~layerloom.gui.canvas.scene.GraphScene` that owns it (typed
    by its Qt base: that module imports this one).

    Signals
    -------
    progress(int, int)
        Items (nodes and wires) built so far, and in all.
    finished()
        Every item of the graph is on the canvas (emitted for a sliced build only).
    """

    progress = Signal(int, int)
    finished = Signal()

    def __init__(self, scene: QGraphicsScene):
        super().__init__(scene)
        self._scene = weakref.ref(scene)  # no cycle: the scene goes when its owner drops it
        self._nodes: deque[str] = deque()
        self._edges: deque[Edge] | None = deque()  # None: not listed yet
        self._done = self._total = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._slice)

    @property
    def busy(self) -> bool:
        """Whether some items of the graph are still to be made."""
        return bool(self._nodes) or self._edges is None or bool(self._edges)

    @property
    def building_nodes(self) -> bool:
        """Whether cards are still to be made (a wire may then lack its ends)."""
        return bool(self._nodes)

    @property
    def scene(self) -> QGraphicsScene:
        return self._scene()

    def start(self) -> None:
        """Build the items of the scene's (just reset) graph."""
        graph = self.scene.graph
        self._nodes = deque(node.id for node in graph.nodes)
        self._edges = None
        self._done, self._total = 0, len(graph) + len(graph.edges)
        if len(graph) <= AT_ONCE:
            if heap.settled() > RELEASE_AFTER:  # a big graph was open; its leftovers can go
                heap.release()
            self.scene.setBspTreeDepth(0)  # Qt picks the depth as items come and go
            self._run(None)
            return
        # Qt's item index deepens each time the item count doubles, rebuilding itself
        # whole each time (200 ms at 30,000 items): set the depth the full graph needs.
        items = ITEMS_PER_CARD * len(graph) + len(graph.edges)
        self.scene.setBspTreeDepth(max(5, math.ceil(math.log2(items))))
        self.progress.emit(0, self._total)
        self._timer.start()

    def stop(self) -> None:
        """Forget the items still to be made (the scene is being reset)."""
        self._timer.stop()
        self._nodes.clear()
        self._edges = deque()

    def finish(self) -> None:
        """Make every item still missing now."""
        if self.busy:
            self._timer.stop()
            self._run(None)
            self.progress.emit(self._total, self._total)
            self.finished.emit()

    def _slice(self) -> None:
        done = self._run(time.perf_counter() + SLICE_MS / 1000)
        # Qt indexes new items at the next look-up, all at once: look now, while they are few.
        self.scene.items(QRectF(0, 0, 1, 1))
        heap.settle()  # the cards made live as long as the graph: no collection walks them
        if done:
            self.progress.emit(self._done, self._total)
            self.finished.emit()
        else:
            self.progress.emit(self._done, self._total)
            self._timer.start()

    def _run(self, deadline: float | None) -> bool:
        """Make items until all are made (True) or ``deadline`` has passed (False)."""
        scene, graph = self.scene, self.scene.graph
        count = 0
        while self._nodes:
            nid = self._nodes.popleft()
            self._done += 1
            if graph.has_node(nid) and scene.node_item_or_none(nid) is None:
                scene._add_node_item(nid)
            count += 1
            if deadline is not None and count % CHECK_EVERY == 0 and time.perf_counter() > deadline:
                return False
        if self._edges is None:  # the wires as they are now that every card exists
            self._edges = deque(graph.edges)
        while self._edges:
            edge = self._edges.popleft()
            self._done += 1
            if (not scene.has_edge_item(edge) and graph.has_node(edge.target)
                    and graph.incoming(edge.target).get(edge.target_port) == edge):
                scene._add_edge_item(edge)
            count += 1
            if deadline is not None and count % CHECK_EVERY == 0 and time.perf_counter() > deadline:
                return False
        return True
