"""Shape rules of the Tensor layers: what they give, and what they refuse with a
message that quotes the shapes and names a fix. (The parity test checks the
accepted shapes against torch over the registry; this file checks the refusals,
the parameters and the policies torch does not have.)"""

from __future__ import annotations

import pytest

from layerloom.graph import REGISTRY, Graph, ParamError, ShapeError, TensorSpec
from layerloom.graph.layers.tensor_ops import MAX_TENSOR_ELEMENTS
from layerloom.graph.layers.tensor_shape import chunk_sizes


def infer(type_id: str, params: dict, **inputs) -> dict[str, TensorSpec]:
    spec = REGISTRY.get(type_id)
    ins = {port: t if isinstance(t, TensorSpec) else TensorSpec(t) for port, t in inputs.items()}
    return spec.infer(spec.check_params(params), ins)


def out(type_id: str, params: dict, **inputs) -> TensorSpec:
    return infer(type_id, params, **inputs)["out"]


def refusal(type_id: str, params: dict, **inputs) -> ShapeError:
    with pytest.raises(ShapeError) as info:
        infer(type_id, params, **inputs)
    return info.value


# ------------------------------------------------------------------ accepted
@pytest.mark.parametrize(("type_id", "params", "shape", "expected"), [
    ("transpose", {"dim0": 1, "dim1": 2}, (3, 4), (4, 3)),
    ("transpose", {"dim0": -1, "dim1": -1}, (3, 4), (3, 4)),
    ("flatten_dims", {"start_dim": 2}, (3, 4, 5), (3, 20)),
    ("flatten_dims", {"start_dim": 1, "end_dim": 2}, (3, 4, 5), (12, 5)),
    ("squeeze", {}, (1, 4, 1), (4,)),
    ("squeeze", {"dim": 1}, (3, 4), (3, 4)),  # not of size 1: kept, as torch does
    ("unsqueeze", {"dim": -1}, (3,), (3, 1)),
    ("unsqueeze", {"dim": 1}, (3,), (1, 3)),
    ("slice", {"dim": 1, "start": -2}, (5, 4), (2, 4)),
    ("slice", {"dim": -1, "start": 1, "end": 100, "step": 3}, (5, 8), (5, 3)),
    ("select", {"dim": 1, "index": -1}, (5, 4), (4,)),
    ("expand", {"sizes": (-1, 6)}, (3, 1), (3, 6)),
    ("repeat", {"repeats": (2, 3)}, (3, 1), (6, 3)),
    ("reduce", {"op": "mean", "dims": (1, 2), "keepdim": True}, (3, 4), (1, 1)),
    ("reduce", {"op": "var", "dims": (-1,)}, (3, 4), (3,)),
])
def test_shapes(type_id, params, shape, expected):
    assert out(type_id, params, **{"in": shape}).shape == expected


def test_split_chunk_and_stack_ports():
    parts = infer("split", {"sizes": (1, 2, 3), "dim": -1}, **{"in": (4, 6)})
    assert list(parts) == ["out1", "out2", "out3"]
    assert [t.shape for t in parts.values()] == [(4, 1), (4, 2), (4, 3)]
    chunks = infer("chunk", {"chunks": 3, "dim": 1}, **{"in": (6, 2)})
    assert [t.shape for t in chunks.values()] == [(2, 2)] * 3
    assert out("stack", {"inputs": 3, "dim": 1}, in1=(4,), in2=(4,), in3=(4,)).shape == (3, 4)
    assert chunk_sizes(3, 7) == [3, 3, 1]


def test_gather_index_select_argmax_and_cast_dtypes():
    long = TensorSpec((3, 2), "long")
    assert out("gather", {"dim": 2}, **{"in": (3, 5)}, index=long) == TensorSpec((3, 2))
    assert out("index_select", {"dim": 1}, **{"in": (4, 5)}, index=TensorSpec((2,), "long")).shape == (2, 5)
    assert out("argmax", {"dim": 1, "keepdim": True}, **{"in": (4, 5)}) == TensorSpec((1, 5), "long")
    assert out("cast", {"dtype": "long"}, **{"in": (4,)}) == TensorSpec((4,), "long")
    assert out("reduce", {"op": "sum", "dims": (1,)}, **{"in": TensorSpec((4, 2), "long")}).dtype == "long"


def test_parameter_and_constant_repeat_over_the_batch_of_any_input():
    spec = REGISTRY.get("parameter")
    ins = {"like": TensorSpec((7,), "long")}
    params = spec.check_params({"shape": (1, 16)})
    assert spec.infer(params, ins)["out"] == TensorSpec((1, 16))
    assert spec.param_count(params, ins, {}) == 16
    constant = out("constant", {"shape": (2,), "dtype": "long", "values": (3, 4)}, like=(5,))
    assert constant == TensorSpec((2,), "long")
    assert REGISTRY.get("constant").param_count({}, {}, {}) == 0
    assert out("random_normal", {"std": 0.5}, **{"in": (3, 4)}) == TensorSpec((3, 4))


# ------------------------------------------------------------------ refused
@pytest.mark.parametrize(("type_id", "params", "inputs", "words"), [
    ("transpose", {"dim0": 0, "dim1": 1}, {"in": (3, 4)}, ["dim 0 is the batch dim", "use a dim of 1 or more"]),
    ("transpose", {"dim0": 1, "dim1": 4}, {"in": (3, 4)}, ["dim 4 is out of range", "rank 3"]),
    ("flatten_dims", {"start_dim": 2, "end_dim": 1}, {"in": (3, 4)}, ["start_dim 2 comes after end_dim 1", "(3, 4)"]),
    ("unsqueeze", {"dim": 0}, {"in": (3,)}, ["before the batch", "use a dim of 1 or more"]),
    ("split", {"sizes": (2, 2), "dim": 1}, {"in": (5, 3)},
     ["sizes [2, 2] add up to 4", "(5, 3) has 5", "give sizes that add up to 5"]),
    ("chunk", {"chunks": 4, "dim": 1}, {"in": (6,)}, ["3 parts of [2, 2, 2]", "(6,)", "use Split"]),
    ("slice", {"dim": 1, "start": 5}, {"in": (4, 2)}, ["keeps nothing of the 4 values", "(4, 2)", "inside the dim"]),
    ("select", {"dim": 2, "index": 3}, {"in": (4, 2)}, ["index 3 is out of range for dim 2 of size 2", "from -2 to 1"]),
    ("stack", {"dim": 1}, {"in1": (3,), "in2": (4,)}, ["one shape and dtype", "(N, 3)", "(N, 4)", "use Concat"]),
    ("expand", {"sizes": (4, -1)}, {"in": (3, 2)}, ["dim 1 of size 3 into 4", "(3, 2)", "Repeat"]),
    ("expand", {"sizes": (4,)}, {"in": (1, 2)}, ["one size per dim", "(1, 2)", "Unsqueeze"]),
    ("repeat", {"repeats": (2, 2, 2)}, {"in": (3, 2)}, ["one count per dim", "(3, 2)", "before the batch"]),
    ("gather", {"dim": 1}, {"in": (3, 4), "index": TensorSpec((3,), "long")}, ["same rank", "(N, 3, 4)", "Reshape"]),
    ("gather", {"dim": 1}, {"in": (3, 4), "index": TensorSpec((3, 5), "long")}, ["larger than the input", "dim 2"]),
    ("gather", {"dim": 1}, {"in": (3,), "index": (3,)}, ["needs long indices", "Cast to long"]),
    ("index_select", {"dim": 1}, {"in": (3, 4), "index": TensorSpec((3, 1), "long")}, ["(K,) per sample", "Gather"]),
    ("reduce", {"dims": (1, -2)}, {"in": (3, 4)}, ["name one dim twice", "name each dim once"]),
    ("reduce", {"op": "mean", "dims": (1,)}, {"in": TensorSpec((3,), "long")}, ["needs float values", "Embedding"]),
    ("argmax", {"dim": 0}, {"in": (3,)}, ["batch dim"]),
    ("constant", {"shape": (2, 2), "values": (1, 2, 3)}, {"like": (1,)}, ["needs 4 values; it has 3", "fill"]),
    ("constant", {"shape": (2,), "dtype": "long", "fill": 0.5}, {"like": (1,)}, ["whole numbers", "0.5"]),
    ("random_normal", {}, {"in": TensorSpec((3,), "long")}, ["needs float values"]),
])
def test_refusals_quote_the_shapes_and_name_a_fix(type_id, params, inputs, words):
    error = refusal(type_id, params, **inputs)
    for word in words:
        assert word in str(error), (word, str(error))


def test_a_tensor_of_more_than_1e8_values_is_refused_before_anything_is_built():
    graph = Graph()
    with pytest.raises(ParamError, match=r"holds 100,020,001 values; a Parameter or Constant holds at most 100,000,000"):
        graph.add_node("parameter", {"shape": [10_001, 10_001]})
    node = graph.add_node("constant", {"shape": [10, 10]})
    with pytest.raises(ParamError, match="at most 100,000,000"):
        graph.set_param(node.id, "shape", [1000, 1000, 1000])
    assert graph.node(node.id).params["shape"] == (10, 10)
    # a rule that gets such params anyway (a file edited by hand) refuses too
    spec = REGISTRY.get("constant")
    params = {**spec.defaults(), "shape": (MAX_TENSOR_ELEMENTS + 1,)}
    with pytest.raises(ShapeError, match="over the limit of 100,000,000"):
        spec.infer(params, {"like": TensorSpec((1,))})


def test_bad_parameter_values_are_refused():
    with pytest.raises(ParamError):
        REGISTRY.get("split").check_params({"sizes": (0, 2)})
    with pytest.raises(ParamError):
        REGISTRY.get("chunk").check_params({"chunks": 9})
    with pytest.raises(ParamError):
        REGISTRY.get("slice").check_params({"step": 0})
    with pytest.raises(ParamError):
        REGISTRY.get("reduce").check_params({"op": "median"})
    with pytest.raises(ParamError):
        REGISTRY.get("cast").check_params({"dtype": "int8"})
    with pytest.raises(ParamError):
        REGISTRY.get("parameter").check_params({"init": "xavier"})
    with pytest.raises(ParamError):
        REGISTRY.get("random_normal").check_params({"std": -1.0})


def test_split_ports_follow_the_sizes_in_a_graph():
    graph = Graph()
    source = graph.add_node("input", {"shape": [6, 4]})
    split = graph.add_node("split", {"sizes": [2, 4], "dim": 1})
    graph.connect(source.id, "out", split.id, "in")
    for port in split.output_ports():
        graph.connect(split.id, port, graph.add_node("output").id, "in")
    analysis = graph.analysis()
    assert analysis.valid, analysis.errors
    assert analysis.nodes[split.id].outputs["out2"] == TensorSpec((4, 4))
    assert [t.type_id for t in REGISTRY.search("chunk")][0] == "chunk"
