"""Blocks in the document: definitions, instances, make-block / ungroup, nesting."""

from __future__ import annotations

import pytest

from layerloom.graph import Graph, GraphError, dumps, loads, make_block, ungroup
from tests.graph.helpers import chain


def residual_mlp() -> tuple[Graph, list[str]]:
    """input -> dense(8) -> [dense(8) relu -> dense(8)] + skip -> output."""
    g = Graph()
    inp, first = chain(g, ("input", {"shape": [4]}), ("dense", {"units": 8}))
    a, b = chain(g, ("dense", {"units": 8, "activation": "relu"}), ("dense", {"units": 8}), start=first)
    add = g.add_node("add", {"inputs": 2})
    g.connect(b, "out", add.id, "in1")
    g.connect(first, "out", add.id, "in2")
    (out,) = chain(g, "output", start=add.id)
    return g, [a, b, add.id]


def edges_set(g: Graph) -> set:
    return set(g.edges)


def nodes_table(g: Graph) -> dict:
    return {n.id: (n.type, n.params, n.position, n.label) for n in g.nodes}


def test_make_block_replaces_the_selection_by_one_instance():
    g, ids = residual_mlp()
    edit = make_block(g, ids, "residual")
    g.lint()
    block = g.node(edit.node_id)
    assert block.input_ports() == ("in",) and block.output_ports() == ("out",)
    assert [n.id for n in g.nodes] == ["input_1", "dense_1", edit.node_id, "output_1"]
    body = g.blocks["residual"].body
    assert {n.type for n in body.nodes} == {"input", "output", "dense", "add"}
    assert g.analysis().valid
    assert g.analysis().nodes[block.id].params == 2 * (8 * 8 + 8)


def test_ungroup_of_make_block_gives_the_graph_back():
    g, ids = residual_mlp()
    before_nodes, before_edges = nodes_table(g), edges_set(g)
    edit = make_block(g, ids, "residual")
    ungroup(g, edit.node_id)
    g.lint()
    assert nodes_table(g) == before_nodes and edges_set(g) == before_edges


def test_make_block_undo_restores_exactly():
    g, ids = residual_mlp()
    before = dumps(g)
    edit = make_block(g, ids, "residual")
    edit.undo()
    g.lint()
    assert dumps(g) == before
    again = make_block(g, ids, "residual", node_id=edit.node_id)
    assert again.node_id == edit.node_id and g.analysis().valid


def test_ungroup_undo_restores_exactly():
    g, ids = residual_mlp()
    edit = make_block(g, ids, "residual")
    before = dumps(g)
    ungroup(g, edit.node_id).undo()
    assert dumps(g) == before


def test_selection_with_a_cycle_through_the_outside_is_refused():
    g = Graph()
    inp, a, mid, b = chain(g, ("input", {"shape": [4]}), "relu", "tanh", "sigmoid")
    chain(g, "output", start=b)
    with pytest.raises(GraphError, match="cycle through tanh_1"):
        make_block(g, [a, b], "bad")
    assert "bad" not in g.blocks


def test_selection_without_a_border_or_with_the_model_ends_is_refused():
    g = Graph()
    a, b = chain(g, "relu", "tanh")
    with pytest.raises(GraphError, match="no border"):
        make_block(g, [a, b], "lonely")
    inp, c = chain(g, ("input", {"shape": [4]}), "relu")
    with pytest.raises(GraphError, match="Input and Output nodes stay outside"):
        make_block(g, [inp, c], "ends")
    with pytest.raises(GraphError, match="select the nodes"):
        make_block(g, [], "empty")


def test_edits_inside_apply_to_every_instance_and_fire_events():
    g, ids = residual_mlp()
    edit = make_block(g, ids, "residual")
    inner = g.blocks["residual"].body
    events = []
    g.subscribe(events.append)
    dense = [n.id for n in inner.nodes if n.type == "dense"][1]
    inner.set_param(dense, "units", 5)
    assert any(e.kind == "block_changed" and e.detail["block"] == "residual" for e in events)
    message = g.analysis().nodes[edit.node_id].error
    assert message.startswith(f"{edit.node_id} (residual) > add_1 (Add)")


def test_exposed_params_differ_per_instance():
    g = Graph()
    d = g.blocks.add("ff")
    x, h, y = chain(d.body, ("input", {"shape": [4]}), ("dense", {"units": 8}), "output")
    g.blocks.expose("ff", "width", h, "units")
    inp = g.add_node("input", {"shape": [4]})
    one = g.add_node("block", {"block": "ff", "width": 3})
    two = g.add_node("block", {"block": "ff"})
    g.connect(inp.id, "out", one.id, "in_1" if False else x)
    g.connect(inp.id, "out", two.id, x)
    a = g.analysis()
    assert a.nodes[one.id].outputs[y].shape == (3,) and a.nodes[two.id].outputs[y].shape == (8,)
    assert g.node(two.id).spec.param("width").default == 8
    old = g.blocks.unexpose("ff", "width")
    assert "width" not in g.node(one.id).params
    g.blocks.expose("ff", "width", h, "units", values=old)
    assert g.node(one.id).params["width"] == 3
    g.lint()


def test_repeat_needs_a_block_that_keeps_its_shape():
    g, ids = residual_mlp()
    edit = make_block(g, ids, "residual")
    g.set_param(edit.node_id, "repeat", 4)
    a = g.analysis()
    assert a.valid and a.nodes[edit.node_id].params == 4 * 2 * 72
    inner = g.blocks["residual"].body
    for n in [n for n in inner.nodes if n.type == "dense"]:
        inner.set_param(n.id, "units", 6)
    message = g.analysis().nodes[edit.node_id].error
    assert message  # the add inside now fails: 6 vs 8 features
    for n in [n for n in inner.nodes if n.type == "dense"]:
        inner.set_param(n.id, "units", 8)
    assert g.analysis().valid


def test_repeat_refused_with_the_shapes_when_the_chain_changes_them():
    g = Graph()
    d = g.blocks.add("grow")
    chain(d.body, ("input", {"shape": [4]}), ("dense", {"units": 8}), "output")
    inp = g.add_node("input", {"shape": [4]})
    blk = g.add_node("block", {"block": "grow", "repeat": 2})
    g.connect(inp.id, "out", blk.id, "input_1")
    message = g.analysis().nodes[blk.id].error
    assert "takes (4,) and gives (8,)" in message


def test_shared_weights_count_once_and_need_the_same_shapes():
    g = Graph()
    d = g.blocks.add("trunk")
    chain(d.body, ("input", {"shape": [4]}), ("dense", {"units": 8}), "output")
    a_in = g.add_node("input", {"shape": [4]})
    b_in = g.add_node("input", {"shape": [4]})
    a = g.add_node("block", {"block": "trunk"})
    b = g.add_node("block", {"block": "trunk", "shares_weights_with": a.id})
    g.connect(a_in.id, "out", a.id, "input_1")
    g.connect(b_in.id, "out", b.id, "input_1")
    for blk in (a, b):
        g.connect(blk.id, "output_1", g.add_node("output").id, "in")
    analysis = g.analysis()
    assert analysis.valid and analysis.nodes[b.id].shared
    assert analysis.total_params == 40
    g.set_param(b_in.id, "shape", [4, 2])
    message = g.analysis().nodes[b.id].error
    assert "receives input_1 (N, 2, 4)" in message or "receives input_1 (N, 4, 2)" in message
    assert "(N, 4)" in message
    g.set_param(b.id, "shares_weights_with", "nope")
    assert "not a node of this graph" in g.analysis().nodes[b.id].error


def test_nesting_and_recursion_refused_on_edit():
    g = Graph()
    inner = g.blocks.add("inner")
    chain(inner.body, ("input", {"shape": [4]}), "relu", "output")
    outer = g.blocks.add("outer")
    x = outer.body.add_node("input", {"shape": [4]})
    blk = outer.body.add_node("block", {"block": "inner"})
    outer.body.connect(x.id, "out", blk.id, "input_1")
    outer.body.connect(blk.id, "output_1", outer.body.add_node("output").id, "in")
    with pytest.raises(GraphError, match="'inner' already contains 'outer'|already contains"):
        inner.body.add_node("block", {"block": "outer"})
    with pytest.raises(GraphError, match="cannot contain itself"):
        outer.body.add_node("block", {"block": "outer"})
    top_in = g.add_node("input", {"shape": [4]})
    top = g.add_node("block", {"block": "outer"})
    g.connect(top_in.id, "out", top.id, "input_1")
    g.connect(top.id, "output_1", g.add_node("output").id, "in")
    assert g.analysis().valid
    text = dumps(g)
    assert dumps(loads(text)) == text


def test_renaming_and_reordering_ports_keeps_the_wires():
    g = Graph()
    d = g.blocks.add("pair")
    a = d.body.add_node("input", {"shape": [4]}, label="a")
    b = d.body.add_node("input", {"shape": [4]}, label="b")
    add = d.body.add_node("add", {"inputs": 2})
    d.body.connect(a.id, "out", add.id, "in1")
    d.body.connect(b.id, "out", add.id, "in2")
    chain(d.body, "output", start=add.id)
    x = g.add_node("input", {"shape": [4]})
    blk = g.add_node("block", {"block": "pair"})
    g.connect(x.id, "out", blk.id, "a")
    g.blocks.rename_port("pair", "in", "a", "left")
    assert blk.input_ports() == ("left", "b") and g.incoming(blk.id)["left"].source == x.id
    assert g.blocks.reorder_ports("pair", "in", ["b", "left"]) == ["left", "b"]
    assert blk.input_ports() == ("b", "left")
    with pytest.raises(GraphError, match="already has an input port 'b'"):
        g.blocks.rename_port("pair", "in", "left", "b")
    with pytest.raises(GraphError, match="wired on block_1"):
        d.body.remove_node(a.id)
    g.lint()


def test_removing_a_used_definition_is_refused():
    g, ids = residual_mlp()
    edit = make_block(g, ids, "residual")
    with pytest.raises(GraphError, match="still used by"):
        g.blocks.remove("residual")
    g.blocks.rename("residual", "res")
    assert g.node(edit.node_id).params["block"] == "res"
    assert g.analysis().valid


def test_a_graph_goes_with_its_last_reference_without_the_cycle_collector():
    """No reference cycle keeps a graph (its block library, its networkx views): a
    big graph's memory returns at once, not at a slow full collection."""
    import gc
    import weakref

    g = Graph()
    a = g.add_node("input", {"shape": [4]}).id
    b = g.add_node("dense", {"units": 2}).id
    g.connect(a, "out", b, "in")
    g.topological_order()
    g.analysis()
    gone = weakref.ref(g)
    library = weakref.ref(g.blocks)
    was = gc.isenabled()
    gc.disable()
    try:
        del g
        assert gone() is None and library() is None
    finally:
        if was:
            gc.enable()


def test_an_edit_inside_a_body_analyses_again_only_the_blocks_that_contain_it():
    from benchmarks.block_graphs import gpt_graph

    g = gpt_graph((2, 1), width=8, seq=6, hidden=16)
    g.analysis()
    cached = dict(g.blocks._instances)
    assert {k[0] for k in cached} == {"mlp", "attention", "layer", "stage"}
    mlp = g.blocks["mlp"].body
    hidden = next(n.id for n in mlp.nodes if n.type == "dense")
    mlp.set_param(hidden, "units", 24)
    kept = g.blocks._instances
    assert {k[0] for k in kept} == {"attention"}  # attention does not contain mlp
    assert all(kept[k] is cached[k] for k in kept)
    after = g.analysis()
    fresh = gpt_graph((2, 1), width=8, seq=6, hidden=24).analysis()
    assert after.total_params == fresh.total_params != 0
    assert {nid: (i.inputs, i.outputs) for nid, i in after.nodes.items()} == \
        {nid: (i.inputs, i.outputs) for nid, i in fresh.nodes.items()}
    g.blocks["attention"].body.set_param("dense_1", "units", 8)  # the same value: nothing to redo
    g.blocks.rename("attention", "attn")  # not a body edit: every instance is analysed again
    assert not g.blocks._instances
    assert g.analysis().total_params == fresh.total_params
