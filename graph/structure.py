"""The document's structure: layer nodes, the wires between their ports, and the
indexes kept over them.

Every mutation checks its arguments and raises a named error quoting the values,
then tells its listeners with a plain-Python :class:`Event`. The GUI follows the
events; undo commands call these methods and nothing else.

:class:`GraphStructure` is everything a graph is without the rest of ``graph/``;
:class:`~layerloom.graph.model.Graph` adds shape inference and the file format's plain data,
which read a ``GraphStructure`` and so need nothing from the module that uses them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Self

import networkx as nx

from layerloom.graph.errors import ConnectionRefused, GraphError, GraphLintError
from layerloom.graph.node_fields import check_id, check_label, check_position
from layerloom.graph.node_training import check_training
from layerloom.graph.registry import BLOCK_TYPE, REGISTRY, LayerSpec


@dataclass
class Node:
    """A layer instance. ``params`` is always complete and canonical.

    A block node (type ``"block"``) gets its spec, and so its ports and params,
    from its graph's block ``library`` (see :mod:`layerloom.graph.blocks`).
    """

    id: str
    type: str
    params: dict[str, Any]
    position: tuple[float, float] = (0.0, 0.0)
    label: str = ""
    library: Any = field(default=None, repr=False, compare=False)
    # Per-node training settings that differ from the defaults (graph/node_training.py)
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> LayerSpec:
        if self.type == BLOCK_TYPE:
            return block_spec(self.library, self.params.get("block"))
        return REGISTRY.get(self.type)

    @property
    def is_block(self) -> bool:
        return self.type == BLOCK_TYPE

    @property
    def title(self) -> str:
        return self.label or self.id

    def input_ports(self) -> tuple[str, ...]:
        return self.spec.input_ports(self.params)

    def output_ports(self) -> tuple[str, ...]:
        return self.spec.output_ports(self.params)


@dataclass(frozen=True)
class Edge:
    """A wire from an output port to an input port."""

    source: str
    source_port: str
    target: str
    target_port: str

    def __str__(self) -> str:
        return f"{self.source}.{self.source_port} -> {self.target}.{self.target_port}"


@dataclass(frozen=True)
class Event:
    """What changed. ``kind`` is one of the ``EVENT_KINDS``."""

    kind: str
    node_id: str | None = None
    edge: Edge | None = None
    detail: dict[str, Any] = field(default_factory=dict)


EVENT_KINDS = (
    "node_added", "node_removed", "node_changed", "node_moved",
    "edge_added", "edge_removed", "settings_changed", "reset",
    "nodes_reordered", "block_added", "block_removed", "block_changed",
)

Listener = Callable[[Event], None]


class _Arcs(nx.DiGraph):
    """The connectivity of a graph as networkx keeps it, minus networkx's habit of
    caching the degree and edge views on the graph itself: a view holds its graph,
    so the cache made every graph a reference cycle that only Python's cycle
    collector could free. Made afresh on each use, a graph goes with its last
    reference (and a big one does not wait for a slow full collection)."""

    in_degree = property(nx.reportviews.InDegreeView)
    out_degree = property(nx.reportviews.OutDegreeView)
    degree = property(nx.reportviews.DiDegreeView)
    edges = out_edges = property(nx.reportviews.OutEdgeView)
    in_edges = property(nx.reportviews.InEdgeView)


class GraphStructure:
    """Nodes, edges, document metadata, and settings for dataset and training.

    ``meta``, ``dataset`` and ``training`` are plain JSON-like dicts kept with the
    document (title and description; what later parts of LayerLoom train on).

    Besides the node table and the edge list it keeps two indexes that answer the
    frequent questions fast: the wire into each input port, and the connectivity
    as a ``networkx`` graph (cycles, topological order). Every mutation updates
    all four together; :meth:`lint` checks that they agree.
    """

    def __init__(self, library: Any = None) -> None:
        self.blocks = library  # the block definitions block nodes refer to, or None
        self._nodes: dict[str, Node] = {}
        self._edges: list[Edge] = []
        self._incoming: dict[tuple[str, str], Edge] = {}
        self._nx = _Arcs()
        self.meta: dict[str, Any] = {}
        self.dataset: dict[str, Any] = {}
        self.training: dict[str, Any] = {}
        self._listeners: list[Listener] = []
        self.revision = 0  # bumps on every change; caches key on it
        self._topo: list[str] | None = None  # topological_order, until the next change
        # per id base ("dense"), a number below which every ``base_i`` is taken:
        # new_id starts there, so building n nodes costs O(n), not O(n^2)
        self._id_floor: dict[str, int] = {}

    # ------------------------------------------------------------------ events
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, event: Event) -> None:
        self.revision += 1
        self._topo = None
        for listener in list(self._listeners):
            listener(event)

    # ----------------------------------------------------------------- queries
    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    @property
    def edges(self) -> list[Edge]:
        return list(self._edges)

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise GraphError(f"no node {node_id!r} in the graph") from None

    def has_node(self, node_id: str) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def incoming(self, node_id: str) -> dict[str, Edge]:
        """Wires into ``node_id`` by target port."""
        node = self.node(node_id)
        return {
            port: self._incoming[(node_id, port)]
            for port in node.input_ports()
            if (node_id, port) in self._incoming
        }

    def outgoing(self, node_id: str) -> list[Edge]:
        return [e for e in self._edges if e.source == node_id]

    def edges_of(self, node_id: str) -> list[Edge]:
        return [e for e in self._edges if node_id in (e.source, e.target)]

    def nx_graph(self) -> nx.DiGraph:
        """A read-only view of the node connectivity (one arc per wired pair)."""
        return self._nx.copy(as_view=True)

    def topological_order(self) -> list[str]:
        """Node ids, inputs first; ties broken by insertion order (stable)."""
        if self._topo is None:  # every change emits an event, which forgets it
            index = {nid: i for i, nid in enumerate(self._nodes)}
            self._topo = list(nx.lexicographical_topological_sort(self._nx, key=index.__getitem__))
        return list(self._topo)

    def inputs(self) -> list[Node]:
        return [n for n in self._nodes.values() if n.spec.is_input]

    def outputs(self) -> list[Node]:
        return [n for n in self._nodes.values() if n.spec.is_output]

    def new_id(self, type_id: str) -> str:
        """A fresh readable id: ``dense_1``, ``dense_2``, ..."""
        base = type_id if type_id == BLOCK_TYPE else REGISTRY.resolve(type_id)
        i = self._id_floor.get(base, 1)
        while f"{base}_{i}" in self._nodes:
            i += 1
        self._id_floor[base] = i
        return f"{base}_{i}"

    # --------------------------------------------------------------- mutations
    def add_node(
        self,
        type_id: str,
        params: dict[str, Any] | None = None,
        position: Iterable[float] = (0.0, 0.0),
        label: str = "",
        node_id: str | None = None,
        index: int | None = None,
        training: dict[str, Any] | None = None,
    ) -> Node:
        """Add a layer; unknown types and bad params raise before anything changes.

        ``index`` puts the node at that place in the node order (undo of a delete
        uses it: the order of a model's inputs and outputs follows node order).
        ``training`` holds its per-node training settings (trainable, init).
        """
        if type_id == BLOCK_TYPE:
            spec = block_spec(self.blocks, (params or {}).get("block"))
        else:
            spec = REGISTRY.get(type_id)
        values = spec.check_params(params)
        extra = check_training(spec, training)
        node_id = node_id or self.new_id(spec.type_id)
        check_id(node_id)
        if node_id in self._nodes:
            raise GraphError(f"a node with id {node_id!r} already exists")
        node = Node(node_id, spec.type_id, values, check_position(position), check_label(label),
                    self.blocks, extra)
        self._check_add(node)
        if index is None or index >= len(self._nodes):
            self._nodes[node_id] = node
        else:
            items = list(self._nodes.items())
            items.insert(max(index, 0), (node_id, node))
            self._nodes = dict(items)
        self._nx.add_node(node_id)
        self._emit(Event("node_added", node_id))
        return node

    def remove_node(self, node_id: str) -> tuple[Node, list[Edge]]:
        """Remove a node with its wires; returns both (what undo needs)."""
        node = self.node(node_id)
        self._check_remove(node)
        edges = self.edges_of(node_id)
        for edge in edges:
            self.remove_edge(edge)
        del self._nodes[node_id]
        self._id_floor.clear()  # its id is free again
        self._nx.remove_node(node_id)
        self._emit(Event("node_removed", node_id, detail={"node": node}))
        return node, edges

    def set_param(self, node_id: str, name: str, value: Any) -> Any:
        """Set one parameter; returns the old value. Refuses values the schema does not
        allow, and a change that would remove a port that still has a wire."""
        return self.set_params(node_id, {name: value})[name]

    def check_params(self, node_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """The node's full params with ``values`` applied, checked against the schema;
        refuses a change that would remove an input port that still has a wire."""
        node = self.node(node_id)
        spec = node.spec
        new = dict(node.params)
        for name, value in values.items():
            new[name] = spec.param(name).coerce(value)
        lost = set(node.input_ports()) - set(spec.input_ports(new))
        wired = sorted(p for p in lost if (node_id, p) in self._incoming)
        if wired:
            raise GraphError(
                f"{node.title}: ports {', '.join(wired)} still have wires; disconnect them first"
            )
        return new

    def set_params(self, node_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Set several parameters at once; returns their old values."""
        new = self.check_params(node_id, values)
        node = self.node(node_id)
        old = {name: node.params[name] for name in values}
        if all(new[n] == node.params[n] for n in values):
            return old
        node.params = new
        self._emit(Event("node_changed", node_id, detail={"params": list(values)}))
        return old

    def set_label(self, node_id: str, label: str) -> str:
        node = self.node(node_id)
        self._check_label(node, check_label(label))
        old, node.label = node.label, check_label(label)
        if old != node.label:
            self._emit(Event("node_changed", node_id, detail={"label": True}))
        return old

    def set_training(self, node_id: str, values: dict[str, Any], replace: bool = False) -> dict[str, Any]:
        """Set per-node training settings (``trainable``, ``init``, ``init_std``: see
        :mod:`layerloom.graph.node_training`), over the node's others or, with
        ``replace``, instead of them (undo); returns the old ones, whole. Refuses
        unknown keys, wrong values and settings the node does not take."""
        node = self.node(node_id)
        new = check_training(node.spec, values if replace else {**node.training, **values})
        old = dict(node.training)
        if new != old:
            node.training = new
            self._emit(Event("node_changed", node_id, detail={"training": True}))
        return old

    def move_node(self, node_id: str, position: Iterable[float]) -> tuple[float, float]:
        node = self.node(node_id)
        old, node.position = node.position, check_position(position)
        if old != node.position:
            self._emit(Event("node_moved", node_id))
        return old

    def set_node_order(self, order: list[str]) -> list[str]:
        """Put the nodes in ``order`` (every node id once); returns the old order.

        Node order is the order of a graph's (and a block's) inputs and outputs.
        """
        if sorted(order) != sorted(self._nodes) or len(set(order)) != len(order):
            raise GraphError(f"a new node order must name every node once, got {list(order)!r}")
        old = list(self._nodes)
        if old != list(order):
            self._nodes = {nid: self._nodes[nid] for nid in order}
            self._emit(Event("nodes_reordered", detail={"old": old}))
        return old

    # Hooks a block's inside uses to refuse edits that would break its instances.
    def _check_add(self, node: Node) -> None:
        pass

    def _check_remove(self, node: Node) -> None:
        pass

    def _check_label(self, node: Node, label: str) -> None:
        pass

    def move_nodes(self, positions: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        """Move several nodes; returns their old positions."""
        return {nid: self.move_node(nid, pos) for nid, pos in positions.items()}

    def check_connect(self, source: str, source_port: str, target: str, target_port: str) -> Edge:
        """The edge that :meth:`connect` would add, or :class:`ConnectionRefused`
        saying why not. Shape compatibility is not checked here (a wire with the
        wrong shape is allowed and shown as an error on its node)."""
        src, dst = self.node(source), self.node(target)
        if source_port not in src.output_ports():
            outs = ", ".join(src.output_ports()) or "none"
            raise ConnectionRefused(f"{src.title} has no output port {source_port!r} (outputs: {outs})")
        if target_port not in dst.input_ports():
            ins = ", ".join(dst.input_ports()) or "none"
            raise ConnectionRefused(f"{dst.title} has no input port {target_port!r} (inputs: {ins})")
        if source == target:
            raise ConnectionRefused(f"{src.title} cannot feed itself")
        existing = self._incoming.get((target, target_port))
        if existing is not None:
            raise ConnectionRefused(
                f"{dst.title}.{target_port} already has a wire from {existing.source}; "
                "remove it first (each input takes one wire)"
            )
        if nx.has_path(self._nx, target, source):
            raise ConnectionRefused(
                f"wiring {src.title} -> {dst.title} would make a cycle "
                f"({dst.title} already feeds {src.title})"
            )
        return Edge(source, source_port, target, target_port)

    def connect(self, source: str, source_port: str, target: str, target_port: str) -> Edge:
        edge = self.check_connect(source, source_port, target, target_port)
        return self.add_edge(edge)

    def add_edge(self, edge: Edge, index: int | None = None) -> Edge:
        """Add a checked wire; ``index`` restores a removed edge in its old place."""
        self.check_connect(edge.source, edge.source_port, edge.target, edge.target_port)
        if index is None:
            self._edges.append(edge)
        else:
            self._edges.insert(index, edge)
        self._incoming[(edge.target, edge.target_port)] = edge
        self._nx.add_edge(edge.source, edge.target)
        self._emit(Event("edge_added", edge=edge))
        return edge

    def remove_edge(self, edge: Edge) -> int:
        """Remove a wire; returns its index (for undo)."""
        try:
            index = self._edges.index(edge)
        except ValueError:
            raise GraphError(f"no wire {edge} in the graph") from None
        del self._edges[index]
        del self._incoming[(edge.target, edge.target_port)]
        if not any(e.source == edge.source and e.target == edge.target for e in self._edges):
            self._nx.remove_edge(edge.source, edge.target)
        self._emit(Event("edge_removed", edge=edge, detail={"index": index}))
        return index

    def set_settings(self, section: str, values: dict[str, Any]) -> dict[str, Any]:
        """Replace one of ``meta``, ``dataset``, ``training``; returns the old dict."""
        if section not in ("meta", "dataset", "training"):
            raise GraphError(f"unknown settings section {section!r}")
        old = getattr(self, section)
        setattr(self, section, copy.deepcopy(dict(values)))
        self._emit(Event("settings_changed", detail={"section": section}))
        return old

    def clear(self) -> None:
        self._nodes.clear()
        self._id_floor.clear()
        self._edges.clear()
        self._incoming.clear()
        self._nx.clear()
        self.meta, self.dataset, self.training = {}, {}, {}
        self._emit(Event("reset"))

    def replace_with(self, other: GraphStructure, take: bool = False) -> None:
        """Take over ``other``'s content (open a file into a live document).

        With ``take`` the caller throws ``other`` away afterwards (a graph just read
        from a file): its nodes and indexes are taken as they are instead of copied,
        which saves a second or so on a 20,000-node graph.
        """
        self._take_blocks(other)
        if take:
            for node in other._nodes.values():
                node.library = self.blocks
            self._nodes = dict(other._nodes)
            self._nx = other._nx
        else:
            self._nodes = {nid: _copy_node(n, self.blocks) for nid, n in other._nodes.items()}
            self._nx = other._nx.copy()
        self._id_floor.clear()
        self._edges = list(other._edges)
        self._incoming = dict(other._incoming)
        if take:  # ``other`` is left empty, not sharing anything
            other._nodes, other._edges, other._incoming, other._nx = {}, [], {}, _Arcs()
            other._topo = None
        self.meta = copy.deepcopy(other.meta)
        self.dataset = copy.deepcopy(other.dataset)
        self.training = copy.deepcopy(other.training)
        self._emit(Event("reset"))

    def _take_blocks(self, other: GraphStructure) -> None:
        """Take over ``other``'s block definitions (a graph with blocks overrides it)."""
        if other.blocks is not None and len(other.blocks):
            raise GraphError("this graph cannot hold block definitions")

    def copy(self) -> Self:
        """An independent snapshot without listeners (a training run's graph)."""
        g = type(self)()
        g.replace_with(self)
        g.revision = 0
        return g

    # -------------------------------------------------------------------- lint
    def lint(self) -> None:
        """Check that the graph's tables and indexes agree, like torch.fx's
        ``Graph.lint()``; raises :class:`~layerloom.graph.errors.GraphLintError` naming every
        disagreement.

        A disagreement is a bug in the code that changed the graph (a mutation
        that updated one index and not another), never a problem of the user's
        graph. Tests call this after every edit, undo and redo.
        """
        problems = self.lint_problems()
        if problems:
            raise GraphLintError(problems)

    def lint_problems(self) -> list[str]:
        """What :meth:`lint` finds, one sentence per disagreement (empty: none)."""
        problems = []
        sound = set()  # nodes whose ports can be asked for
        for key, node in self._nodes.items():
            found = _node_problems(key, node)
            problems += found
            if not found:
                sound.add(key)
        by_port: dict[tuple[str, str], Edge] = {}  # the wire into each port, by the edge list
        seen: set[Edge] = set()
        for edge in self._edges:
            if edge in seen:
                problems.append(f"edge list: {edge} is listed twice")
            seen.add(edge)
            problems += self._edge_problems(edge, sound)
            port = (edge.target, edge.target_port)
            if port in by_port and by_port[port] != edge:
                problems.append(f"edge list: {by_port[port]} and {edge} both feed {edge.target}.{edge.target_port}")
            by_port.setdefault(port, edge)
        return problems + self._port_index_problems(by_port) + self._connectivity_problems()

    def _port_index_problems(self, by_port: dict[tuple[str, str], Edge]) -> list[str]:
        problems = []
        for port, edge in self._incoming.items():
            listed = by_port.get(port)
            if listed != edge:
                problems.append(
                    f"input-port index: {port[0]}.{port[1]} maps to {edge}, but the edge list has "
                    + (f"{listed} there" if listed else "no wire into that port")
                )
        for port, edge in by_port.items():
            if port not in self._incoming:
                problems.append(f"input-port index: {edge} is in the edge list but not in the index")
        return problems

    def _connectivity_problems(self) -> list[str]:
        problems = []
        nx_nodes, node_ids = set(self._nx.nodes), set(self._nodes)
        for nid in sorted(node_ids - nx_nodes):
            problems.append(f"connectivity graph: node {nid!r} is missing")
        for nid in sorted(nx_nodes - node_ids):
            problems.append(f"connectivity graph: node {nid!r} is not in the node table")
        arcs, wired = set(self._nx.edges), {(e.source, e.target) for e in self._edges}
        for source, target in sorted(wired - arcs):
            problems.append(f"connectivity graph: no arc {source} -> {target} for the wires between them")
        for source, target in sorted(arcs - wired):
            problems.append(f"connectivity graph: arc {source} -> {target} has no wire behind it")
        if not nx.is_directed_acyclic_graph(self._nx):
            cycle = " -> ".join(source for source, _ in nx.find_cycle(self._nx))
            problems.append(f"connectivity graph: the wires make a cycle through {cycle}")
        return problems

    def _edge_problems(self, edge: Edge, sound: set[str]) -> list[str]:
        missing = [nid for nid in (edge.source, edge.target) if nid not in self._nodes]
        if missing:
            return [f"edge list: {edge} refers to missing node(s) {', '.join(map(repr, missing))}"]
        if not {edge.source, edge.target} <= sound:
            return []  # a node already reported: its ports are unknown
        problems = []
        source, target = self._nodes[edge.source], self._nodes[edge.target]
        if edge.source_port not in source.output_ports():
            problems.append(f"edge list: {edge} leaves from {edge.source_port!r}, which is not an output of "
                            f"{source.title} (outputs: {', '.join(source.output_ports()) or 'none'})")
        if edge.target_port not in target.input_ports():
            problems.append(f"edge list: {edge} enters {edge.target_port!r}, which is not an input of "
                            f"{target.title} (inputs: {', '.join(target.input_ports()) or 'none'})")
        return problems


def _node_problems(key: str, node: Node) -> list[str]:
    """A node table entry that disagrees with itself or with the registry."""
    if key != node.id:
        return [f"node table: key {key!r} holds node {node.id!r}"]
    if node.type == BLOCK_TYPE:
        try:
            block_spec(node.library, node.params.get("block"))
        except GraphError as exc:
            return [f"node table: {node.id} is a block node without a definition: {exc}"]
    elif node.type not in REGISTRY or REGISTRY.resolve(node.type) != node.type:
        return [f"node table: {node.id} has type {node.type!r}, which is not a current layer id"]
    names = [p.name for p in node.spec.params]
    if sorted(node.params) != sorted(names):
        return [f"node table: {node.id} has params {sorted(node.params)}; a {node.spec.name} has {sorted(names)}"]
    return []


def block_spec(library: Any, name: Any) -> LayerSpec:
    """The spec of a block node whose ``block`` param is ``name``."""
    if library is None:
        raise GraphError("this graph holds no block definitions, so it cannot hold a block node")
    return library.spec(name)


def _copy_node(node: Node, library: Any) -> Node:
    return Node(node.id, node.type, copy.deepcopy(node.params), node.position, node.label, library,
                dict(node.training))
