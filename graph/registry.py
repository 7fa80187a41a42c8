"""The layer registry: one declaration per layer type.

A :class:`LayerSpec` gives a layer's stable id, palette entry (name, category,
keywords, docs line), parameter schema, ports and shape rule. The GUI builds its
palette and property forms from it; the loader checks files against it; the
backend looks up its torch factory by the same id. Ids never change: a renamed
layer keeps its old id as an alias so that old files still open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from layerloom.graph.errors import ParamError, ShapeError, UnknownLayerError
from layerloom.graph.params import Param
from layerloom.graph.tensor import TensorSpec

CATEGORIES = (
    "Input / Output",
    "Core",
    "Convolution",
    "Pooling",
    "Resampling",
    "Normalisation",
    "Activation",
    "Recurrent",
    "Attention",
    "Merge",
    "Math",
    "Tensor",
    "Loss",
    "Blocks",
)

# The type id of a block node: an instance of one of the graph's block definitions
# (graph/blocks.py). Its LayerSpec comes from the definition, not from the registry.
BLOCK_TYPE = "block"

Params = Mapping[str, Any]
Inputs = Mapping[str, TensorSpec]
ShapeRule = Callable[[Params, Inputs], dict[str, TensorSpec]]
CountRule = Callable[[Params, Inputs, Mapping[str, TensorSpec]], int]
Ports = tuple[str, ...] | Callable[[Params], tuple[str, ...]]


@dataclass(frozen=True, eq=False)
class Example:
    """A small, valid use of a layer type: what it receives on each input port and
    the params it is given (the rest are the defaults).

    Examples are the layer's documentation (``layerloom layers NAME``) and its
    test: the parity suite builds each example, checks the shape rule against
    torch on variations of it, and sends it through every export and importer.

    Parameters
    ----------
    inputs : mapping
        Input port -> :class:`TensorSpec` of one sample.
    params : mapping
        Params other than the defaults.
    high : int
        Token ids (``long`` inputs) are drawn from ``[0, high)``.
    policy : bool
        The shape rule refuses some inputs torch would run (on purpose, with a
        reason in its message); variations it refuses are then not required to
        fail in torch too.
    """

    inputs: Mapping[str, TensorSpec]
    params: Mapping[str, Any] = field(default_factory=dict)
    high: int = 10
    policy: bool = False


def _no_params(params: Params, ins: Inputs, outs: Mapping[str, TensorSpec]) -> int:
    return 0


def _elementwise_flops(params: Params, ins: Inputs, outs: Mapping[str, TensorSpec]) -> int:
    return sum(t.numel for t in outs.values())


@dataclass(frozen=True)
class LayerSpec:
    """Declaration of one layer type.

    Parameters
    ----------
    type_id : str
        Stable id written to files (``"conv2d"``). Never change it; add an alias.
    name : str
        Palette name (``"Conv2d"``).
    category : str
        One of :data:`CATEGORIES`.
    doc : str
        One line for tooltips and the inspector.
    params : tuple of Param
        The parameter schema, in form order.
    shape_rule : callable
        ``(params, inputs) -> {output port: TensorSpec}``; raises
        :class:`~layerloom.graph.errors.ShapeError` when the inputs do not fit.
    inputs : tuple of str or callable
        Input port names, or ``params -> tuple`` for variadic layers (merges).
    outputs : tuple of str or callable
        Output port names, or ``params -> tuple`` (Split's ``out1 .. outN``).
    param_count, flops : callable
        ``(params, inputs, outputs) -> int`` estimates per sample.
    memory : callable, optional
        ``(params, inputs, outputs) -> int``: bytes of activations per sample; by
        default the size of the outputs (a block adds up its inside).
    keywords : tuple of str
        Extra words the palette search matches.
    aliases : tuple of str
        Old ids that load as this layer.
    width_param : str, optional
        The parameter that sets the size of the output's last dim (Dense's
        ``"units"``). Fitting a graph to a dataset sets it on the layer that feeds
        the Output, to the number of classes or targets.
    passes_width : bool
        The output keeps the input's shape and nothing in the layer depends on it
        (activations, dropout): fitting a graph to a dataset looks through it for
        the layer with a ``width_param``.
    examples : tuple of Example
        Small valid uses of the layer (see :class:`Example`); a layer without one
        is tried on a few standard inputs.
    loss : bool
        A loss node (:mod:`layerloom.graph.layers.losses`): a sink like Output, but
        not a model output; training adds its value to the total loss, and
        compile and export leave it out.
    """

    type_id: str
    name: str
    category: str
    doc: str
    params: tuple[Param, ...]
    shape_rule: ShapeRule
    inputs: Ports = ("in",)
    outputs: Ports = ("out",)
    param_count: CountRule = _no_params
    flops: CountRule = _elementwise_flops
    memory: CountRule | None = None
    keywords: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    width_param: str | None = None
    passes_width: bool = False
    examples: tuple[Example, ...] = field(default=(), compare=False)
    loss: bool = False
    _by_name: dict[str, Param] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.type_id}: unknown category {self.category!r}")
        self._by_name.update({p.name: p for p in self.params})
        if self.width_param is not None:
            self.param(self.width_param)  # a ParamError naming the layer's parameters

    def param(self, name: str) -> Param:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self._by_name) or "none"
            raise ParamError(f"{self.name} has no parameter {name!r} (it has: {known})") from None

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.coerce(p.default) for p in self.params}

    def check_params(self, params: Params | None) -> dict[str, Any]:
        """Full, canonical params: defaults filled in, every value checked."""
        values = self.defaults()
        for name, value in (params or {}).items():
            values[name] = self.param(name).coerce(value)
        return values

    def input_ports(self, params: Params) -> tuple[str, ...]:
        return self.inputs(params) if callable(self.inputs) else self.inputs

    def output_ports(self, params: Params) -> tuple[str, ...]:
        return self.outputs(params) if callable(self.outputs) else self.outputs

    @property
    def is_input(self) -> bool:
        return not callable(self.inputs) and not self.inputs

    @property
    def is_output(self) -> bool:
        return not self.loss and not callable(self.outputs) and not self.outputs

    def infer(self, params: Params, inputs: Inputs) -> dict[str, TensorSpec]:
        outs = self.shape_rule(params, inputs)
        for spec in outs.values():
            if any(d <= 0 for d in spec.shape):
                raise ShapeError(
                    f"{self.name} would produce an empty tensor {spec}",
                    "use a larger input or smaller kernel / stride",
                )
        return outs


class Registry:
    """All layer types by id, with aliases for renamed ids."""

    def __init__(self) -> None:
        self._specs: dict[str, LayerSpec] = {}
        self._aliases: dict[str, str] = {}

    def register(self, spec: LayerSpec) -> LayerSpec:
        for key in (spec.type_id, *spec.aliases):
            if key == BLOCK_TYPE:
                raise ValueError(f"layer id {key!r} is reserved for block nodes")
            if key in self._specs or key in self._aliases:
                raise ValueError(f"layer id {key!r} is registered twice")
        self._specs[spec.type_id] = spec
        for alias in spec.aliases:
            self._aliases[alias] = spec.type_id
        return spec

    def resolve(self, type_id: str) -> str:
        """The current id for ``type_id`` (follows aliases)."""
        if type_id in self._specs:
            return type_id
        if type_id in self._aliases:
            return self._aliases[type_id]
        raise UnknownLayerError(f"unknown layer type {type_id!r}")

    def get(self, type_id: str) -> LayerSpec:
        return self._specs[self.resolve(type_id)]

    def __contains__(self, type_id: object) -> bool:
        return type_id in self._specs or type_id in self._aliases

    def __iter__(self):
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def by_category(self) -> dict[str, list[LayerSpec]]:
        groups: dict[str, list[LayerSpec]] = {c: [] for c in CATEGORIES}
        for spec in self._specs.values():
            groups[spec.category].append(spec)
        return {c: specs for c, specs in groups.items() if specs}

    def search(self, text: str) -> list[LayerSpec]:
        """Specs whose name, id or keywords contain every word of ``text``, best
        first: an exact name or id, then names that start with the text, then
        names that contain it, then matches in keywords or docs only."""
        words = text.lower().split()
        query = " ".join(words)
        found = []
        for order, spec in enumerate(self._specs.values()):
            hay = " ".join((spec.name, spec.type_id, spec.category, *spec.keywords)).lower()
            if all(w in hay for w in words):
                found.append((_rank(spec, query), order, spec))
        found.sort(key=lambda item: item[:2])
        return [spec for *_, spec in found]


def _rank(spec: LayerSpec, query: str) -> int:
    names = (spec.name.lower(), spec.type_id, *spec.aliases)
    squashed = query.replace(" ", "")
    if query in names or squashed in names:
        return 0
    if any(n.startswith(query) or n.startswith(squashed) for n in names):
        return 1
    if any(query in n or squashed in n for n in names):
        return 2
    if any(query == k for k in spec.keywords):
        return 3
    return 4


REGISTRY = Registry()


def register_all(specs: Iterable[LayerSpec]) -> None:
    for spec in specs:
        REGISTRY.register(spec)
