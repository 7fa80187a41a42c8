"""Shape inference: shapes on every edge, counts, errors that never stop the walk."""

from layerloom.graph import Graph
from tests.graph.helpers import chain, mlp


def test_mlp_shapes_params_flops():
    g = mlp(hidden=(16,), inputs=4, classes=3)
    a = g.analysis()
    assert a.valid
    shapes = [str(a.nodes[n].out) for n in ("input_1", "dense_1", "dense_2")]
    assert shapes == ["(N, 4)", "(N, 16)", "(N, 3)"]
    assert a.nodes["dense_1"].params == 4 * 16 + 16
    assert a.total_params == 4 * 16 + 16 + 16 * 3 + 3
    assert a.nodes["dense_1"].flops == 2 * 4 * 16
    assert a.nodes["dense_1"].activation_bytes == 16 * 4
    assert {str(e): str(s) for e, s in a.edges.items()}["dense_2.out -> output_1.in"] == "(N, 3)"


def test_error_names_node_quotes_shapes_and_does_not_stop_rest():
    g = Graph()
    a = g.add_node("input", {"shape": [4]}).id
    b = g.add_node("input", {"shape": [5]}).id
    add = g.add_node("add").id
    g.connect(a, "out", add, "in1")
    g.connect(b, "out", add, "in2")
    after = chain(g, "dense", "output", start=add)
    other = chain(g, ("dense", {"units": 2}), "output", start=a)
    an = g.analysis()
    assert not an.valid
    err = an.nodes[add]
    assert "add_1 (Add)" in err.error and "(4,)" in err.error and "(5,)" in err.error
    assert err.fix
    assert an.nodes[after[0]].blocked and an.nodes[after[0]].error is None
    assert str(an.nodes[other[0]].out) == "(N, 2)"
    assert [nid for nid, _ in an.errors] == [add]


def test_unconnected_input_port_is_an_error_with_fix():
    g = Graph()
    chain(g, "dense", "output")
    an = g.analysis()
    assert "input in is not connected" in an.nodes["dense_1"].message
    assert any("no Input node" in m for _, m in an.errors)


def test_token_input_into_dense_suggests_embedding():
    g = Graph()
    chain(g, ("input", {"shape": [10], "dtype": "long"}), "dense", "output")
    msg = g.analysis().nodes["dense_1"].message
    assert "long" in msg and "Embedding" in msg


def test_fixing_the_graph_clears_the_error_at_once():
    g = Graph()
    a = g.add_node("input", {"shape": [4]}).id
    r = g.add_node("reshape", {"shape": [3, -1]}).id
    g.connect(a, "out", r, "in")
    assert g.analysis().nodes[r].error
    g.set_param(r, "shape", [2, -1])
    assert g.analysis().nodes[r].error is None
    assert str(g.analysis().nodes[r].out) == "(N, 2, 2)"


def test_analysis_is_cached_per_revision():
    g = mlp()
    assert g.analysis() is g.analysis()
    first = g.analysis()
    g.set_param("dense_1", "units", 5)
    assert g.analysis() is not first


def test_unused_branch_is_a_warning():
    g = mlp()
    chain(g, "dense", start="input_1")
    an = g.analysis()
    assert an.valid
    assert [nid for nid, _ in an.warnings] == ["dense_3"]


def test_concat_and_permute_reshape():
    g = Graph()
    a = g.add_node("input", {"shape": [3, 8]}).id
    p = chain(g, ("permute", {"dims": [2, 1]}), start=a)[0]
    c = g.add_node("concat", {"dim": 1}).id
    g.connect(p, "out", c, "in1")
    g.connect(p, "out", c, "in2")
    f = chain(g, "flatten", ("reshape", {"shape": [4, -1]}), "output", start=c)
    an = g.analysis()
    assert str(an.nodes[p].out) == "(N, 8, 3)"
    assert str(an.nodes[c].out) == "(N, 16, 3)"
    assert str(an.nodes[f[1]].out) == "(N, 4, 12)"


def test_300_node_graph_is_fully_inferred():
    from benchmarks.graph_inference import residual_mlp

    g = residual_mlp()
    an = g.analysis()
    assert len(g) == 300 and an.valid
    assert all(info.out is not None for nid, info in an.nodes.items() if nid != "output_1")
