"""The view registry's building blocks: what a view receives, what it returns.

A view computes; it never draws. It returns a :class:`Figure` of plain panels
(NumPy arrays and labels), which :mod:`layerloom.backend.views.render` turns into
a PNG for ``layerloom plot`` and the app shows in its Inside tab. A view that does
not apply to the node or data it was given raises :class:`NotApplicable` with one
line saying why, instead of returning empty panels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class NotApplicable(Exception):
    """The view does not apply to this node, model or data; the message says why in
    one line (``"Filters are drawn for convolution layers; Dense 64 is a Dense layer"``)."""


# ----------------------------------------------------------------- panels
@dataclass
class Images:
    """Small images in a grid: feature maps, kernels, patches, a sample.

    ``images`` are ``(H, W)`` arrays (a colour map is applied) or ``(H, W, 3)``
    arrays of values in 0..1 (drawn as they are). ``diverging``: a blue-white-red
    map centred on 0 for signed values (kernels), else dark-to-light.
    ``shared_scale``: one colour scale for every image, not one each.
    """

    title: str
    images: list[np.ndarray]
    labels: list[str] = field(default_factory=list)
    diverging: bool = False
    shared_scale: bool = False


@dataclass
class Bars:
    """Labelled bars: probabilities, a vector's values. ``highlight`` indexes bars
    drawn in the accent colour (the true class)."""

    title: str
    values: np.ndarray
    labels: list[str] = field(default_factory=list)
    highlight: Sequence[int] = ()
    y_title: str = ""
    y_range: tuple[float, float] | None = None


@dataclass
class Heatmap:
    """A matrix: rows down the left, columns along the bottom."""

    title: str
    values: np.ndarray
    row_labels: list[str] = field(default_factory=list)
    column_labels: list[str] = field(default_factory=list)
    row_title: str = ""
    column_title: str = ""
    diverging: bool = False


@dataclass
class Curves:
    """Lines over a shared x axis; each series is ``(y, label, colour)`` and may
    have its own x (``(x, y, label, colour)``)."""

    title: str
    x: np.ndarray
    series: list[tuple]
    x_title: str = ""
    y_title: str = ""
    markers: bool = False


Panel = Images | Bars | Heatmap | Curves


@dataclass
class Figure:
    """What a view returns: a title, panels side by side (wrapping to ``columns``
    per row) and a one-line note under them; ``panel_height`` (optional) sets the
    rows' height in a PNG (small pictures need less than the default)."""

    title: str
    panels: list[Panel]
    note: str = ""
    columns: int = 2
    data: dict[str, Any] = field(default_factory=dict)  # the numbers shown, for tests and scripts
    panel_height: int | None = None  # a PNG's row height (``to_png``), where the default wastes room


# ----------------------------------------------------------------- context
@dataclass
class ViewContext:
    """Everything a view may read.

    Attributes
    ----------
    graph : Graph
        The graph the model was compiled from.
    model : CompiledGraph or None
        On the CPU, in eval mode; ``None`` for views that need no weights.
    data : Dataset or None
        The validation set (normalised as in training), else the training set.
    node : str or None
        The node asked for; ``None`` lets the view pick its default.
    sample : int
        Index into ``data``.
    options : dict
        View-specific options (``channel``, ``head``, ...), as given.
    own : np.ndarray or None
        A sample of the user's own (drawn in the app, or ``--image``), shaped and
        scaled like ``data``'s samples, used in place of sample ``sample``; it has
        no true target.
    own_name : str
        What to call ``own`` in titles (``"drawn sample"``, ``"digit.png"``).
    """

    graph: Any
    model: Any = None
    data: Any = None
    node: str | None = None
    sample: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    own: np.ndarray | None = None
    own_name: str = ""

    def title(self, node_id: str) -> str:
        return self.graph.node(node_id).title if self.graph.has_node(node_id) else node_id

    def need_model(self, view: str) -> Any:
        if self.model is None:
            raise NotApplicable(f"The {view} view needs a model with weights: train one or give --weights")
        return self.model

    def need_data(self, view: str) -> Any:
        if self.data is None or not len(self.data):
            raise NotApplicable(f"The {view} view needs data: the graph has no dataset with samples")
        return self.data

    def sample_index(self) -> int:
        data = self.data
        n = len(data)
        if not 0 <= self.sample < n:
            raise NotApplicable(f"sample {self.sample} is out of range: the validation set has {n} samples "
                                f"(0 to {n - 1})")
        return int(self.sample)

    def chosen_sample(self) -> tuple[np.ndarray, Any, str]:
        """``(x, y, name)``: the sample as a batch of one, its true target (``None``
        for one's own) and what titles call it."""
        if self.own is not None:
            return np.asarray(self.own, np.float32)[None], None, self.own_name or "own sample"
        i = self.sample_index()
        return self.data.x[i: i + 1], self.data.y[i], f"validation sample {i}"

    def node_or(self, view: str, pick: Callable[[Any], str | None], wanted: str) -> str:
        """The node asked for (checked to exist), else ``pick(graph)``'s, else
        :class:`NotApplicable` saying the graph has no ``wanted``."""
        if self.node is not None:
            if not self.graph.has_node(self.node):
                ids = ", ".join(n.id for n in self.graph.nodes)
                raise NotApplicable(f"no node {self.node!r} in the graph; its nodes are {ids}")
            return self.node
        chosen = pick(self.graph)
        if chosen is None:
            raise NotApplicable(f"The {view} view needs {wanted}; this graph has none")
        return chosen


# ----------------------------------------------------------------- registry
SAMPLE_NEEDS = frozenset({"model", "data", "sample"})  # a view of one sample (validation, drawn or a file)


@dataclass(frozen=True)
class View:
    """One registered view.

    ``compute(ctx) -> Figure``; ``needs`` is a subset of ``{"model", "data",
    "sample"}`` (what the command line must load; ``"sample"``: the view shows one
    sample, which may be the user's own, ``ViewContext.own``); ``applies(graph, node_id) -> bool`` says
    whether the app offers the view for a node (the compute function still
    decides, and says why not); ``options`` maps an option name to ``(type,
    default, help)`` (``layerloom plot`` gives each as ``--NAME``).
    """

    name: str
    title: str
    help: str
    compute: Callable[[ViewContext], Figure]
    needs: frozenset[str] = frozenset({"model", "data"})
    applies: Callable[[Any, str], bool] = lambda graph, node_id: True
    options: dict[str, tuple[type, Any, str]] = field(default_factory=dict)
    order: int = 100


VIEWS: dict[str, View] = {}


def register(view: View) -> View:
    """Add ``view`` to :data:`VIEWS` (a second view of the same name is an error)."""
    if view.name in VIEWS and VIEWS[view.name] is not view:
        raise ValueError(f"a view named {view.name!r} is registered already")
    VIEWS[view.name] = view
    return view


def list_views() -> list[View]:
    """Every view, in menu order (``order``, then name)."""
    return sorted(VIEWS.values(), key=lambda v: (v.order, v.name))


def compute(name: str, ctx: ViewContext) -> Figure:
    """Run view ``name`` on ``ctx``; raises :class:`NotApplicable` or ``KeyError``."""
    if name not in VIEWS:
        raise KeyError(f"no view named {name!r}; the views are {', '.join(v.name for v in list_views())}")
    return VIEWS[name].compute(ctx)
