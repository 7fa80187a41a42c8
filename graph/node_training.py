"""How one node's weights train: whether they are trainable, and how they start.

These per-node settings are declared once, as typed :class:`Param`\\ s, like a layer's
parameters and the training settings: the inspector builds its form from them, the
file loader checks them, ``layerloom layers`` lists them, and compile applies them.

``trainable``
    ``False`` freezes the node: its parameters get no gradient and are left out of
    the optimizer (fine-tuning the rest of a network). A frozen block freezes
    everything inside it; a block instance that shares another's weights trains or
    not as that instance does.
``init``
    How the node's weights are drawn when a model is compiled (seeded with the run's
    seed, so reproducible): ``default`` (PyTorch's own), ``kaiming_normal``,
    ``kaiming_uniform``, ``xavier_normal``, ``xavier_uniform``, ``normal`` (with
    ``init_std``), ``orthogonal`` or ``zeros``. The scheme draws every weight matrix
    or kernel (a parameter with two or more dims) and sets the biases to zero;
    ``zeros`` sets every parameter of the node to zero. Offered on layers with
    parameters (not on blocks: set it on the layers inside).

A node keeps only the values that differ from the defaults (``Node.training``), and
a file writes its ``"training"`` object only then: files without it load as
trainable with PyTorch's initialisation, and older files stay byte-identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from layerloom.graph.errors import ParamError
from layerloom.graph.params import Bool, Choice, Float, Param
from layerloom.graph.registry import BLOCK_TYPE, LayerSpec, _no_params

INIT_SCHEMES = ("default", "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform",
                "normal", "orthogonal", "zeros")

NODE_TRAINING: tuple[Param, ...] = (
    Bool("trainable", True, "Train this node's weights; off freezes them (no gradient, not in the "
         "optimizer), e.g. to fine-tune only the last layers"),
    Choice("init", "default", INIT_SCHEMES,
           "How the weights start: PyTorch's default, Kaiming/He or Xavier/Glorot (normal or "
           "uniform), normal with init std, orthogonal, or zeros; biases start at zero",
           label="initialisation"),
    Float("init_std", 0.02, "Standard deviation of the normal initialisation", minimum=0.0,
          exclusive_minimum=True, maximum=100.0, label="init std"),
)
DEFAULTS = {p.name: p.default for p in NODE_TRAINING}


def has_parameters(spec: LayerSpec) -> bool:
    """Whether nodes of ``spec`` own parameters (so they can be frozen)."""
    return spec.type_id == BLOCK_TYPE or spec.param_count is not _no_params


def takes_init(spec: LayerSpec) -> bool:
    """Whether nodes of ``spec`` take an initialisation scheme (layers with parameters)."""
    return spec.type_id != BLOCK_TYPE and spec.param_count is not _no_params


def applicable(spec: LayerSpec) -> tuple[Param, ...]:
    """The per-node training settings a node of ``spec`` offers, in form order."""
    if not has_parameters(spec):
        return ()
    if not takes_init(spec):
        return NODE_TRAINING[:1]
    return NODE_TRAINING


def check_training(spec: LayerSpec, values: Any) -> dict[str, Any]:
    """``values`` checked against the declaration, without the default values.

    Raises :class:`ParamError` for anything but an object, an unknown key, a wrong
    value, or a setting that ``spec``'s nodes do not take (a ReLU has nothing to
    freeze).
    """
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ParamError(f"a node's training settings must be an object, got {values!r}")
    offered = {p.name: p for p in applicable(spec)}
    out = {}
    for key, value in values.items():
        if key not in DEFAULTS:
            raise ParamError(f"unknown node training setting {key!r}; known ones are "
                             f"{', '.join(DEFAULTS)}")
        param = next(p for p in NODE_TRAINING if p.name == key)
        value = param.coerce(value)
        if value == param.default:
            continue
        if key not in offered:
            why = "they have no parameters" if not offered else "set it on the layers inside the block"
            raise ParamError(f"{key} cannot be set on {spec.name} nodes: {why}")
        out[key] = value
    return {p.name: out[p.name] for p in NODE_TRAINING if p.name in out}


def full(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every per-node training setting, the defaults filled in."""
    return {**DEFAULTS, **values}


def to_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """A node's (non-default) training settings as plain JSON data."""
    return {p.name: p.to_json(values[p.name]) for p in NODE_TRAINING if p.name in values}


def describe(values: Mapping[str, Any]) -> str:
    """A short text of the non-default settings: ``frozen, init kaiming_normal``."""
    parts = []
    if values.get("trainable") is False:
        parts.append("frozen")
    init = values.get("init")
    if init == "normal":
        parts.append(f"init normal(std {full(values)['init_std']:g})")
    elif init:
        parts.append(f"init {init}")
    return ", ".join(parts)


def frozen_params(graph, analysis=None) -> int:
    """Parameters of ``graph`` in frozen nodes (a frozen block's whole inside; inside a
    trainable block, its frozen layers, per repeat), from its shape analysis."""
    analysis = analysis or graph.analysis()
    total = 0
    for node in graph.nodes:
        info = analysis.nodes.get(node.id)
        if info is None or info.error or info.blocked:
            continue
        if node.training.get("trainable") is False:
            total += info.params
        elif node.is_block and not node.params["shares_weights_with"]:
            inst = graph.blocks.instance(node.params["block"], node.params, info.inputs)
            total += node.params["repeat"] * frozen_params(inst.graph, inst.analysis)
    return total
