"""What an import needs from the user, read before it runs.

The import dialog and ``layerloom import`` both ask for a PyTorch model's class
and the shape of its inputs. The classes of a ``.py`` file come from its syntax
tree (the file is never run here: running it is the import itself), the inputs of
an ONNX file from its declaration (its weights are not loaded), and the shapes a
user types are parsed by one function, so both say the same about them.

No torch and no Qt: the dialog reads a file before the user decides to import it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

MAX_DIMS = 8  # dims of one sample


@dataclass
class SourceClasses:
    """The classes of a Python file, read without running it.

    Attributes
    ----------
    modules : list of str
        Top-level classes that derive from ``nn.Module`` (by name: ``nn.Module``,
        ``torch.nn.Module``, ``Module``, or another such class of the file), in
        file order; every top-level class when none does.
    inputs : dict
        Class -> the names of its ``forward``'s inputs (parameters after ``self``
        without a default); a class without a ``forward`` of its own takes its
        base's. Missing when unknown (``*args``, a base from another file).
    error : str
        Why the file could not be read (syntax error, unreadable), else ``""``.
    """

    modules: list[str] = field(default_factory=list)
    inputs: dict[str, list[str]] = field(default_factory=dict)
    error: str = ""

    @property
    def default(self) -> str:
        """The class to offer first: the last module class (a file usually
        defines its blocks before the model that uses them)."""
        return self.modules[-1] if self.modules else ""


def read_classes(path: str | Path) -> SourceClasses:
    """The classes ``path`` defines, from its syntax tree (nothing is executed)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=path.name)
    except SyntaxError as exc:
        return SourceClasses(error=f"{path.name}: line {exc.lineno}: syntax error: {exc.msg}")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return SourceClasses(error=f"cannot read {path.name}: {getattr(exc, 'strerror', None) or exc}")
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    bases = {c.name: [_base_name(b) for b in c.bases] for c in classes}
    modules: set[str] = set()
    changed = True
    while changed:  # a class may derive from a module class defined further down
        changed = False
        for c in classes:
            if c.name not in modules and any(b == "Module" or b in modules for b in bases[c.name]):
                modules.add(c.name)
                changed = True
    forwards = {c.name: _forward_inputs(c) for c in classes}
    inputs: dict[str, list[str]] = {}
    for c in classes:
        found = _inherited(c.name, forwards, bases, set())
        if found is not None:
            inputs[c.name] = found
    names = [c.name for c in classes if c.name in modules] or [c.name for c in classes]
    return SourceClasses(list(dict.fromkeys(names)), inputs)


def _base_name(node: ast.expr) -> str:
    """``nn.Module`` -> ``Module``; ``Base`` -> ``Base``; anything else -> ``""``."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _forward_inputs(cls: ast.ClassDef) -> ast.FunctionDef | None:
    return next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "forward"), None)


def _required(forward: ast.FunctionDef) -> list[str] | None:
    """Names of ``forward``'s inputs without a default (``self`` left out);
    ``None`` when ``*args`` makes them unknown."""
    a = forward.args
    if a.vararg is not None:
        return None
    positional = [p.arg for p in [*a.posonlyargs, *a.args]]
    return positional[1:max(len(positional) - len(a.defaults), 1)]


def _inherited(name: str, forwards: dict, bases: dict, seen: set[str]) -> list[str] | None:
    """The inputs of ``name``'s own ``forward``, else of the first base in the
    file that has one."""
    if name in seen or name not in forwards:
        return None
    seen.add(name)
    if forwards[name] is not None:
        return _required(forwards[name])
    for base in bases[name]:
        found = _inherited(base, forwards, bases, seen)
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class OnnxInput:
    """An input of an ONNX file: its name and declared dims (``None`` = open),
    the batch dim first."""

    name: str
    dims: tuple[int | None, ...]

    @property
    def open(self) -> bool:
        return any(d is None for d in self.dims[1:])

    @property
    def sample_shape(self) -> str:
        """The per-sample dims as text, ``?`` where open: ``3, ?, ?``."""
        return ", ".join("?" if d is None else str(d) for d in self.dims[1:])


def read_onnx_inputs(path: str | Path) -> list[OnnxInput] | None:
    """The inputs ``path`` declares (its initializers left out), read without the
    external data; ``None`` when the file cannot be read (the importer then says why)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # a bad file: the import reports it with its own message
        return None
    initializers = {t.name for t in proto.graph.initializer}
    found = []
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        found.append(OnnxInput(value.name, declared_dims(value)))
    return found


def declared_dims(value) -> tuple[int | None, ...]:
    """The dims an ONNX graph input (a ``ValueInfoProto``) declares, batch first;
    ``None`` for a dim it leaves open (named, or without a value)."""
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim)


def parse_shape(text: str, what: str, example: str = "1, 28, 28") -> tuple[int, ...]:
    """``"1, 28, 28"`` (also ``(1, 28, 28)``, ``1x28x28``) -> ``(1, 28, 28)``.

    Parameters
    ----------
    text : str
        The shape as the user typed it: positive sizes, without the batch dim.
    what : str
        How the message names the value, its text included (``"--input-shape
        '1,a'"``, ``"the shape of input 'x', '1,a',"``).
    example : str
        A valid shape as that user would type it.

    Raises
    ------
    ValueError
        ``text`` is not up to :data:`MAX_DIMS` positive sizes; the message says so.
    """
    cleaned = text.strip().strip("()[]").replace("x", ",").replace("×", ",").replace(" ", "")
    parts = [p for p in cleaned.split(",") if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape or any(d < 1 for d in shape) or len(shape) > MAX_DIMS:
        raise ValueError(
            f"{what} is not a shape: give up to {MAX_DIMS} positive sizes separated by commas, "
            f"without the batch dim, e.g. {example}"
        )
    return shape
