"""The Graph document: mutations check their arguments and tell listeners."""

import pytest

from layerloom.graph import (
    ConnectionRefused,
    Edge,
    Graph,
    GraphError,
    ParamError,
    UnknownLayerError,
)
from tests.graph.helpers import chain, mlp


def test_add_node_fills_defaults_and_readable_ids():
    g = Graph()
    a = g.add_node("dense")
    b = g.add_node("dense", {"units": 8})
    assert (a.id, b.id) == ("dense_1", "dense_2")
    assert a.params == {"units": 32, "bias": True, "activation": "none"}
    assert b.params["units"] == 8


def test_unknown_type_and_bad_params_change_nothing():
    g = Graph()
    with pytest.raises(UnknownLayerError, match="'warp_drive'"):
        g.add_node("warp_drive")
    with pytest.raises(ParamError, match="units must be at least 1, got 0"):
        g.add_node("dense", {"units": 0})
    with pytest.raises(ParamError, match="has no parameter 'unit'"):
        g.add_node("dense", {"unit": 3})
    with pytest.raises(ParamError, match="must be a whole number, got 'many'"):
        g.add_node("dense", {"units": "many"})
    with pytest.raises(ParamError, match="too large"):
        g.add_node("dense", {"units": 10**30})
    assert len(g) == 0 and g.revision == 0


def test_alias_loads_as_current_id():
    g = Graph()
    node = g.add_node("linear", {"units": 3})
    assert node.type == "dense"


def test_duplicate_id_and_bad_id_refused():
    g = Graph()
    g.add_node("dense", node_id="fc")
    with pytest.raises(GraphError, match="already exists"):
        g.add_node("dense", node_id="fc")
    with pytest.raises(GraphError, match="not valid"):
        g.add_node("dense", node_id="1 bad id")


def test_connect_refuses_bad_ports_and_occupied_inputs():
    g = Graph()
    a, b, c = chain(g, ("input", {"shape": [4]}), "dense", "dense")
    with pytest.raises(ConnectionRefused, match="no output port 'y'"):
        g.connect(a, "y", c, "in")
    with pytest.raises(ConnectionRefused, match="no input port 'x'"):
        g.connect(a, "out", c, "x")
    with pytest.raises(ConnectionRefused, match="already has a wire from dense_1"):
        g.connect(a, "out", c, "in")
    assert len(g.edges) == 2


def test_cycle_refused_when_input_free():
    g = Graph()
    a = g.add_node("dense").id
    b = g.add_node("dense").id
    c = g.add_node("add").id
    g.connect(a, "out", b, "in")
    g.connect(b, "out", c, "in1")
    with pytest.raises(ConnectionRefused, match="would make a cycle"):
        g.connect(c, "out", a, "in")
    with pytest.raises(ConnectionRefused, match="cannot feed itself"):
        g.connect(c, "out", c, "in2")
    assert len(g.edges) == 2


def test_remove_node_takes_its_edges_and_returns_them():
    g = mlp()
    hidden = "dense_1"
    before = len(g.edges)
    node, edges = g.remove_node(hidden)
    assert node.id == hidden and len(edges) == 2
    assert len(g.edges) == before - 2
    assert all(hidden not in (e.source, e.target) for e in g.edges)


def test_edge_index_restores_order():
    g = mlp()
    edges = g.edges
    index = g.remove_edge(edges[0])
    g.add_edge(edges[0], index)
    assert g.edges == edges


def test_set_param_returns_old_and_refuses_losing_wired_ports():
    g = Graph()
    ids = chain(g, ("input", {"shape": [4]}), ("add", {"inputs": 3}))
    g.connect(ids[0], "out", ids[1], "in3")
    assert g.set_param(ids[1], "inputs", 3) == 3
    with pytest.raises(GraphError, match="in3 still have wires"):
        g.set_param(ids[1], "inputs", 2)
    assert g.node(ids[1]).params["inputs"] == 3


def test_events_for_every_change():
    g = Graph()
    seen = []
    g.subscribe(lambda e: seen.append((e.kind, e.node_id or str(e.edge))))
    a = g.add_node("input", {"shape": [2]}).id
    b = g.add_node("dense").id
    e = g.connect(a, "out", b, "in")
    g.set_param(b, "units", 4)
    g.set_param(b, "units", 4)  # no change, no event
    g.set_label(b, "Hidden")
    g.move_node(b, (10, 20))
    g.remove_edge(e)
    g.remove_node(b)
    assert [k for k, _ in seen] == [
        "node_added", "node_added", "edge_added", "node_changed", "node_changed",
        "node_moved", "edge_removed", "node_removed",
    ]


def test_labels_and_positions_checked():
    g = Graph()
    n = g.add_node("dense").id
    with pytest.raises(GraphError, match="one line"):
        g.set_label(n, "a\nb")
    with pytest.raises(GraphError, match="two numbers"):
        g.move_node(n, (1,))
    with pytest.raises(GraphError, match="outside the canvas"):
        g.move_node(n, (1e99, 0))


def test_copy_is_independent():
    g = mlp()
    c = g.copy()
    g.set_param("dense_1", "units", 99)
    assert c.node("dense_1").params["units"] == 16
    assert c != g


def test_edge_str():
    assert str(Edge("a", "out", "b", "in")) == "a.out -> b.in"


def test_add_node_at_index_restores_node_order():
    g = mlp(hidden=(4, 4))
    order = [n.id for n in g.nodes]
    node, _ = g.remove_node("dense_2")
    g.add_node(node.type, node.params, node.position, node.label, node.id, index=order.index("dense_2"))
    assert [n.id for n in g.nodes] == order


def test_check_params_refuses_without_changing():
    g = mlp()
    with pytest.raises(ParamError):
        g.check_params("dense_1", {"units": -1})
    assert g.check_params("dense_1", {"units": 7})["units"] == 7
    assert g.node("dense_1").params["units"] == 16


def test_new_ids_fill_the_lowest_free_number_after_removals():
    g = Graph()
    ids = [g.add_node("dense").id for _ in range(4)]
    assert ids == ["dense_1", "dense_2", "dense_3", "dense_4"]
    g.remove_node("dense_2")
    assert g.add_node("dense").id == "dense_2", "a freed id is used again"
    assert g.add_node("dense").id == "dense_5"
    g.clear()
    assert g.add_node("dense").id == "dense_1"


def test_replace_with_take_moves_the_nodes_and_keeps_the_analysis():
    source = Graph()
    a = source.add_node("input", {"shape": [3]}).id
    b = source.add_node("dense", {"units": 2}).id
    source.connect(a, "out", b, "in")
    expected = source.to_dict()
    analysis = source.analysis()
    target = Graph()
    target.replace_with(source, take=True)
    assert target.to_dict() == expected
    assert target.analysis() is analysis, "no second inference of a graph just read"
    assert len(source) == 0 and source.edges == []
    assert target.lint_problems() == []
    assert target.add_node("dense").id == "dense_2"
