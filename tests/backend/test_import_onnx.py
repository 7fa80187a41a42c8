"""Importing ONNX files: LayerLoom's own exports come back as the same layers with
the same outputs; unknown operators are listed by type and node name; external
data is read only from the model's folder."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from layerloom.backend.compile import compile_graph
from layerloom.backend.export.onnx_export import export_onnx
from layerloom.backend.importers import ModelImportError, import_onnx
from layerloom.graph import Graph
from tests.graph.helpers import chain

TOLERANCE = 1e-5


def _mlp() -> Graph:
    g = Graph()
    chain(g, ("input", {"shape": [6]}), ("dense", {"units": 8, "activation": "relu"}),
          ("dense", {"units": 8, "activation": "tanh"}), ("dense", {"units": 3, "bias": False}),
          ("log_softmax", {"dim": -1}), "output")
    return g


def _cnn() -> Graph:
    # BatchNorm follows the activation: right after a convolution the exporter
    # folds it into the convolution's weights.
    g = Graph()
    chain(g, ("input", {"shape": [1, 10, 10]}), ("conv2d", {"channels": 4, "padding": 1, "activation": "relu"}),
          ("batch_norm", {}), ("max_pool2d", {}), ("conv2d", {"channels": 6, "kernel_size": 3}),
          ("avg_pool2d", {"kernel_size": 3, "stride": 3}), "silu", "flatten", ("layer_norm", {}),
          ("dense", {"units": 3}), "output")
    return g


def _recurrent() -> Graph:
    # Every step of a bidirectional LSTM into the last step of a two-layer GRU:
    # the exporter writes one operator per layer, time-major, with transposes,
    # reshapes and a Gather of the last step around them.
    g = Graph()
    chain(g, ("input", {"shape": [5, 3]}),
          ("lstm", {"hidden_size": 3, "bidirectional": True, "return_sequences": True}),
          ("gru", {"hidden_size": 4, "num_layers": 2}), ("dense", {"units": 2}), "output")
    return g


GRAPHS = {"mlp": (_mlp, None), "cnn": (_cnn, None), "recurrent": (_recurrent, [(5, 3)])}


def _randomise(model):
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 2.0)
            elif name.endswith("running_mean"):
                tensor.uniform_(-0.5, 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each graph, its compiled model and its ONNX file (exports are slow: once)."""
    folder = tmp_path_factory.mktemp("onnx")
    out = {}
    for name, (make, _) in GRAPHS.items():
        graph = make()
        model = _randomise(compile_graph(graph, seed=7))
        path = folder / f"{name}.onnx"
        export_onnx(graph, model, path)
        out[name] = (graph, model, path)
    return out


def _layers(graph: Graph) -> list[tuple[str, dict]]:
    return [(graph.node(n).type, graph.node(n).params) for n in graph.topological_order()]


@pytest.mark.parametrize("name", GRAPHS)
def test_exported_graph_imports_as_the_same_layers_and_outputs(exported, name):
    graph, model, path = exported[name]
    result = import_onnx(path, GRAPHS[name][1])
    assert _layers(result.graph) == _layers(graph)
    assert result.graph.analysis().valid
    x = torch.randn(4, *model.input_specs[0].shape)
    with torch.no_grad():
        expected, got = model(x), result.model(x)
    assert (got - expected).abs().max().item() <= TOLERANCE
    # Every weight comes from an initializer, under the exporter's name where it
    # kept one (BatchNorm's step counter is not in ONNX files).
    state = model.state_dict()
    imported = result.model.state_dict()
    assert set(result.origins) == {k for k in imported if not k.endswith("num_batches_tracked")}
    named = [(t, s) for t, s in result.origins.items() if s in state]
    assert named
    for target, source in named:
        assert torch.equal(imported[target], state[source])


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _float(name, *dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *dims])


def test_hand_built_file_with_matmul_add_and_transpose(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1], name="swap"),
        helper.make_node("MatMul", ["t", "fc.weight_t"], ["m"], name="fc_matmul"),
        helper.make_node("Add", ["m", "fc.bias"], ["a"], name="fc_add"),
        helper.make_node("LeakyRelu", ["a"], ["y"], alpha=0.2, name="act"),
    ]
    proto = _model(nodes, [_float("x", 4, 5)], [_float("y", 5, 3)],
                   [numpy_helper.from_array(w, "fc.weight_t"), numpy_helper.from_array(b, "fc.bias")])
    path = tmp_path / "tiny.onnx"
    onnx.save(proto, str(path))
    result = import_onnx(path)
    assert [t for t, _ in _layers(result.graph)] == ["input", "permute", "dense", "leaky_relu", "output"]
    dense = next(n for n in result.graph.nodes if n.type == "dense")
    assert dense.label == "fc" and dense.params["bias"] is True
    x = np.random.default_rng(1).standard_normal((2, 4, 5)).astype(np.float32)
    expected = x.transpose(0, 2, 1) @ w + b
    expected = np.where(expected > 0, expected, 0.2 * expected)
    got = result.model(torch.from_numpy(x)).detach().numpy()
    assert np.abs(got - expected).max() <= TOLERANCE
    assert result.key_map == {"fc.weight_t": "fc.weight", "fc.bias": "fc.bias"}


def test_an_open_dim_needs_a_shape(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="act")]
    path = tmp_path / "open.onnx"
    onnx.save(_model(nodes, [_float("x", "T", 3)], [_float("y", "T", 3)]), str(path))
    with pytest.raises(ModelImportError, match=r"'x' of open is declared as \(\?, \?, 3\).*--input-shape"):
        import_onnx(path)
    with pytest.raises(ModelImportError, match=r"the shape given, \(4, 2\), does not fit it"):
        import_onnx(path, [(4, 2)])
    result = import_onnx(path, [(4, 3)])
    assert result.model.input_specs[0].shape == (4, 3)
    assert [t for t, _ in _layers(result.graph)] == ["input", "relu", "output"]


@pytest.mark.parametrize("batch", [1, 3, 8])  # 3 is also the batch LayerLoom records a free one with
def test_a_fixed_batch_is_run_at_that_size_and_imported_free(tmp_path, batch):
    w = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])]
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])
    path = tmp_path / "fixed.onnx"
    onnx.save(_model(nodes, [x_info], [y_info], [numpy_helper.from_array(w, "w")]), str(path))
    result = import_onnx(path)
    assert _layers(result.graph)[1] == ("dense", {"units": 3, "bias": False, "activation": "relu"})
    assert result.max_difference <= TOLERANCE
    assert f"fixes the batch size at {batch}" in " ".join(result.notes)
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)  # any batch size runs
    got = result.model(torch.from_numpy(x)).detach().numpy()
    assert np.abs(got - np.maximum(x @ w, 0)).max() <= TOLERANCE


def test_an_input_of_only_the_batch_dim_is_refused_with_the_fix(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    path = tmp_path / "scalars.onnx"
    onnx.save(_model(nodes, [_float("x")], [_float("y")]), str(path))
    with pytest.raises(ModelImportError, match=r"'x' of scalars is declared as \(\?\): a batch of single numbers.*\(N, 1\)"):
        import_onnx(path)


@pytest.mark.parametrize(("op_type", "type_id"), [("Softmax", "softmax"), ("LogSoftmax", "log_softmax")])
def test_opset_9_softmax_normalises_every_dim_from_its_axis_on(tmp_path, op_type, type_id):
    nodes = [helper.make_node(op_type, ["x"], ["y"], axis=1)]
    path = tmp_path / "old.onnx"
    onnx.save(_model(nodes, [_float("x", 3, 4)], [_float("y", 3, 4)], opset=9), str(path))
    result = import_onnx(path)
    assert [t for t, _ in _layers(result.graph)] == ["input", "flatten", type_id, "reshape", "output"]
    x = torch.randn(2, 3, 4)
    expected = getattr(torch, op_type.lower().replace("logsoftmax", "log_softmax"))(x.reshape(2, 12), 1).reshape(2, 3, 4)
    assert (result.model(x) - expected).abs().max() <= TOLERANCE
    assert result.max_difference <= TOLERANCE


@pytest.mark.parametrize(("onnx_type", "numpy_name", "taken"), [
    (TensorProto.DOUBLE, "float64", "float32"), (TensorProto.INT32, "int32", "int64")])
def test_float64_and_int32_inputs_are_taken_as_the_graph_s_types_with_a_note(tmp_path, onnx_type, numpy_name, taken):
    nodes = [helper.make_node("Cast", ["x"], ["c"], to=TensorProto.DOUBLE), helper.make_node("Relu", ["c"], ["y"])]
    x_info = helper.make_tensor_value_info("x", onnx_type, ["N", 4])
    y_info = helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N", 4])
    path = tmp_path / "wide.onnx"
    onnx.save(_model(nodes, [x_info], [y_info]), str(path))
    result = import_onnx(path)
    assert f"input 'x' is {numpy_name} in wide.onnx; the imported graph takes {taken}" in result.notes
    assert result.model.input_specs[0].dtype == ("float" if taken == "float32" else "long")
    assert result.max_difference <= TOLERANCE


def test_attention_as_matrix_products_imports_as_matmul(tmp_path):
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1], name="keys"),
        helper.make_node("MatMul", ["x", "xt"], ["scores"], name="scores"),
        helper.make_node("Softmax", ["scores"], ["y"], axis=-1, name="weights"),
    ]
    path = tmp_path / "attention.onnx"
    onnx.save(_model(nodes, [_float("x", 4, 3)], [_float("y", 4, 4)]), str(path))
    result = import_onnx(path)
    assert [t for t, _ in _layers(result.graph)] == ["input", "permute", "matmul", "softmax", "output"]
    x = torch.randn(2, 4, 3)
    expected = torch.softmax(x @ x.transpose(1, 2), dim=-1)
    assert torch.allclose(result.model(x), expected, atol=TOLERANCE)


@pytest.mark.parametrize("kind", ["sinusoidal", "learned"])
def test_a_table_added_to_a_sequence_is_a_positional_encoding(tmp_path, kind):
    from layerloom.backend.lowerings.attention import PositionalEncoding

    table = PositionalEncoding.sinusoidal(16, 6).numpy()
    if kind == "learned":
        table = np.random.default_rng(0).standard_normal((16, 6)).astype(np.float32)
    starts, ends, axes = (numpy_helper.from_array(np.array([v], dtype=np.int64), n)
                          for v, n in ((0, "start"), (4, "end"), (0, "axis")))
    nodes = [
        helper.make_node("Slice", ["pos.pe", "start", "end", "axis"], ["pe"], name="table"),
        helper.make_node("Add", ["x", "pe"], ["y"], name="encode"),
    ]
    proto = _model(nodes, [_float("x", 4, 6)], [_float("y", 4, 6)],
                   [numpy_helper.from_array(table, "pos.pe"), starts, ends, axes])
    path = tmp_path / "pe.onnx"
    onnx.save(proto, str(path))
    result = import_onnx(path)
    node = next(n for n in result.graph.nodes if n.type == "positional_encoding")
    assert node.params["kind"] == kind and node.params["max_len"] == 16
    x = np.random.default_rng(1).standard_normal((2, 4, 6)).astype(np.float32)
    got = result.model(torch.from_numpy(x)).detach().numpy()
    assert np.abs(got - (x + table[:4])).max() <= TOLERANCE


def test_unknown_operators_are_listed_by_type_and_node(tmp_path):
    nodes = [
        helper.make_node("Sinh", ["x"], ["s"], name="my_sinh"),
        helper.make_node("Relu", ["s"], ["r"], name="ok_relu"),
        helper.make_node("Einsum", ["r", "x"], ["y"], equation="ni,ni->ni", name="my_einsum"),
    ]
    path = tmp_path / "odd.onnx"
    onnx.save(_model(nodes, [_float("x", 3)], [_float("y", 3)]), str(path))
    with pytest.raises(ModelImportError) as info:
        import_onnx(path)
    listed = [(p.what, p.where) for p in info.value.problems]
    assert listed == [("ONNX Sinh", "node 'my_sinh'"), ("ONNX Einsum", "node 'my_einsum'")]
    assert str(info.value).startswith("cannot import odd.onnx: 2 operators have no LayerLoom equivalent")


def _external_model(folder, location="weights.bin"):
    """A Gemm model whose weights live in external data next to it."""
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1, name="fc")]
    proto = _model(nodes, [_float("x", 4)], [_float("y", 3)], [numpy_helper.from_array(w, "w")])
    path = folder / "ext.onnx"
    onnx.save_model(proto, str(path), save_as_external_data=True, location=location, size_threshold=0)
    return path, w


def _relocate(path, location):
    proto = onnx.load(str(path), load_external_data=False)
    for entry in proto.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    onnx.save(proto, str(path))


def test_external_data_inside_the_folder_is_read(tmp_path):
    path, w = _external_model(tmp_path)
    result = import_onnx(path)
    dense = next(n for n in result.graph.nodes if n.type == "dense")
    assert torch.equal(result.model.state_dict()[f"{dense.id}.weight"], torch.from_numpy(w))


@pytest.mark.parametrize("escape", ["../outside.bin", "sub/../../outside.bin", "ABSOLUTE"])
def test_external_data_outside_the_folder_is_refused(tmp_path, escape):
    folder = tmp_path / "model"
    folder.mkdir()
    path, _ = _external_model(folder)
    outside = tmp_path / "outside.bin"
    outside.write_bytes((folder / "weights.bin").read_bytes())  # a real file: refused for its place
    location = str(outside) if escape == "ABSOLUTE" else escape
    _relocate(path, location)
    with pytest.raises(ModelImportError, match="outside the model's folder"):
        import_onnx(path)


def test_external_data_through_a_link_out_of_the_folder_is_refused(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    path, _ = _external_model(folder)
    (tmp_path / "outside.bin").write_bytes((folder / "weights.bin").read_bytes())
    (folder / "link.bin").symlink_to(tmp_path / "outside.bin")
    _relocate(path, "link.bin")
    with pytest.raises(ModelImportError, match="outside the model's folder"):
        import_onnx(path)


def test_unreadable_files_are_reported(tmp_path):
    with pytest.raises(ModelImportError, match="no such file"):
        import_onnx(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 not a model")
    with pytest.raises(ModelImportError, match="not a readable ONNX file"):
        import_onnx(junk)


def test_a_name_that_is_not_utf8_is_reported_not_a_traceback(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["hidden"], name="act"),
             helper.make_node("Relu", ["hidden"], ["y"], name="act2")]
    data = _model(nodes, [_float("x", 4)], [_float("y", 4)]).SerializeToString()
    path = tmp_path / "names.onnx"
    path.write_bytes(data.replace(b"hidden", b"hidd\xe4n"))  # same length: still parses
    with pytest.raises(ModelImportError) as info:
        import_onnx(path)
    assert str(info.value) == (f"{path} is not a readable ONNX file: graph.node[0].output holds "
                               "b'hidd\\xe4n', which is not UTF-8 text")


def _declared_only(dims, data=()):
    """A float initializer that declares ``dims`` but holds ``data``."""
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=list(dims))
    tensor.float_data.extend(data)
    return tensor


def test_an_initializer_declaring_a_trillion_elements_is_refused_before_allocating(tmp_path):
    nodes = [helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    proto = _model(nodes, [_float("x", 4)], [_float("y", 4)], [_declared_only((10 ** 6, 10 ** 6))])
    path = tmp_path / "huge.onnx"
    onnx.save(proto, str(path))
    assert path.stat().st_size < 1000
    with pytest.raises(ModelImportError, match=r"needs 3,?\d*\.\d TiB of memory, over the budget"):
        import_onnx(path)


def test_an_initializer_with_less_data_than_it_declares_is_damaged(tmp_path):
    nodes = [helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    proto = _model(nodes, [_float("x", 4)], [_float("y", 4)], [_declared_only((4,), [1.0, 2.0])])
    path = tmp_path / "short.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(ModelImportError, match="declares 4 elements .* but holds 2; the file is damaged"):
        import_onnx(path)


def test_an_input_shape_over_the_budget_is_refused(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="act")]
    proto = _model(nodes, [_float("x", 100_000, 100_000, 6)], [_float("y", 100_000, 100_000, 6)])
    path = tmp_path / "wide.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(ModelImportError, match="input 'x' .* over the budget"):
        import_onnx(path)


def test_external_data_inside_a_model_local_function_is_checked_too(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(np.ones(4, np.float32).tobytes())
    constant = TensorProto(name="c", data_type=TensorProto.FLOAT, dims=[4],
                           data_location=TensorProto.EXTERNAL)
    for key, value in (("location", "../outside.bin"), ("offset", "0"), ("length", "16")):
        constant.external_data.add(key=key, value=value)
    body = [helper.make_node("Constant", [], ["k"], value=constant),
            helper.make_node("Add", ["a", "k"], ["b"])]
    function = helper.make_function("local", "AddConst", ["a"], ["b"], body,
                                    [helper.make_opsetid("", 17)])
    nodes = [helper.make_node("AddConst", ["x"], ["y"], domain="local", name="call")]
    graph = helper.make_graph(nodes, "tiny", [_float("x", 4)], [_float("y", 4)])
    proto = helper.make_model(graph, functions=[function], ir_version=8, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    path = folder / "fn.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(ModelImportError, match="outside the model's folder"):
        import_onnx(path)


def test_external_data_through_a_symlink_loop_is_refused(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    path, _ = _external_model(folder)
    (folder / "a.bin").symlink_to(folder / "b.bin")
    (folder / "b.bin").symlink_to(folder / "a.bin")
    _relocate(path, "a.bin")
    with pytest.raises(ModelImportError, match="loop of symbolic links"):
        import_onnx(path)


def test_a_conv_padded_at_one_end_imports_as_a_zero_padding_and_a_conv(tmp_path):
    # The exporter joins a causal F.pad(x, (2, 0)) into the Conv's pads.
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["y"], pads=[2, 0], name="causal")]
    proto = _model(nodes, [_float("x", 3, 8)], [_float("y", 4, 8)], [numpy_helper.from_array(w, "conv.weight")])
    path = tmp_path / "causal.onnx"
    onnx.save(proto, str(path))
    result = import_onnx(path)
    layers = _layers(result.graph)
    assert [t for t, _ in layers] == ["input", "zero_pad1d", "conv1d", "output"]
    assert tuple(layers[1][1]["padding"]) == (2, 0)
    assert tuple(layers[2][1]["padding"]) == (0,)
    x = torch.randn(2, 3, 8)
    expected = torch.nn.functional.conv1d(torch.nn.functional.pad(x, (2, 0)), torch.from_numpy(w))
    assert torch.allclose(result.model(x), expected, atol=TOLERANCE)
