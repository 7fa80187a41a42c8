"""Views of the inside of a network: what a node outputs, what a filter looks for,
where attention goes, what an activation function does.

A view computes; it never draws, and it imports no Qt. The app's Inside tab, the
inspector and ``layerloom plot`` all read this registry, so a view written here
shows up in each of them with no line anywhere else.

Registry API
------------
- :class:`View` ``(name, title, help, compute, needs, applies, options, order)``:
  ``compute(ctx: ViewContext) -> Figure``. ``needs`` is a subset of
  ``{"model", "data"}`` (what ``layerloom plot`` must load before calling it);
  ``applies(graph, node_id) -> bool`` is a cheap test the app uses to offer the
  view for a node; ``options`` maps ``name -> (type, default, help)``:
  ``layerloom plot`` offers each as ``--NAME``, the Inside tab an ``int`` option as a
  field whose "auto" leaves it out; an option left out is absent from ``ctx.options``
  and the view applies its own default (``ctx.options.get("channel")``).
- :func:`register` ``(view)`` adds it to :data:`VIEWS` (name -> View);
  :func:`list_views` gives them in menu order; :func:`compute` ``(name, ctx)`` runs one.
- :class:`ViewContext` ``(graph, model, data, node, sample, options)``: the compiled
  model on the CPU in eval mode (or ``None``), the validation set normalised as in
  training, the node id asked for (``None``: the view picks its default, e.g.
  the first convolution), the sample's index and the options.
- :class:`Figure` ``(title, panels, note, columns, data)``: panels are plain data —
  :class:`Images` (feature maps, kernels, patches), :class:`Bars` (probabilities,
  vectors), :class:`Heatmap` (sequences over time, attention), :class:`Curves`
  (functions, signals) — and ``data`` holds the numbers shown, for tests.
- :class:`NotApplicable`: raised with one line when the view does not apply to the
  node or data ("Filters are drawn for convolution layers; ...").
- :func:`~layerloom.backend.views.render.to_png` ``(figure, path)`` draws a figure
  with Pillow; :func:`~layerloom.backend.views.capture.record` runs a model on one
  sample and keeps every node's output and the attention weights computed inside
  each node, for views that need them.

To add a view, write a module in this package that calls ``register(View(...))``
at import, and imports torch (and :mod:`~layerloom.backend.views.capture`,
:mod:`~layerloom.backend.views.render`) inside its functions only: the command
line lists the views when it builds its parser, and ``layerloom validate`` must
not wait for torch. Every module of this package but the shared helpers
(:data:`HELPERS`) is imported here, in name order: a module that registers needs
no line anywhere else.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from layerloom.backend.views.base import (
    VIEWS,
    Bars,
    Curves,
    Figure,
    Heatmap,
    Images,
    NotApplicable,
    View,
    ViewContext,
    compute,
    list_views,
    register,
)

HELPERS = frozenset({"base", "capture", "common", "render"})  # imported where used (torch, Pillow)

for _module in sorted(m.name for m in _pkgutil.iter_modules(__path__) if m.name not in HELPERS):
    _importlib.import_module(f"{__name__}.{_module}")  # registers its views

__all__ = [
    "VIEWS", "Bars", "Curves", "Figure", "Heatmap", "Images", "NotApplicable", "View", "ViewContext",
    "compute", "list_views", "register",
]
