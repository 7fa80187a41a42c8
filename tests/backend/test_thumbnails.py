"""Output thumbnails: every node's output for one sample from one forward pass, each
read by its shape (feature maps, sequences, vectors, class probabilities), drawn the
same in the app and by ``layerloom plot FILE thumbnails`` (through the real CLI)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from layerloom.backend import compile_graph
from layerloom.backend.templates import load_template, template_path
from layerloom.backend.training import DatasetSettings, TrainSettings, prepare_data
from layerloom.backend.views import NotApplicable, ViewContext, compute
from layerloom.backend.views.capture import record
from layerloom.backend.views.render import to_png
from layerloom.backend.views.thumbnails import (
    MAX_NODES,
    PLOT_COLUMNS,
    SIZE,
    node_thumbnails,
    picture,
)


def opened(name: str):
    graph = load_template(name)
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), TrainSettings.from_dict(graph.training).seed,
                        str(template_path(name).parent))
    return graph, compile_graph(graph, seed=0).eval(), data.val if data.val is not None else data.train


@pytest.fixture(scope="module")
def cnn():
    return opened("cnn_digits")


def test_every_node_of_the_cnn_is_pictured_from_one_pass(cnn):
    graph, model, data = cnn
    result = node_thumbnails(graph, model, data, sample=5)
    order = [nid for nid in graph.analysis().order if nid != "output_1"]
    assert list(result.items) == order  # graph order, every node but the Output
    assert set(result.skipped) == {"output_1"} and "passes its input on" in result.skipped["output_1"]
    outputs = record(model, graph, data.x[5:6]).outputs
    conv = result.items["conv2d_1"]
    assert conv.kind == "maps" and conv.values.shape == (16, 8, 8) and conv.caption.startswith("16 maps")
    np.testing.assert_allclose(conv.values, outputs["conv2d_1"])
    assert result.items["conv2d_2"].values.shape == (24, 4, 4)  # the first 24 of 32 maps
    assert result.items["conv2d_2"].caption.startswith("first 24 of 32 maps")
    assert result.items["flatten_1"].kind == "heat"  # 128 values: a strip of heat cells
    probs = result.items["dense_2"]  # the layer the classifier's Output reads: probabilities
    assert probs.kind == "probs" and probs.values.sum() == pytest.approx(1.0)
    assert probs.highlight == int(np.argmax(outputs["dense_2"]))
    assert probs.caption.startswith(f"top {data.class_names[probs.highlight]}")
    for thumb in result.items.values():
        rgb = picture(thumb)
        assert rgb.shape == (SIZE[1], SIZE[0], 3) and rgb.dtype == np.uint8
        assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 2, f"{thumb.node} looks empty"


def test_vectors_are_bars_and_sequences_heat_maps():
    graph, model, data = opened("mlp_two_moons")
    result = node_thumbnails(graph, model, data)
    assert result.items["dense_1"].kind == "bars" and result.items["dense_1"].values.shape == (16,)
    assert result.items["dense_3"].kind == "probs" and result.items["dense_3"].values.shape == (2,)
    graph, model, data = opened("lstm_sine")
    result = node_thumbnails(graph, model, data, sample=2)
    window = result.items["input_1"]
    assert window.kind == "heat" and window.values.shape == (1, 20)  # features over the 20 time steps
    assert result.items["dense_1"].kind == "bars"  # a regression's output is a value, not probabilities


def grown(graph, extra: int = MAX_NODES):
    """``graph`` with ``extra`` ReLUs chained between its two dense layers (valid, and large)."""
    big = graph.copy()
    edge = next(e for e in big.edges if (e.source, e.target) == ("dense_1", "dense_2"))
    big.remove_edge(edge)
    last = "dense_1"
    for k in range(extra):
        node = big.add_node("relu", position=(0.0, 40.0 * k))
        big.connect(last, "out", node.id, "in")
        last = node.id
    big.connect(last, "out", "dense_2", "in")
    return big


def test_what_cannot_be_pictured_is_said_in_one_line(cnn):
    graph, model, data = cnn
    with pytest.raises(NotApplicable, match=r"sample 9999 is out of range"):
        node_thumbnails(graph, model, data, sample=9999)
    big = grown(graph)
    assert big.analysis().valid
    with pytest.raises(NotApplicable, match=rf"up to {MAX_NODES} nodes; this one has {MAX_NODES + 9}"):
        node_thumbnails(big, model, data)
    broken = graph.copy()
    broken.remove_edge(next(iter(broken.edges)))
    with pytest.raises(NotApplicable, match=r"error\(s\).*fix them to see the outputs"):
        node_thumbnails(broken, model, data)


def test_the_view_draws_one_panel_per_pictured_node(cnn):
    graph, model, data = cnn
    figure = compute("thumbnails", ViewContext(graph, model, data, None, 3))
    assert figure.data["nodes"] == [n for n in graph.analysis().order if n != "output_1"]
    assert [p.title for p in figure.panels][:2] == ["Digit image (1, 8, 8)", "Conv 16 (3x3) (16, 8, 8)"]
    assert "Prediction: the Output node passes its input on" in figure.note


def plot(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", "plot", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_layerloom_plot_thumbnails_writes_the_grid(tmp_path, cnn):
    out = tmp_path / "thumbs.png"
    done = plot(template_path("cnn_digits"), "thumbnails", "--sample", 3, "-o", out)
    assert done.returncode == 0, done.stderr
    assert "freshly initialised weights" in done.stderr
    assert done.stdout.startswith(f"{out}: Every node's output for validation sample 3")
    graph, model, data = cnn
    figure = compute("thumbnails", ViewContext(graph, model, data, None, 3))
    assert out.read_bytes() == to_png(figure)  # the grid of the view's panels, one per node
    image = np.asarray(Image.open(out).convert("RGB"))
    rows = -(-len(figure.panels) // PLOT_COLUMNS)
    cell_w, cell_h = (900 - 10) / PLOT_COLUMNS, figure.panel_height
    for k in range(len(figure.panels)):  # each panel holds a picture, not white
        r, c = divmod(k, PLOT_COLUMNS)
        cell = image[30 + r * cell_h + 20: 30 + (r + 1) * cell_h - 20, int(10 + c * cell_w): int(10 + (c + 1) * cell_w)]
        assert len(np.unique(cell.reshape(-1, 3), axis=0)) > 3, f"panel {k} looks blank"
    assert image.shape[0] >= 30 + rows * cell_h
    big = tmp_path / "big.loom"
    from layerloom.graph import save_graph

    save_graph(grown(graph), big)
    done = plot(big, "thumbnails", "-o", tmp_path / "big.png")
    assert done.returncode == 3 and not (tmp_path / "big.png").exists()
    assert done.stderr.strip().splitlines()[-1].endswith(f"up to {MAX_NODES} nodes; this one has {MAX_NODES + 9}")


def test_inside_a_block_every_inner_node_is_pictured_from_the_same_pass():
    graph, model, data = opened("resnet_digits")
    top = node_thumbnails(graph, model, data, sample=2)
    inside = node_thumbnails(graph, model, data, sample=2, path=["layer1"])
    assert list(inside.items) == [n for n in inside.graph.analysis().order if n != "output_1"]
    assert inside.where == "the first of the 2 copies of Layer1"
    assert "the block's output passes on" in inside.skipped["output_1"]
    np.testing.assert_allclose(inside.items["input_1"].values, top.items["relu"].values)  # what goes in
    # the first copy's last ReLU is what the second copy receives: run the second copy on it
    second = model.get_submodule("layer1.1")
    import torch

    with torch.no_grad():
        out = second(torch.as_tensor(inside.items["relu_2"].values[None], dtype=torch.float32))[0].numpy()
    np.testing.assert_allclose(out, top.items["layer1"].values, rtol=1e-5, atol=1e-5)
    with pytest.raises(NotApplicable, match="'conv1' is not a block node"):
        node_thumbnails(graph, model, data, path=["conv1"])


def test_layerloom_plot_thumbnails_inside_a_block(tmp_path):
    out = tmp_path / "inside.png"
    done = plot(template_path("resnet_digits"), "thumbnails", "--node", "layer1", "-o", out)
    assert done.returncode == 0, done.stderr
    assert "Every node's output inside layer1 for validation sample 0" in done.stdout
    assert "Inside the first of the 2 copies of Layer1" in done.stdout
    done = plot(template_path("resnet_digits"), "thumbnails", "--node", "nope", "-o", tmp_path / "x.png")
    assert done.returncode == 3 and "no node 'nope' in the graph" in done.stderr
