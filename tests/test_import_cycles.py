"""No import cycles between LayerLoom's modules.

Two modules that import each other only work in one import order, and an import
moved into a function to make them load hides the cycle without removing it. So
the import graph is built from the source with :mod:`ast`, counting every import
statement wherever it is: at the top, inside a function, under ``TYPE_CHECKING``.
``from layerloom.x import name`` points at the module ``layerloom.x.name`` when
there is one, else at ``layerloom.x``. The fix for a cycle is a third module: a
module that needs a name from its importer wants that name moved.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("graph", "backend", "gui", "resources")
PACKAGE = "layerloom"

# The data-file readers of backend/datasets/ and files.py, which registers them,
# import each other; that cycle is removed in its own change. Delete this entry
# (and nothing else) when it lands: the test then passes instead of failing as expected.


def module_files(root: Path, folders=FOLDERS, package: str = PACKAGE) -> dict[str, Path]:
    """Module name -> file, for every ``.py`` file under ``root/<folder>``
    (``graph/model.py`` is ``layerloom.graph.model``; a package is its ``__init__``)."""
    found = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            parts = [package, folder, *path.relative_to(root / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known) -> list[str]:
    """The modules one import statement names (before resolving to known ones)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the containing package, one level up per extra dot
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, base] if base else parts)
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]


def import_graph(modules: dict[str, Path]) -> nx.DiGraph:
    """An arc ``a -> b`` for every import of module ``b`` in module ``a``'s file,
    with the line numbers of those imports in ``lines``."""
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(node, module, path.name == "__init__.py", modules):
                while target and target not in modules:  # a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != module:
                    graph.add_edge(module, target)
                    graph.edges[module, target].setdefault("lines", []).append(node.lineno)
    return graph


def cycles(graph: nx.DiGraph) -> list[frozenset[str]]:
    """The groups of modules that import each other (strongly connected, > 1)."""
    return [frozenset(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]


def describe(graph: nx.DiGraph, group: frozenset[str], root: Path, modules: dict[str, Path]) -> str:
    """Every simple cycle in ``group``, each import with its file and line."""
    lines = [f"cycle among {', '.join(sorted(group))}:"]
    for cycle in sorted(nx.simple_cycles(graph.subgraph(group)), key=lambda c: (len(c), c)):
        steps = []
        for a, b in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
            where = f"{modules[a].relative_to(root)}:{graph.edges[a, b]['lines'][0]}"
            steps.append(f"{a} imports {b} ({where})")
        lines.append("  " + "; ".join(steps))
    return "\n".join(lines)


def test_no_import_cycles_between_modules():
    modules = module_files(ROOT)
    graph = import_graph(modules)
    found = cycles(graph)
    assert not found, "\n".join(describe(graph, c, ROOT, modules) for c in found)


def test_an_import_inside_a_function_still_makes_a_cycle(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text("def analysis():\n    from layerloom.pkg.inference import analyse\n")
    (pkg / "inference.py").write_text("from layerloom.pkg.model import Graph\n")
    (pkg / "typing_only.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import helper\n"
    )
    (pkg / "helper.py").write_text("from layerloom.pkg import typing_only\n")
    (pkg / "alone.py").write_text("import layerloom.pkg.model\n")
    modules = module_files(tmp_path, ("pkg",))
    graph = import_graph(modules)

    assert sorted(sorted(c) for c in cycles(graph)) == [
        ["layerloom.pkg.helper", "layerloom.pkg.typing_only"],
        ["layerloom.pkg.inference", "layerloom.pkg.model"],
    ]
    assert graph.has_edge("layerloom.pkg.alone", "layerloom.pkg.model")
    group = next(c for c in cycles(graph) if "layerloom.pkg.model" in c)
    assert "layerloom.pkg.model imports layerloom.pkg.inference (pkg/model.py:2)" in describe(
        graph, group, tmp_path, modules)
