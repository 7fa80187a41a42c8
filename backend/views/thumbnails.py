"""The ``thumbnails`` view: a small picture of every node's output for one sample,
all from one forward pass (TF Playground draws every neuron this way).

The app draws these pictures under the node cards of the canvas (View ▸ Output
Thumbnails); ``layerloom plot FILE thumbnails`` draws them as a grid, one panel
per node in graph order, each labelled with the node's name and output shape.
Both read :func:`node_thumbnails` (what to show, as plain data) and
:func:`picture` (the same data as an RGB array), so a slide and the screen agree.

What a node's output becomes, by its shape (the sample's, no batch axis):
``(C, H, W)`` feature maps as a mosaic of the first :data:`MAX_MAPS` channels on
one colour scale; ``(T, D)`` sequences as a heat map, features over time; a
vector as bars (a strip of heat cells beyond :data:`MAX_BARS` values); the layer
that feeds a classifier's Output as the class probabilities the loss reads from
it, the top class in green. The Output node itself passes its input on, and a
loss node gives the training a number, so neither has a picture; the reasons come
back in :attr:`Thumbnails.skipped`, one line each.

Graphs of more than :data:`MAX_NODES` nodes are refused (the pictures would be
too many to read, and too slow to refresh live). A block node shows its output;
with ``path`` (the app's canvas inside a block; ``--node BLOCK`` for ``layerloom
plot``) the nodes inside that block instance are pictured instead, from the same
pass (:func:`~layerloom.backend.views.capture.record_block`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from layerloom.backend.views.base import Figure, Images, NotApplicable, View, ViewContext, register

MAX_NODES = 60  # larger graphs get no thumbnails
MAX_MAPS = 24  # feature maps in a mosaic
MAX_BARS = 32  # a longer vector is drawn as heat cells
MAX_ROWS = 16  # features of a sequence's heat map
SIZE = (168, 44)  # a thumbnail in the app, in pixels (the canvas card is 180 wide)
PLOT_SIZE = (200, 60)  # ... and in ``layerloom plot``'s grid
PLOT_COLUMNS = 3
BACKGROUND = (255, 255, 255)
BAR = (100, 116, 139)
TOP = (22, 163, 74)
GAP = 1  # pixels between the tiles of a mosaic


@dataclass
class Thumbnail:
    """What one node's picture shows.

    ``kind`` is ``"maps"`` (``values`` ``(n, h, w)``), ``"heat"`` (``(rows,
    columns)``), ``"bars"`` or ``"probs"`` (``(n,)``); ``caption`` is one short line
    (``"16 maps · max 2.3"``, ``"top 7 · 92%"``); ``highlight`` the bar drawn in
    green (the top class)."""

    node: str
    title: str
    shape: tuple[int, ...]
    kind: str
    values: np.ndarray
    caption: str
    diverging: bool = False
    highlight: int | None = None

    @property
    def label(self) -> str:
        """``"conv2d_1 (16, 8, 8)"``: the node's name and output shape (once, where
        the name ends with it already)."""
        shape = str(tuple(self.shape))
        return self.title if self.title.endswith(shape) else f"{self.title} {shape}"


@dataclass
class Thumbnails:
    """Every node's picture (``items``, in graph order), the nodes without one and
    why (``skipped``), the sample drawn and how long the pass took."""

    items: dict[str, Thumbnail] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    sample: int = 0
    ms: float = 0.0
    graph: object = None  # the graph whose nodes are pictured (a block's inside, for a path)
    where: str = ""  # which copy of a repeated block, where that matters


def too_large(graph) -> str | None:
    """Why ``graph`` gets no thumbnails for its size, else ``None``."""
    if len(graph) > MAX_NODES:
        return (f"Output thumbnails are drawn for graphs of up to {MAX_NODES} nodes; "
                f"this one has {len(graph)}")
    return None


def node_thumbnails(graph, model, data, sample: int = 0, path=()) -> Thumbnails:
    """Run ``model`` (CPU) once on validation sample ``sample`` of ``data`` and
    describe every node's output (with ``path``, a block node's id — and the ids of
    blocks inside it — every node's inside that block). Raises
    :class:`NotApplicable` (one line) when no node can be shown: the graph is too
    large or invalid, the sample out of range, ``path`` no block."""
    from layerloom.backend.views.capture import record, record_block
    from layerloom.backend.views.common import output_probabilities

    start = time.perf_counter()
    problem = too_large(graph)
    if problem:
        raise NotApplicable(problem)
    analysis = graph.analysis()
    if not analysis.valid:
        nid, message = analysis.errors[0]
        title = graph.node(nid).title if graph.has_node(nid) else nid
        raise NotApplicable(f"the graph has {len(analysis.errors)} error(s) ({title}: {message}); "
                            "fix them to see the outputs")
    ctx = ViewContext(graph, model, data, None, sample)
    ctx.need_model("thumbnails")
    ctx.need_data("thumbnails")
    i = ctx.sample_index()
    x = data.x[i: i + 1]
    if path:
        shown, recording, where = record_block(model, graph, x, list(path))
        problem = too_large(shown)
        if problem:
            raise NotApplicable(problem.replace("this one has", "this block has"))
        feeds: set[str] = set()
    else:
        shown, recording, where = graph, record(model, graph, x), ""
        feeds = _classifier_feeds(graph, data)
    result = Thumbnails(sample=i, graph=shown, where=where)
    for nid in shown.analysis().order:
        node = shown.node(nid)
        if node.spec.is_output:
            result.skipped[nid] = ("the block's output passes on the value of the node before it" if path else
                                   "the Output node passes its input on: the card before it shows the prediction")
            continue
        if node.spec.loss:
            result.skipped[nid] = "a loss node gives the training a number, not an output to picture"
            continue
        out = recording.outputs.get(nid)
        if out is None:
            result.skipped[nid] = "this node gives no tensor that can be pictured"
            continue
        probs = output_probabilities(ctx, out) if nid in feeds else None
        thumb = describe(nid, node.title, out, probs, data)
        if node.spec.is_input:
            thumb.diverging = False  # the sample itself: an image reads better dark-to-light
        result.items[nid] = thumb
    result.ms = 1000 * (time.perf_counter() - start)
    return result


def _classifier_feeds(graph, data) -> set[str]:
    """The nodes whose output a classifier's Output node reads (shown as probabilities)."""
    if data is None or data.task != "classification":
        return set()
    feeds = set()
    for node in graph.nodes:
        if node.spec.is_output:
            feeds.update(e.source for e in graph.incoming(node.id).values())
    return feeds


def describe(nid: str, title: str, out: np.ndarray, probs: np.ndarray | None = None, data=None) -> Thumbnail:
    """The picture that suits an output of this shape (see the module's docstring)."""
    out = np.asarray(out, np.float64)
    shape = tuple(int(s) for s in out.shape)
    finite = out[np.isfinite(out)]
    signed = bool(finite.size and finite.min() < 0)
    if probs is not None and probs.size > 1:
        top = int(np.argmax(probs))
        names = list(getattr(data, "class_names", None) or [])
        name = names[top] if top < len(names) else str(top)
        return Thumbnail(nid, title, shape, "probs", np.asarray(probs, np.float64),
                         f"top {name} · {probs[top]:.0%}", highlight=top)
    if out.ndim >= 3:
        maps = out if out.ndim == 3 else out[:, out.shape[1] // 2]
        maps = maps.reshape(maps.shape[0], maps.shape[-2], maps.shape[-1])
        n = min(len(maps), MAX_MAPS)
        what = f"{n} map{'s' if n > 1 else ''}" if n == len(maps) else f"first {n} of {len(maps)} maps"
        return Thumbnail(nid, title, shape, "maps", maps[:n], f"{what} · {_range(finite)}", signed)
    if out.ndim == 2:
        rows = min(out.shape[1], MAX_ROWS)
        what = f"{out.shape[0]} steps × {out.shape[1]} features"
        return Thumbnail(nid, title, shape, "heat", out[:, :rows].T, f"{what} · {_range(finite)}", signed)
    flat = out.reshape(-1)
    if flat.size <= MAX_BARS:
        return Thumbnail(nid, title, shape, "bars", flat, f"{flat.size} values · {_range(finite)}", signed)
    cols = math.ceil(flat.size / math.ceil(flat.size / 64))  # rows of at most 64 cells
    grid = np.full(math.ceil(flat.size / cols) * cols, np.nan)
    grid[: flat.size] = flat
    return Thumbnail(nid, title, shape, "heat", grid.reshape(-1, cols), f"{flat.size} values · {_range(finite)}",
                     signed)


def _range(finite: np.ndarray) -> str:
    if not finite.size:
        return "no finite values"
    lo, hi = float(finite.min()), float(finite.max())
    zeros = float((finite == 0).mean())
    text = f"{lo:.2g} to {hi:.2g}"
    return text + (f" · {zeros:.0%} zero" if zeros >= 0.05 else "")


# ------------------------------------------------------------------ pictures
def picture(thumb: Thumbnail, width: int = SIZE[0], height: int = SIZE[1]) -> np.ndarray:
    """``thumb`` drawn as an ``(height, width, 3)`` uint8 array on white."""
    from layerloom.backend.views.render import colour

    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = BACKGROUND
    if thumb.kind in ("bars", "probs"):
        _draw_bars(canvas, thumb)
        return canvas
    if thumb.kind == "maps":
        tiles = thumb.values
        finite = tiles[np.isfinite(tiles)]
        limits = (float(finite.min()), float(finite.max())) if finite.size else None
        n, h, w = tiles.shape
        coloured = colour(tiles.reshape(n * h, w), thumb.diverging, limits).reshape(n, h, w, 3)  # one pass
        rgb = _mosaic(list(coloured), width, height)
    else:
        rgb = _fit(colour(thumb.values, thumb.diverging), width, height, square=False)
    h, w = rgb.shape[:2]
    y, x = (height - h) // 2, (width - w) // 2
    canvas[y: y + h, x: x + w] = rgb
    return canvas


def _fit(rgb: np.ndarray, width: int, height: int, square: bool = True) -> np.ndarray:
    """``rgb`` scaled (nearest neighbour) to fit ``width`` × ``height``: by a whole
    factor each way when it is smaller, keeping square cells when ``square``."""
    h, w = rgb.shape[:2]
    sy, sx = height / h, width / w
    if square:
        sy = sx = min(sy, sx)
    else:  # cells may stretch, but no more than four times as wide as tall
        sx = min(sx, 4 * sy)
    if sy >= 1 and sx >= 1:
        sy, sx = int(sy), int(sx)
    out_h, out_w = max(1, min(height, round(h * sy))), max(1, min(width, round(w * sx)))
    rows = np.minimum((np.arange(out_h) / sy).astype(int), h - 1)
    cols = np.minimum((np.arange(out_w) / sx).astype(int), w - 1)
    return rgb[rows][:, cols]


def _mosaic(tiles: list[np.ndarray], width: int, height: int) -> np.ndarray:
    """Tiles of one size in the grid that shows them largest, ``GAP`` white pixels apart."""
    n = len(tiles)
    th, tw = tiles[0].shape[:2]
    best = (1, n, 0.0)
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        scale = min((width - GAP * (cols - 1)) / (cols * tw), (height - GAP * (rows - 1)) / (rows * th))
        if scale > best[2]:
            best = (cols, rows, scale)
    cols, rows, _ = best
    grid = np.empty((rows * th + GAP * (rows - 1), cols * tw + GAP * (cols - 1), 3), np.uint8)
    grid[:] = BACKGROUND
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        grid[r * (th + GAP): r * (th + GAP) + th, c * (tw + GAP): c * (tw + GAP) + tw] = tile
    if grid.shape[0] > height or grid.shape[1] > width or (best[2] >= 2):
        return _fit(grid, width, height)
    return grid


def _draw_bars(canvas: np.ndarray, thumb: Thumbnail) -> None:
    height, width = canvas.shape[:2]
    values = np.nan_to_num(np.asarray(thumb.values, np.float64).reshape(-1))
    n = len(values)
    if thumb.kind == "probs":
        lo, hi = 0.0, 1.0
    else:
        lo, hi = min(0.0, float(values.min())), max(0.0, float(values.max()))
    if hi <= lo:
        hi = lo + 1.0
    step = width / n
    zero = round((hi - 0.0) / (hi - lo) * (height - 1))
    canvas[zero, :] = (203, 213, 225)  # the zero line
    for i, v in enumerate(values):
        x0 = int(i * step + (0.15 * step if step >= 3 else 0))
        x1 = max(x0 + 1, int((i + 1) * step - (0.15 * step if step >= 3 else 0)))
        y = round((hi - min(max(v, lo), hi)) / (hi - lo) * (height - 1))
        top, bottom = min(y, zero), max(y, zero) + 1
        canvas[top:bottom, x0:x1] = TOP if i == thumb.highlight else BAR


# ------------------------------------------------------------------- the view
def compute(ctx: ViewContext) -> Figure:
    model, data = ctx.need_model("thumbnails"), ctx.need_data("thumbnails")
    path = ctx.node.split("/") if ctx.node else []
    graph = ctx.graph
    for depth, nid in enumerate(path):  # a path of block nodes; any other node: the top level
        if not graph.has_node(nid):
            raise NotApplicable(f"no node {nid!r} in the graph{' inside ' + path[depth - 1] if depth else ''}; "
                                f"its nodes are {', '.join(n.id for n in graph.nodes)}")
        node = graph.node(nid)
        if not node.is_block:
            path = path[:depth]
            break
        graph = graph.blocks.instance(node.params["block"], node.params, graph.analysis().nodes[nid].inputs).graph
    result = node_thumbnails(ctx.graph, model, data, ctx.sample, path)
    if not result.items:
        raise NotApplicable("no node of this graph gives an output that can be pictured")
    panels = [Images(thumb.label, [picture(thumb, *PLOT_SIZE) / 255.0], [thumb.caption])
              for thumb in result.items.values()]
    skipped = "; ".join(f"{result.graph.node(nid).title}: {why}" for nid, why in result.skipped.items())
    note = "; ".join(part for part in (result.where and f"Inside {result.where}",
                                       skipped and f"not pictured: {skipped}") if part)
    inside = f" inside {'/'.join(path)}" if path else ""
    return Figure(f"Every node's output{inside} for validation sample {result.sample}", panels,
                  note[:1].upper() + note[1:],
                  columns=PLOT_COLUMNS, panel_height=PLOT_SIZE[1] + 50,
                  data={"nodes": list(result.items), "skipped": dict(result.skipped), "ms": result.ms,
                        "outputs": {nid: t.values for nid, t in result.items.items()}})


register(View(
    "thumbnails", "Output thumbnails",
    f"every node's output for one validation sample, small, in graph order (graphs of up to {MAX_NODES} "
    "nodes; --node BLOCK: the nodes inside that block, BLOCK/INNER for a block inside it)",
    compute, applies=lambda graph, nid: len(graph) <= MAX_NODES, order=50,
))
