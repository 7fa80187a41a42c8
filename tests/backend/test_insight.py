"""Saliency, Grad-CAM and the loss landscape against what they are defined to be,
and the training path the trainer records."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerloom.backend.compile import compile_graph
from layerloom.backend.insight import InsightError
from layerloom.backend.insight.gradcam import conv_nodes, gradcam
from layerloom.backend.insight.landscape import (
    Cancelled,
    LossProbe,
    TooSlow,
    filter_normalised_direction,
    landscape,
    neuron_surface,
    path_hint,
    project,
    random_surface,
)
from layerloom.backend.insight.saliency import saliency
from layerloom.backend.training import DatasetSettings, Trainer, TrainSettings, prepare_data
from layerloom.backend.training.losses import Objective
from layerloom.backend.training.weight_path import MAX_POINTS, WeightPath, flat_weights
from layerloom.graph import Graph


def chain(input_shape, *layers, dtype: str = "float") -> Graph:
    g = Graph()
    prev = g.add_node("input", {"shape": list(input_shape), "dtype": dtype}).id
    for type_id, params in layers:
        node = g.add_node(type_id, params)
        g.connect(prev, "out", node.id, "in")
        prev = node.id
    out = g.add_node("output")
    g.connect(prev, "out", out.id, "in")
    return g


def test_saliency_of_a_linear_classifier_is_its_weight_row():
    graph = chain((3,), ("dense", {"units": 4}))
    model = compile_graph(graph, seed=1)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    weight = next(model.parameters()).detach().numpy()
    result = saliency(model, x, 2, "classification", target=3)
    assert result.kind == "features" and np.allclose(result.values, weight[3], atol=1e-6)
    assert all(p.grad is None for p in model.parameters())  # the weights' gradients are left alone
    predicted = saliency(model, x, 2, "classification")
    scores = x[2] @ weight.T
    assert predicted.target == predicted.predicted == int(scores.argmax())
    with pytest.raises(InsightError, match="class 4 does not exist"):
        saliency(model, x, 0, "classification", target=4)
    with pytest.raises(InsightError, match="sample 5 does not exist"):
        saliency(model, x, 5, "classification")
    with pytest.raises(InsightError, match="applies to classifiers"):
        saliency(model, x, 0, "regression")


def test_saliency_of_an_image_is_the_largest_channel_gradient_scaled_to_one():
    graph = chain((2, 3, 3), ("flatten", {}), ("dense", {"units": 2}))
    model = compile_graph(graph, seed=0)
    x = np.zeros((1, 2, 3, 3), np.float32)
    result = saliency(model, x, 0, "classification", target=1)
    weight = list(model.parameters())[0].detach().numpy()[1].reshape(2, 3, 3)
    expected = np.abs(weight).max(axis=0)
    assert result.kind == "image" and np.allclose(result.values, expected / expected.max(), atol=1e-6)


def test_gradcam_with_one_identity_channel_is_the_positive_part_of_the_input():
    graph = chain((1, 4, 4), ("conv2d", {"channels": 1, "kernel_size": [1, 1], "padding": [0, 0]}),
                  ("flatten", {}), ("dense", {"units": 2}))
    model = compile_graph(graph, seed=0)
    with torch.no_grad():
        conv, dense = model.get_submodule(next(n for n, v in model.module_nodes.items() if v == "conv2d_1")), None
        conv.weight.fill_(1.0)
        conv.bias.zero_()
        dense = model.get_submodule(next(n for n, v in model.module_nodes.items() if v == "dense_1"))
        dense.weight.zero_()
        dense.weight[1, :4] = 1.0  # class 1 reads the first row of the map
        dense.bias.zero_()
    assert conv_nodes(graph, model) == ["conv2d_1"]
    x = np.random.default_rng(3).normal(size=(2, 1, 4, 4)).astype(np.float32)
    result = gradcam(model, graph, x, 1, "classification", target=1)
    positive = np.maximum(x[1, 0], 0)
    assert result.coarse.shape == (4, 4) and np.allclose(result.coarse, positive / positive.max(), atol=1e-5)
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(InsightError, match="not a convolutional layer"):
        gradcam(model, graph, x, 0, "classification", node="dense_1")
    mlp = chain((2,), ("dense", {"units": 2}))
    with pytest.raises(InsightError, match="has none; use saliency"):
        gradcam(compile_graph(mlp), mlp, np.zeros((1, 2), np.float32), 0, "classification")


# -------------------------------------------------------------------- landscape
def mse_probe(graph: Graph, x, y, seed: int = 0) -> LossProbe:
    model = compile_graph(graph, seed=seed)
    return LossProbe(model, x, y, Objective("mse", "regression", None, (1,)))


def line_data(n: int = 64):
    x = np.linspace(-2, 2, n, dtype=np.float32).reshape(-1, 1)
    return x, (2 * x - 1).astype(np.float32)


def test_filter_normalised_directions_match_each_filters_norm_and_leave_biases():
    graph = chain((3,), ("dense", {"units": 5}), ("dense", {"units": 1}))
    model = compile_graph(graph, seed=0)
    d = filter_normalised_direction(model, torch.Generator().manual_seed(0))
    start = 0
    for name, p in model.named_parameters():
        part = d[start:start + p.numel()].reshape(p.shape)
        start += p.numel()
        if p.dim() == 1:
            assert torch.all(part == 0), name
        else:
            assert torch.allclose(part.norm(dim=1), p.detach().norm(dim=1), rtol=1e-5), name


def test_projection_recovers_plane_coordinates():
    rng = np.random.default_rng(0)
    origin, d1, d2 = rng.normal(size=(3, 50))
    coords = rng.normal(size=(7, 2))
    points = origin + coords[:, :1] * d1 + coords[:, 1:] * d2
    assert np.allclose(project(points, origin, d1, d2), coords)


def test_single_neuron_surface_is_the_exact_mse_and_the_weights_come_back():
    x, y = line_data()
    probe = mse_probe(chain((1,), ("dense", {"units": 1})), x, y)
    before = flat_weights(probe.model).copy()
    surface = landscape(probe, 11)
    assert surface.kind == "exact" and surface.losses.shape == (11, 11)
    i, j = 3, 7
    w, b = surface.xs[j], surface.ys[i]
    assert surface.losses[i, j] == pytest.approx(float(np.mean((w * x + b - y) ** 2)), rel=1e-4)
    assert np.array_equal(flat_weights(probe.model), before)


def test_random_surface_has_its_lowest_loss_near_a_minimum_and_respects_budget_and_cancel():
    x, y = line_data()
    graph = chain((1,), ("dense", {"units": 8, "activation": "tanh"}), ("dense", {"units": 1}))
    probe = mse_probe(graph, x, y)
    surface = random_surface(probe, grid=5)
    assert surface.losses[2, 2] == pytest.approx(surface.centre_loss, rel=1e-5)  # the centre is the weights
    with pytest.raises(TooSlow, match="choose a grid of|use fewer samples") as raised:
        random_surface(probe, grid=101, budget=1e-6)
    assert raised.value.seconds > 0 and raised.value.grid == 101
    calls = []
    with pytest.raises(Cancelled):
        random_surface(probe, grid=5, progress=lambda done, total: calls.append(done) or done < 3)
    assert calls == [1, 2, 3]
    with pytest.raises(InsightError, match="single neuron"):
        neuron_surface(probe, 5)
    origin = probe.origin.numpy()
    tiny = (np.array([0, 1]), np.stack([origin + 1e-4, origin]))
    assert "hardly shows" in path_hint(random_surface(probe, grid=3, path=tiny))
    with pytest.raises(InsightError, match="recorded path"):
        random_surface(probe, grid=5, directions="pca")


# ------------------------------------------------------------------ weight path
def test_weight_path_is_bounded_and_keeps_the_start():
    graph = chain((1,), ("dense", {"units": 1}))
    model = compile_graph(graph, seed=0)
    path = WeightPath(model, total_steps=100)
    assert path.every == 1
    for step in range(3 * MAX_POINTS):
        path.record(step)
    steps, points = path.snapshot()
    assert len(steps) <= MAX_POINTS and steps[0] == 0 and np.all(np.diff(steps) > 0)
    assert points.shape == (len(steps), 2)


def test_recording_the_path_leaves_the_run_unchanged():
    graph = chain((1,), ("dense", {"units": 1}))
    graph.set_settings("dataset", {"name": "line", "normalise": "none", "val_split": 0.2})
    settings = TrainSettings(optimizer="sgd", lr=0.1, loss="mse", epochs=30, batch_size=0, device="cpu")
    data = prepare_data(DatasetSettings.from_dict(graph.dataset))
    plain = Trainer(graph, data.train, data.val, settings)
    recorded = Trainer(graph, data.train, data.val, settings, record_path=True)
    assert plain.run().metrics == recorded.run().metrics and plain.weight_path is None
    steps, points = recorded.weight_path.snapshot()
    assert list(steps) == list(range(31)) and np.allclose(points[-1], flat_weights(recorded.model))


def test_embedding_projection_keeps_2d_vectors_and_finds_the_main_axes():
    from layerloom.backend.insight.embedding import projection

    graph = chain((1,), ("embedding", {"num_embeddings": 5, "embedding_dim": 2}), ("flatten", {}),
                  ("dense", {"units": 2}), dtype="long")
    model = compile_graph(graph, seed=0)
    weight = model.get_submodule(next(n for n, v in model.module_nodes.items() if v == "embedding_1")).weight
    result = projection(model, graph)
    assert result.dim == 2 and np.allclose(result.points, weight.detach().numpy())
    assert result.labels == ["0", "1", "2", "3", "4"]
    wide = chain((1,), ("embedding", {"num_embeddings": 6, "embedding_dim": 4}), ("flatten", {}),
                 ("dense", {"units": 2}), dtype="long")
    model = compile_graph(wide, seed=0)
    emb = model.get_submodule(next(n for n, v in model.module_nodes.items() if v == "embedding_1"))
    with torch.no_grad():  # the vectors lie on a line along (1, 1, 0, 0)
        emb.weight.copy_(torch.arange(6.0)[:, None] * torch.tensor([1.0, 1.0, 0.0, 0.0]))
    result = projection(model, wide)
    assert result.explained[0] == pytest.approx(1.0) and np.allclose(result.points[:, 1], 0, atol=1e-5)
    assert np.allclose(np.abs(np.diff(result.points[:, 0])), np.sqrt(2), atol=1e-5)
    with pytest.raises(InsightError, match="no Embedding node"):
        mlp = chain((2,), ("dense", {"units": 2}))
        projection(compile_graph(mlp), mlp)


def test_conv_nodes_include_blocks_of_convolutions_and_leave_out_a_vit_patch_embedding():
    from layerloom.backend.templates import load_template

    resnet = load_template("resnet_digits")
    assert conv_nodes(resnet, compile_graph(resnet))[-1] == "layer2"  # a block of residual convolutions
    vit = load_template("vit_digits")
    assert conv_nodes(vit, compile_graph(vit)) == []  # (patches, features), not maps over the image
