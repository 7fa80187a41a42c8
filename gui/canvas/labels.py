"""The short texts a node card shows: key parameters, shapes and counts."""

from __future__ import annotations

from typing import Any

from layerloom.graph.errors import GraphError
from layerloom.graph.inference import NodeInfo
from layerloom.graph.model import Node
from layerloom.graph.params import Param
from layerloom.graph.tensor import TensorSpec, fmt_shape


def format_value(param: Param, value: Any) -> str:
    """``3×3`` for a square kernel, ``(1, 28, 28)`` for a shape, ``0.5`` for a float."""
    if isinstance(value, tuple):
        if len(value) > 1 and len(set(value)) == 1 and param.length:
            return "×".join(map(str, value))
        return fmt_shape(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def key_param_texts(node: Node) -> list[str]:
    """One short text per key parameter worth showing (``units 64``, ``relu``).

    A choice at its default (activation ``none``, dtype ``float``) and a false
    flag say nothing the user needs on the canvas, so they are left out.
    """
    if node.is_block:
        return _block_texts(node)
    texts = []
    for param in node.spec.params:
        if not param.key:
            continue
        value = node.params[param.name]
        if param.kind == "bool":
            if value:
                texts.append(param.title)
        elif param.kind == "choice":
            if value != param.coerce(param.default):
                texts.append(str(value))
        else:
            title = param.title.removesuffix(" size")
            texts.append(f"{title} {format_value(param, value)}")
    return texts


def _block_texts(node: Node) -> list[str]:
    """``block of 3 layers``, ``× 4`` when it repeats, who it shares weights with,
    then its exposed parameters (``width 64``)."""
    params = node.params
    try:
        inside = node.library[params["block"]].body.nodes
        layers = sum(1 for n in inside if n.type not in ("input", "output"))
        texts = [f"block of {layers} layer{'s' if layers != 1 else ''}"]
    except (AttributeError, LookupError, GraphError):
        texts = ["block"]
    if params.get("repeat", 1) != 1:
        texts.append(f"× {params['repeat']}")
    if params.get("shares_weights_with"):
        texts.append(f"weights of {params['shares_weights_with']}")
    for param in node.spec.params:
        if param.name not in ("block", "repeat", "shares_weights_with"):
            texts.append(f"{param.title} {format_value(param, params[param.name])}")
    return texts


def format_count(n: int) -> str:
    """``8,256`` below ten thousand, then ``61.7k`` and ``1.23M``."""
    if n < 10_000:
        return f"{n:,}"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            value = n / scale
            digits = 2 if value < 10 else 1 if value < 100 else 0
            return f"{value:.{digits}f}{suffix}"
    return str(n)


def shape_text(node: Node, info: NodeInfo | None) -> str:
    """The tensor a node produces (for an Output node: the one it receives)."""
    if info is None or info.error or info.blocked:
        return "shape ?"
    spec: TensorSpec | None = info.out
    if spec is None:
        spec = next(iter(info.inputs.values()), None)
        return f"← {spec}" if spec is not None else "shape ?"
    return f"→ {spec}"


def error_text(node: Node, info: NodeInfo | None) -> str:
    """The node's error without the node's own name in front (the card shows it)."""
    if info is None or not info.error:
        return ""
    text = info.error
    for prefix in (f"{node.title} ({node.spec.name}): ", f"{node.title}: "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


FROZEN_MARK = "\u2744"  # a snowflake: the node's weights are frozen


def init_texts(node: Node) -> tuple[str, ...]:
    """``("init orthogonal",)`` when the node's weights start otherwise than PyTorch's way."""
    init = node.training.get("init")
    if not init:
        return ()
    if init == "normal":
        return (f"init normal {node.training.get('init_std', 0.02):g}",)
    return (f"init {init.replace('_', ' ')}",)


def count_text(info: NodeInfo | None) -> str:
    if info is None or info.error or info.blocked or not info.params:
        return ""
    return f"{format_count(info.params)} params"
