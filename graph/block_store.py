"""Blocks kept outside a document: the built-in blocks and the user's block library.

Both are folders of ``.loom`` files read by the one file loader (so a block file is
checked by the same schemas as any graph): the built-ins ship in
``layerloom/resources/blocks``, the user's library is ``blocks/`` in the user's
data folder (:func:`user_blocks_dir`; ``$LAYERLOOM_BLOCKS_DIR`` overrides it). A
file holds one block: its definition (named by ``meta.block``) and the
definitions it contains. The GUI and ``layerloom blocks`` read the same folders
through this module.

Inserting a stored block into a document copies its definition, and the ones it
nests, into the document's :class:`~layerloom.graph.blocks.BlockLibrary` and adds
an instance node; :class:`InsertEdit` undoes it exactly. A file in the library
that cannot be read is skipped with a warning naming it and the problem.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerloom.graph.blocks import check_block_name
from layerloom.graph.errors import GraphError, GraphFileError
from layerloom.graph.fileformat import SUFFIX, load_graph, save_graph
from layerloom.graph.graph_data import nodes_to_data
from layerloom.graph.model import Graph
from layerloom.graph.registry import BLOCK_TYPE
from layerloom.graph.tensor import fmt_shape

if TYPE_CHECKING:
    from layerloom.graph.blocks import BlockDefinition

DIR_VARIABLE = "LAYERLOOM_BLOCKS_DIR"
BUILTIN = "built-in"
LIBRARY = "library"
MAX_LIBRARY_FILES = 1000


@dataclass
class StoredBlock:
    """One block file: where it comes from and the graph it was read into."""

    name: str
    source: str  # BUILTIN or LIBRARY
    path: Path
    graph: Graph
    description: str = ""

    @property
    def definition(self) -> BlockDefinition:
        return self.graph.blocks[self.name]

    def summary(self) -> dict[str, Any]:
        """Name, source, ports (with the shapes the block is shown with), exposed
        parameters with their defaults, parameter count and expanded size."""
        d = self.definition
        analysis = d.body.analysis()
        inputs = {port: _shape(n.params.get("shape")) for port, n in
                  zip(d.input_ports(), d.port_nodes("in"), strict=True)}
        outputs = {}
        for port, n in zip(d.output_ports(), d.port_nodes("out"), strict=True):
            info = analysis.nodes.get(n.id)
            spec = info.inputs.get("in") if info is not None else None
            outputs[port] = _shape(spec.shape) if spec is not None else "?"
        exposed = {p: d.body.node(nid).params[inner] for p, (nid, inner) in d.exposed.items()}
        nodes = sum(1 for n in d.body.nodes if n.type not in ("input", "output"))
        return {"name": self.name, "source": self.source, "inputs": inputs, "outputs": outputs,
                "exposed": exposed, "params": analysis.total_params if analysis.valid else None,
                "nodes": nodes, "description": self.description, "path": str(self.path)}


def _shape(shape: Any) -> str:
    return fmt_shape(tuple(shape)) if shape else "?"


# ------------------------------------------------------------------ folders
def user_blocks_dir(env: dict[str, str] | None = None) -> Path:
    """The user's block library: ``$LAYERLOOM_BLOCKS_DIR``, else ``blocks/`` in the
    user's data folder (``$XDG_DATA_HOME/layerloom``, ``~/.local/share/layerloom``;
    ``%APPDATA%\\LayerLoom`` on Windows; ``~/Library/Application Support/LayerLoom``
    on macOS). The app and the command line use the same folder."""
    env = os.environ if env is None else env
    if env.get(DIR_VARIABLE):
        return Path(env[DIR_VARIABLE]).expanduser()
    if sys.platform.startswith("win"):
        base = Path(env.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "LayerLoom"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "LayerLoom"
    else:
        base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "layerloom"
    return base / "blocks"


def builtin_blocks_dir() -> Path:
    from layerloom.resources import resource_path

    return resource_path("blocks")


# ------------------------------------------------------------------ reading
def read_block_file(path: Path, source: str) -> StoredBlock:
    """The block in ``path``; a :class:`GraphFileError` when it holds none."""
    graph = load_graph(path)
    if not len(graph.blocks):
        raise GraphFileError(path, "blocks", "holds no block definition")
    name = graph.meta.get("block")
    if name is None:
        used = set().union(*(d.uses() for d in graph.blocks))
        name = [d.name for d in graph.blocks if d.name not in used][-1]
    if not isinstance(name, str) or name not in graph.blocks:
        raise GraphFileError(path, "meta.block", f"names block {name!r}, which the file does not define "
                             f"(it defines: {', '.join(graph.blocks.names())})")
    description = graph.meta.get("description", "")
    return StoredBlock(name, source, path, graph, description if isinstance(description, str) else "")


def _read_folder(folder: Path, source: str) -> tuple[list[StoredBlock], list[str]]:
    blocks, warnings = [], []
    try:
        files = sorted(p for p in folder.iterdir() if p.name.endswith(SUFFIX) and not p.name.startswith("."))
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [f"cannot read the block library {folder}: {exc.strerror or exc}"]
    if len(files) > MAX_LIBRARY_FILES:
        warnings.append(f"{folder} holds {len(files):,} block files; only the first {MAX_LIBRARY_FILES:,} are read")
        files = files[:MAX_LIBRARY_FILES]
    for path in files:
        try:
            blocks.append(read_block_file(path, source))
        except GraphFileError as exc:
            warnings.append(f"skipped block file {path.name}: {exc}")
        except (GraphError, OSError, ValueError, RecursionError) as exc:
            warnings.append(f"skipped block file {path.name}: {exc}")
    return blocks, warnings


def builtin_blocks() -> list[StoredBlock]:
    """The blocks that ship with LayerLoom (a broken one is a bug: it raises)."""
    blocks, warnings = _read_folder(builtin_blocks_dir(), BUILTIN)
    if warnings:
        raise GraphError("; ".join(warnings))
    return blocks


def library_blocks(folder: Path | None = None) -> tuple[list[StoredBlock], list[str]]:
    """The user's blocks and a warning per file skipped."""
    return _read_folder(user_blocks_dir() if folder is None else Path(folder), LIBRARY)


def all_blocks(folder: Path | None = None) -> tuple[list[StoredBlock], list[str]]:
    """Built-in blocks, then the user's (a library block named like a built-in is
    skipped with a warning)."""
    builtins = builtin_blocks()
    names = {b.name for b in builtins}
    mine, warnings = library_blocks(folder)
    kept = []
    for b in mine:
        if b.name in names:
            warnings.append(f"skipped block file {b.path.name}: {b.name!r} is the name of a built-in block")
        else:
            kept.append(b)
    return builtins + kept, warnings


def find_block(name: str, folder: Path | None = None) -> StoredBlock:
    """The built-in or library block called ``name``."""
    blocks, _ = all_blocks(folder)
    for b in blocks:
        if b.name == name:
            return b
    known = ", ".join(b.name for b in blocks) or "none"
    raise GraphError(f"no built-in or library block is called {name!r} (blocks: {known})")


# ------------------------------------------------------------------ writing
def nested_names(graph: Graph, name: str) -> list[str]:
    """``name`` and every definition it contains, inner first."""
    order: list[str] = []

    def visit(n: str) -> None:
        if n in order:
            return
        for inner in sorted(graph.blocks[n].uses()):
            visit(inner)
        order.append(n)

    visit(name)
    return order


def block_file_graph(graph: Graph, name: str, description: str = "") -> Graph:
    """A graph holding only definition ``name`` of ``graph`` and those it nests."""
    graph.blocks.get(name)
    out = Graph()
    copy_definitions(graph, name, out)
    out.meta = {"block": name, **({"description": description} if description else {})}
    return out


def save_block(graph: Graph, name: str, folder: Path | None = None, replace: bool = False,
               description: str = "") -> Path:
    """Save definition ``name`` of ``graph`` (with those it nests) to the library
    as ``NAME.loom``; a block of that name already there is refused unless
    ``replace``; a built-in's name is refused."""
    check_block_name(name)
    definition = graph.blocks.get(name)
    if any(b.name == name for b in builtin_blocks()):
        raise GraphError(f"{name!r} is the name of a built-in block; rename the block before saving it")
    folder = user_blocks_dir() if folder is None else Path(folder)
    path = folder / f"{name}{SUFFIX}"
    if path.exists() and not replace:
        raise GraphError(f"the block library already has a block {name!r} ({path}); "
                         "ask to replace it, or rename the block")
    data = block_file_graph(graph, definition.name, description)
    folder.mkdir(parents=True, exist_ok=True)
    save_graph(data, path)
    return path


def delete_block(name: str, folder: Path | None = None) -> Path:
    """Remove ``NAME.loom`` from the library; returns its path."""
    check_block_name(name)
    folder = user_blocks_dir() if folder is None else Path(folder)
    path = folder / f"{name}{SUFFIX}"
    if not path.is_file():
        mine, _ = library_blocks(folder)
        hit = [b.path for b in mine if b.name == name]
        if not hit:
            builtin = any(b.name == name for b in builtin_blocks())
            raise GraphError(f"{name!r} is a built-in block; built-ins cannot be deleted" if builtin
                             else f"the block library ({folder}) has no block {name!r}")
        path = hit[0]
    path.unlink()
    return path


# ---------------------------------------------------------------- inserting
def _same(a: BlockDefinition, b: BlockDefinition, rename: dict[str, str]) -> bool:
    nodes_a, edges_a = nodes_to_data(a.body)
    nodes_b, edges_b = nodes_to_data(b.body)
    for n in nodes_a:
        if n["type"] == BLOCK_TYPE:
            n["params"]["block"] = rename.get(n["params"]["block"], n["params"]["block"])
    return a.exposed == b.exposed and nodes_a == nodes_b and edges_a == edges_b


def copy_definitions(source: Graph, name: str, target: Graph) -> tuple[dict[str, str], list[str]]:
    """Copy definition ``name`` of ``source`` and those it nests into ``target``.

    A definition the target already has with the same content is reused; one of
    the same name but other content is copied under a free name (``name_2``).
    Returns the names used (source name -> target name) and the names added.
    """
    rename: dict[str, str] = {}
    added: list[str] = []
    for inner in nested_names(source, name):
        d = source.blocks[inner]
        if inner in target.blocks and _same(d, target.blocks[inner], rename):
            rename[inner] = inner
            continue
        new, i = inner, 2
        while new in target.blocks:
            new, i = f"{inner[:58]}_{i}", i + 1
        body = target.blocks.add(new).body
        added.append(new)
        rename[inner] = new
        for n in d.body.nodes:
            params = dict(n.params)
            if n.is_block:
                params["block"] = rename[params["block"]]
            body.add_node(n.type, params, n.position, n.label, n.id, training=n.training)
        for e in d.body.edges:
            body.add_edge(e)
        for pname, (nid, param) in d.exposed.items():
            target.blocks.expose(new, pname, nid, param)
    return rename, added


@dataclass
class InsertEdit:
    """What inserting a stored block changed: definitions added and the node."""

    graph: Graph
    node_id: str
    block: str  # the definition's name in the graph
    added_definitions: list[str] = field(default_factory=list)

    def undo(self) -> None:
        self.graph.remove_node(self.node_id)
        for name in reversed(self.added_definitions):
            self.graph.blocks.remove(name)


def insert_block(graph: Graph, stored: StoredBlock, position=(0.0, 0.0), node_id: str | None = None,
                 label: str = "") -> InsertEdit:
    """Add an instance of ``stored`` to ``graph``, copying its definitions in."""
    if node_id is not None:
        if graph.has_node(node_id):
            raise GraphError(f"a node with id {node_id!r} already exists")
    rename, added = copy_definitions(stored.graph, stored.name, graph)
    block = rename[stored.name]
    try:
        node = graph.add_node(BLOCK_TYPE, {"block": block}, position, label,
                              node_id=node_id or _free_id(graph, block.lower()))
    except GraphError:
        for name in reversed(added):
            graph.blocks.remove(name)
        raise
    return InsertEdit(graph, node.id, block, added)


def _free_id(graph: Graph, base: str) -> str:
    i = 1
    while graph.has_node(f"{base}_{i}"):
        i += 1
    return f"{base}_{i}"


__all__ = [
    "BUILTIN", "DIR_VARIABLE", "LIBRARY", "InsertEdit", "StoredBlock", "all_blocks", "block_file_graph",
    "builtin_blocks", "copy_definitions", "delete_block", "find_block", "insert_block", "library_blocks",
    "read_block_file", "save_block", "user_blocks_dir",
]
