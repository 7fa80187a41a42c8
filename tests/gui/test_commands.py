"""Undo commands on their own: each edit, its undo (the exact ``to_dict()`` before)
and its redo (the exact state after), each step leaving the graph's indexes in step
(``Graph.lint``), and refusals that push nothing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.graph import (
    ConnectionRefused,
    Edge,
    Graph,
    GraphError,
    ParamError,
    UnknownLayerError,
    layered_positions,
)
from layerloom.gui import clipboard
from layerloom.gui.commands import (
    AddNode,
    AutoLayout,
    Connect,
    DeleteItems,
    Disconnect,
    MoveNodes,
    Paste,
    RemoveNodes,
    Rename,
    SetParams,
    SetSettings,
)


def push_checked(stack, graph, command):
    """Push ``command``; check that undo gives back the state before and redo the
    state after, twice over, with the graph's indexes in step at every step.
    Returns the state after."""
    before = graph.to_dict()
    stack.push(command)
    graph.lint()
    after = graph.to_dict()
    assert after != before
    for _ in range(2):
        stack.undo()
        graph.lint()
        assert graph.to_dict() == before
        stack.redo()
        graph.lint()
        assert graph.to_dict() == after
    return after


def two_branch_graph() -> Graph:
    """Two inputs, a residual Add, two outputs: node and edge order both matter."""
    g = Graph()
    x = g.add_node("input", {"shape": [8]}, position=(0, 0)).id
    t = g.add_node("input", {"shape": [8]}, position=(0, 200), label="Second").id
    a = g.add_node("dense", {"units": 8}, position=(240, 0)).id
    b = g.add_node("dense", {"units": 8, "activation": "relu"}, position=(240, 200)).id
    s = g.add_node("add", {}, position=(480, 100)).id
    o1 = g.add_node("output", position=(720, 100)).id
    o2 = g.add_node("output", position=(720, 300)).id
    g.connect(x, "out", a, "in")
    g.connect(a, "out", s, "in1")
    g.connect(t, "out", b, "in")
    g.connect(b, "out", s, "in2")
    g.connect(s, "out", o1, "in")
    g.connect(b, "out", o2, "in")
    return g


def test_add_node_keeps_its_id_on_every_redo(graph, undo_stack):
    graph.add_node("input", {"shape": [3]})
    cmd = AddNode(graph, "dense", {"units": 5}, position=(40, 60), label="Hidden")
    assert cmd.text() == "Add Dense"
    after = push_checked(undo_stack, graph, cmd)
    node = after["nodes"][-1]
    assert node == {"id": "dense_1", "type": "dense", "label": "Hidden", "position": [40, 60],
                    "params": {"units": 5, "bias": True, "activation": "none"}}
    undo_stack.undo()
    graph.lint()
    assert not graph.has_node("dense_1")
    undo_stack.redo()
    graph.lint()
    assert graph.node("dense_1").label == "Hidden"


def test_add_node_refuses_bad_input_before_pushing(graph, undo_stack):
    with pytest.raises(UnknownLayerError, match="warp_drive"):
        AddNode(graph, "warp_drive")
    with pytest.raises(ParamError, match="units must be at least 1, got 0"):
        AddNode(graph, "dense", {"units": 0})
    with pytest.raises(GraphError, match="label must be one line"):
        AddNode(graph, "dense", label="two\nlines")
    with pytest.raises(GraphError, match="outside the canvas"):
        AddNode(graph, "dense", position=(1e9, 0))
    with pytest.raises(GraphError, match="two numbers"):
        MoveNodes(graph, {"x": ((0, 0), ("left", 3))})
    assert undo_stack.count() == 0 and len(graph) == 0


@pytest.mark.parametrize("removed", [["dense_1"], ["input_1"], ["add_1", "input_2"], ["output_2"],
                                     ["dense_2", "input_1", "output_1"]])
def test_remove_nodes_undo_restores_nodes_edges_and_their_order(undo_stack, removed):
    graph = two_branch_graph()
    before = graph.to_dict()
    cmd = RemoveNodes(graph, removed)
    after = push_checked(undo_stack, graph, cmd)
    assert [n["id"] for n in after["nodes"]] == [n["id"] for n in before["nodes"] if n["id"] not in removed]
    assert all(e["source"] not in removed and e["target"] not in removed for e in after["edges"])
    undo_stack.undo()
    graph.lint()
    assert graph.to_dict() == before
    assert graph.analysis().valid


def test_remove_nodes_text_names_the_layer_or_counts(undo_stack):
    graph = two_branch_graph()
    assert RemoveNodes(graph, ["add_1"]).text() == "Delete Add"
    assert RemoveNodes(graph, ["add_1", "dense_1", "dense_2"]).text() == "Delete 3 nodes"
    with pytest.raises(GraphError, match="no node 'nope'"):
        RemoveNodes(graph, ["nope"])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["input_1", "input_2", "dense_1", "dense_2", "add_1", "output_1",
                                 "output_2"]), min_size=1, max_size=7, unique=True),
       st.lists(st.integers(min_value=0, max_value=5), max_size=3, unique=True))
def test_any_deletion_undoes_exactly(qapp, node_ids, edge_indices):
    from PySide6.QtGui import QUndoStack

    graph = two_branch_graph()
    stack = QUndoStack()
    before = graph.to_dict()
    edges = [graph.edges[i] for i in edge_indices]
    stack.push(DeleteItems(graph, node_ids, edges))
    graph.lint()
    after = graph.to_dict()
    assert not any(graph.has_node(n) for n in node_ids)
    stack.undo()
    graph.lint()
    assert graph.to_dict() == before
    stack.redo()
    graph.lint()
    assert graph.to_dict() == after


def test_DeleteItems_is_one_parent_command_with_children(undo_stack):
    graph = two_branch_graph()
    loose = Edge("dense_2", "out", "output_2", "in")
    cmd = DeleteItems(graph, ["add_1"], [loose, Edge("add_1", "out", "output_1", "in")])
    assert cmd.text() == "Delete Add and 1 wire"
    assert [type(c).__name__ for c in cmd.children] == ["Disconnect", "RemoveNodes"]
    push_checked(undo_stack, graph, cmd)
    assert loose not in graph.edges and not graph.has_node("add_1")
    with pytest.raises(GraphError, match="nothing selected"):
        DeleteItems(graph, [], [])


def test_connect_and_occupied_input(undo_stack):
    graph = two_branch_graph()
    free = graph.add_node("output").id
    cmd = Connect(graph, "dense_1", "out", free, "in")
    assert cmd.text() == "Connect dense_1 → output_3"
    push_checked(undo_stack, graph, cmd)
    before = graph.to_dict()
    with pytest.raises(ConnectionRefused, match="already has a wire from input_2"):
        Connect(graph, "input_1", "out", "dense_2", "in")
    assert graph.to_dict() == before and undo_stack.count() == 1


def test_connect_refuses_a_cycle_and_pushes_nothing(graph, undo_stack, chain):
    a, b, c = chain(graph, "dense", "dense", ("add", {}))
    before = graph.to_dict()
    with pytest.raises(ConnectionRefused, match="would make a cycle"):
        Connect(graph, c, "out", a, "in")
    assert graph.to_dict() == before and undo_stack.count() == 0


def test_disconnect_restores_edges_in_their_old_places(undo_stack):
    graph = two_branch_graph()
    first, _, third, *_ = graph.edges
    cmd = Disconnect(graph, [third, first])
    assert cmd.text() == "Disconnect 2 wires"
    after = push_checked(undo_stack, graph, cmd)
    assert len(after["edges"]) == len(graph.edges) == 4
    with pytest.raises(GraphError, match="no wire"):
        Disconnect(graph, [first])


def test_move_nodes_one_command_for_many(undo_stack):
    graph = two_branch_graph()
    moves = {"dense_1": ((240, 0), (260, 20)), "add_1": ((480, 100), (500, 120)),
             "output_1": ((720, 100), (740, 120))}
    cmd = MoveNodes(graph, moves)
    assert cmd.text() == "Move 3 nodes"
    push_checked(undo_stack, graph, cmd)
    assert graph.node("add_1").position == (500.0, 120.0)
    assert MoveNodes(graph, {"add_1": ((500, 120), (0, 0))}).text() == "Move Add"


def test_set_params_on_several_nodes_restores_each_old_value(undo_stack):
    graph = two_branch_graph()
    cmd = SetParams(graph, ["dense_1", "dense_2"], {"units": 16, "activation": "tanh"})
    assert cmd.text() == "Set units, activation of 2 Denses"
    push_checked(undo_stack, graph, cmd)
    assert graph.node("dense_1").params["units"] == graph.node("dense_2").params["units"] == 16
    undo_stack.undo()
    graph.lint()
    assert graph.node("dense_1").params["activation"] == "none"
    assert graph.node("dense_2").params["activation"] == "relu"


def test_set_params_refuses_invalid_values_before_pushing(undo_stack):
    graph = two_branch_graph()
    before = graph.to_dict()
    with pytest.raises(ParamError, match="units must be at least 1, got -3"):
        SetParams(graph, ["dense_1", "dense_2"], {"units": -3})
    with pytest.raises(ParamError, match="no parameter 'unit'"):
        SetParams(graph, ["dense_1"], {"unit": 3})
    with pytest.raises(GraphError, match="one type"):
        SetParams(graph, ["dense_1", "add_1"], {"units": 3})
    assert graph.to_dict() == before and undo_stack.count() == 0


def test_set_params_refuses_dropping_a_wired_port(undo_stack):
    graph = two_branch_graph()
    undo_stack.push(SetParams(graph, ["add_1"], {"inputs": 3}))
    graph.connect("input_1", "out", "add_1", "in3")
    with pytest.raises(GraphError, match="ports in3 still have wires; disconnect them first"):
        SetParams(graph, ["add_1"], {"inputs": 2})


def test_rename(undo_stack):
    graph = two_branch_graph()
    cmd = Rename(graph, "dense_1", "Encoder")
    assert cmd.text() == "Rename dense_1 to 'Encoder'"
    push_checked(undo_stack, graph, cmd)
    assert graph.node("dense_1").title == "Encoder"
    with pytest.raises(GraphError, match="at most 80 characters"):
        Rename(graph, "dense_1", "x" * 81)


def test_paste_gives_fresh_ids_keeps_inner_wires_and_offsets(undo_stack):
    graph = two_branch_graph()
    data = clipboard.copy_selection(graph, ["dense_1", "add_1"])
    assert [n["id"] for n in data["nodes"]] == ["dense_1", "add_1"]
    assert data["edges"] == [{"source": "dense_1", "source_port": "out", "target": "add_1", "target_port": "in1"}]
    cmd = Paste(graph, json.loads(json.dumps(data)), (40, 60))
    assert cmd.text() == "Paste 2 nodes"
    after = push_checked(undo_stack, graph, cmd)
    new = after["nodes"][-2:]
    assert [n["id"] for n in new] == ["dense_3", "add_2"]
    assert new[0]["position"] == [280, 60] and new[1]["position"] == [520, 160]
    assert new[0]["params"] == after["nodes"][2]["params"]
    assert after["edges"][-1] == {"source": "dense_3", "source_port": "out", "target": "add_2", "target_port": "in1"}
    assert len(after["edges"]) == 7  # the wires to outside nodes stay behind


@pytest.mark.parametrize("data, message", [
    ({"nodes": [{"id": "a", "type": "warp"}], "edges": []}, "unknown layer type 'warp'"),
    ({"nodes": [{"id": "a", "type": "dense", "params": {"units": 0}}], "edges": []}, "units must be at least 1"),
    ({"nodes": [{"id": "a", "type": "dense", "position": "here"}], "edges": []}, "two numbers"),
    ({"nodes": "all of them"}, "needs lists"),
    ({"nodes": [{"id": "a", "type": "dense"}],
      "edges": [{"source": "a", "source_port": "out", "target": "a", "target_port": "in"}]}, "cannot feed itself"),
    ({"nodes": [], "edges": []}, "nothing to paste"),
])
def test_paste_refuses_bad_data_with_a_reason(graph, undo_stack, data, message):
    with pytest.raises(GraphError, match=message):
        Paste(graph, data, (0, 0))
    assert len(graph) == 0 and undo_stack.count() == 0


def test_clipboard_mime_round_trip_and_bad_json(qapp):
    graph = two_branch_graph()
    data = clipboard.copy_selection(graph, ["dense_1"])
    mime = clipboard.to_mime(data)
    assert clipboard.from_mime(mime) == json.loads(json.dumps(data))
    mime.setData(clipboard.MIME_TYPE, b"{not json")
    with pytest.raises(GraphError, match="not valid JSON"):
        clipboard.from_mime(mime)
    mime.removeFormat(clipboard.MIME_TYPE)
    assert clipboard.from_mime(mime) is None


def test_auto_layout_moves_to_layered_positions_and_back(undo_stack):
    graph = two_branch_graph()
    for node in graph.nodes:
        graph.move_node(node.id, (17, 23))
    push_checked(undo_stack, graph, AutoLayout(graph, node_width=180))
    expected = layered_positions(graph, node_width=180)
    assert {n.id: n.position for n in graph.nodes} == expected
    undo_stack.undo()
    graph.lint()
    assert {n.position for n in graph.nodes} == {(17.0, 23.0)}


def test_set_settings(undo_stack):
    graph = two_branch_graph()
    graph.set_settings("training", {"epochs": 3})
    values = {"epochs": 10, "optimizer": {"name": "adam", "lr": 0.001}}
    cmd = SetSettings(graph, "training", values)
    assert cmd.text() == "Change training settings"
    values["epochs"] = 99  # the command keeps its own copy
    push_checked(undo_stack, graph, cmd)
    assert graph.training["epochs"] == 10
    undo_stack.undo()
    graph.lint()
    assert graph.training == {"epochs": 3}
    with pytest.raises(GraphError, match="unknown settings section 'colours'"):
        SetSettings(graph, "colours", {})


def test_a_session_of_edits_undoes_step_by_step(graph, undo_stack, check_undo_redo):
    states = [graph.to_dict()]
    for make in (
        lambda: AddNode(graph, "input", {"shape": [4]}),
        lambda: AddNode(graph, "dense", {"units": 3}, position=(240, 0)),
        lambda: Connect(graph, "input_1", "out", "dense_1", "in"),
        lambda: SetParams(graph, ["dense_1"], {"units": 7}),
        lambda: MoveNodes(graph, {"dense_1": ((240, 0), (260, 40))}),
        lambda: Rename(graph, "input_1", "Features"),
        lambda: RemoveNodes(graph, ["input_1"]),
    ):
        undo_stack.push(make())
        graph.lint()
        states.append(graph.to_dict())
    check_undo_redo(undo_stack, graph, states)
