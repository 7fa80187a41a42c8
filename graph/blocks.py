"""Block definitions: graphs of their own, stored once per document.

A :class:`BlockDefinition` is a graph (its ``body``) whose Input nodes are the
block's input ports and whose Output nodes are its output ports, named by their
labels (the id when a node has none) and ordered by node order, plus the inner
parameters it exposes as block parameters. A block node (type ``"block"``) is an
instance of a definition: its :class:`~layerloom.graph.registry.LayerSpec` is made
here from the definition, so its ports, its parameter form, its shape rule and
its counts reach inference, the file loader and the canvas on the one path every
layer uses.

An instance's shapes come from analysing a concrete copy of the body (an
*instance graph*: the body with the instance's exposed values and its inputs'
shapes written in). Compile and export build from the same instance graphs, so a
block is a nested graph everywhere, never a second code path.

Edits inside a definition are ordinary :class:`~layerloom.graph.model.Graph` edits
on ``definition.body``; they apply to every instance. The library turns them into
events on every graph of the document, refuses the edits that would break an
instance (removing a port that is wired, an exposed node, containing itself) and
keeps the wires on renamed ports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import weakref
from collections.abc import Iterator
from typing import Any

from layerloom.graph.errors import GraphError, ShapeError
from layerloom.graph.inference import Analysis, analyse
from layerloom.graph.params import Param
from layerloom.graph.registry import BLOCK_TYPE, LayerSpec
from layerloom.graph.structure import Edge, Event, GraphStructure, Node
from layerloom.graph.tensor import TensorSpec, fmt_shape

# Annotations name GraphStructure: the Graph class itself (graph/model.py) holds a
# BlockLibrary and hands it its own type (``graph_type``), so this module does not
# import it.
Graph = GraphStructure

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_REPEAT = 1000
MAX_EXPANDED_NODES = 100_000  # nodes a block may expand to, repeats and nesting included
FIXED_PARAMS = ("block", "repeat", "shares_weights_with")
PORT_KINDS = ("in", "out")


def check_block_name(name: Any, what: str = "block name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise GraphError(
            f"{what} {name!r} is not valid: use letters, digits and _ (up to 64, not starting with a digit)"
        )
    return name


def port_name(node: Node) -> str:
    """The port an Input or Output node of a body makes: its label, else its id."""
    return node.label or node.id


@dataclasses.dataclass
class Instance:
    """One analysed instance: the concrete graph, its analysis and expanded size."""

    graph: Graph
    analysis: Analysis
    size: int  # nodes it expands to (one copy; nested blocks and their repeats included)


class BlockDefinition:
    """A block: its inside (``body``) and the inner params it exposes.

    ``exposed`` maps a block parameter name to ``(inner node id, inner param)``.
    """

    def __init__(self, name: str, body: Graph, exposed: dict[str, tuple[str, str]] | None = None):
        self.name = name
        self.body = body
        self.exposed: dict[str, tuple[str, str]] = dict(exposed or {})

    def port_nodes(self, kind: str) -> list[Node]:
        """The Input (``"in"``) or Output (``"out"``) nodes of the body, in port order."""
        if kind not in PORT_KINDS:
            raise GraphError(f"port kind must be 'in' or 'out', got {kind!r}")
        want = "input" if kind == "in" else "output"
        return [n for n in self.body.nodes if n.type == want]

    def input_ports(self) -> tuple[str, ...]:
        return tuple(port_name(n) for n in self.port_nodes("in"))

    def output_ports(self) -> tuple[str, ...]:
        return tuple(port_name(n) for n in self.port_nodes("out"))

    def uses(self) -> set[str]:
        """Names of the definitions this body's block nodes are instances of."""
        return {n.params["block"] for n in self.body.nodes if n.is_block}

    def __repr__(self) -> str:
        return f"BlockDefinition({self.name!r}, {len(self.body)} nodes, exposed={self.exposed!r})"


class BlockLibrary:
    """The block definitions of one document, in order, and the specs made from them.

    Every mutation checks its arguments, raises :class:`GraphError` quoting them,
    returns what its undo needs, and emits events (``block_added``,
    ``block_removed``, ``block_changed`` on the document; ``node_changed`` on each
    instance whose ports or params changed).
    """

    def __init__(self, graph_type: type) -> None:
        self.graph_type = graph_type
        self._root: weakref.ref[Graph] | None = None  # weak: the document owns its library
        self._defs: dict[str, BlockDefinition] = {}
        self._specs: dict[str, LayerSpec] = {}
        self._instances: dict[tuple, Instance] = {}
        self._ports: dict[str, dict[str, str]] = {}  # name -> {port node id: port name}
        self.revision = 0
        self._quiet = 0

    @property
    def root(self) -> Graph | None:
        """The document graph these definitions belong to (``None`` once it is gone)."""
        return self._root() if self._root is not None else None

    @root.setter
    def root(self, graph: Graph | None) -> None:
        self._root = weakref.ref(graph) if graph is not None else None

    # ----------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self._defs)

    def __iter__(self) -> Iterator[BlockDefinition]:
        return iter(list(self._defs.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._defs

    def names(self) -> list[str]:
        return list(self._defs)

    def get(self, name: Any) -> BlockDefinition:
        if not isinstance(name, str) or name not in self._defs:
            known = ", ".join(self._defs) or "none"
            raise GraphError(f"no block definition {name!r} (definitions: {known})")
        return self._defs[name]

    __getitem__ = get

    def graphs(self) -> list[Graph]:
        """The document and every definition's body."""
        return ([self.root] if self.root is not None else []) + [d.body for d in self._defs.values()]

    def instances(self, name: str) -> list[tuple[Graph, Node]]:
        """Every block node of definition ``name``, with the graph that holds it."""
        return [(g, n) for g in self.graphs() for n in g.nodes if n.is_block and n.params["block"] == name]

    def reaches(self, start: str, target: str) -> bool:
        """Whether definition ``start`` is ``target`` or contains it, at any depth."""
        seen, todo = set(), [start]
        while todo:
            name = todo.pop()
            if name == target:
                return True
            if name in seen or name not in self._defs:
                continue
            seen.add(name)
            todo += self._defs[name].uses()
        return False

    def spec(self, name: Any) -> LayerSpec:
        """The layer spec of an instance of ``name`` (made once per change)."""
        if not isinstance(name, str) or name not in self._specs:
            self._specs[name] = self._make_spec(self.get(name))
        return self._specs[name]

    # --------------------------------------------------------------- mutations
    def add(self, name: str, index: int | None = None) -> BlockDefinition:
        """A new, empty definition called ``name``."""
        check_block_name(name)
        if name in self._defs:
            raise GraphError(f"a block definition {name!r} already exists")
        return self.insert(BlockDefinition(name, self._new_body(name)), index)

    def insert(self, definition: BlockDefinition, index: int | None = None) -> BlockDefinition:
        """Put ``definition`` (one :meth:`remove` returned) back at ``index``."""
        check_block_name(definition.name)
        if definition.name in self._defs:
            raise GraphError(f"a block definition {definition.name!r} already exists")
        items = list(self._defs.items())
        items.insert(len(items) if index is None else index, (definition.name, definition))
        self._defs = dict(items)
        definition.body.blocks, definition.body.block_name = self, definition.name
        for node in definition.body.nodes:
            node.library = self
        self._ports[definition.name] = self._port_names(definition)
        self._changed(Event("block_added", detail={"block": definition.name}))
        return definition

    def remove(self, name: str) -> tuple[BlockDefinition, int]:
        """Remove an unused definition; returns it and its index (for undo)."""
        definition = self.get(name)
        users = [f"{g.block_name or 'the graph'}: {n.id}" for g, n in self.instances(name)]
        if users:
            raise GraphError(f"block {name!r} is still used by {', '.join(users)}; delete or ungroup them first")
        index = list(self._defs).index(name)
        del self._defs[name]
        self._ports.pop(name, None)
        self._changed(Event("block_removed", detail={"block": name, "index": index}))
        return definition, index

    def rename(self, name: str, new: str) -> str:
        """Rename a definition and point its instances at the new name; returns ``name``."""
        definition = self.get(name)
        check_block_name(new)
        if new == name:
            return name
        if new in self._defs:
            raise GraphError(f"a block definition {new!r} already exists")
        moved = self.instances(name)
        self._defs = {(new if k == name else k): d for k, d in self._defs.items()}
        definition.name = definition.body.block_name = new
        self._ports[new] = self._ports.pop(name)
        self._specs.clear()
        for _, node in moved:
            node.params = {**node.params, "block": new}
        self._changed(Event("block_changed", detail={"block": new, "renamed_from": name}), moved)
        return name

    def expose(self, name: str, param: str, node_id: str, inner: str,
               values: dict[tuple[str | None, str], Any] | None = None) -> None:
        """Make ``node_id``'s ``inner`` param a block parameter called ``param``.

        Every instance gets the inner node's current value, or its value in
        ``values`` (keyed by ``(graph's block name or None, node id)``, what
        :meth:`unexpose` returned).
        """
        definition = self.get(name)
        check_block_name(param, "parameter name")
        if param in FIXED_PARAMS or param in definition.exposed:
            raise GraphError(f"block {name!r} already has a parameter {param!r}; choose another name")
        node = definition.body.node(node_id)
        node.spec.param(inner)  # a ParamError naming the node's params
        if (node_id, inner) in definition.exposed.values():
            raise GraphError(f"{node.title}.{inner} is already exposed in block {name!r}")
        if node.spec.is_input and inner in ("shape", "dtype"):
            raise GraphError(f"an Input's {inner} comes from what the block receives; it cannot be exposed")
        definition.exposed[param] = (node_id, inner)
        self._specs.pop(name, None)
        spec = self.spec(name)
        touched = self.instances(name)
        for g, inst in touched:
            value = (values or {}).get((g.block_name, inst.id), node.params[inner])
            inst.params = {**inst.params, param: spec.param(param).coerce(value)}
        self._changed(Event("block_changed", detail={"block": name, "exposed": param}), touched)

    def unexpose(self, name: str, param: str) -> dict[tuple[str | None, str], Any]:
        """Stop exposing ``param``; returns each instance's value (for :meth:`expose`)."""
        definition = self.get(name)
        if param not in definition.exposed:
            raise GraphError(f"block {name!r} has no exposed parameter {param!r} "
                             f"(it has: {', '.join(definition.exposed) or 'none'})")
        del definition.exposed[param]
        self._specs.pop(name, None)
        touched = self.instances(name)
        old = {}
        for g, inst in touched:
            old[(g.block_name, inst.id)] = inst.params[param]
            inst.params = {k: v for k, v in inst.params.items() if k != param}
        self._changed(Event("block_changed", detail={"block": name, "unexposed": param}), touched)
        return old

    def reorder_ports(self, name: str, kind: str, order: list[str]) -> list[str]:
        """Put the ``kind`` ports of ``name`` in ``order`` (port names); returns the old order."""
        definition = self.get(name)
        nodes = definition.port_nodes(kind)
        by_name = {port_name(n): n.id for n in nodes}
        if sorted(order) != sorted(by_name):
            raise GraphError(f"block {name!r}: a new port order must name {sorted(by_name)} once each, "
                             f"got {list(order)!r}")
        old = [port_name(n) for n in nodes]
        slots = iter(by_name[p] for p in order)
        ids = {n.id for n in nodes}
        definition.body.set_node_order([next(slots) if nid in ids else nid for nid in
                                        (n.id for n in definition.body.nodes)])
        return old

    def rename_port(self, name: str, kind: str, old: str, new: str) -> str:
        """Rename a port (the label of its Input or Output node); wires keep their place.
        Returns the node's old label."""
        definition = self.get(name)
        for node in definition.port_nodes(kind):
            if port_name(node) == old:
                return definition.body.set_label(node.id, new)
        raise GraphError(f"block {name!r} has no {kind}put port {old!r} "
                         f"(it has: {', '.join(port_name(n) for n in definition.port_nodes(kind)) or 'none'})")

    # ------------------------------------------------- checks a body asks for
    def check_add(self, body: Graph, node: Node) -> None:
        if node.is_block and self.reaches(node.params["block"], body.block_name):
            raise GraphError(
                f"block {body.block_name!r} cannot contain block {node.params['block']!r}: "
                + ("a block cannot contain itself" if node.params["block"] == body.block_name
                   else f"{node.params['block']!r} already contains {body.block_name!r}")
            )
        self._check_port_name(body, node, port_name(node))

    def check_label(self, body: Graph, node: Node, label: str) -> None:
        self._check_port_name(body, node, label or node.id)

    def check_remove(self, body: Graph, node: Node) -> None:
        definition = self.get(body.block_name)
        exposed = [p for p, (nid, _) in definition.exposed.items() if nid == node.id]
        if exposed:
            raise GraphError(f"{node.title} is exposed as block parameter {', '.join(exposed)} of "
                             f"{definition.name!r}; unexpose it first")
        if node.type in ("input", "output"):
            port = port_name(node)
            wired = [f"{n.id}" for g, n in self.instances(definition.name)
                     for e in g.edges_of(n.id)
                     if (e.target == n.id and e.target_port == port and node.type == "input")
                     or (e.source == n.id and e.source_port == port and node.type == "output")]
            if wired:
                raise GraphError(f"port {port!r} of block {definition.name!r} is wired on "
                                 f"{', '.join(wired)}; disconnect it there first")

    def _check_port_name(self, body: Graph, node: Node, name: str) -> None:
        if node.type not in ("input", "output"):
            return
        taken = {port_name(n) for n in body.nodes if n.type == node.type and n.id != node.id}
        if name in taken:
            raise GraphError(f"block {body.block_name!r} already has an {node.type} port {name!r}; "
                             "port names must differ")

    # ------------------------------------------------------------------ events
    def body_changed(self, body: Graph, event: Event) -> None:
        """A definition's body changed: refresh specs and instances, tell every graph."""
        if self._quiet:
            return
        name = body.block_name
        definition = self._defs[name]
        old_ports = self._ports.get(name, {})
        new_ports = self._ports[name] = self._port_names(definition)
        self._specs.pop(name, None)
        touched = []
        if old_ports != new_ports:
            touched = self.instances(name)
            renamed = {nid: (old, new_ports[nid]) for nid, old in old_ports.items()
                       if nid in new_ports and new_ports[nid] != old}
            for g, inst in touched:
                self._rewire(g, inst, renamed, definition)
        self._changed(Event("block_changed", detail={"block": name, "event": event.kind}), touched,
                      skip=body, only=name)

    def _rewire(self, g: Graph, inst: Node, renamed: dict, definition: BlockDefinition) -> None:
        kinds = {n.id: n.type for n in definition.body.nodes}
        for nid, (old, new) in renamed.items():
            for edge in g.edges_of(inst.id):
                if kinds.get(nid) == "input" and edge.target == inst.id and edge.target_port == old:
                    fresh = Edge(edge.source, edge.source_port, edge.target, new)
                elif kinds.get(nid) == "output" and edge.source == inst.id and edge.source_port == old:
                    fresh = Edge(edge.source, new, edge.target, edge.target_port)
                else:
                    continue
                g.add_edge(fresh, g.remove_edge(edge))

    def _changed(self, event: Event, touched: list[tuple[Graph, Node]] = (), skip: Graph | None = None,
                 only: str | None = None) -> None:
        """Tell every graph; forget the analysed instances (with ``only``, the body of
        that definition changed: just the instances of the definitions that contain
        it, at any depth, are analysed again; the others stay valid)."""
        self.revision += 1
        if only is None:
            self._instances.clear()
            self._specs.clear()
        else:
            stale = {d for d in self._defs if self.reaches(d, only)}
            self._instances = {k: v for k, v in self._instances.items() if k[0] not in stale}
            for name in stale:
                self._specs.pop(name, None)
        if self._quiet:
            return
        for g in self.graphs():
            if g is not skip:
                g._emit(event)
        for g, inst in touched:
            if g.has_node(inst.id):
                g._emit(Event("node_changed", inst.id, detail={"block": True}))

    @staticmethod
    def _port_names(definition: BlockDefinition) -> dict[str, str]:
        return {n.id: port_name(n) for kind in PORT_KINDS for n in definition.port_nodes(kind)}

    @contextlib.contextmanager
    def quiet(self):
        """Build many definitions without events (loading a file); indexes are
        brought up to date at the end."""
        self._quiet += 1
        try:
            yield self
        finally:
            self._quiet -= 1
            self._ports = {n: self._port_names(d) for n, d in self._defs.items()}
            self.revision += 1
            self._instances.clear()
            self._specs.clear()

    def clear(self) -> None:
        """Forget every definition (the document is cleared; it emits ``reset``)."""
        with self.quiet():
            self._defs = {}

    def _new_body(self, name: str) -> Graph:
        return self.graph_type(library=self, block_name=name)

    def replace_with(self, other: BlockLibrary) -> None:
        """Take over copies of ``other``'s definitions (opening a file)."""
        with self.quiet():
            self._defs = {}
            for d in other:
                body = self._new_body(d.name)
                body.replace_with(d.body)
                body.revision = 0
                self._defs[d.name] = BlockDefinition(d.name, body, d.exposed)

    # -------------------------------------------------------------- inference
    def _make_spec(self, d: BlockDefinition) -> LayerSpec:
        params = [
            Param("block", "choice", d.name, "The block definition this node is an instance of",
                  choices=(d.name,), form=""),
            Param("repeat", "int", 1, "Copies chained output to input, each with its own weights",
                  minimum=1, maximum=MAX_REPEAT, key=True),
            Param("shares_weights_with", "text", "",
                  "Id of another instance of this block whose weights this one uses (empty: its own)",
                  form="more"),
        ]
        for pname, (nid, inner) in d.exposed.items():
            node = d.body.node(nid)
            params.append(dataclasses.replace(node.spec.param(inner), name=pname, label="",
                                              default=node.params[inner], key=True))
        ins, outs, name = d.input_ports(), d.output_ports(), d.name

        def rule(p, inputs):
            inst = self.instance(name, p, inputs)
            result = {port: inst.analysis.nodes[n.id].inputs["in"] for port, n in
                      zip(outs, d.port_nodes("out"), strict=True)}
            if p["repeat"] > 1:
                _check_chain(name, p["repeat"], inputs, result, ins, outs)
            return result

        def total(attr):
            return lambda p, inputs, o: p["repeat"] * getattr(self.instance(name, p, inputs).analysis, attr)

        return LayerSpec(
            BLOCK_TYPE, name, "Blocks", f"An instance of block {name!r}.", tuple(params), rule,
            inputs=lambda p: ins, outputs=lambda p: outs, param_count=total("total_params"),
            flops=total("total_flops"), memory=total("total_activation_bytes"),
            keywords=("block", "group", "subgraph"),
        )

    def instance(self, name: str, params: dict[str, Any], inputs: dict[str, TensorSpec]) -> Instance:
        """The analysed instance graph of ``name`` with ``params`` and ``inputs``;
        raises :class:`ShapeError` (marked ``inside``) when something inside fails."""
        key = (name, tuple((k, _hashable(v)) for k, v in sorted(params.items())), tuple(inputs.items()))
        if key not in self._instances:
            if len(self._instances) > 4096:
                self._instances.clear()
            self._instances[key] = self._analyse_instance(name, params, inputs)
        inst = self._instances[key]
        if isinstance(inst, ShapeError):
            raise inst
        return inst

    def instance_graph(self, name: str, params: dict[str, Any], inputs: dict[str, TensorSpec]) -> Graph:
        """A concrete copy of ``name``'s body for one instance: exposed values set,
        each Input node's shape and dtype those the instance receives."""
        d = self.get(name)
        g = self.graph_type(library=self)
        g.instance_of = name
        self._quiet += 1
        try:
            g.replace_with(d.body)
        finally:
            self._quiet -= 1
        g._topo = d.body.topological_order()  # the same nodes and wires: sorted once per body edit
        for pname, (nid, inner) in d.exposed.items():
            node = g.node(nid)
            node.params = {**node.params, inner: params[pname]}
        for port, node in zip(d.input_ports(), d.port_nodes("in"), strict=True):
            t = inputs[port]
            g.node(node.id).params = {**node.params, "shape": t.shape, "dtype": t.dtype}
        g._analysis = None
        return g

    def _analyse_instance(self, name: str, params: dict[str, Any], inputs: dict[str, TensorSpec]):
        g = self.instance_graph(name, params, inputs)
        analysis = analyse(g)
        for nid, msg in analysis.errors:
            if nid != "graph":  # a block may lack inputs (or outputs); its nodes may not fail
                return _inside(msg)
        size = sum(1 for n in g.nodes if not n.is_block)
        for n in g.nodes:
            if n.is_block:
                info = analysis.nodes[n.id]
                size += n.params["repeat"] * self.instance(n.params["block"], n.params, info.inputs).size
        if size > MAX_EXPANDED_NODES:
            return ShapeError(f"block {name!r} expands to {size:,} nodes; the limit is {MAX_EXPANDED_NODES:,}",
                              "use fewer repeats or a smaller block")
        return Instance(g, analysis, size)


def _hashable(value: Any) -> Any:
    return tuple(sorted(value.items())) if isinstance(value, dict) else value


def _inside(message: str) -> ShapeError:
    error = ShapeError(message)
    error.inside = True
    return error


def _check_chain(name, repeat, inputs, outputs, ins, outs) -> None:
    """A repeated block feeds its outputs to its inputs: they must match in number and spec."""
    got = [outputs[p] for p in outs]
    given = [inputs[p] for p in ins]
    if got != given:
        def show(specs):
            return ", ".join(f"{fmt_shape(t.shape)}{'' if t.dtype == 'float' else ' ' + t.dtype}"
                             for t in specs) or "nothing"
        raise ShapeError(
            f"repeat {repeat} chains each copy's outputs into the next copy's inputs, but block "
            f"{name!r} takes {show(given)} and gives {show(got)}",
            "set repeat to 1, or make the block keep its shape",
        )


__all__ = ["BLOCK_TYPE", "BlockDefinition", "BlockLibrary", "Instance", "check_block_name", "port_name"]
