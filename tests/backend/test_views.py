"""The view registry computes what each view promises, on the templates it applies
to, and says in one line when it does not apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerloom.backend import compile_graph
from layerloom.backend.templates import load_template
from layerloom.backend.training import DatasetSettings, prepare_data
from layerloom.backend.views import VIEWS, Figure, NotApplicable, ViewContext, compute, list_views
from layerloom.backend.views.base import Bars, Heatmap, Images
from layerloom.backend.views.capture import record
from layerloom.backend.views.render import render

_CACHE: dict = {}


def setup(name: str):
    """Graph, model (seeded, eval) and validation set of a template, once per session."""
    if name not in _CACHE:
        graph = load_template(name)
        model = compile_graph(graph, seed=0).eval()
        data = prepare_data(DatasetSettings.from_dict(graph.dataset), 0)
        _CACHE[name] = graph, model, data.val
    return _CACHE[name]


def ctx(name: str, node=None, sample=0, **options) -> ViewContext:
    graph, model, data = setup(name)
    return ViewContext(graph, model, data, node, sample, options)


def drawn(figure: Figure) -> np.ndarray:
    """The figure drawn, as an array; checks that its panels hold coloured data."""
    image = np.asarray(render(figure, 700, 240))
    body = image[40:-30]
    assert len(np.unique(body.reshape(-1, 3), axis=0)) > 20, "the figure looks empty"
    return image


def test_registry_lists_the_views_in_menu_order():
    names = [v.name for v in list_views()]
    assert names[:4] == ["activations", "filters", "attention", "activation"]
    assert all(VIEWS[n].help and VIEWS[n].title for n in names)


def test_feature_maps_of_a_conv_are_its_module_output_after_relu():
    c = ctx("cnn_digits", "conv2d_1", sample=5)
    figure = compute("activations", c)
    drawn(figure)
    out = figure.data["output"]
    assert out.shape == (16, 8, 8)
    x = torch.as_tensor(c.data.x[5:6])
    expected = torch.relu(c.model.get_submodule("conv_16_3x3")(x))[0].detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    maps = figure.panels[-1]
    assert isinstance(maps, Images) and len(maps.images) == 16
    assert "of the values are 0 (the ReLU cut them)" in figure.note


def test_classifier_output_is_labelled_probabilities_with_the_true_class():
    c = ctx("cnn_digits", "output_1", sample=2)
    figure = compute("activations", c)
    drawn(figure)
    probs = figure.data["probabilities"]
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    bars = figure.panels[-1]
    assert isinstance(bars, Bars) and str(int(c.data.y[2])) in bars.labels
    assert bars.labels[bars.highlight[0]] == str(int(c.data.y[2]))


def test_sequences_are_a_heat_map_over_time_with_tokens():
    figure = compute("activations", ctx("gpt_chars", "dense_1", sample=1))
    drawn(figure)
    heat = figure.panels[-1]
    assert isinstance(heat, Heatmap) and heat.values.shape == (28, 32)
    graph, _, data = setup("gpt_chars")
    assert "".join(heat.column_labels).replace("_", " ") == "".join(
        data.vocabulary[int(t)] for t in data.x[1])


def test_vectors_are_bars_and_the_lstm_input_a_curve():
    figure = compute("activations", ctx("lstm_sine", "lstm_1"))
    drawn(figure)
    assert [type(p).__name__ for p in figure.panels] == ["Curves", "Bars"]
    assert figure.panels[1].values.shape == (32,)


def test_node_outputs_of_one_pass_match_the_model():
    graph, model, data = setup("conv_autoencoder_digits")
    recording = record(model, graph, data.x[:1])
    expected = model(torch.as_tensor(data.x[:1]))[0].detach().numpy()
    np.testing.assert_allclose(recording.outputs["output_1"], expected, rtol=1e-5, atol=1e-6)
    assert recording.outputs["max_pool2d_2"].shape == (8, 2, 2)


def test_first_conv_kernels_are_drawn():
    figure = compute("filters", ctx("cnn_digits"))
    drawn(figure)
    _, model, _ = setup("cnn_digits")
    np.testing.assert_array_equal(figure.data["weights"], model.conv_16_3x3.weight.detach().numpy())
    assert len(figure.panels[0].images) == 16


def test_top_patches_are_the_receptive_fields_of_the_strongest_values():
    figure = compute("filters", ctx("cnn_digits", "conv2d_1", channel=4))
    drawn(figure)
    found = figure.data["patches"]
    values = [v for _, _, v in found]
    assert values == sorted(values, reverse=True) and len(found) == 12
    patches = figure.panels[0].images
    assert all(p.shape[0] <= 3 and p.shape[1] <= 3 for p in patches)  # a 3x3 kernel sees 3x3 pixels
    c = ctx("cnn_digits", "conv2d_1")
    s, (y, x), value = found[0]
    with torch.no_grad():
        conv = torch.relu(c.model.conv_16_3x3(torch.as_tensor(c.data.x[s: s + 1])))[0, 4]
    assert float(conv.max()) == pytest.approx(value, rel=1e-5)
    assert float(conv[y, x]) == pytest.approx(value, rel=1e-5)


def test_filters_say_why_they_do_not_apply():
    with pytest.raises(NotApplicable, match="Filters are drawn for convolution layers; Dense 64 is a Dense"):
        compute("filters", ctx("cnn_digits", "dense_1"))
    with pytest.raises(NotApplicable, match="has channels 0 to 15; got channel 99"):
        compute("filters", ctx("cnn_digits", "conv2d_1", channel=99))


@pytest.mark.parametrize("name,heads,size", [("transformer_sort", 4, 10), ("gpt_chars", 4, 32),
                                             ("vit_digits", 4, 17)])
def test_attention_of_each_head_sums_to_one_per_query(name, heads, size):
    figure = compute("attention", ctx(name, sample=3))
    drawn(figure)
    weights = figure.data["weights"]
    assert weights.shape == (heads, size, size)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
    assert len(figure.panels) == heads


def test_causal_attention_looks_back_only_and_tokens_label_the_axes():
    figure = compute("attention", ctx("gpt_chars", "block_1", sample=0, layer=1))
    weights = figure.data["weights"]
    assert np.allclose(np.triu(weights, k=1), 0.0)
    assert "attention 2 of 2" in figure.title
    _, _, data = setup("gpt_chars")
    assert figure.panels[0].row_labels[0] == data.vocabulary[int(data.x[0, 0])].replace(" ", "_")


def test_attention_weights_equal_torchs_for_an_encoder_layer():
    graph, model, data = setup("transformer_sort")
    figure = compute("attention", ViewContext(graph, model, data, "transformer_encoder_layer_1", 0))
    layer = model.get_submodule("encoder_layer_1")
    h = layer.norm1(model.positional_encoding(model.embedding(torch.as_tensor(data.x[:1]))))  # norm first
    _, expected = torch.nn.MultiheadAttention.forward(layer.self_attn, h, h, h, need_weights=True,
                                                      average_attn_weights=False)
    np.testing.assert_allclose(figure.data["weights"], expected[0].detach().numpy(), atol=1e-5)


def test_attention_elsewhere_names_the_nodes_that_attend():
    with pytest.raises(NotApplicable, match=r"Final norm computes no attention; the nodes that do: Encoder layer 1"):
        compute("attention", ctx("transformer_sort", "layer_norm_1"))
    with pytest.raises(NotApplicable, match="this model computes none"):
        compute("attention", ctx("cnn_digits"))


@pytest.mark.parametrize("kind,check", [
    ("sigmoid", lambda x, y, d: np.allclose(d, y * (1 - y), atol=1e-6)),
    ("tanh", lambda x, y, d: np.allclose(d, 1 - y ** 2, atol=1e-5)),
    ("relu", lambda x, y, d: np.allclose(y, np.maximum(x, 0)) and set(np.unique(d)) <= {0.0, 1.0}),
])
def test_activation_function_and_its_derivative(kind, check):
    graph = load_template(f"activation_{kind}")
    nid = next(n.id for n in graph.nodes if n.params.get("activation") == kind or n.type == kind)
    figure = compute("activation", ViewContext(graph, node=nid))
    drawn(figure)
    x, y, d = figure.data["x"], figure.data["y"], figure.data["derivative"]
    assert x[0] == -5 and x[-1] == 5
    assert check(x, y, d)


def test_activation_nodes_use_their_settings():
    from layerloom.graph import Graph

    graph = Graph()
    graph.add_node("input", params={"shape": [4]}, node_id="input_1")
    graph.add_node("leaky_relu", params={"negative_slope": 0.2}, node_id="act")
    graph.connect("input_1", "out", "act", "in")
    figure = compute("activation", ViewContext(graph, node="act"))
    assert figure.data["y"][0] == pytest.approx(-1.0)  # 0.2 * -5
    with pytest.raises(NotApplicable, match="applies no activation"):
        compute("activation", ViewContext(load_template("cnn_digits"), node="dense_2"))
    softmax = Graph()
    softmax.add_node("input", params={"shape": [4]}, node_id="input_1")
    softmax.add_node("softmax", node_id="s")
    softmax.connect("input_1", "out", "s", "in")
    with pytest.raises(NotApplicable, match="Softmax is not drawn as a curve"):
        compute("activation", ViewContext(softmax, node="s"))


def test_bad_node_and_sample_are_named():
    with pytest.raises(NotApplicable, match="no node 'nope' in the graph"):
        compute("activations", ctx("cnn_digits", "nope"))
    with pytest.raises(NotApplicable, match=r"sample 5000 is out of range: the validation set has \d+ samples"):
        compute("activations", ctx("cnn_digits", "conv2d_1", sample=5000))
    with pytest.raises(NotApplicable, match="needs a model with weights"):
        compute("filters", ViewContext(load_template("cnn_digits")))


def test_views_leave_the_models_gradients_alone():
    graph, model, data = setup("cnn_digits")
    compute("filters", ctx("cnn_digits", "conv2d_2", channel=1))
    compute("attention", ctx("transformer_sort"))
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad is None for p in setup("transformer_sort")[1].parameters())
