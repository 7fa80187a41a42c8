"""One network of a graph on its own: a block node's inside as a graph and model.

A GAN project holds two networks, each a block node (see
:mod:`layerloom.backend.training.gan_parts`); once trained, the generator is what a
user keeps. :func:`network_graph` makes a block node's definition, with that
instance's shapes and parameter values, into a graph of its own (its Input and
Output nodes are the block's ports), and :func:`extract_network` compiles it and
copies the trained weights over from the whole model, so every exporter (ONNX,
TorchScript, Python source, safetensors) writes that network alone.
"""

from __future__ import annotations

from layerloom.backend.compile import CompiledGraph, compile_graph
from layerloom.backend.export.common import ExportError
from layerloom.graph import Graph


def find_block_node(graph: Graph, name: str):
    """The block node called ``name``: its label or id, the name of its block
    definition, or for a GAN project ``generator``/``discriminator`` (any case).

    Raises
    ------
    ExportError
        No such block node (the message lists the graph's block nodes).
    """
    blocks = [n for n in graph.nodes if n.is_block]
    wanted = name.strip().lower()
    for match in (lambda n: n.id.lower() == wanted or (n.label or "").lower() == wanted,
                  lambda n: n.params["block"].lower() == wanted):
        found = [n for n in blocks if match(n)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ExportError(f"{len(found)} block nodes are called {name!r}; name one by its label "
                              f"or id: {', '.join(n.title for n in found)}")
    if wanted in ("generator", "discriminator"):
        from layerloom.backend.training.gan_parts import GanError, find_networks

        try:
            nets = find_networks(graph)
        except GanError:
            pass
        else:
            return graph.node(nets.generator_id if wanted == "generator" else nets.discriminator_id)
    known = ", ".join(f"{n.title!r} (block {n.params['block']})" for n in blocks) or "none"
    raise ExportError(f"no block node {name!r} in this graph; its block nodes are {known}")


def network_graph(graph: Graph, name: str) -> tuple[Graph, str]:
    """Block node ``name``'s inside as a graph of its own, and the node's id."""
    node = find_block_node(graph, name)
    if node.params["repeat"] != 1 or node.params["shares_weights_with"]:
        raise ExportError(f"block node {node.title!r} repeats or shares another's weights; "
                          "only a single, plain instance exports on its own")
    info = graph.analysis().nodes[node.id]
    inside = graph.blocks.instance_graph(node.params["block"], node.params, info.inputs)
    alone = Graph()
    alone.replace_with(inside)
    alone.meta = {"title": f"{node.title} of {graph.meta.get('title', 'a graph')}"} if graph.meta else {}
    return alone, node.id


def extract_network(graph: Graph, model: CompiledGraph, name: str) -> tuple[Graph, CompiledGraph]:
    """The graph and model of block node ``name``, with ``model``'s trained weights."""
    alone, node_id = network_graph(graph, name)
    by_node = {nid: module for module, nid in model.module_nodes.items()}
    trained = model.get_submodule(by_node[node_id])
    network = compile_graph(alone)
    try:
        network.load_state_dict(trained.state_dict())
    except RuntimeError as exc:  # should not happen: the same graph compiles the same
        raise ExportError(f"the weights of {name!r} do not fit its graph: "
                          f"{str(exc).splitlines()[0]}") from None
    return alone, network.eval()
