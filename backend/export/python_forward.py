"""The ``forward`` method of the Python export, written from the compiled fx graph.

One line per operation, in the graph's order, with the nodes' names as variables:

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        conv_1_out = self.conv_1(image)
        conv_1 = torch.relu(conv_1_out)
        flatten_1 = torch.flatten(conv_1, 1)
        return self.head(flatten_1)

Operators are written as operators (``a + b``, ``x[:, -1]``), torch functions by
their public names (``torch.cat``, ``F.gelu``), and LayerLoom's own functions are
copied into the file by the :class:`~layerloom.backend.export.source_bundle.Bundle`.
"""

from __future__ import annotations

import builtins
import operator
from typing import Any

import torch
import torch.fx as fx

from layerloom.backend.export.common import ExportError
from layerloom.backend.export.constructors import literal
from layerloom.backend.export.source_bundle import Bundle, is_own_module

INFIX = {
    operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/",
    operator.floordiv: "//", operator.matmul: "@", operator.pow: "**", operator.mod: "%",
}
PREFIX = {operator.neg: "-", operator.pos: "+"}
MODULE_NAMES = {"torch", "nn", "F", "math", "json", "struct", "sys", "Path", "self"}


def forward_source(model: fx.GraphModule, bundle: Bundle) -> str:
    """The indented text of ``def forward(...)`` for ``model``'s fx graph."""
    names = _variable_names(model, bundle)
    writer = _Writer(names, bundle)
    args, body, returns = [], [], "torch.Tensor"
    for node in model.graph.nodes:
        if node.op == "placeholder":
            args.append(f"{names[node]}: torch.Tensor")
        elif node.op == "output":
            result = node.args[0]
            if isinstance(result, (tuple, list)):
                returns = "tuple[torch.Tensor, ...]"
                body.append(f"return {', '.join(writer.value(r) for r in result)}")
            else:
                body.append(f"return {writer.value(result)}")
        else:
            body.append(f"{names[node]} = {writer.expression(node)}")
    signature = ", ".join(["self", *args])
    lines = [f"    def forward({signature}) -> {returns}:"]
    lines += [f"        {line}" for line in body]
    return "\n".join(lines) + "\n"


def _variable_names(model: fx.GraphModule, bundle: Bundle) -> dict[fx.Node, str]:
    """The fx names (already the nodes' names), kept clear of the file's globals."""
    taken = set(MODULE_NAMES) | set(bundle.names)
    for node in model.graph.nodes:
        if node.op == "call_function" and not _from_torch(node.target) and node.target not in (
            *INFIX, *PREFIX, operator.getitem, builtins.getattr
        ):
            taken.add(getattr(node.target, "__name__", ""))
    names: dict[fx.Node, str] = {}
    used: set[str] = set()
    for node in model.graph.nodes:
        if node.op == "output":
            continue
        base = node.name
        name, i = base, 2
        while name in taken or name in used:
            name, i = f"{base}_{i}", i + 1
        used.add(name)
        names[node] = name
    return names


def _from_torch(target: Any) -> bool:
    module = getattr(target, "__module__", None) or ""
    if module == "torch" or module.startswith("torch.") and not module.startswith("torch._"):
        return True
    name = getattr(target, "__name__", None)
    return bool(name) and any(getattr(ns, name, None) is target for ns in (torch, torch.nn.functional))


class _Writer:
    def __init__(self, names: dict[fx.Node, str], bundle: Bundle):
        self.names = names
        self.bundle = bundle

    def expression(self, node: fx.Node) -> str:
        if node.op == "call_module":
            path = "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in node.target.split("."))
            return f"self{path}({self.call_args(node.args, node.kwargs)})"
        if node.op == "get_attr":
            return f"self.{node.target}"
        if node.op == "call_method":
            receiver, *rest = node.args
            return f"{self.value(receiver)}.{node.target}({self.call_args(rest, node.kwargs)})"
        if node.op == "call_function":
            return self.function(node)
        raise ExportError(f"cannot write the fx operation {node.op!r} as Python")

    def function(self, node: fx.Node) -> str:
        target, args, kwargs = node.target, node.args, node.kwargs
        if target in INFIX and len(args) == 2 and not kwargs:
            return f"{self.operand(args[0])} {INFIX[target]} {self.operand(args[1])}"
        if target in PREFIX and len(args) == 1 and not kwargs:
            return f"{PREFIX[target]}{self.operand(args[0])}"
        if target is operator.getitem and not kwargs:
            return f"{self.operand(args[0])}[{self.index(args[1])}]"
        if target is builtins.getattr and len(args) == 2 and isinstance(args[1], str) and args[1].isidentifier():
            return f"{self.operand(args[0])}.{args[1]}"
        return f"{self.callable_name(target)}({self.call_args(args, kwargs)})"

    def callable_name(self, target: Any) -> str:
        if _from_torch(target):
            name = getattr(target, "__name__", "")
            for prefix, namespace in (("torch", torch), ("F", torch.nn.functional)):
                if getattr(namespace, name, None) is target:
                    if prefix == "F":
                        self.bundle.imports.add("import torch.nn.functional as F")
                    return f"{prefix}.{name}"
            qualified = f"{target.__module__}.{name}"
            if qualified.startswith("torch.") and _resolves(qualified, target):
                return qualified
            raise ExportError(f"cannot name the torch function {target!r} in Python source")
        if getattr(target, "__module__", None) == "builtins":
            return target.__name__
        if is_own_module(getattr(target, "__module__", "") or ""):
            return self.bundle.name_of(target)
        raise ExportError(f"the model calls {target!r}, which a standalone file cannot import")

    def call_args(self, args, kwargs) -> str:
        parts = [self.value(a) for a in args]
        parts += [f"{k}={self.value(v)}" for k, v in kwargs.items()]
        return ", ".join(parts)

    def operand(self, value: Any) -> str:
        """A value inside an operator expression: parenthesised unless simple."""
        text = self.value(value)
        return text if isinstance(value, fx.Node) or text.lstrip("-").replace(".", "").isalnum() else f"({text})"

    def index(self, value: Any) -> str:
        if isinstance(value, tuple):
            if not value:
                return "()"
            inner = ", ".join(self.index(v) for v in value)
            return inner + ("," if len(value) == 1 else "")
        if isinstance(value, slice):
            parts = [
                "" if part is None else self.value(part)
                for part in (value.start, value.stop, value.step)
            ]
            text = f"{parts[0]}:{parts[1]}"
            return f"{text}:{parts[2]}" if parts[2] else text
        if value is Ellipsis:
            return "..."
        return self.value(value)

    def value(self, value: Any) -> str:
        if isinstance(value, fx.Node):
            return self.names[value]
        if isinstance(value, tuple):
            inner = ", ".join(self.value(v) for v in value)
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        if isinstance(value, list):
            return "[" + ", ".join(self.value(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k!r}: {self.value(v)}" for k, v in value.items()) + "}"
        if isinstance(value, slice):
            return f"slice({self.value(value.start)}, {self.value(value.stop)}, {self.value(value.step)})"
        if value is Ellipsis:
            return "..."
        return literal(value)


def _resolves(qualified: str, target: Any) -> bool:
    """Whether ``qualified`` (``torch.nn.functional.gelu``) names ``target``."""
    obj: Any = torch
    for part in qualified.split(".")[1:]:
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return obj is target
