"""Draw a :class:`~layerloom.backend.views.base.Figure` as an image, with Pillow only.

The command line has no display and no Qt, so the views are drawn here with
``PIL.ImageDraw`` (Pillow is a dependency already); the app shows the same image
(one drawing, so a slide and the screen agree). Panels sit side by side,
``figure.columns`` per row, each in a cell of ``panel_height`` pixels; the title
is above them and the note below.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from layerloom.backend.views.base import Bars, Curves, Figure, Heatmap, Images

BACKGROUND = (255, 255, 255)
INK = (30, 41, 59)
MUTED = (100, 116, 139)
GRID = (226, 232, 240)
ACCENT = (22, 163, 74)
BAR = (148, 163, 184)
SERIES = ((37, 99, 235), (249, 115, 22), (22, 163, 74), (147, 51, 234), (220, 38, 38), (8, 145, 178))
MAX_TILES = 64
PAD = 10

_SEQUENTIAL = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], float)
_DIVERGING = np.array([[37, 99, 235], [147, 197, 253], [255, 255, 255], [252, 165, 165], [220, 38, 38]], float)


def _lut(stops: np.ndarray) -> np.ndarray:
    t = np.linspace(0, 1, 256)
    pos = np.linspace(0, 1, len(stops))
    return np.stack([np.interp(t, pos, stops[:, c]) for c in range(3)], axis=1).astype(np.uint8)


SEQUENTIAL, DIVERGING = _lut(_SEQUENTIAL), _lut(_DIVERGING)
_FONTS: dict[int, ImageFont.FreeTypeFont] = {}


def font(size: int):
    if size not in _FONTS:
        _FONTS[size] = ImageFont.load_default(size=size)
    return _FONTS[size]


def colour(values: np.ndarray, diverging: bool = False, limits: tuple[float, float] | None = None) -> np.ndarray:
    """``(H, W)`` values -> ``(H, W, 3)`` uint8 through the colour map (NaN grey);
    ``(H, W, 3)`` values in 0..1 pass through as colours."""
    values = np.asarray(values, np.float64)
    if values.ndim == 3 and values.shape[-1] == 3:
        return (np.clip(np.nan_to_num(values), 0, 1) * 255).astype(np.uint8)
    finite = values[np.isfinite(values)]
    lo, hi = limits if limits is not None else (
        (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0))
    if diverging:
        m = max(abs(lo), abs(hi)) or 1.0
        lo, hi = -m, m
    t = (values - lo) / (hi - lo) if hi > lo else np.full_like(values, 0.5)
    index = (np.clip(np.nan_to_num(t, nan=0.5), 0, 1) * 255).astype(np.uint8)
    rgb = (DIVERGING if diverging else SEQUENTIAL)[index]
    rgb[~np.isfinite(values)] = (200, 200, 200)
    return rgb


# characters the bundled font lacks, and what stands in for them
_ASCII = str.maketrans({"×": "x", "␣": "_", "↵": "\\n", "⇥": "\\t", "—": "-", "–": "-", "′": "'", "−": "-",
                        "²": "^2", "→": "->"})


_TEXTS: dict[tuple, Image.Image] = {}  # rendered text masks: labels and ticks recur on every refresh
_WIDTHS: dict[tuple[str, int], float] = {}
MAX_CACHED_TEXTS = 4000


def _put(draw, xy, text, fill, font) -> None:
    """``draw.text`` through a cache of rendered masks (FreeType is the slow part)."""
    text = str(text).translate(_ASCII)
    if not text:
        return
    key = (text, font.size)
    mask = _TEXTS.get(key)
    if mask is None:
        if len(_TEXTS) > MAX_CACHED_TEXTS:
            _TEXTS.clear()
        left, top, right, bottom = font.getbbox(text)
        mask = Image.new("L", (max(1, right), max(1, bottom)), 0)
        ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font)
        _TEXTS[key] = mask
    draw._image.paste(fill, (int(round(xy[0])), int(round(xy[1]))), mask)


def _length(text: str, f) -> float:
    """Width of ``text`` in pixels, summed from cached character widths (kerning aside)."""
    total = 0.0
    for ch in str(text).translate(_ASCII):
        width = _WIDTHS.get((ch, f.size))
        if width is None:
            width = _WIDTHS[(ch, f.size)] = f.getlength(ch)
        total += width
    return total


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, n)
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * step:
            step *= m
            break
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.3g}" if v != 0 else "0"


def _fit(text: str, width: float, f) -> str:
    if _length(text, f) <= width:
        return text
    while text and _length(text + "…", f) > width:
        text = text[:-1]
    return text + "…" if text else ""


def _wrap(text: str, width: float, f) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if _length(trial, f) <= width or not line:
            line = trial
        else:
            lines.append(line)
            line = word
    return lines + ([line] if line else [])


# ------------------------------------------------------------------- figure
def render(figure: Figure, width: int = 900, panel_height: int = 300) -> Image.Image:
    """The figure as an RGB image ``width`` pixels wide."""
    columns = max(1, min(figure.columns, len(figure.panels) or 1))
    rows = math.ceil(len(figure.panels) / columns) if figure.panels else 0
    title_f, note_f = font(16), font(12)
    note_lines = _wrap(figure.note, width - 2 * PAD, note_f) if figure.note else []
    top = 30
    height = top + rows * panel_height + len(note_lines) * 16 + PAD + 4
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    _put(draw, (PAD, 7), _fit(figure.title, width - 2 * PAD, title_f), fill=INK, font=title_f)
    cell_w = (width - PAD) / columns
    for i, panel in enumerate(figure.panels):
        r, c = divmod(i, columns)
        box = (int(PAD + c * cell_w), top + r * panel_height, int(PAD + (c + 1) * cell_w) - PAD,
               top + (r + 1) * panel_height - 6)
        _PAINTERS[type(panel)](image, draw, panel, box)
    y = top + rows * panel_height + 2
    for line in note_lines:
        _put(draw, (PAD, y), line, fill=MUTED, font=note_f)
        y += 16
    return image


def to_png(figure: Figure, path: str | Path | None = None, width: int = 900, panel_height: int = 300) -> bytes:
    """PNG bytes of the figure, also written to ``path`` when given (rows as high
    as the figure asks, else ``panel_height``)."""
    buffer = io.BytesIO()
    render(figure, width, figure.panel_height or panel_height).save(buffer, format="PNG")
    data = buffer.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


# ------------------------------------------------------------------- panels
def _panel_title(draw, text: str, box) -> int:
    f = font(13)
    _put(draw, (box[0], box[1]), _fit(text, box[2] - box[0], f), fill=INK, font=f)
    return box[1] + 20


def _grid_shape(n: int, width: float, height: float, aspect: float) -> tuple[int, int, float]:
    """Columns, rows and tile size that fit ``n`` tiles of ``aspect`` (w/h) largest."""
    best = (1, n, 0.0)
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        size = min(width / cols / aspect, height / rows)  # tile height
        if size > best[2]:
            best = (cols, rows, size)
    return best


def _images(image, draw, panel: Images, box) -> None:
    top = _panel_title(draw, panel.title, box)
    tiles = panel.images[:MAX_TILES]
    if not tiles:
        return
    h0, w0 = np.asarray(tiles[0]).shape[:2]
    labelled = bool(panel.labels)
    label_h = 13 if labelled else 0
    gap = 3
    width, height = box[2] - box[0], box[3] - top
    cols, rows, size = _grid_shape(len(tiles), width, height, (w0 / h0) * 1.0)
    th = max(1, int(min(size - gap - label_h, (width / cols - gap) * h0 / w0)))
    tw = max(1, int(th * w0 / h0))
    limits = None
    if panel.shared_scale:
        finite = np.concatenate([np.asarray(t, np.float64).reshape(-1) for t in tiles])
        finite = finite[np.isfinite(finite)]
        limits = (float(finite.min()), float(finite.max())) if finite.size else None
    scale = th // h0
    same = all(np.shape(t) == np.shape(tiles[0]) for t in tiles)
    if same and scale >= 1:  # one array for the whole grid: integer upscaling, one paste
        tw, th = w0 * scale, h0 * scale
        grid = np.full((rows * (th + gap + label_h), cols * (tw + gap), 3), 255, np.uint8)
        rgb = _colour_all(tiles, panel.diverging, limits)
        rgb = rgb.repeat(scale, axis=1).repeat(scale, axis=2)
        for i in range(len(tiles)):
            r, c = divmod(i, cols)
            y, x = r * (th + gap + label_h), c * (tw + gap)
            grid[y: y + th, x: x + tw] = rgb[i]
        image.paste(Image.fromarray(grid, "RGB"), (int(box[0]), int(top)))
    f = font(10)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        x = box[0] + c * (tw + gap)
        y = top + r * (th + gap + label_h)
        if not (same and scale >= 1):
            picture = Image.fromarray(colour(tile, panel.diverging, limits), "RGB").resize(
                (tw, th), Image.Resampling.NEAREST)
            image.paste(picture, (int(x), int(y)))
        draw.rectangle((x - 1, y - 1, x + tw, y + th), outline=GRID)
        if labelled and i < len(panel.labels) and tw >= 24:
            _put(draw, (x, y + th + 1), _fit(panel.labels[i], tw + gap, f), fill=MUTED, font=f)


def _colour_all(tiles, diverging: bool, limits) -> np.ndarray:
    """``(n, H, W, 3)`` colours of same-shaped tiles, each on its own scale unless
    ``limits`` gives one for all."""
    stack = np.asarray(tiles, np.float64)
    if stack.ndim == 4 and stack.shape[-1] == 3:
        return (np.clip(np.nan_to_num(stack), 0, 1) * 255).astype(np.uint8)
    finite = np.isfinite(stack)
    if limits is not None:
        lo = np.full(len(stack), limits[0])
        hi = np.full(len(stack), limits[1])
    else:
        lo = np.where(finite, stack, np.inf).min(axis=(1, 2))
        hi = np.where(finite, stack, -np.inf).max(axis=(1, 2))
        lo[~np.isfinite(lo)], hi[~np.isfinite(hi)] = 0.0, 1.0
    if diverging:
        m = np.maximum(np.abs(lo), np.abs(hi))
        m[m == 0] = 1.0
        lo, hi = -m, m
    span = np.where(hi > lo, hi - lo, 1.0)[:, None, None]
    t = np.where(finite, (stack - lo[:, None, None]) / span, 0.5)
    t[(hi <= lo)] = 0.5
    rgb = (DIVERGING if diverging else SEQUENTIAL)[(np.clip(t, 0, 1) * 255).astype(np.uint8)]
    rgb[~finite] = (200, 200, 200)
    return rgb


def _axes(draw, box, top: int, y_lo: float, y_hi: float, y_title: str, bottom_space: int = 18):
    """Draw y ticks and the frame; returns the plot area and a value -> y function."""
    f = font(10)
    ticks = nice_ticks(y_lo, y_hi)
    left = box[0] + 8 + max([_length(_fmt(t), f) for t in ticks] + [10]) + (12 if y_title else 0)
    area = (int(left), top + 4, box[2] - 4, box[3] - bottom_space)
    span = (y_hi - y_lo) or 1.0

    def to_y(v):
        return area[3] - (v - y_lo) / span * (area[3] - area[1])

    for t in ticks:
        y = to_y(t)
        draw.line((area[0], y, area[2], y), fill=GRID)
        label = _fmt(t)
        _put(draw, (area[0] - 4 - _length(label, f), y - 6), label, fill=MUTED, font=f)
    draw.rectangle(area, outline=MUTED)
    if y_title:  # at the right of the panel's title line
        _put(draw, (box[2] - _length(y_title, f) - 4, top - 18), y_title, fill=MUTED, font=f)
    return area, to_y


def _bars(image, draw, panel: Bars, box) -> None:
    top = _panel_title(draw, panel.title, box)
    values = np.nan_to_num(np.asarray(panel.values, np.float64).reshape(-1))
    if not values.size:
        return
    lo, hi = panel.y_range or (min(0.0, float(values.min())), max(0.0, float(values.max())))
    if hi <= lo:
        hi = lo + 1.0
    area, to_y = _axes(draw, box, top + 4, lo, hi, panel.y_title)
    n = len(values)
    step = (area[2] - area[0]) / n
    zero = to_y(min(max(0.0, lo), hi))
    highlight = set(int(i) for i in panel.highlight)
    f = font(10)
    every = max(1, math.ceil(n * 28 / max(1.0, area[2] - area[0])))
    for i, v in enumerate(values):
        x0 = area[0] + i * step + step * 0.15
        x1 = area[0] + (i + 1) * step - step * 0.15
        y = to_y(min(max(v, lo), hi))
        draw.rectangle((x0, min(y, zero), max(x0, x1), max(y, zero)), fill=ACCENT if i in highlight else BAR)
        if panel.labels and i < len(panel.labels) and i % every == 0:
            label = _fit(str(panel.labels[i]), step * every, f)
            _put(draw, ((x0 + x1) / 2 - _length(label, f) / 2, area[3] + 3), label, fill=MUTED, font=f)


def _heatmap(image, draw, panel: Heatmap, box) -> None:
    top = _panel_title(draw, panel.title, box)
    values = np.asarray(panel.values, np.float64)
    if values.ndim != 2 or not values.size:
        return
    f = font(10)
    rows, cols = values.shape
    left_space = max([_length(str(s), f) for s in panel.row_labels[:200]] + [0]) + 6
    left_space += 18 if panel.row_title else 0
    bottom_space = (14 if panel.column_labels else 0) + (14 if panel.column_title else 0)
    width, height = box[2] - box[0] - left_space, box[3] - top - bottom_space
    cw, ch = max(1.0, width / cols), max(1.0, height / rows)
    cw, ch = min(cw, 3 * ch), min(ch, 3 * cw)  # cells no more than 3 times wider than high, or higher
    x0, y0 = box[0] + left_space, top
    picture = Image.fromarray(colour(values, panel.diverging), "RGB").resize(
        (max(1, int(cw * cols)), max(1, int(ch * rows))), Image.Resampling.NEAREST)
    image.paste(picture, (int(x0), int(y0)))
    draw.rectangle((x0 - 1, y0 - 1, x0 + cw * cols, y0 + ch * rows), outline=MUTED)
    every_r = max(1, math.ceil(12 / ch))
    for r, label in enumerate(panel.row_labels[:rows]):
        if r % every_r == 0:
            text = str(label)
            _put(draw, (x0 - 4 - _length(text, f), y0 + (r + 0.5) * ch - 6), text, fill=INK, font=f)
    widest = max([_length(str(s), f) for s in panel.column_labels] + [1])
    every_c = max(1, math.ceil((widest + 4) / cw))
    for c, label in enumerate(panel.column_labels[:cols]):
        if c % every_c == 0:
            text = str(label)
            _put(draw, (x0 + (c + 0.5) * cw - _length(text, f) / 2, y0 + rows * ch + 2), text, fill=INK, font=f)
    if panel.column_title:
        _put(draw, (x0, y0 + rows * ch + (16 if panel.column_labels else 2)), panel.column_title,
                  fill=MUTED, font=f)
    if panel.row_title:
        label = Image.new("RGB", (int(_length(panel.row_title, f)) + 2, 14), BACKGROUND)
        _put(ImageDraw.Draw(label), (0, 0), panel.row_title, fill=MUTED, font=f)
        image.paste(label.rotate(90, expand=True), (box[0], int(y0)))


def _curves(image, draw, panel: Curves, box) -> None:
    top = _panel_title(draw, panel.title, box)
    series = [(s[0], s[1], s[2], s[3]) if len(s) == 4 else (panel.x, s[0], s[1], s[2]) for s in panel.series]
    ys = [np.asarray(y, np.float64) for _, y, _, _ in series]
    xs = [np.asarray(x, np.float64) for x, _, _, _ in series]
    finite_y = np.concatenate([y[np.isfinite(y)] for y in ys]) if ys else np.zeros(1)
    finite_x = np.concatenate([x[np.isfinite(x)] for x in xs]) if xs else np.zeros(1)
    if not finite_y.size or not finite_x.size:
        return
    lo, hi = float(finite_y.min()), float(finite_y.max())
    margin = (hi - lo) * 0.05 or 0.5
    lo, hi = lo - margin, hi + margin
    x_lo, x_hi = float(finite_x.min()), float(finite_x.max())
    if x_hi <= x_lo:
        x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
    area, to_y = _axes(draw, box, top + 4, lo, hi, panel.y_title, 30 if panel.x_title else 18)
    f = font(10)

    def to_x(v):
        return area[0] + (v - x_lo) / (x_hi - x_lo) * (area[2] - area[0])

    for t in nice_ticks(x_lo, x_hi):
        label = _fmt(t)
        _put(draw, (to_x(t) - _length(label, f) / 2, area[3] + 3), label, fill=MUTED, font=f)
    if lo < 0 < hi:
        draw.line((area[0], to_y(0), area[2], to_y(0)), fill=MUTED)
    if panel.x_title:
        _put(draw, (area[0], area[3] + 16), panel.x_title, fill=MUTED, font=f)
    legend_y = area[1] + 4
    for k, (x, y, label, rgb) in enumerate(series):
        rgb = tuple(rgb) if rgb is not None else SERIES[k % len(SERIES)]
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        points = [(to_x(a), to_y(b)) for a, b in zip(x, y, strict=False) if math.isfinite(a) and math.isfinite(b)]
        if len(points) > 1:
            draw.line(points, fill=rgb, width=2)
        if panel.markers or len(points) == 1:
            for px, py in points:
                draw.ellipse((px - 2.5, py - 2.5, px + 2.5, py + 2.5), fill=rgb)
        if label:
            draw.line((area[0] + 8, legend_y + 7, area[0] + 24, legend_y + 7), fill=rgb, width=3)
            _put(draw, (area[0] + 28, legend_y), label, fill=INK, font=f)
            legend_y += 14


_PAINTERS = {Images: _images, Bars: _bars, Heatmap: _heatmap, Curves: _curves}
