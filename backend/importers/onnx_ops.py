"""The ONNX importer's plain records, shared by :mod:`.onnx` (which reads the file
and follows the values) and :mod:`.onnx_rules` (which maps each operator).

Nothing here reads a file or imports ``onnx``: an :class:`Op` is one node of the
file as plain data, and :data:`DERIVED` marks a value the importer follows as a
constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Op:
    """One ONNX node as plain data (the importer rewrites a few patterns)."""

    op_type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)
    domain: str = ""
    modules: tuple = ()  # ((module path, class name), ...) the exporter recorded, outermost first
    fx_node: str = ""  # the exporter's record of the fx node the operator was made from


class Derived:
    """A value computed from constants and sizes only (an initializer, a shape)."""


DERIVED = Derived()
