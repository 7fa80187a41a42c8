"""Importing the arithmetic people write in ``forward()``: operators with numbers
on either side, tensor methods, masks (a causal buffer, a mask from sizes, a mask
input), and the same through ONNX."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.backend.compile import compile_graph
from layerloom.backend.export import export_onnx
from layerloom.backend.importers import ModelImportError, import_module, import_onnx
from layerloom.graph import Graph

TOLERANCE = 1e-5


def types(graph: Graph) -> list[str]:
    return [graph.node(n).type for n in graph.topological_order()]


def params_of(graph: Graph, type_id: str) -> list[dict]:
    return [n.params for n in graph.nodes if n.type == type_id]


class Attention(nn.Module):
    """A GPT-style causal self-attention block, as nanoGPT writes it (without split).
    torch.fx cannot slice a buffer or build a tensor by traced sizes, so the mask
    takes the block size, a number."""

    def __init__(self, embed=8, heads=2, block=5, mask="buffer"):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(embed, embed), nn.Linear(embed, embed), nn.Linear(embed, embed)
        self.proj = nn.Linear(embed, embed)
        self.heads, self.block, self.mask = heads, block, mask
        self.register_buffer("bias", torch.tril(torch.ones(block, block)).view(1, 1, block, block))

    def forward(self, x):
        B, T, C = x.size()
        q = self.q(x).view(B, T, self.heads, C // self.heads).transpose(1, 2)
        k = self.k(x).view(B, T, self.heads, C // self.heads).transpose(1, 2)
        v = self.v(x).view(B, T, self.heads, C // self.heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        if self.mask == "buffer":
            n = self.block
            att = att.masked_fill(self.bias[:, :, :n, :n] == 0, float("-inf"))
        else:
            causal = torch.tril(torch.ones(self.block, self.block, device=x.device))
            att = att.masked_fill(causal == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)


@pytest.mark.parametrize("mask", ["buffer", "computed"])
def test_gpt_attention_imports_with_the_causal_mask(mask):
    torch.manual_seed(0)
    model = Attention(mask=mask).eval()
    result = import_module(model, [(5, 8)])
    found = types(result.graph)
    assert found.count("matmul") == 2 and "multiply_constant" in found
    (fill,) = params_of(result.graph, "masked_fill")
    assert fill["mask"] == "causal" and fill["fill"] == "-inf" and not fill["invert"]
    assert params_of(result.graph, "multiply_constant")[0]["value"] == pytest.approx(1 / math.sqrt(4))
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        assert torch.allclose(result.model(x), model(x), atol=TOLERANCE)


class Arithmetic(nn.Module):
    def forward(self, x, y):
        a = 1.0 - x / math.sqrt(16) + 2 * x.exp().clamp(max=3.0)
        b = torch.rsqrt(x ** 2 + 1.0) - y.abs().sqrt().neg()
        c = torch.maximum(a, b) * torch.clamp(y, min=0.0) / (y.pow(2) + 1)
        return torch.cumsum(-c, dim=1), torch.reciprocal(b) @ a.transpose(1, 2)


def test_operators_functions_and_methods_map_to_math_layers():
    result = import_module(Arithmetic(), [(3, 4), (3, 4)])
    found = set(types(result.graph))
    assert {"constant_subtract", "divide_constant", "multiply_constant", "exp", "clamp", "rsqrt", "power_constant",
            "add_constant", "subtract", "abs", "sqrt", "neg", "maximum", "multiply", "divide", "cumsum",
            "reciprocal", "matmul"} <= found
    assert {"value": 1.0} in [dict(p) for p in params_of(result.graph, "constant_subtract")]
    assert {"exponent": 2.0} in [dict(p) for p in params_of(result.graph, "power_constant")]
    assert result.max_difference <= TOLERANCE


class Broadcast(nn.Module):
    def forward(self, x, gate, other):
        return x * gate + other, x - gate


def test_tensors_of_one_rank_broadcast_and_equal_shapes_join_one_node():
    result = import_module(Broadcast(), [(3, 4, 4), (3, 1, 1), (3, 4, 4)])
    assert params_of(result.graph, "multiply") == [{"inputs": 2}]
    assert params_of(result.graph, "add") == [{"inputs": 2}]
    assert "subtract" in types(result.graph)

    class Chain(nn.Module):
        def forward(self, a, b, c):
            return a + b + c

    assert params_of(import_module(Chain(), [(4,)] * 3).graph, "add") == [{"inputs": 3}]


class Masks(nn.Module):
    def forward(self, x, mask):
        filled = x.masked_fill(mask == 0, -1e9)
        kept = torch.where(mask.bool(), x, 0.0)
        chosen = torch.where(mask != 0, x, filled)
        return filled, kept, chosen


def test_masks_from_an_input_become_mask_inputs():
    result = import_module(Masks(), [(4, 4), (4, 4)], ["float", "long"])
    fills = params_of(result.graph, "masked_fill")
    assert {"mask": "input", "invert": True, "fill": "value", "value": -1e9} in fills
    assert {"mask": "input", "invert": True, "fill": "value", "value": 0.0} in fills  # where(mask, x, 0)
    assert "where" in types(result.graph)
    assert result.max_difference <= TOLERANCE


def test_what_has_no_math_layer_is_named():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("holes", torch.eye(4))

        def forward(self, x):
            return 2.0 ** x, x.masked_fill(self.holes.bool(), 0.0), x // 2

    with pytest.raises(ModelImportError) as info:
        import_module(Odd(), [(4, 4)])
    why = {p.what: p.why for p in info.value.problems}
    assert "constant 2.0 to a tensor power" in why["the ** operator"]
    assert "not the causal" in why["Tensor.masked_fill"]
    assert "//" in why["the // operator"]


def _math_graph() -> Graph:
    """x, mask -> where(mask, x, b) with b = masked_fill(x, mask == 0, -1e9); a broadcast Add."""
    g = Graph()
    x = g.add_node("input", {"shape": [4, 4]}, label="x")
    mask = g.add_node("input", {"shape": [1, 4], "dtype": "long"}, label="mask")
    bias = g.add_node("input", {"shape": [1, 4]}, label="bias")
    fill = g.add_node("masked_fill", {"mask": "input", "invert": True, "fill": "value", "value": -1e9})
    g.connect(x.id, "out", fill.id, "in")
    g.connect(mask.id, "out", fill.id, "mask")
    pick = g.add_node("where")
    g.connect(mask.id, "out", pick.id, "cond")
    g.connect(x.id, "out", pick.id, "a")
    g.connect(fill.id, "out", pick.id, "b")
    add = g.add_node("add")
    g.connect(pick.id, "out", add.id, "in1")
    g.connect(bias.id, "out", add.id, "in2")
    scaled = g.add_node("scale_shift", {"scale": 0.5, "shift": -1.0})
    g.connect(add.id, "out", scaled.id, "in")
    out = g.add_node("output")
    g.connect(scaled.id, "out", out.id, "in")
    return g


def test_masks_where_and_broadcasts_come_back_from_onnx(tmp_path):
    graph = _math_graph()
    model = compile_graph(graph, seed=0).eval()
    path = tmp_path / "math.onnx"
    export_onnx(graph, model, path)
    result = import_onnx(path, [(4, 4), (1, 4), (1, 4)])
    found = types(result.graph)
    assert {"masked_fill", "where", "add", "multiply_constant", "add_constant"} <= set(found)
    (fill,) = params_of(result.graph, "masked_fill")
    assert fill["mask"] == "input" and fill["invert"] and fill["value"] == pytest.approx(-1e9)
    assert result.max_difference <= TOLERANCE
