"""The inspect views as PNG files, without a display (matplotlib's Agg backend).

``layerloom plot`` writes these for slides; they show what the app's panels
show: the sample with the saliency or Grad-CAM heat map over it (bars for
features), and the loss landscape as filled contours with the training path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from layerloom.backend.insight.embedding import Projection
from layerloom.backend.insight.gradcam import GradCam
from layerloom.backend.insight.landscape import Surface, path_hint
from layerloom.backend.insight.saliency import Saliency

HEAT = "inferno"


def _figure(size=(5.0, 4.0)):
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=100, layout="constrained")


def _grey(sample: np.ndarray) -> np.ndarray | None:
    """The sample as a 2-D grey picture (channels averaged), or ``None``."""
    if sample.ndim == 3:
        return sample.mean(axis=0)
    if sample.ndim == 2:
        return sample
    return None


def _class_name(names, i: int) -> str:
    return str(names[i]) if names is not None and 0 <= i < len(names) else str(i)


def saliency_figure(result: Saliency, class_names=None, title: str = ""):
    fig = _figure((7.0, 3.6) if result.kind != "features" else (6.0, 3.6))
    caption = (f"class {_class_name(class_names, result.target)} (p = {result.probability:.2f}); "
               f"predicted {_class_name(class_names, result.predicted)}")
    if result.kind == "features":
        ax = fig.add_subplot()
        colours = ["#2563eb" if v >= 0 else "#dc2626" for v in result.values]
        ax.bar(np.arange(len(result.values)), result.values, color=colours)
        ax.axhline(0, color="#6b7280", lw=0.8)
        ax.set_xlabel("input feature")
        ax.set_ylabel("∂ score / ∂ feature")
        ax.set_title(title or f"Saliency: {caption}", fontsize=9)
        return fig
    grey = _grey(result.sample)
    left, right = fig.subplots(1, 2)
    left.imshow(grey if grey is not None else result.values, cmap="gray")
    left.set_title("input", fontsize=9)
    right.imshow(grey if grey is not None else result.values, cmap="gray")
    right.imshow(result.values, cmap=HEAT, alpha=0.6, vmin=0, vmax=1)
    right.set_title("|gradient| of the class score", fontsize=9)
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"Saliency: {caption}", fontsize=10)
    return fig


def gradcam_figure(result: GradCam, class_names=None, title: str = ""):
    fig = _figure((7.0, 3.6))
    caption = (f"class {_class_name(class_names, result.target)} at {result.node}; "
               f"predicted {_class_name(class_names, result.predicted)}")
    grey = _grey(result.sample)
    left, right = fig.subplots(1, 2)
    if result.values.ndim == 1:  # a 1-D signal: the curve, coloured by the map
        signal = result.sample.reshape(-1, result.values.shape[0]).mean(axis=0)
        left.plot(signal, color="#2563eb")
        left.set_title("input", fontsize=9)
        right.plot(signal, color="#9ca3af")
        right.scatter(np.arange(len(signal)), signal, c=result.values, cmap=HEAT, vmin=0, vmax=1, s=18)
    else:
        left.imshow(grey, cmap="gray")
        left.set_title("input", fontsize=9)
        right.imshow(grey, cmap="gray")
        right.imshow(result.values, cmap=HEAT, alpha=0.6, vmin=0, vmax=1)
        for ax in (left, right):
            ax.set_xticks([])
            ax.set_yticks([])
    right.set_title("Grad-CAM (evidence for the class)", fontsize=9)
    fig.suptitle(title or f"Grad-CAM: {caption}", fontsize=10)
    return fig


def landscape_figure(surface: Surface, title: str = ""):
    fig = _figure((6.0, 5.0))
    ax = fig.add_subplot()
    losses = np.where(np.isfinite(surface.losses), surface.losses, np.nan)
    finite = losses[np.isfinite(losses)]
    if finite.size:
        lo, hi = float(finite.min()), float(np.quantile(finite, 0.98))
        levels = np.linspace(lo, hi if hi > lo else lo + 1e-6, 25)
        filled = ax.contourf(surface.xs, surface.ys, np.clip(losses, lo, hi), levels=levels, cmap="viridis")
        ax.contour(surface.xs, surface.ys, np.clip(losses, lo, hi), levels=levels[::3], colors="white",
                   linewidths=0.4, alpha=0.6)
        fig.colorbar(filled, ax=ax, label="loss")
    if surface.path is not None and len(surface.path):
        px, py = surface.path[:, 0], surface.path[:, 1]
        ax.plot(px, py, "-", color="#f97316", lw=1.5, label="training path")
        ax.plot(px, py, "o", color="#f97316", ms=3)
        ax.plot(px[0], py[0], "s", color="white", mec="#f97316", ms=7, label="start")
    ax.plot(*surface.centre, "*", color="#dc2626", ms=14, mec="white", label="current weights")
    ax.set_xlabel(surface.x_label)
    ax.set_ylabel(surface.y_label)
    ax.legend(loc="upper right", fontsize=8)
    what = {"exact": "exact loss over w and b", "pca": "loss along the training path's directions",
            "random": "loss along two random directions"}[surface.kind]
    ax.set_title(title or f"Loss landscape: {what}", fontsize=10)
    hint = path_hint(surface)
    if hint:
        fig.text(0.01, 0.005, hint[:1].upper() + hint[1:] + ".", fontsize=7, color="#334155", wrap=True)
    return fig


def embedding_figure(result: Projection, title: str = ""):
    fig = _figure((6.0, 5.0))
    ax = fig.add_subplot()
    pts = result.points
    ax.scatter(pts[:, 0], pts[:, 1], s=30, color="#2563eb", edgecolors="white")
    if len(pts) <= 120:
        for (x, y), text in zip(pts, result.labels, strict=True):
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8, color="#334155")
    if result.dim > 2:
        ax.set_xlabel(f"principal component 1 ({result.explained[0]:.0%} of the variance)")
        ax.set_ylabel(f"principal component 2 ({result.explained[1]:.0%})")
    ax.set_title(title or f"Embedding vectors of {result.node} ({len(pts)} tokens, {result.dim} dimensions)",
                 fontsize=10)
    return fig


def save(fig, path: str | Path) -> Path:
    path = Path(path)
    fig.savefig(path, format="png")
    return path
