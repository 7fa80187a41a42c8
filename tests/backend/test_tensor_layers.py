"""The Tensor layers in torch, and how hand-written PyTorch and exported ONNX code
using tensor operations imports: the method and function forms people write
(``x.transpose(1, 2)``, ``q, k, v = x.chunk(3, dim=-1)``, ``x[:, 0]``,
``self.cls_token.expand(B, -1, -1)``, ``x.amax(dim)``, ``x.float()``), and the
refusals with their reasons."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from layerloom.backend.compile import compile_graph
from layerloom.backend.importers import ModelImportError, import_module, import_onnx
from layerloom.backend.lowerings.tensor_ops import ConstantTensor, LearnedTensor, RandomNormal
from tests.backend.helpers import Builder


def types(result) -> Counter:
    return Counter(n.type for n in result.graph.nodes if n.type not in ("input", "output"))


def problems(module, shapes, dtypes=None) -> str:
    with pytest.raises(ModelImportError) as info:
        import_module(module.eval(), shapes, dtypes)
    return str(info.value)


# ---------------------------------------------------------------- in torch
def test_random_normal_draws_while_training_and_gives_the_mean_in_eval():
    torch.manual_seed(0)
    layer = RandomNormal(mean=2.0, std=0.5)
    x = torch.zeros(4000, 3)
    noise = layer(x)
    assert abs(float(noise.mean()) - 2.0) < 0.05 and abs(float(noise.std()) - 0.5) < 0.05
    assert torch.equal(layer.eval()(x), torch.full_like(x, 2.0))


@pytest.mark.parametrize(("init", "check"), [
    ("zeros", lambda w: bool((w == 0).all())),
    ("ones", lambda w: bool((w == 1).all())),
    ("normal", lambda w: 0.05 < float(w.std()) < 0.15),
    ("trunc_normal", lambda w: float(w.abs().max()) <= 2.0 and 0.05 < float(w.std()) < 0.15),
    ("uniform", lambda w: float(w.abs().max()) <= 0.3 and float(w.abs().max()) > 0.2),
])
def test_parameter_initialisations(init, check):
    torch.manual_seed(0)
    layer = LearnedTensor((50, 40), init=init, std=0.1, bound=0.3)
    assert tuple(layer.weight.shape) == (1, 50, 40)
    assert check(layer.weight.detach())
    out = layer(torch.zeros(3, 7))
    assert tuple(out.shape) == (3, 50, 40) and out.data_ptr() == layer.weight.data_ptr()  # a view, no copy


def test_constant_holds_its_values_as_a_saved_buffer():
    layer = ConstantTensor((2, 2), values=(1, 2, 3, 4), long=True)
    assert layer(torch.zeros(2, 1)).tolist() == [[[1, 2], [3, 4]]] * 2
    assert "value" in layer.state_dict() and not list(layer.parameters())
    assert ConstantTensor((3,), fill=0.5)(torch.zeros(1)).tolist() == [[0.5, 0.5, 0.5]]


def test_index_select_takes_each_samples_own_positions_and_squeeze_keeps_a_batch_of_one():
    b = Builder()
    x, index = b.input(4, 5), b.input(3, dtype="long")
    b.output(b.node("index_select", x, index, dim=1))
    model = compile_graph(b.graph, seed=0)
    data, positions = torch.randn(2, 4, 5), torch.tensor([[0, 3, 3], [2, 1, 0]])
    got = model(data, positions)
    for n in range(2):
        assert torch.equal(got[n], torch.index_select(data[n], 0, positions[n]))
    b = Builder()
    b.output(b.node("squeeze", b.input(1, 4, 1)))
    assert tuple(compile_graph(b.graph)(torch.randn(1, 1, 4, 1)).shape) == (1, 4)


# --------------------------------------------------------- PyTorch imports
class TinyViT(nn.Module):
    """Patches, a class token and a learned position table, as ViT code writes them."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, 8, kernel_size=4, stride=4)
        self.cls_token = nn.Parameter(torch.randn(1, 1, 8))
        self.pos_embed = nn.Parameter(torch.randn(1, 5, 8))
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        x = self.proj(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1)
        x = x + self.pos_embed
        return self.head(x[:, 0])


def test_a_vit_stem_imports_with_parameters_for_its_class_token_and_position_table():
    result = import_module(TinyViT().eval(), [(3, 8, 8)])
    assert types(result) == Counter({"conv2d": 1, "reshape": 1, "transpose": 1, "parameter": 2, "concat": 1,
                                     "add": 1, "select": 1, "dense": 1})
    assert result.key_map["cls_token"].endswith(".weight") and result.key_map["pos_embed"].endswith(".weight")
    labels = {n.label for n in result.graph.nodes if n.type == "parameter"}
    assert labels == {"cls_token", "pos_embed"}
    assert sum(p.numel() for p in result.model.parameters()) == sum(p.numel() for p in TinyViT().parameters())


class Heads(nn.Module):
    """q, k, v cut from one projection, heads split off, the last step kept."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.register_buffer("pos", torch.arange(40.0).reshape(1, 10, 4) / 40)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, 2, 4).transpose(1, 2)
        a, b = k.chunk(2, dim=-1)
        both = torch.stack([a, b], dim=1)
        first, second = v.unbind(dim=-1)[:2]
        return (q[:, :, -1, :] + self.pos[:, :2, :], both.amax(dim=(1, 2)), x[..., 1:].sum(-1, keepdim=True),
                x[:, :-1], first + second)


def test_splits_chunks_stacks_slices_and_a_sliced_buffer():
    result = import_module(Heads().eval(), [(6, 8)])
    found = types(result)
    assert found["split"] == 2 and found["chunk"] == 1 and found["stack"] == 1
    assert found["transpose"] == 1 and found["select"] == 1 and found["slice"] == 2
    assert found["constant"] == 1 and found["reduce"] == 2
    constant = next(n for n in result.graph.nodes if n.type == "constant")
    assert constant.params["shape"] == (2, 4) and constant.label == "pos"  # the rows the model uses


class Reductions(nn.Module):
    def forward(self, x):
        values, indices = x.max(dim=-1)
        return (torch.logsumexp(x, -1), x.var(-1, unbiased=False), x.std(dim=1, keepdim=True),
                torch.amin(x, dim=(1, 2)), values, indices, x.argmin(1), torch.argmax(x, dim=-1, keepdim=True),
                x.mean(dim=(1, 2)), x.prod(2), torch.max(x, 1).values)


def test_reductions_with_dims_and_keepdim():
    result = import_module(Reductions().eval(), [(3, 4, 5)])
    reduce_ops = Counter(n.params["op"] for n in result.graph.nodes if n.type == "reduce")
    assert reduce_ops == Counter({"logsumexp": 1, "var": 1, "std": 1, "min": 1, "max": 2, "prod": 1})
    assert types(result)["argmax"] == 2 and types(result)["argmin"] == 1
    assert types(result)["global_avg_pool"] == 1  # the mean leaving one dim
    var = next(n for n in result.graph.nodes if n.type == "reduce" and n.params["op"] == "var")
    assert var.params["correction"] == 0


def test_concat_on_a_negative_dim_compiles_and_imports():
    b = Builder()
    x = b.input(2, 3)
    b.output(b.node("concat", x, x, dim=-1))
    model = compile_graph(b.graph)
    data = torch.randn(2, 2, 3)
    assert torch.equal(model(data), torch.cat((data, data), dim=-1))
    result = import_module(model, [(2, 3)])
    assert types(result) == Counter({"concat": 1})


def test_a_mean_leaving_one_dim_stays_a_global_average_pool():
    class Pool(nn.Module):
        def forward(self, x):
            return x.mean((2, 3))

    assert types(import_module(Pool().eval(), [(3, 4, 4)])) == Counter({"global_avg_pool": 1})


def test_casts_and_conversions_that_change_nothing():
    class Simple(nn.Module):
        def forward(self, tokens, x):
            return tokens.to(torch.float32), tokens.type_as(x), x.long(), x.float(), x.to("cpu"), x.int()

    result = import_module(Simple().eval(), [(4,), (3,)], ["long", "float"])
    assert Counter(n.params["dtype"] for n in result.graph.nodes if n.type == "cast") == {"float": 2, "long": 2}
    assert "double" in problems(_Double(), [(3,)])


class _Double(nn.Module):
    def forward(self, x):
        return x.double()


def test_gather_index_select_expand_repeat_and_filled_tensors():
    class Indexing(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("keep", torch.tensor([2, 0]))

        def forward(self, x, index):
            return (torch.gather(x, 2, index), x.index_select(1, self.keep), x[:, :1].expand(-1, 3, -1),
                    x.repeat(1, 1, 2), torch.zeros_like(x), torch.full_like(index, 7))

    result = import_module(Indexing().eval(), [(3, 4), (3, 2)], ["float", "long"])
    found = types(result)
    assert found["gather"] == 1 and found["index_select"] == 1 and found["expand"] == 1 and found["repeat"] == 1
    assert found["constant"] == 3  # the positions, zeros_like and full_like


def test_noise_imports_as_random_normal():
    class Noisy(nn.Module):
        def forward(self, x):
            return torch.cat([x, torch.randn_like(x)], dim=1)[:, :3]

    assert types(import_module(Noisy().eval(), [(3,)]))["random_normal"] == 1


@pytest.mark.parametrize(("forward", "why"), [
    (lambda x: x[0], "indexes or slices the batch dim"),
    (lambda x: x[:, [0, 1]], "indexes with a list or a tensor"),
    (lambda x: x.transpose(0, 1), "moves the batch dim"),
    (lambda x: x.sum(), "reduces every value of the batch; give dim="),
    (lambda x: x.argmax(), "argmax over every value of the batch"),
    (lambda x: torch.stack([x, x], dim=0), "before the batch"),
    (lambda x: x.split(1, dim=-1), "cuts into 9 parts; LayerLoom's Split gives 8 at most"),
    (lambda x: x.repeat(2, 1), "first dim is not the batch"),
])
def test_refusals_name_the_reason(forward, why):
    class Model(nn.Module):
        def forward(self, x):
            return forward(x)

    assert why in problems(Model(), [(9,)])


def test_a_held_tensor_whose_first_dim_meets_the_batch_is_refused():
    class Table(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Parameter(torch.randn(3, 3))  # runs only while the batch is 3

        def forward(self, x):
            return x + self.table

    assert "its first dim meets the batch, so it must be 1" in problems(Table(), [(3,)])


# ------------------------------------------------------------ ONNX imports
def _ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def test_onnx_tensor_operators_import_as_tensor_layers(tmp_path):
    """What the exporter writes for tensor operations, built by hand: Split with
    sizes and with num_outputs, Slice, Gather of a scalar, GatherElements,
    Concat of Unsqueeze, Expand, Tile, Reduce*, ArgMax, Cast, and initializers
    used as tensors (a class token expanded by the input's Shape, a table added)."""
    rng = np.random.default_rng(0)
    cls_token = rng.standard_normal((1, 1, 4)).astype(np.float32)
    table = rng.standard_normal((1, 3, 2, 4)).astype(np.float32)
    node = helper.make_node
    nodes = [
        node("Split", ["x", "sizes"], ["a", "b"], axis=1),
        node("Split", ["x"], ["c1", "c2", "c3"], axis=1, num_outputs=3),
        node("Slice", ["x", "one", "three", "two"], ["sliced"]),
        node("Gather", ["x", "last"], ["selected"], axis=1),
        node("GatherElements", ["x", "index"], ["gathered"], axis=2),
        node("Unsqueeze", ["x", "two"], ["u"]),
        node("Concat", ["u", "u"], ["stacked"], axis=2),
        node("Add", ["stacked", "table"], ["placed"]),
        node("Expand", ["c1", "three_rows"], ["expanded"]),
        node("Tile", ["x", "tiles"], ["tiled"]),
        node("ReduceSum", ["x", "minus_one"], ["summed"], keepdims=0),
        node("ReduceMax", ["x", "one_two"], ["maxed"], keepdims=1),
        node("ArgMax", ["x"], ["arg"], axis=-1, keepdims=0),
        node("Cast", ["x"], ["cast"], to=TensorProto.INT64),
        node("Shape", ["x"], ["shape"], start=0, end=1),
        node("Concat", ["shape", "ones_four"], ["target"], axis=0),
        node("Expand", ["cls_token", "target"], ["cls"]),
        node("Concat", ["cls", "x"], ["joined"], axis=1),
    ]
    outputs = {"a": (1, 4), "b": (2, 4), "c2": (1, 4), "sliced": (3, 2), "selected": (4,), "gathered": (3, 2),
               "placed": (3, 2, 4), "expanded": (3, 4), "tiled": (6, 4), "summed": (3,), "maxed": (1, 1),
               "arg": (3,), "cast": (3, 4), "joined": (4, 4)}
    longs = {"arg", "cast"}
    initializers = [
        _ints("sizes", [1, 2]), _ints("one", [1]), _ints("two", [2]), _ints("three", [3]), _ints("last", -1),
        _ints("three_rows", [1, 3, 1]), _ints("tiles", [1, 2, 1]), _ints("minus_one", [-1]),
        _ints("one_two", [1, 2]), _ints("ones_four", [1, 4]),
        numpy_helper.from_array(cls_token, "cls_token"), numpy_helper.from_array(table, "table"),
    ]
    graph = helper.make_graph(
        nodes, "tensor_ops",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4]),
         helper.make_tensor_value_info("index", TensorProto.INT64, ["N", 3, 2])],
        [helper.make_tensor_value_info(name, TensorProto.INT64 if name in longs else TensorProto.FLOAT, ["N", *dims])
         for name, dims in outputs.items()],
        initializers,
    )
    path = tmp_path / "ops.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8), str(path))
    result = import_onnx(path)  # compared with onnxruntime on two batch sizes
    assert types(result) == Counter({
        "split": 1, "chunk": 1, "slice": 1, "select": 1, "gather": 1, "stack": 1, "add": 1, "parameter": 2,
        "expand": 1, "repeat": 1, "reduce": 2, "argmax": 1, "cast": 1, "concat": 1,
    })
    assert {n.label for n in result.graph.nodes if n.type == "parameter"} == {"cls_token", "table"}
    assert result.key_map["cls_token"].endswith(".weight")
