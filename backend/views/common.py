"""What several views share: the sample as a panel, tokens as axis labels, a
node's output read as probabilities, and which nodes a view starts from."""

from __future__ import annotations

import numpy as np

from layerloom.backend.views.base import Bars, Curves, Images, ViewContext

MAX_VECTOR_BARS = 64


def token_labels(data, x: np.ndarray) -> list[str] | None:
    """The tokens of a token input as axis labels (characters where the data has a
    vocabulary, shown visibly for a space), else ``None``."""
    if data is None or data.input_dtype != "long":
        return None
    ids = np.asarray(x).reshape(-1)
    if data.vocabulary is not None:
        return [_visible(data.vocabulary[int(t)]) if 0 <= int(t) < len(data.vocabulary) else "?" for t in ids]
    return [str(int(t)) for t in ids]


def _visible(ch: str) -> str:
    return {" ": "_", "\n": "\\n", "\t": "\\t"}.get(ch, ch)


def sample_panel(ctx: ViewContext, x: np.ndarray, y) -> Images | Curves | Bars | None:
    """The sample as the model sees it: an image, a curve, the feature values;
    ``None`` for tokens (they label the other panels' axes instead)."""
    data = ctx.data
    what = f"Input: {ctx.own_name or 'own sample'}" if ctx.own is not None else f"Input: sample {ctx.sample}"
    if data.task == "classification" and y is not None:
        what += f" ({data.label_text(y)})"
    if data.input_dtype == "long":
        return None
    x = np.asarray(x, np.float64)
    if x.ndim == 3:
        channels = x.shape[0]
        if channels == 3:
            lo, hi = float(x.min()), float(x.max())
            rgb = (x.transpose(1, 2, 0) - lo) / ((hi - lo) or 1.0)
            return Images(what, [rgb])
        return Images(what, [x[0]] if channels == 1 else list(x[:8]),
                      [] if channels == 1 else [f"channel {c}" for c in range(min(channels, 8))])
    if x.ndim == 2:  # (T, F): time first
        return Curves(what, np.arange(x.shape[0]), [(x[:, f], f"feature {f}" if x.shape[1] > 1 else "", None)
                                                    for f in range(min(x.shape[1], 6))], x_title="time step")
    if x.ndim == 1 and len(x) <= MAX_VECTOR_BARS:
        names = data.feature_names or [f"x{i}" for i in range(len(x))]
        return Bars(what, x, list(names))
    return Curves(what, np.arange(x.size), [(x.reshape(-1), "", None)], x_title="position")


def output_probabilities(ctx: ViewContext, raw: np.ndarray) -> np.ndarray | None:
    """A classifier's Output values as class probabilities (read as the run's loss
    reads them), else ``None``."""
    data = ctx.data
    if data is None or data.task != "classification":
        return None
    import torch

    from layerloom.backend.training.losses import default_loss
    from layerloom.backend.training.probes import class_probabilities

    loss = (ctx.graph.training or {}).get("loss", "auto")
    loss = default_loss(data.task) if loss in (None, "auto") else loss
    out = torch.as_tensor(np.asarray(raw, np.float32)).reshape(1, -1)
    return class_probabilities(loss, out.shape[-1] == 1, out).numpy()[0]


def first_node(graph, test) -> str | None:
    """The first node in graph order for which ``test(node)`` holds."""
    for nid in graph.analysis().order:
        if test(graph.node(nid)):
            return nid
    return None


def is_conv(node) -> bool:
    return node.type in ("conv1d", "conv2d", "conv3d")
