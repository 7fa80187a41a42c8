"""Collect the source a standalone file needs: LayerLoom's own module classes and
functions, what they use, and the imports that brings.

A model compiled from a graph uses torch modules and a few small LayerLoom classes
(a recurrent layer returning its last step, a positional encoding). The Python
export copies those classes' source, found with :func:`inspect.getsource`, into
the generated file; the module-level names a copied source uses are resolved in
its module and copied too (helper functions, constants, base classes), or turned
into imports when they are modules of torch or the standard library. Anything
else cannot stand alone and raises :class:`ExportError`.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import sys
import types
from dataclasses import dataclass, field

from layerloom.backend.export.common import ExportError

OWN_PACKAGES = ("layerloom.backend", "layerloom.graph")  # code that is copied, never imported
PLAIN = (bool, int, float, str, type(None))


@dataclass
class Bundle:
    """Sources to write in order (dependencies first) and the imports they need."""

    imports: set[str] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)
    names: dict[str, object] = field(default_factory=dict)  # defined name -> object
    _done: set[int] = field(default_factory=set)

    def name_of(self, obj: object) -> str:
        """Include ``obj`` (a class or function of LayerLoom) and return the name
        the generated file defines it under."""
        self.add(obj)
        return obj.__name__

    def add(self, obj: object) -> None:
        if id(obj) in self._done:
            return
        self._done.add(id(obj))
        name = obj.__name__
        if self.names.get(name, obj) is not obj:
            raise ExportError(
                f"two different objects are both called {name!r} "
                f"({_where(self.names[name])} and {_where(obj)}); rename one"
            )
        self.names[name] = obj
        try:
            source = inspect.getsource(obj)
        except (OSError, TypeError):
            raise ExportError(f"the source of {_where(obj)} is not available to copy") from None
        if source[:1].isspace():
            raise ExportError(f"{_where(obj)} is not defined at the top of its module; it cannot be copied")
        module = sys.modules[obj.__module__]
        if isinstance(obj, type):
            for base in obj.__bases__:
                if _is_own(base):
                    self.add(base)
        for used in sorted(free_names(source)):
            self._resolve(used, module, obj)
        self.sources.append(source.rstrip() + "\n")

    def _resolve(self, name: str, module: types.ModuleType, user: object) -> None:
        if name not in vars(module):
            return  # a local name, a parameter, or a builtin
        value = vars(module)[name]
        if isinstance(value, types.ModuleType):
            self.imports.add(import_line(name, value, user))
        elif (isinstance(value, type) or inspect.isfunction(value)) and _is_own(value):
            self.add(value)
        elif isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
            origin = getattr(value, "__module__", "") or ""
            if not _allowed_module(origin):
                raise ExportError(f"{_where(user)} uses {name} from {origin}, which a standalone file cannot import")
            self.imports.add(f"from {origin} import {value.__name__}" if value.__name__ == name
                             else f"from {origin} import {value.__name__} as {name}")
        elif _is_plain(value):
            if self.names.get(name, value) != value:
                raise ExportError(f"two different constants are both called {name!r}")
            if name not in self.names:
                self.names[name] = value
                self.sources.insert(0, f"{name} = {value!r}\n")
        else:
            raise ExportError(
                f"{_where(user)} uses {name!r} ({type(value).__name__}), which cannot be copied "
                "into a standalone file"
            )


def free_names(source: str) -> set[str]:
    """Names read in ``source`` outside annotations (which are not evaluated: the
    generated file starts with ``from __future__ import annotations``)."""
    tree = ast.parse(source)
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_Name(self, node: ast.Name) -> None:
            if isinstance(node.ctx, ast.Load):
                found.add(node.id)

        def visit_arg(self, node: ast.arg) -> None:  # skip the annotation
            return

        def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
            if node.value is not None:
                self.visit(node.value)

        def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
            for item in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
                if item is not None:
                    self.visit(item)
            for statement in node.body:
                self.visit(statement)

        visit_AsyncFunctionDef = visit_FunctionDef

    Visitor().visit(tree)
    return found - set(dir(builtins))


def import_line(alias: str, module: types.ModuleType, user: object = None) -> str:
    """The import statement that binds ``module`` to ``alias``."""
    name = module.__name__
    if not _allowed_module(name):
        who = f"{_where(user)} uses" if user is not None else "the model uses"
        raise ExportError(f"{who} the module {name}, which a standalone file cannot import")
    if name == alias:
        return f"import {name}"
    parent, _, last = name.rpartition(".")
    if parent and last == alias:
        return f"from {parent} import {last}"
    return f"import {name} as {alias}"


def _allowed_module(name: str) -> bool:
    top = name.split(".")[0]
    return top == "torch" or (top in sys.stdlib_module_names and top not in ("pickle", "marshal"))


def is_own_module(name: str) -> bool:
    """Whether ``name`` is a module of LayerLoom's own whose code an export copies."""
    return any(name == own or name.startswith(own + ".") for own in OWN_PACKAGES)


def _is_own(obj: object) -> bool:
    return is_own_module(getattr(obj, "__module__", "") or "")


def _is_plain(value: object) -> bool:
    if isinstance(value, PLAIN):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_is_plain(v) for v in value)
    return False


def _where(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
