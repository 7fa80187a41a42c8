"""Import a PyTorch ``nn.Module`` into an editable LayerLoom graph.

The module is traced with ``torch.fx``; the layer classes LayerLoom knows stay
leaves of the trace (one ``call_module`` each) and everything else is traced
through, down to functions and tensor methods. The trace is then run once on
random inputs to record every tensor's shape (fx alone does not know shapes),
and each fx node is mapped by the rules of :mod:`layerloom.backend.importers.torch_modules`
(layers) and :mod:`layerloom.backend.importers.torch_rules` (functions and methods).
Whatever has no rule is collected; the import then fails with the whole list,
each part named with its module path, fx node and source line.

The result is compiled and the module's weights loaded into it; its outputs are
compared with the module's on other random inputs (another batch size), and the
import is refused if they differ. Loading a model from a ``.py`` file runs that
file's code: :func:`import_file` is for files the user trusts, and says so.

Input shapes: a trace has no shapes, so each input needs its per-sample shape
(without the batch dim), except when the model starts with ``nn.Linear``, whose
``in_features`` gives it. Inputs that feed an ``nn.Embedding`` are token ids
(long); others are float unless told otherwise.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.fx as fx
from torch import nn

from layerloom.backend.compile import CompiledGraph
from layerloom.backend.export.common import as_tuple, example_inputs, first_line
from layerloom.backend.importers import recurrent as rnn
from layerloom.backend.importers import torch_masks as masks
from layerloom.backend.importers import torch_modules as modules
from layerloom.backend.importers import torch_rules as rules
from layerloom.backend.importers.batch_dims import (
    checked_batch_dims,
    detect_batch_dims,
    shapes_text,
    source_inputs,
)
from layerloom.backend.importers.builder import GraphBuilder
from layerloom.backend.importers.common import (
    ImportResult,
    ModelImportError,
    Problem,
    Recurrent,
    RecurrentPart,
    TimeMajor,
    Unsupported,
    Value,
    compare,
    map_until_settled,
    per_sample,
)
from layerloom.backend.importers.torch_constants import Constant, KnownValues
from layerloom.backend.importers.tracing import trace, trace_concrete
from layerloom.backend.importers.user_code import (
    instantiate,
    is_library,
    load_class,
    load_weights,
    parse_source,
    user_line,
)
from layerloom.graph import TensorSpec

RECORD_BATCH = 3  # batch size of the run that records shapes
CHECK_BATCH = 2  # another size for the final comparison
_FRAME_RE = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in [^\n]*\n[ \t]*(?P<code>[^\n]*)')
OPERATORS = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "matmul": "@",
             "pow": "**", "neg": "unary -", "getitem": "[] indexing", "mod": "%"}


class _Blocked(Exception):
    """An input of this fx node could not be mapped (already reported)."""


FAILED = object()


@dataclass(frozen=True)
class _Recorded:
    shape: tuple[int, ...]
    dtype: str


def _placeholders(gm: fx.GraphModule) -> list[fx.Node]:
    # A placeholder with a default was fixed to it by the trace; it takes no input.
    return [n for n in gm.graph.nodes if n.op == "placeholder" and not n.args]


def input_specs(gm, module, shapes, dtypes, title: str, notes: list[str]) -> list[TensorSpec]:
    """Per-sample specs of the inputs: given, or read from the first layer."""
    inputs = _placeholders(gm)
    names = ", ".join(n.name for n in inputs)
    if shapes and len(shapes) != len(inputs):
        raise ModelImportError(
            f"{title}.forward takes {len(inputs)} input(s) ({names}) but {len(shapes)} shape(s) were given; "
            "give one --input-shape per input, in order"
        )
    if dtypes and len(dtypes) > len(inputs):
        raise ModelImportError(f"{title}.forward takes {len(inputs)} input(s) ({names}) but {len(dtypes)} dtypes were given")
    if not shapes and isinstance(module, CompiledGraph) and len(module.input_specs) == len(inputs):
        return list(module.input_specs)  # a LayerLoom model knows its inputs
    specs = []
    for i, node in enumerate(inputs):
        users = [gm.get_submodule(u.target) for u in node.users if u.op == "call_module"]
        direct = len(users) == len(node.users)
        dtype = dtypes[i] if dtypes and i < len(dtypes) else (
            "long" if users and all(isinstance(m, (nn.Embedding, nn.EmbeddingBag)) for m in users) else "float"
        )
        if dtype not in ("float", "long"):
            raise ModelImportError(f"input dtype must be float or long, got {dtype!r}")
        if shapes:
            shape = tuple(int(d) for d in shapes[i])
        elif direct and users and all(isinstance(m, nn.Linear) for m in users) and len({m.in_features for m in users}) == 1:
            shape = (users[0].in_features,)
            notes.append(f"input {node.name!r} takes shape {shape}, the in_features of its first layer")
        else:
            raise ModelImportError(
                f"cannot tell the shape of {title}'s input {node.name!r}: give the shape of one sample "
                "without the batch dim (on the command line: --input-shape 1,28,28, once per input)"
            )
        if not shape or any(d < 1 for d in shape):
            raise ModelImportError(f"input shape {shape} of {node.name!r} must be positive sizes, e.g. 1,28,28")
        specs.append(TensorSpec(shape, dtype))
    if not specs:
        raise ModelImportError(f"{title}.forward takes no tensor input")
    return specs


class _Recorder(fx.Interpreter):
    """Runs the trace once and keeps the shape of every tensor it makes, and the
    values that are the same on every call (buffers, masks, sizes)."""

    def __init__(self, gm: fx.GraphModule, batch_dims: Sequence[int] = ()):
        super().__init__(gm)
        self.seen: dict[fx.Node, object] = {}
        moved = dict(zip(_placeholders(gm), batch_dims, strict=False))
        self.known = KnownValues(gm, {n: d for n, d in moved.items() if d})

    def run_node(self, n: fx.Node):
        result = super().run_node(n)
        self.seen[n] = _describe(result)
        self.known.see(n, self.env, result)
        return result


def _describe(x):
    if isinstance(x, torch.Tensor):
        kind = "float" if x.is_floating_point() else "long"
        return _Recorded(tuple(x.shape), kind)
    if isinstance(x, (tuple, list)):
        return tuple(_describe(i) for i in x)
    if isinstance(x, int) and not isinstance(x, bool):
        return x  # a size (x.size(1)): slice bounds read it
    return None


def record(gm, module, specs: Sequence[TensorSpec], title: str,
           batch_dims: Sequence[int]) -> tuple[dict[fx.Node, object], dict[fx.Node, object]]:
    """Shapes of the results of one run on random inputs, and the values that are
    the same on every call."""
    inputs = source_inputs(module, specs, RECORD_BATCH, 0, batch_dims)
    recorder = _Recorder(gm, batch_dims)
    try:
        with torch.no_grad():
            recorder.run(*inputs)
    except Exception as exc:
        hint = "" if any(batch_dims) else (
            " (an input whose batch is not dim 0, such as a time-first sequence or an RNN's state, "
            "needs --batch-dim)")
        raise ModelImportError(
            f"{title} fails on inputs {shapes_text(specs, batch_dims)}: {first_line(exc)}{user_line(exc)}; "
            f"check the input shapes{hint}"
        ) from None
    return recorder.seen, recorder.known.values


# ------------------------------------------------------------------ mapping
def _scope(node: fx.Node) -> tuple[tuple[str, str], ...]:
    """The modules (path, class name) whose forward made ``node``, outermost first;
    a layer's own module is not among them."""
    stack = node.meta.get("nn_module_stack") or {}
    scope = [(path, getattr(kind, "__name__", str(kind))) for path, kind in stack.values()]
    if node.op == "call_module" and scope and scope[-1][0] == node.target:
        scope.pop()
    return tuple(scope)


class TorchMapper:
    """One pass over the trace, building the graph; see the module docstring."""

    def __init__(self, gm, records, specs, modes: dict[str, str], title: str, description: str,
                 known: dict[fx.Node, object] | None = None, batch_dims: Sequence[int] = ()):
        self.gm = gm
        self.records = records
        self.known = known or {}  # results that are the same on every call
        self.specs = list(specs)
        self.batch_dims = list(batch_dims) or [0] * len(self.specs)
        self.batch = RECORD_BATCH  # the batch size of the recorded run
        self.modes = modes
        self.builder = GraphBuilder(title, description)
        self.env: dict[fx.Node, object] = {}
        self.made_by: dict[str, fx.Node] = {}
        self.recurrents: dict[str, tuple[Recurrent, fx.Node]] = {}
        self.problems: list[Problem] = []

    # -------------------------------------------------- used by the rules
    def entry(self, arg):
        if isinstance(arg, fx.Node):
            found = self.env.get(arg, FAILED)
            if found is FAILED:
                raise _Blocked
            return found
        return arg

    def lazy(self, arg) -> Value:
        found = self.entry(arg)
        if isinstance(found, Value):
            return found
        if isinstance(found, RecurrentPart):
            return rnn.materialise(found)
        if hasattr(found, "as_value"):  # a tensor the model holds (rules.GET_ATTR)
            return found.as_value(self)
        if isinstance(found, rules.Size):
            raise Unsupported("computes with a tensor's size")
        if isinstance(found, rules.Items):
            raise Unsupported("uses a layer's tuple of results directly")
        if isinstance(found, TimeMajor):
            raise Unsupported(
                "computes on a tensor whose batch is in dim 1 (time first, or a recurrent state); LayerLoom "
                "keeps the batch first and follows such a tensor only into a batch_first=False RNN, LSTM or "
                "GRU, or a transpose(0, 1) back"
            )
        raise Unsupported(f"uses the constant {arg!r} where LayerLoom needs a tensor")

    def tensor(self, arg) -> Value:
        return self.builder.materialise(self.lazy(arg))

    def shape(self, node: fx.Node, item: int | None = None) -> tuple[int, ...]:
        """Per-sample shape of the node's result (of its ``item``-th result)."""
        found = self.records.get(node)
        if item is not None and isinstance(found, tuple) and len(found) > item:
            found = found[item]
        if not isinstance(found, _Recorded):
            raise Unsupported("does not give one tensor")
        return per_sample(found.shape, RECORD_BATCH, "it")

    def add(self, node, type_id, params, inputs, item: int | None = None, **kwargs) -> Value:
        shape = self.shape(node, item)
        found = self.records.get(node)
        if item is not None:
            found = found[item]
        value = self.builder.add(type_id, params, inputs, shape, dtype=found.dtype, **kwargs)
        self.made_by[value.node] = node
        return value

    def fold(self, source, x: Value, type_id: str) -> Value | None:
        if self.made_by.get(x.node) is not source or len(source.users) != 1:
            return None
        return self.builder.fold_activation(x, type_id)

    def merge(self, node, type_id: str, source, x: Value, y: Value) -> Value:
        """``x (+|*) y``; joins the Add or Multiply that made ``x`` when that is
        ``x``'s only use."""
        value = None
        if self.made_by.get(x.node) is source and len(source.users) == 1:
            value = self.builder.extend_merge(x, [y], type_id)
        if value is None:
            value = self.builder.merge(type_id, {}, [x, y], x.shape)
        self.made_by[value.node] = node
        return value

    def recurrent(self, node, kind, m, x) -> Recurrent:
        rec = modules.make_recurrent(self, node, kind, m, x, self.modes.get(node.name, "seq"))
        rec.key = node.name
        self.recurrents[node.name] = (rec, node)
        return rec

    # -------------------------------------------------------- the pass
    def run(self) -> None:
        inputs = iter(zip(self.specs, self.batch_dims, strict=True))
        graph = self.builder.graph
        for node in self.gm.graph.nodes:
            made = len(graph)
            try:
                self.env[node] = self._map(node, inputs)
                for added in list(graph.nodes)[made:]:  # the nodes this call made live in its module
                    self.builder.scopes[added.id] = _scope(node)
            except _Blocked:
                self.env[node] = FAILED
            except Unsupported as exc:
                known = self.known.get(node)
                if isinstance(known, torch.Tensor):  # a buffer, a mask: rules read its value
                    self.env[node] = Constant(known)
                    continue
                self.problems.append(self._problem(node, exc.why))
                self.env[node] = FAILED

    def _map(self, node: fx.Node, inputs):
        if node.op == "placeholder":
            if node.args:
                return None
            spec, batch_dim = next(inputs)
            value = self.builder.add_input(spec.shape, spec.dtype, label=node.name)
            return TimeMajor(value) if batch_dim == 1 else value
        known = self.known.get(node, FAILED)
        if node.op == "get_attr":
            if masks.only_masks(node):
                return masks.MASK_SOURCE  # a constant attention mask: the layer's rule reads it
            rule = rules.FUNCTION_RULES.get(rules.GET_ATTR)
            if rule is None:
                raise Unsupported(f"uses the tensor self.{node.target} outside a layer")
            return rule(self, node)
        if node.op == "call_module":
            module = self.gm.get_submodule(node.target)
            rule = modules.module_rule(module)
            if rule is None:
                raise Unsupported()
            return rule(self, node, module)
        if node.op in ("call_function", "call_method"):
            self._fill_in_sizes(node)
        if node.op == "call_function":
            rule = rules.FUNCTION_RULES.get(node.target)
            if rule is None:
                if known is not FAILED:  # size arithmetic: math.sqrt(k.size(-1))
                    return known
                raise Unsupported()
            return rule(self, node)
        if node.op == "call_method":
            rule = rules.METHOD_RULES.get(node.target)
            if rule is None:
                raise Unsupported()
            return rule(self, node)
        if node.op == "output":
            results = node.args[0]
            if isinstance(results, dict):
                raise Unsupported("returns a dict; LayerLoom's outputs are a tensor or a tuple of tensors")
            for result in results if isinstance(results, (tuple, list)) else (results,):
                self.builder.add_output(self.tensor(result))
            return None
        raise Unsupported()

    def _fill_in_sizes(self, node: fx.Node) -> None:
        """Put the value of each size argument that is the same on every call
        (``h.size(2)``, ``x2.size(3) - x1.size(3)``) in its place, so that rules
        read numbers where the code passes sizes to a function
        (``F.max_pool1d(h, h.size(2))``, ``F.pad(x, [dx // 2, dx - dx // 2])``).
        Sizes that depend on the batch stay symbolic."""

        def fixed(arg: fx.Node):
            value = self.known.get(arg, FAILED)
            numbers = isinstance(value, (int, float)) or (
                isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value))
            return value if numbers and not isinstance(value, bool) else arg

        args, kwargs = fx.node.map_arg(node.args, fixed), fx.node.map_arg(node.kwargs, fixed)
        if args != node.args or kwargs != node.kwargs:
            node.args, node.kwargs = args, kwargs

    def _problem(self, node: fx.Node, why: str) -> Problem:
        if node.op == "call_module":
            what = class_name(type(self.gm.get_submodule(node.target)))
            where = f"module '{node.target}'"
        else:
            what = {
                "call_function": function_name(node.target), "call_method": f"Tensor.{node.target}",
                "get_attr": f"self.{node.target}", "output": "the returned value",
            }.get(node.op, node.op)
            stack = node.meta.get("nn_module_stack") or {}
            inside = next(reversed(stack.values()))[0] if stack else ""
            where = f"'{node.name}'" + (f" in module '{inside}'" if inside else "")
        trace = node.stack_trace
        if node.op == "output":  # the line that made what is returned
            trace = next((n.stack_trace for n in node.all_input_nodes if n.stack_trace), None)
        return Problem(what, where, source_line(trace), why)

    def modes_needed(self) -> dict[str, str]:
        """Each recurrent layer's mode from its uses; a layer whose every step and
        last step are both used is a problem."""
        modes = {}
        for key, (rec, node) in self.recurrents.items():
            if {"seq", "last"} <= rec.uses:
                self.problems.append(Problem(
                    class_name(type(self.gm.get_submodule(node.target))), f"module '{node.target}'",
                    source_line(node.stack_trace),
                    "uses both every step's output and the last step; LayerLoom's layer gives one of "
                    "them (return_sequences): split it into two layers",
                ))
            modes[key] = "last" if rec.uses == {"last"} else "seq"
        return modes


def class_name(cls: type) -> str:
    """``torch.nn.Bilinear`` for torch's layers, the bare name for the user's."""
    module = cls.__module__ or ""
    if module.startswith("torch.nn") and getattr(nn, cls.__name__, None) is cls:
        return f"torch.nn.{cls.__name__}"
    return f"{module}.{cls.__name__}" if module.startswith("torch") else cls.__name__


def function_name(target) -> str:
    name = getattr(target, "__name__", repr(target))
    module = getattr(target, "__module__", None) or ""
    if module in ("_operator", "operator") and name in OPERATORS:
        return f"the {OPERATORS[name]} operator"
    if module in ("torch.nn.functional", "torch._C._nn"):
        return f"torch.nn.functional.{name}"
    if not module or module.startswith("torch._C") or module == "torch":
        return f"torch.{name}"
    return f"{module}.{name}"


def source_line(stack_trace: str | None) -> str:
    """``model.py:12: return self.bil(x, x)``: the innermost frame outside torch."""
    if not stack_trace:
        return ""
    frames = [m for m in _FRAME_RE.finditer(stack_trace) if not is_library(m["file"])]
    if not frames:
        return ""
    m = frames[-1]
    return f"{Path(m['file']).name}:{m['line']}: {m['code'].strip()}"


# ------------------------------------------------------------------- public
def import_module(
    module: nn.Module,
    input_shapes: Sequence[Sequence[int]] | None = None,
    input_dtypes: Sequence[str] | None = None,
    *,
    title: str | None = None,
    description: str | None = None,
    flat: bool = False,
    batch_dims: Sequence[int] | None = None,
) -> ImportResult:
    """Import an ``nn.Module`` instance (with its current weights).

    Parameters
    ----------
    module : nn.Module
        The model; put in eval mode while it is imported, then given back in its
        mode.
    input_shapes : list of shapes, optional
        Per-sample shape of each ``forward`` input, without the batch dim. Needed
        unless every input feeds an ``nn.Linear`` directly.
    input_dtypes : list of str, optional
        ``"float"`` or ``"long"`` per input; by default ``long`` for inputs that
        feed an ``nn.Embedding``, else ``float``.
    title : str, optional
        The graph's title (default: the module's class name), also naming the
        model in messages.
    description : str, optional
        The graph's description (default: where it was imported from).
    flat : bool
        One sheet of layers; by default the model's submodules become blocks
        (see :mod:`.hierarchy`).
    batch_dims : list of int, optional
        Where each input has its batch dim, 0 or 1: 1 for a time-first sequence
        read by a ``batch_first=False`` RNN, LSTM or GRU, or a recurrent state
        ``(layers·dirs, N, H)``. By default 1 for an input that goes straight
        into such a layer (as its sequence or its state), else 0. The imported
        graph takes every input batch first.

    Returns
    -------
    ImportResult
        The graph (laid out and valid), the compiled model with the weights, the
        key map, notes and where the source had each input's batch.

    Raises
    ------
    ModelImportError
        Listing every layer, function and method that has no LayerLoom equivalent,
        or saying why the model cannot be traced or run.
    """
    title = title or type(module).__name__
    description = description or f"Imported from the PyTorch model {title}"
    was_training = module.training
    module.eval()
    try:
        notes: list[str] = []
        given = checked_batch_dims(batch_dims, input_shapes)
        try:
            gm = trace(module, title)
        except ModelImportError as symbolic:
            gm, input_dtypes = _trace_on_examples(module, title, input_shapes, input_dtypes, symbolic,
                                                  given or [0] * len(input_shapes or ()))
        specs = input_specs(gm, module, input_shapes, input_dtypes, title, notes)
        dims = given or detect_batch_dims(gm, _placeholders(gm), notes)
        if len(dims) != len(specs):
            raise ModelImportError(f"{title}.forward takes {len(specs)} input(s) but {len(dims)} batch dims were given")
        records, known = record(gm, module, specs, title, dims)

        def attempt(modes: dict[str, str]) -> TorchMapper:
            mapper = TorchMapper(gm, records, specs, modes, title, description, known, dims)
            mapper.builder.keep_modules = not flat
            mapper.run()
            return mapper

        mapper = map_until_settled(attempt, title, "part")
        model, origins = mapper.builder.finish()
        notes += mapper.builder.notes + tied_copies(module, origins)
        difference = _check(module, model, specs, title, dims)
    finally:
        module.train(was_training)
    return ImportResult(mapper.builder.graph, model, origins, notes, difference, list(dims) if any(dims) else [])


def _trace_on_examples(module, title, shapes, dtypes, symbolic: ModelImportError,
                       batch_dims: Sequence[int]) -> tuple[fx.GraphModule, list[str]]:
    """Trace again beside a run on example inputs (see :mod:`.tracing`) when the
    symbolic trace stopped; needs the input shapes. An input without a given
    dtype is tried as float, then as token ids (long)."""
    if not shapes:
        raise ModelImportError(
            f"{symbolic.summary}; give the input shapes (--input-shape, once per input) and LayerLoom follows "
            "the code on example inputs", symbolic.problems) from None
    given = list(dtypes or [])
    tries = [given + ["float"] * (len(shapes) - len(given))]
    if len(given) < len(shapes):
        tries.append(given + ["long"] * (len(shapes) - len(given)))
    failure = None
    for kinds in tries:
        specs = [TensorSpec(tuple(int(d) for d in shape), kind) for shape, kind in zip(shapes, kinds, strict=True)]
        try:
            return trace_concrete(module, title, source_inputs(module, specs, RECORD_BATCH, 0, batch_dims)), kinds
        except ModelImportError as exc:
            failure = failure or exc
    if not any(batch_dims):
        raise ModelImportError(
            f"{failure.summary} (an input whose batch is not dim 0, such as a time-first sequence or an "
            "RNN's state, needs --batch-dim)", failure.problems) from None
    raise failure


def tied_copies(module: nn.Module, origins: dict[str, str]) -> list[str]:
    """A note for each tensor two layers of different kinds hold (an embedding tied
    to the output layer, ``wte.weight = lm_head.weight``): LayerLoom shares
    weights between uses of one layer only, so each kind keeps its own copy."""
    names: dict[int, list[str]] = {}
    for name, p in module.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(name)
    notes = []
    for group in names.values():
        holders = sorted({t for t, s in origins.items() if s in group})
        if len(group) > 1 and len(holders) > 1:
            notes.append(f"{' and '.join(group)} are one tensor in the source (tied weights); the imported "
                         f"graph holds a copy in each of {', '.join(holders)}, which train apart")
    return notes


def _check(module, model, specs, title: str, batch_dims: Sequence[int]) -> float:
    inputs = example_inputs(module, specs, CHECK_BATCH, seed=1)
    moved = tuple(x.movedim(0, d) for x, d in zip(inputs, batch_dims, strict=True))
    with torch.no_grad():
        expected = as_tuple(module(*moved))
        got = as_tuple(model(*inputs))
    return compare(got, expected, title)


def import_file(
    source: str,
    args: dict | None = None,
    weights: str | os.PathLike | None = None,
    input_shapes: Sequence[Sequence[int]] | None = None,
    input_dtypes: Sequence[str] | None = None,
    flat: bool = False,
    batch_dims: Sequence[int] | None = None,
) -> ImportResult:
    """Import ``FILE.py:ClassName``: run the file, create the class with ``args``,
    load ``weights`` (a state dict) if given, then :func:`import_module`.

    The file's code runs with the user's rights: import only files you trust.
    """
    path, name = parse_source(source)
    if args is not None and not isinstance(args, dict):
        raise ModelImportError(f"the arguments of {name} must be a JSON object, got {json.dumps(args)}")
    cls = load_class(path, name)
    try:
        module = instantiate(cls, args)
        if not isinstance(module, nn.Module):
            raise ModelImportError(f"{name}(...) did not create an nn.Module")
        if weights is not None:
            load_weights(module, weights)
        return import_module(
            module, input_shapes, input_dtypes, title=name, description=f"Imported from {path.name}:{name}",
            flat=flat, batch_dims=batch_dims,
        )
    finally:
        sys.modules.pop(cls.__module__, None)  # the graph keeps nothing of the user's code
