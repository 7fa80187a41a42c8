"""The source model's module hierarchy, kept as blocks.

The importers build a flat graph and remember, for every node, the modules whose
``forward`` made it (its *scope*: ``[("layer1", "Sequential"), ("layer1.0",
"BasicBlock")]``). Here, innermost first, the nodes of each module become one
block instance (:func:`~layerloom.graph.grouping.make_block`), so a ResNet imports
as its stem, four stages of blocks and a head rather than a flat sheet. Modules
whose insides came out the same (``layer1.0`` and ``layer1.1``) share one block
definition, each instance with its own weights. A module of a single layer, or
one whose nodes cannot become a block (its wires would run out and back in), stays
as it is.
"""

from __future__ import annotations

from collections.abc import Mapping

from layerloom.backend.importers.sharing import block_name
from layerloom.graph import Graph
from layerloom.graph.errors import GraphError
from layerloom.graph.grouping import make_block

CONTAINERS = {"Sequential", "ModuleList", "ModuleDict"}  # named after their place, not their class

Scope = tuple[tuple[str, str], ...]


def _shape_of(graph: Graph, name: str) -> tuple:
    """A block definition's inside as data without node ids (nodes in order)."""
    body = graph.blocks.get(name).body
    index = {n.id: i for i, n in enumerate(body.nodes)}
    nodes = tuple((n.type, tuple(sorted((k, repr(v)) for k, v in n.params.items()))) for n in body.nodes)
    edges = tuple(sorted((index[e.source], e.source_port, index[e.target], e.target_port) for e in body.edges))
    return nodes, edges


def _switch(graph: Graph, instance: str, definition: str) -> None:
    """Make the block node ``instance`` an instance of ``definition`` (one with the
    same ports), keeping its id, place, label and wires."""
    node = graph.node(instance)
    index = [n.id for n in graph.nodes].index(instance)
    _, edges = graph.remove_node(instance)
    params = {**node.params, "block": definition}
    graph.add_node("block", params, node.position, node.label, instance, index=index)
    for edge in edges:
        graph.add_edge(edge)


def keep_hierarchy(graph: Graph, scopes: Mapping[str, Scope]) -> dict[str, tuple[str, str]]:
    """Group ``graph``'s nodes into blocks by module, innermost first.

    Returns, for every node moved into a block, ``(instance id, id inside the
    definition)``: where its weights now live. Nodes of a block instance that
    reuses an earlier identical definition are renamed to that definition's ids.
    """
    scope = {nid: tuple(s) for nid, s in scopes.items() if graph.has_node(nid)}
    modules: dict[str, tuple[int, str]] = {}
    for entries in scope.values():
        for depth, (path, kind) in enumerate(entries):
            modules.setdefault(path, (depth, kind))
    placed: dict[str, tuple[str, str]] = {}
    definitions: dict[tuple, str] = {}  # inside -> the first definition with it
    for path, (depth, kind) in sorted(modules.items(), key=lambda item: -item[1][0]):
        ids = [n.id for n in graph.nodes if any(p == path for p, _ in scope.get(n.id, ()))]
        if len(ids) < 2 or any(graph.node(i).type in ("input", "output") for i in ids):
            continue
        if any(graph.node(i).type == "block" and graph.node(i).params.get("shares_weights_with") for i in ids):
            continue  # a shared instance stays beside the one it shares with
        container = kind in CONTAINERS
        last = next((part for part in reversed(path.split(".")) if not part.isdigit()), path)
        name = block_name(last if container else kind, graph.blocks)
        for nid in ids:  # inside, a layer is named from its module: conv1, not layer1.0.conv1
            label = graph.node(nid).label
            if label.startswith(f"{path}.") or label.startswith(f"{path.replace('.', '_')}_"):
                graph.set_label(nid, label[len(path) + 1:])
        try:
            edit = make_block(graph, ids, name, node_id=block_name(path.replace(".", "_"), {n.id for n in graph.nodes}))
        except GraphError:
            continue
        instance = edit.node_id
        graph.set_label(instance, path[:100])
        scope[instance] = scope[ids[0]][:depth]
        for nid in ids:
            placed[nid] = (instance, nid)
            scope.pop(nid, None)
        inside = _shape_of(graph, name)
        earlier = definitions.get(inside)
        if earlier is None:
            definitions[inside] = name
            continue
        # the same inside as an earlier module: use its definition, map the ids
        ours = [n.id for n in graph.blocks.get(name).body.nodes]
        theirs = [n.id for n in graph.blocks.get(earlier).body.nodes]
        _switch(graph, instance, earlier)
        graph.blocks.remove(name)
        renamed = dict(zip(ours, theirs, strict=True))
        for nid, (inst, inner) in list(placed.items()):
            if inst == instance:
                placed[nid] = (instance, renamed[inner])
    return placed


def module_name(model, top: Mapping[str, str], placed: Mapping[str, tuple[str, str]], node_id: str) -> str | None:
    """The name in the compiled ``model`` of the module made for ``node_id``, which
    may sit inside nested blocks (``layer1.layer1_0.conv1``); ``None`` when the
    node has no module of its own (a use sharing another's weights)."""
    inner: list[str] = []
    current = node_id
    while current in placed:
        current, local = placed[current][0], placed[current][1]
        inner.append(local)
    if current not in top:
        return None
    name = top[current]
    module = model.get_submodule(name)
    for local in reversed(inner):
        local_name = {nid: n for n, nid in getattr(module, "module_nodes", {}).items()}.get(local)
        if local_name is None:
            return None
        name = f"{name}.{local_name}"
        module = module.get_submodule(local_name)
    return name
