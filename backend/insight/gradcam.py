"""Grad-CAM: where in the image a convolutional layer found evidence for a class.

Grad-CAM (Selvaraju et al., 2017) weighs each feature map of a convolutional layer
by the mean gradient of the class score over that map, sums the weighted maps and
keeps the positive part: the regions whose features raise the score. The coarse
map (4x4 for the digits CNN's last convolution) is stretched to the input's size
with bilinear interpolation. The last convolutional layer is the default: it sees
the most abstract features while keeping where they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.backend.insight.common import (
    InsightError,
    check_class,
    check_classifier,
    check_sample,
    class_score,
    classes_of,
    evaluating,
    forward_capturing,
    node_names,
    predicted_class,
)


@dataclass(frozen=True)
class GradCam:
    """Grad-CAM of one sample.

    ``values`` has the input's spatial shape (``(H, W)``, or ``(L,)`` for a 1-D
    signal), in 0..1; ``coarse`` is the layer's own map before stretching.
    """

    values: np.ndarray
    coarse: np.ndarray
    sample: np.ndarray
    node: str
    target: int
    predicted: int


def conv_nodes(graph, model: nn.Module) -> list[str]:
    """Graph nodes (in graph order) whose output is a stack of feature maps made by
    a convolution: their submodule is, or holds, a convolution (a block of them
    counts), and they output ``(C, H, W)`` or ``(C, L)`` per sample with more than
    one position."""
    names = node_names(model)
    analysis = graph.analysis()
    inputs = [analysis.nodes[n.id].out for n in graph.inputs()]
    input_dims = len(inputs[0].shape) if inputs and inputs[0] is not None else 0
    found = []
    for nid in analysis.order:
        if nid not in names:
            continue
        module = model.get_submodule(names[nid])
        if not any(isinstance(m, nn.modules.conv._ConvNd) for m in module.modules()):
            continue
        outputs = analysis.nodes[nid].outputs
        first = next(iter(outputs.values()), None)  # a block's first output port is its value
        shape = tuple(first.shape) if first is not None else ()  # per sample: (C, H, W) or (C, L)
        # maps laid out like the input (images to images, signals to signals): a ViT's
        # patch embedding makes (tokens, features), which are not maps over the image
        if len(shape) == input_dims and len(shape) in (2, 3) and int(np.prod(shape[1:])) > 1:
            found.append(nid)
    return found


def gradcam(model: nn.Module, graph, x: np.ndarray, index: int, task: str, target: int | None = None,
            node: str | None = None) -> GradCam:
    """Grad-CAM of sample ``index`` for class ``target`` at convolutional ``node``.

    Parameters
    ----------
    model : torch.fx.GraphModule
        The compiled, trained classifier.
    graph : Graph
        Its graph (to find the convolutional nodes and their shapes).
    x : np.ndarray
        Normalised inputs; ``index`` picks the sample.
    task : str
        The dataset's task; only ``"classification"`` applies.
    target : int, optional
        The class explained (default: the predicted one).
    node : str, optional
        A graph node id from :func:`conv_nodes` (default: the last one).

    Raises
    ------
    InsightError
        Not a classifier, no convolutional layer, an unknown node, or a bad sample or class.
    """
    check_classifier(task, "Grad-CAM")
    check_sample(x, index)
    candidates = conv_nodes(graph, model)
    if not candidates:
        raise InsightError("Grad-CAM needs a convolutional layer with feature maps, and this model has none; "
                           "use saliency instead")
    if node is None:
        node = candidates[-1]
    elif node not in candidates:
        raise InsightError(f"node {node!r} is not a convolutional layer with feature maps; "
                           f"choose one of {', '.join(candidates)}")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    sample = torch.as_tensor(np.asarray(x[index: index + 1], np.float32), device=device)
    with evaluating(model), torch.enable_grad():
        sample.requires_grad_(True)  # makes every activation part of the autograd graph
        out, maps = forward_capturing(model, sample, node_names(model)[node])
        check_class(target, classes_of(out))
        predicted = predicted_class(out)
        target = predicted if target is None else int(target)
        if maps is None or not maps.requires_grad:
            raise InsightError(f"node {node!r} gave no feature maps on this sample")
        # the gradient with respect to the maps only: the weights' .grad stay untouched
        (grad,) = torch.autograd.grad(class_score(out, target), maps)
    a, g = maps.detach()[0].float(), grad[0].float()  # (C, *spatial)
    spatial = tuple(range(1, a.dim()))
    weights = g.mean(dim=spatial, keepdim=True)
    coarse = torch.relu((weights * a).sum(dim=0))
    size = tuple(sample.shape[2:]) if sample.dim() == a.dim() + 1 else tuple(coarse.shape)
    mode = "bilinear" if coarse.dim() == 2 else "linear"
    fine = F.interpolate(coarse[None, None], size=size, mode=mode, align_corners=False)[0, 0]
    top = float(fine.max())
    fine = fine / top if top > 0 else fine
    top_coarse = float(coarse.max())
    coarse = coarse / top_coarse if top_coarse > 0 else coarse
    return GradCam(fine.cpu().numpy().astype(np.float32), coarse.cpu().numpy().astype(np.float32),
                   np.asarray(x[index], np.float32), node, target, predicted)
