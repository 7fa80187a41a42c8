"""The canvas redoes only what an edit changed: a card is laid out again only when
its text changes, a wire is re-routed only when one of its ports moved, and a file
opened builds each card once. Counted, not timed: each test wraps the one method
that does the work and checks which items went through it."""

from __future__ import annotations

import pytest

from layerloom.graph import Graph
from layerloom.gui.canvas import edge_item
from layerloom.gui.canvas.node_item import NodeItem
from layerloom.gui.commands import MoveNodes, Rename, SetParams

DROPOUTS = 8  # per half of the chain


@pytest.fixture
def layouts(monkeypatch) -> list[str]:
    """The node id of every card laid out from now on, in order."""
    seen: list[str] = []
    original = NodeItem._layout

    def counting(self, node, shown):
        seen.append(self.node_id)
        return original(self, node, shown)

    monkeypatch.setattr(NodeItem, "_layout", counting)
    return seen


@pytest.fixture
def reroutes(monkeypatch) -> list[tuple[float, float, float, float]]:
    """The end points of every wire curve built from now on."""
    seen = []
    original = edge_item.wire_path

    def counting(start, end):
        seen.append((start.x(), start.y(), end.x(), end.y()))
        return original(start, end)

    monkeypatch.setattr(edge_item, "wire_path", counting)
    return seen


def long_chain(graph: Graph, chain) -> list[str]:
    """Input, Dense, Dropouts, Dense, Dropouts, Output: the first Dense's units set
    the shape seen by the first half; the second Dense resets it for the rest."""
    return chain(graph, ("input", {"shape": [8]}), ("dense", {"units": 8}),
                 *["dropout"] * DROPOUTS, ("dense", {"units": 8}), *["dropout"] * DROPOUTS,
                 "output", dx=200)


def card_texts(canvas) -> dict[str, list[str]]:
    return {item.node_id: [st.text() for _, st, *_ in item._texts] for item in canvas.scene.node_items()}


def test_a_shape_edit_lays_out_exactly_the_cards_whose_text_changed(canvas, graph, chain, undo_stack,
                                                                      layouts):
    ids = long_chain(graph, chain)
    canvas.scene.refresh_analysis()
    before = card_texts(canvas)
    layouts.clear()

    undo_stack.push(SetParams(graph, [ids[1]], {"units": 16}))
    after = card_texts(canvas)  # up to date as soon as the command is on the stack
    changed = {nid for nid in ids if after[nid] != before[nid]}
    # the Dense, the Dropouts after it, and the second Dense (its parameter count)
    assert changed == set(ids[1:DROPOUTS + 3])
    assert "→ (N, 16)" in after[ids[DROPOUTS + 1]] and "→ (N, 8)" in after[ids[DROPOUTS + 2]]
    assert sorted(layouts) == sorted(changed)  # each once, and no other card

    layouts.clear()
    undo_stack.undo()
    graph.lint()
    assert card_texts(canvas) == before
    assert sorted(layouts) == sorted(changed)


def test_wire_labels_follow_a_shape_edit_without_rerouting(canvas, graph, chain, undo_stack, reroutes):
    ids = long_chain(graph, chain)
    canvas.scene.refresh_analysis()
    wires = canvas.scene.edge_items()
    for wire in wires:
        wire.path()
    reroutes.clear()

    undo_stack.push(SetParams(graph, [ids[1]], {"units": 16}))
    labels = [w.label for w in wires]
    assert labels[1:DROPOUTS + 2] == ["(N, 16)"] * (DROPOUTS + 1)
    assert labels[DROPOUTS + 2:] == ["(N, 8)"] * (DROPOUTS + 1)
    for wire in wires:
        wire.path()
        assert wire.boundingRect().contains(wire.label_rect())
    assert reroutes == []  # no port moved, so no curve was rebuilt


def test_moving_nodes_lays_out_no_card_and_reroutes_each_wire_once(canvas, graph, chain, undo_stack,
                                                                    layouts, reroutes):
    ids = long_chain(graph, chain)
    canvas.scene.refresh_analysis()
    for wire in canvas.scene.edge_items():
        wire.path()
    layouts.clear()
    reroutes.clear()

    a, b = ids[3], ids[4]  # two neighbours: three wires touch them
    undo_stack.push(MoveNodes(graph, {a: (graph.node(a).position, (600.0, 300.0)),
                                      b: (graph.node(b).position, (800.0, 300.0))}))
    touched = [w for w in canvas.scene.edge_items() if {w.edge.source, w.edge.target} & {a, b}]
    for wire in canvas.scene.edge_items():
        assert wire.path().currentPosition() == wire.target.scene_anchor()
    assert len(touched) == 3 and len(reroutes) == 3
    assert layouts == []

    graph.move_node(ids[0], (0.0, 200.0))  # from outside the undo stack as well
    canvas.scene.refresh_analysis()
    assert layouts == []


def test_a_local_edit_or_a_rename_lays_out_one_card(canvas, graph, chain, undo_stack, layouts):
    ids = long_chain(graph, chain)
    canvas.scene.refresh_analysis()
    layouts.clear()
    undo_stack.push(SetParams(graph, [ids[5]], {"p": 0.3}))
    assert layouts == [ids[5]]
    assert "p 0.3" in card_texts(canvas)[ids[5]]

    layouts.clear()
    undo_stack.push(Rename(graph, ids[5], "Drop"))
    assert layouts == [ids[5]] and card_texts(canvas)[ids[5]][:2] == ["Drop", "Dropout"]


def test_opening_a_graph_lays_out_each_card_once(canvas, graph, chain, layouts):
    other = Graph()
    ids = long_chain(other, chain)
    graph.replace_with(other)
    assert sorted(layouts) == sorted(ids)
    assert "→ (N, 8)" in card_texts(canvas)[ids[-2]]
    assert {w.label for w in canvas.scene.edge_items()} == {"(N, 8)"}
