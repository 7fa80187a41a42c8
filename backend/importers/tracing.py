"""Tracing a PyTorch model into a ``torch.fx`` graph for the importer.

:func:`trace` follows ``forward`` with symbolic values: sizes stay symbolic, so
the graph holds ``x.size(1)`` and the arithmetic done with it. Code whose Python
control flow reads a size (``assert t <= self.block_size``, ``if x.ndim == 3``,
``len(x)``, ``F.max_pool1d(x, x.size(2))``) cannot be followed that way.
:func:`trace_concrete` then traces again beside a real run on example inputs:
every size, ``ndim``, ``dtype``, ``device`` and ``len`` is the real value, so such
code runs as it does in Python, while tensors stay symbolic. The sizes are those
of one example batch; the importer maps each operation from the shapes recorded
on that same batch and checks the imported graph on another batch size, so a
size baked in where the batch should be is caught there. Control flow on tensor
*values* (``if x.sum() > 0``) is still refused, naming its line.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
import torch.fx as fx
from torch import nn

from layerloom.backend.export.common import first_line
from layerloom.backend.importers import torch_modules as modules
from layerloom.backend.importers.common import ModelImportError, Problem
from layerloom.backend.importers.user_code import user_frame

# Attributes and methods of a tensor that describe its shape and place, not its values.
SHAPE_ATTRIBUTES = ("shape", "ndim", "dtype", "device", "is_cuda", "layout")
SHAPE_METHODS = ("size", "dim", "ndimension", "numel", "nelement", "get_device", "is_floating_point")


class LeafTracer(fx.Tracer):
    """Keeps every mapped layer (and every other ``torch.nn`` layer, to report it
    by class) as one call; remembers which module it was in when a trace fails."""

    # buffers read in a traced forward become get_attr nodes with their names
    proxy_buffer_attributes = True

    def __init__(self) -> None:
        super().__init__()
        self.record_stack_traces = True
        self._path: list[str] = []
        self.failed_in: str | None = None

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return modules.module_rule(m) is not None or super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m, forward, args, kwargs):
        self._path.append(self.path_of_module(m))
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None and self._path[-1]:
                self.failed_in = self._path[-1]
            raise
        finally:
            self._path.pop()


class _ConcreteProxy(fx.Proxy):
    """A traced tensor whose shape queries answer with the real values."""

    def _real(self):
        tracer, node = self.__dict__.get("tracer"), self.__dict__.get("node")
        return None if tracer is None else tracer.values.get(node)

    def __getattr__(self, name: str):
        if name in SHAPE_ATTRIBUTES or name in SHAPE_METHODS:
            real = self._real()
            if isinstance(real, torch.Tensor):
                return getattr(real, name)
        return super().__getattr__(name)

    def __len__(self) -> int:
        real = self._real()
        if isinstance(real, (torch.Tensor, tuple, list)):
            return len(real)
        return super().__len__()


class ConcreteTracer(LeafTracer):
    """A :class:`LeafTracer` that runs each traced operation on real inputs as it
    records it (see the module docstring)."""

    def __init__(self, inputs: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.values: dict[fx.Node, object] = {}
        self._inputs = list(inputs)
        self._running = False

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _ConcreteProxy(node, self)

    # While the real run goes on (self._running), modules and their attributes
    # are plain Python again: the trace's patches step aside.
    def call_module(self, m, forward, args, kwargs):
        if self._running:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if self._running:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        self._running = True
        try:
            self.values[proxy.node] = self._run(proxy.node)
        finally:
            self._running = False
        return proxy

    def _run(self, node: fx.Node):
        if node.op == "placeholder":
            if node.args:  # fixed to its default by the trace
                return node.args[0]
            if not self._inputs:
                raise ModelImportError("the model's forward takes more inputs than shapes were given")
            return self._inputs.pop(0)

        if node.op == "get_attr":
            return self._attribute(node)

        def real(value):
            if not isinstance(value, fx.Node):
                return value
            if value not in self.values:  # a constant the tracer put on the root itself
                self.values[value] = self._attribute(value)
            return self.values[value]

        args = fx.node.map_aggregate(node.args, real)
        kwargs = fx.node.map_aggregate(node.kwargs, real)
        with torch.no_grad():
            if node.op == "call_function":
                return node.target(*args, **kwargs)
            if node.op == "call_method":
                return getattr(args[0], node.target)(*args[1:], **kwargs)
            if node.op == "call_module":
                return self.root.get_submodule(node.target)(*args, **kwargs)
        return None  # output


    def _attribute(self, node: fx.Node):
        found = self.root
        for part in str(node.target).split("."):
            found = getattr(found, part)
        return found


def _defaults(module: nn.Module) -> dict:
    signature = inspect.signature(module.forward)
    return {name: p.default for name, p in signature.parameters.items() if p.default is not inspect.Parameter.empty}


def _traced(tracer: LeafTracer, module: nn.Module, title: str) -> fx.GraphModule:
    try:
        graph = tracer.trace(module, concrete_args=_defaults(module) or None)
    except ModelImportError:
        raise
    except Exception as exc:
        where = f"module '{tracer.failed_in}'" if tracer.failed_in else f"{title}.forward"
        line = user_frame(exc)
        raise ModelImportError(
            f"cannot follow {title}.forward with torch.fx: {first_line(exc)}",
            [Problem("code that torch.fx cannot trace (control flow on tensor values, or a library call)",
                     where, line)],
        ) from None
    gm = fx.GraphModule(module, graph, class_name=title)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


def trace(module: nn.Module, title: str) -> fx.GraphModule:
    """The fx trace of ``module`` with symbolic sizes; arguments with defaults
    keep their defaults."""
    return _traced(LeafTracer(), module, title)


def trace_concrete(module: nn.Module, title: str, inputs: Sequence[torch.Tensor]) -> fx.GraphModule:
    """The fx trace of ``module`` beside a run on ``inputs`` (one example batch):
    Python code that reads sizes runs on the real ones."""
    return _traced(ConcreteTracer(inputs), module, title)
