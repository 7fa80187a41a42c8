"""A hyperparameter sweep: what to vary, and the graphs its trials train.

A sweep varies one or two settings; two make a grid (every value of the first
with every value of the second). A setting is named as on the command line
(``layerloom sweep FILE --set lr=1e-4:1e-1:log:6``):

``NAME``
    A training setting of the graph's ``"training"`` section (``lr``,
    ``batch_size``, ``epochs``, ``weight_decay``, ``optimizer``, ...), read from
    the settings' one declaration (:mod:`layerloom.graph.settings`), so a value
    the file loader refuses is refused here too.
``NODE.PARAM``
    A parameter of one node of the graph (``dense_1.units``, or an exposed
    parameter of one block instance, ``layer1.width``).
``BLOCK.PARAM``
    A parameter a block definition exposes (``residual_basic.width``): every
    instance of the block takes the value.

Values are a list (``0.001,0.01,0.1``; ``adam,sgd``) or a range of a number
setting, ``START:STOP:SCALE:COUNT`` with ``SCALE`` ``log`` (evenly spaced
factors; rates are rounded to three significant digits) or ``lin``; a whole-number
setting's range is rounded, and values that round to the same number are kept
once. Every value is checked against the setting's declaration when the sweep is
planned: :class:`SweepError` names the part at fault.

Running the trials is :mod:`layerloom.backend.training.sweep_run`'s work.
"""

from __future__ import annotations

import difflib
import itertools
import math
from dataclasses import dataclass
from typing import Any

from layerloom.graph import Graph, GraphError, ParamError
from layerloom.graph import settings as declaration
from layerloom.graph.blocks import FIXED_PARAMS

MAX_TRIALS = 500
MAX_AXES = 2
SCALES = ("log", "lin")
NOT_SWEPT = {
    "processes": "each trial trains in one process; run trials side by side with --workers instead",
    "device": "every trial trains on the same device; set it with --device",
}


class SweepError(ValueError):
    """A sweep that cannot be planned; the message names the part at fault."""


@dataclass(frozen=True)
class Target:
    """Where a swept value goes.

    ``kind`` is ``"training"`` (``owner`` empty), ``"node"`` (``owner`` a node id
    of the graph) or ``"block"`` (``owner`` a block definition's name).
    """

    kind: str
    owner: str
    param: str

    @property
    def key(self) -> str:
        """The name as typed: ``lr``, ``dense_1.units``, ``residual_basic.width``."""
        return self.param if self.kind == "training" else f"{self.owner}.{self.param}"


@dataclass(frozen=True)
class Axis:
    """One swept setting: its target, the values in order, and how they were
    spaced (``"log"``, ``"lin"`` or ``"list"``; the plot reads it)."""

    target: Target
    values: tuple[Any, ...]
    scale: str = "list"
    spec: str = ""

    @property
    def key(self) -> str:
        return self.target.key

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)


# ------------------------------------------------------------------ targets
def resolve_target(graph: Graph, name: str) -> tuple[Target, Any]:
    """The target called ``name`` in ``graph`` and its declared parameter
    (a :class:`~layerloom.graph.params.Param`); raises :class:`SweepError`."""
    name = name.strip()
    if not name:
        raise SweepError("no setting named before '='")
    if "." not in name:
        params = {p.name: p for p in declaration.declared("training")}
        if name not in params:
            raise SweepError(f"unknown setting {name!r}{_close(name, params)}; sweep a training setting "
                             f"({', '.join(sweepable_settings())}), NODE.PARAM or BLOCK.PARAM")
        if name in NOT_SWEPT:
            raise SweepError(f"{name} cannot be swept: {NOT_SWEPT[name]}")
        return Target("training", "", name), params[name]
    owner, _, param = name.rpartition(".")
    if graph.has_node(owner):
        node = graph.node(owner)
        names = [p.name for p in node.spec.params if p.name not in FIXED_PARAMS or p.name == "repeat"]
        if param not in names:
            raise SweepError(f"node {owner!r} ({node.spec.name}) has no parameter {param!r}"
                             f"{_close(param, names)} (it has: {', '.join(names) or 'none'})")
        return Target("node", owner, param), node.spec.param(param)
    if owner in graph.blocks:
        definition = graph.blocks.get(owner)
        if param not in definition.exposed:
            exposed = ", ".join(definition.exposed) or "none"
            raise SweepError(f"block {owner!r} exposes no parameter {param!r}{_close(param, definition.exposed)} "
                             f"(it exposes: {exposed}; expose one in the block's editor first)")
        return Target("block", owner, param), graph.blocks.spec(owner).param(param)
    nodes = ", ".join(n.id for n in graph.nodes[:12]) + (", ..." if len(graph) > 12 else "")
    blocks = ", ".join(graph.blocks.names()) or "none"
    raise SweepError(f"no node or block named {owner!r}{_close(owner, [n.id for n in graph.nodes])} "
                     f"(nodes: {nodes or 'none'}; blocks: {blocks})")


def sweepable_settings() -> list[str]:
    """The training settings a sweep may vary, in the declaration's order."""
    return [p.name for p in declaration.declared("training") if p.name not in NOT_SWEPT]


def candidates(graph: Graph, limit: int = 400) -> list[str]:
    """Names worth offering in a picker: number and choice training settings, then
    every exposed block parameter, then the number parameters of the graph's nodes
    (up to ``limit`` names in all: any other can still be typed)."""
    names = [p.name for p in declaration.declared("training")
             if p.name not in NOT_SWEPT and p.kind in ("int", "float", "choice", "bool")]
    for definition in graph.blocks:
        names += [f"{definition.name}.{p}" for p in definition.exposed]
    for node in graph.nodes:
        if len(names) >= limit:
            break
        for p in node.spec.params:
            if p.kind in ("int", "float") and p.form != "" and (p.name not in FIXED_PARAMS or p.name == "repeat"):
                names.append(f"{node.id}.{p.name}")
    return names[:max(limit, 0)]


def _close(word: str, options) -> str:
    match = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


# ------------------------------------------------------------------ values
def parse_axis(graph: Graph, text: str) -> Axis:
    """``NAME=VALUES`` (see the module's docstring) as an :class:`Axis` of
    ``graph``; raises :class:`SweepError` naming the part at fault."""
    name, eq, values = text.partition("=")
    if not eq:
        raise SweepError(f"{text!r}: expected NAME=VALUES, such as lr=0.001,0.01 or lr=1e-4:1e-1:log:6")
    target, param = resolve_target(graph, name)
    where = f"{target.key}={values.strip()}"
    try:
        if ":" in values:
            raw, scale = _range(param, values.strip()), values.strip().split(":")[2].strip().lower()
        else:
            parts = [p.strip() for p in values.split(",")]
            if not values.strip() or any(not p for p in parts):
                raise SweepError("give values separated by commas, such as 0.001,0.01,0.1")
            raw, scale = [_from_text(param, p) for p in parts], "list"
        checked = []
        for value in raw:
            try:
                checked.append(param.coerce(value))
            except ParamError as exc:
                raise SweepError(f"value {_show(value)}: {exc}") from None
    except SweepError as exc:
        raise SweepError(f"{where}: {exc}") from None
    unique = tuple(_unique(checked))
    if scale == "list" and len(unique) < len(checked):
        raise SweepError(f"{where}: a value is given twice")
    if target.kind == "node":
        for value in unique:
            try:
                graph.check_params(target.owner, {target.param: value})
            except (GraphError, ParamError) as exc:
                raise SweepError(f"{where}: {exc}") from None
    return Axis(target, unique, scale, text.strip())


def _range(param, text: str) -> list[Any]:
    """The values of ``START:STOP:SCALE:COUNT``."""
    parts = text.split(":")
    if len(parts) != 4:
        raise SweepError("a range is START:STOP:SCALE:COUNT, such as 1e-4:1e-1:log:6 or 16:128:lin:4")
    if param.kind not in ("int", "float"):
        allowed = f" (one of {', '.join(map(str, param.choices))})" if param.choices else ""
        raise SweepError(f"{param.name} is not a number setting: list its values instead{allowed}")
    try:
        start, stop = float(parts[0]), float(parts[1])
    except ValueError:
        raise SweepError(f"the range's ends must be numbers, got {parts[0]!r} and {parts[1]!r}") from None
    scale = parts[2].strip().lower()
    if scale not in SCALES:
        raise SweepError(f"the scale must be log or lin, got {parts[2]!r}")
    try:
        count = int(parts[3])
    except ValueError:
        raise SweepError(f"the count must be a whole number, got {parts[3]!r}") from None
    if count < 2:
        raise SweepError(f"a range needs at least 2 values, got {count}")
    if count > MAX_TRIALS:
        raise SweepError(f"a range has at most {MAX_TRIALS} values, got {count}")
    if not (math.isfinite(start) and math.isfinite(stop)) or start == stop:
        raise SweepError(f"the range's ends must be two different finite numbers, got {start:g} and {stop:g}")
    if scale == "log":
        if start <= 0 or stop <= 0:
            raise SweepError(f"a log range needs positive ends, got {start:g} and {stop:g} (use lin)")
        values = [start * (stop / start) ** (i / (count - 1)) for i in range(count)]
    else:
        values = [start + (stop - start) * i / (count - 1) for i in range(count)]
    if param.kind == "int":
        return [int(round(v)) for v in values]
    return [float(f"{v:.3g}") for v in values]


def _from_text(param, text: str) -> Any:
    """The value ``text`` spells for ``param``'s kind (text stays text for the
    declaration's own words, such as ``full``, or its error message)."""
    kind = param.kind
    try:
        if kind == "int":
            number = float(text)
            return int(number) if number.is_integer() else number
        if kind == "float":
            return float(text)
        if kind in ("ints", "floats"):  # 3x3 for a kernel size; a single number for all
            cast = int if kind == "ints" else float
            return tuple(cast(p) for p in text.lower().split("x"))
    except ValueError:
        return text
    if kind == "bool" and text.lower() in ("true", "on", "yes", "1", "false", "off", "no", "0"):
        return text.lower() in ("true", "on", "yes", "1")
    return text


def _unique(values):
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else format_value(value)


def format_value(value: Any) -> str:
    """A value as the table shows it: ``0.001``, ``32``, ``adam``, ``3x3``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return "x".join(format_value(v) for v in value)
    return str(value)


# ------------------------------------------------------------------ the plan
def plan(graph: Graph, specs: list[str]) -> list[Axis]:
    """The axes of ``specs`` (one or two ``NAME=VALUES``); raises :class:`SweepError`."""
    if not specs:
        raise SweepError("nothing to sweep: give one or two settings, such as --set lr=1e-4:1e-1:log:6")
    if len(specs) > MAX_AXES:
        raise SweepError(f"a sweep varies one or two settings, got {len(specs)}")
    axes = [parse_axis(graph, spec) for spec in specs]
    if len(axes) == 2 and axes[0].key == axes[1].key:
        raise SweepError(f"{axes[0].key} is set twice; give each setting once")
    total = math.prod(len(a.values) for a in axes)
    if total > MAX_TRIALS:
        raise SweepError(f"{' x '.join(str(len(a.values)) for a in axes)} = {total} trials; "
                         f"a sweep runs at most {MAX_TRIALS}")
    return axes


def grid(axes: list[Axis]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, the first axis slowest."""
    return [dict(zip([a.key for a in axes], combo, strict=True))
            for combo in itertools.product(*(a.values for a in axes))]


def apply_values(graph: Graph, axes: list[Axis], values: dict[str, Any]) -> Graph:
    """A copy of ``graph`` with ``values`` (axis key -> value) written in: training
    settings into its ``"training"`` section, node and block parameters into the
    nodes (every instance of a block). Raises GraphError/ParamError for a value the
    graph refuses."""
    g = graph.copy()
    training = dict(g.training)
    for axis in axes:
        target, value = axis.target, values[axis.key]
        if target.kind == "training":
            training[target.param] = list(value) if isinstance(value, tuple) else value
        elif target.kind == "node":
            g.set_params(target.owner, {target.param: value})
        else:
            for holder, node in g.blocks.instances(target.owner):
                holder.set_params(node.id, {target.param: value})
    g.set_settings("training", training)
    return g


def edits(graph: Graph, axes: list[Axis], values: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[Graph, str, str, Any]]]:
    """What applying ``values`` to ``graph`` itself changes: the new training section
    (``{}`` when no training setting is swept) and ``(graph or block body, node id,
    param, value)`` for every node parameter (the app's "Use best" turns these into
    one undoable edit)."""
    training: dict[str, Any] = {}
    params: list[tuple[Graph, str, str, Any]] = []
    for axis in axes:
        target, value = axis.target, values[axis.key]
        if target.kind == "training":
            training = training or dict(graph.training)
            training[target.param] = list(value) if isinstance(value, tuple) else value
        elif target.kind == "node":
            params.append((graph, target.owner, target.param, value))
        else:
            params += [(holder, node.id, target.param, value)
                       for holder, node in graph.blocks.instances(target.owner)]
    return training, params


def check_metric(metric: str) -> str:
    """``metric`` if the trainer reports it (``loss``, ``accuracy``, ``mae``,
    ``r2``, optionally ``val_``); raises :class:`SweepError` otherwise."""
    if metric not in declaration.MONITORS:
        raise SweepError(f"unknown metric {metric!r}{_close(metric, declaration.MONITORS)}; "
                         f"use one of {', '.join(declaration.MONITORS)}")
    return metric


def higher_is_better(metric: str) -> bool:
    """Accuracy and R² rise as a model gets better; losses and errors fall."""
    return metric.removeprefix("val_") in ("accuracy", "r2")
