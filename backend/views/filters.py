"""The ``filters`` view: what a convolution looks for.

Without a channel: the layer's kernels as small images, one per output channel
(blue negative, red positive, one colour scale for all; a kernel over three
input channels is drawn in colour, over more the input channel ``input``). With
``channel``: the validation patches that excite that channel most — the model
runs on up to ``MAX_SEARCH`` validation samples, the strongest positions of the
channel's map are kept (one per sample), and each is cut out of its sample
where the gradient of that one value with respect to the input is non-zero (its
receptive field, found through whatever pooling and layers come before).
"""

from __future__ import annotations

import numpy as np

from layerloom.backend.views.base import (
    Figure,
    Heatmap,
    Images,
    NotApplicable,
    View,
    ViewContext,
    register,
)
from layerloom.backend.views.common import first_node, is_conv

MAX_KERNELS = 64
MAX_SEARCH = 512
TOP_PATCHES = 12


def _default(graph) -> str | None:
    return first_node(graph, is_conv)


def _conv_module(ctx: ViewContext, nid: str):
    from torch import nn

    from layerloom.backend.compile import node_names

    node = ctx.graph.node(nid)
    if not is_conv(node):
        convs = [ctx.graph.node(n).title for n in ctx.graph.analysis().order if is_conv(ctx.graph.node(n))]
        hint = f"; this graph's are: {', '.join(convs)}" if convs else "; this graph has none"
        raise NotApplicable(f"Filters are drawn for convolution layers; {node.title} is a "
                            f"{node.spec.name} layer{hint}")
    module = getattr(ctx.model, node_names(ctx.graph)[nid], None)
    if not isinstance(module, nn.modules.conv._ConvNd):
        raise NotApplicable(f"{node.title} has no convolution weights in this model")
    return node, module


def compute(ctx: ViewContext) -> Figure:
    model = ctx.need_model("filters")
    nid = ctx.node_or("filters", _default, "a convolution layer")
    node, module = _conv_module(ctx, nid)
    channel = ctx.options.get("channel")
    if channel is not None:
        return top_patches(ctx, nid, node, int(channel))
    del model
    weight = module.weight.detach().float().cpu().numpy()  # (out, in, *kernel)
    out_ch, in_ch = weight.shape[:2]
    n = min(out_ch, MAX_KERNELS)
    more = f" (first {n} of {out_ch})" if out_ch > n else ""
    if weight.ndim == 3:  # 1-d kernels: one row per output channel
        pick = int(ctx.options.get("input") or 0) % in_ch
        panel = Heatmap(f"{out_ch} kernels of width {weight.shape[2]}{more}, input channel {pick}",
                        weight[:n, pick], [str(c) for c in range(n)], [str(k) for k in range(weight.shape[2])],
                        "output channel", "tap", diverging=True)
        return Figure(f"{node.title}: kernels", [panel], _note(weight), 1, {"weights": weight})
    if weight.ndim == 5:
        weight = weight[:, :, weight.shape[2] // 2]
    if in_ch == 3:
        rgb = weight[:n].transpose(0, 2, 3, 1)
        m = float(np.abs(rgb).max()) or 1.0
        tiles, what = list(rgb / (2 * m) + 0.5), "in colour (the 3 input channels)"
    else:
        pick = int(ctx.options.get("input") or 0) % in_ch
        tiles = list(weight[:n, pick])
        what = "input channel 0" if in_ch == 1 else f"input channel {pick} of {in_ch}"
    kh, kw = weight.shape[-2:]
    panel = Images(f"{out_ch} kernels {kh}×{kw}, {what}{more}", tiles, [str(c) for c in range(n)],
                   diverging=True, shared_scale=True)
    return Figure(f"{node.title}: kernels", [panel], _note(weight) + " · blue negative, red positive",
                  1, {"weights": weight})


def _note(weight: np.ndarray) -> str:
    return (f"weights {tuple(weight.shape)} · min {weight.min():.3g} · max {weight.max():.3g} · "
            "give a channel to see the validation patches that excite it most")


def top_patches(ctx: ViewContext, nid: str, node, channel: int) -> Figure:
    """The ``TOP_PATCHES`` validation patches with the highest value of ``channel``."""
    import torch

    from layerloom.backend.compile import node_names

    data = ctx.need_data("filters")
    if data.input_dtype != "float" or len(data.input_shape) not in (2, 3):
        raise NotApplicable(f"patches are cut from image or signal inputs; {data.name} has inputs "
                            f"{tuple(data.input_shape)} ({data.input_dtype})")
    channels = ctx.graph.analysis().nodes[nid].out.shape[0]
    if not 0 <= channel < channels:
        raise NotApplicable(f"{node.title} has channels 0 to {channels - 1}; got channel {channel}")
    name = node_names(ctx.graph)[nid]
    model = ctx.model
    x = torch.as_tensor(data.x[:MAX_SEARCH])
    maps = _channel_maps(model, name, x, channel)  # (N, *spatial)
    flat = maps.reshape(len(maps), -1)
    best = flat.max(axis=1)
    order = np.argsort(-best)[:TOP_PATCHES]
    patches, labels, found = [], [], []
    for s in order:
        position = np.unravel_index(int(flat[s].argmax()), maps.shape[1:])
        region = _receptive_field(model, name, x[s: s + 1], channel, position)
        sample = data.x[s]
        cut = sample[(slice(None), *region)]
        patches.append(cut.mean(axis=0) if cut.ndim == 3 and cut.shape[0] != 3 else
                       cut.transpose(1, 2, 0) if cut.ndim == 3 else cut)
        labels.append(f"#{s} {best[s]:.2g}")
        found.append((int(s), tuple(int(p) for p in position), float(best[s])))
    if len(data.input_shape) == 2:  # signals (C, L): one row per patch
        width = max(p.shape[-1] for p in patches)
        rows = np.full((len(patches), width), np.nan)
        for r, p in enumerate(patches):
            values = p.mean(axis=0) if p.ndim == 2 else p
            rows[r, : len(values)] = values
        panel = Heatmap(f"Top {len(patches)} validation patches for channel {channel}", rows,
                        labels, [], "sample and value", "position in patch")
    else:
        if patches and patches[0].ndim == 3:  # colour patches: scaled to 0..1 together
            lo = min(float(p.min()) for p in patches)
            hi = max(float(p.max()) for p in patches)
            patches = [(p - lo) / ((hi - lo) or 1.0) for p in patches]
        panel = Images(f"Top {len(patches)} validation patches for channel {channel}", patches, labels,
                       shared_scale=True)
    note = (f"searched {len(x)} validation samples; each patch is the part of its sample that the "
            f"channel's strongest value sees (label: sample and value)")
    return Figure(f"{node.title}: what channel {channel} responds to", [panel], note, 1, {"patches": found})


def _channel_maps(model, name: str, x, channel: int) -> np.ndarray:
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            value = _value_after(model, name, x)
    finally:
        model.train(was_training)
    return value[:, channel].float().cpu().numpy()


def _value_after(model, name: str, x):
    """Run ``model`` on ``x`` and return the node's value (after its activation, which
    the compiled code applies outside the module)."""
    from layerloom.backend.views.capture import _Recorder

    recorder = _Recorder(model, {name: name}, None)
    recorder.run(x)
    return recorder.values[name]


def _receptive_field(model, name: str, x, channel: int, position) -> tuple[slice, ...]:
    """The input region whose values change the map's value at ``position``."""
    import torch

    x = x.clone().requires_grad_(True)
    with torch.enable_grad():
        value = _value_after(model, name, x)
        # the gradient with respect to the input only: the model's own .grad stay untouched
        (grad,) = torch.autograd.grad(value[(0, channel, *position)], x)
    grad = grad[0].abs().sum(dim=0).cpu().numpy()
    hit = np.nonzero(grad > 0)
    if not hit[0].size:  # a dead unit: the whole position's neighbourhood cannot be told
        return tuple(slice(None) for _ in grad.shape)
    return tuple(slice(int(h.min()), int(h.max()) + 1) for h in hit)


register(View(
    "filters", "Filters",
    "a convolution's kernels as images, or with --channel the validation patches that excite that channel most",
    compute, applies=lambda graph, nid: is_conv(graph.node(nid)),
    options={"channel": (int, None, "a channel of the layer: show the validation patches it responds to most"),
             "input": (int, 0, "the input channel whose kernels are drawn (layers over many channels)")},
    order=20,
))
