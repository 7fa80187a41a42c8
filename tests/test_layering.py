"""The model knows no screen: graph/ imports neither Qt nor torch; backend/ no Qt.

Checked twice: statically over every import statement, and dynamically by importing
each package in a fresh interpreter and looking at sys.modules. Every import names the
installed package (``layerloom.graph``), never a checkout folder (``graph``): both
would load, and the registry would then exist twice.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("graph", "backend", "gui", "resources")
QT = {"PySide6", "pyqtgraph", "shiboken6", "PyQt5", "PyQt6", "PySide2"}
OWN = {f"layerloom.{name}" for name in FOLDERS}
FORBIDDEN = {
    "graph": QT | {"torch", "layerloom.gui", "layerloom.backend"},
    "backend": QT | {"layerloom.gui"},
}


def _imports(path: Path):
    """``(line, module)`` for every absolute import, as far as the package that
    decides a layer: ``torch``, ``layerloom.backend``, ..."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            yield node.lineno, ".".join(parts[:2]) if parts[0] == "layerloom" else parts[0]


def _python_files():
    for folder in (*FOLDERS, "tests", "benchmarks"):
        yield from (ROOT / folder).rglob("*.py")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_forbidden_import_statements(package):
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in (ROOT / package).rglob("*.py")
        for line, name in _imports(path)
        if name in FORBIDDEN[package]
    ]
    assert not bad, "\n".join(bad)


def test_every_import_names_the_layerloom_package():
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {name}; write layerloom.{name}"
        for path in _python_files()
        for line, name in _imports(path)
        if name in FOLDERS
    ]
    assert not bad, "\n".join(bad)
    assert all(name.startswith("layerloom.") for name in OWN)


@pytest.mark.parametrize("package,banned", [("graph", ["torch", "PySide6", "pyqtgraph"]), ("backend", ["PySide6", "pyqtgraph"])])
def test_importing_does_not_load_forbidden_modules(package, banned):
    code = (
        "import sys, importlib, pkgutil\n"
        f"import layerloom.{package} as package\n"
        f"for m in pkgutil.walk_packages(package.__path__, 'layerloom.{package}.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(','.join(b for b in {banned!r} if b in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""
