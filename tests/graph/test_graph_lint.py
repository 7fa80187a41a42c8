"""Graph.lint(): the node table, the edge list, the input-port index, the
connectivity graph and the analysis cache agree; each corruption is named."""

import pytest

from layerloom.graph import Edge, Graph
from layerloom.graph.errors import GraphLintError
from tests.graph.helpers import chain


def residual() -> Graph:
    """input -> dense -> add(in1); input -> add(in2); add -> output."""
    g = Graph()
    x, d, s, o = chain(g, ("input", {"shape": [8]}), ("dense", {"units": 8}), ("add", {}), "output")
    g.connect(x, "out", s, "in2")
    return g


def test_every_mutation_keeps_the_indexes_in_step():
    g = residual()
    g.lint()
    g.analysis()
    g.set_params("add_1", {"inputs": 3})
    g.add_node("dense", {"units": 8}, node_id="side", index=1)
    g.connect("input_1", "out", "side", "in")
    g.connect("side", "out", "add_1", "in3")
    g.lint()
    g.remove_edge(Edge("input_1", "out", "add_1", "in2"))
    g.move_node("side", (10, 20))
    g.set_label("side", "Side")
    g.lint()
    g.remove_node("dense_1")
    g.lint()
    copy = g.copy()
    copy.lint()
    g.replace_with(residual())
    g.lint()
    g.clear()
    g.lint()


def _corrupt_edge_list_add(g):  # a wire appended behind the indexes' back
    g._edges.append(Edge("dense_1", "out", "output_1", "in"))


def _retarget_index(g):
    g._incoming[("add_1", "in1")] = Edge("input_1", "out", "add_1", "in1")


def _drop_a_port_with_a_wire(g):
    g.node("add_1").params["inputs"] = 1


def _stale_analysis(g):
    g.analysis()
    g.node("dense_1").params["units"] = 4  # changed without an event


def _extra_arc(g):
    g._nx.add_edge("output_1", "input_1")


CORRUPTIONS = {
    "node key": (lambda g: setattr(g.node("dense_1"), "id", "renamed"),
                 "node table: key 'dense_1' holds node 'renamed'"),
    "node type": (lambda g: setattr(g.node("dense_1"), "type", "warp_drive"),
                  "node table: dense_1 has type 'warp_drive', which is not a current layer id"),
    "node params": (lambda g: g.node("dense_1").params.pop("bias"),
                    "node table: dense_1 has params ['activation', 'units']; a Dense has "
                    "['activation', 'bias', 'units']"),
    "edge listed twice": (lambda g: g._edges.append(g.edges[0]),
                          "edge list: input_1.out -> dense_1.in is listed twice"),
    "edge to a missing node": (lambda g: g._nodes.pop("output_1"),
                               "edge list: add_1.out -> output_1.in refers to missing node(s) 'output_1'"),
    "edge to a port that is gone": (_drop_a_port_with_a_wire,
                                    "edge list: input_1.out -> add_1.in2 enters 'in2', which is not an "
                                    "input of add_1 (inputs: in1)"),
    "two wires into one port": (_corrupt_edge_list_add,
                                "edge list: add_1.out -> output_1.in and dense_1.out -> output_1.in both "
                                "feed output_1.in"),
    "edge missing from the list": (lambda g: g._edges.pop(0),
                                   "input-port index: dense_1.in maps to input_1.out -> dense_1.in, but the "
                                   "edge list has no wire into that port"),
    "index points at another wire": (_retarget_index,
                                     "input-port index: add_1.in1 maps to input_1.out -> add_1.in1, but the "
                                     "edge list has dense_1.out -> add_1.in1 there"),
    "index misses a wire": (lambda g: g._incoming.pop(("output_1", "in")),
                            "input-port index: add_1.out -> output_1.in is in the edge list but not in the index"),
    "connectivity misses a node": (lambda g: g._nx.remove_node("output_1"),
                                   "connectivity graph: node 'output_1' is missing"),
    "connectivity has a stray node": (lambda g: g._nx.add_node("ghost"),
                                      "connectivity graph: node 'ghost' is not in the node table"),
    "connectivity misses an arc": (lambda g: g._nx.remove_edge("dense_1", "add_1"),
                                   "connectivity graph: no arc dense_1 -> add_1 for the wires between them"),
    "connectivity has a stray arc": (_extra_arc,
                                     "connectivity graph: arc output_1 -> input_1 has no wire behind it"),
    "connectivity with a cycle": (_extra_arc,
                                  "connectivity graph: the wires make a cycle through"),
    "stale analysis": (_stale_analysis,
                       "analysis cache: it describes an older graph; a change did not emit its event"),
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_lint_names_each_corrupted_index(name):
    corrupt, message = CORRUPTIONS[name]
    g = residual()
    g.lint()
    corrupt(g)
    with pytest.raises(GraphLintError) as caught:
        g.lint()
    assert any(problem.startswith(message) for problem in caught.value.problems), caught.value.problems
    assert str(caught.value).startswith("the graph's indexes disagree in ")
