"""The built-in blocks: each loads, validates, compiles and trains a step; the basic
residual block equals a hand-written module with the same weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerloom.backend import compile_graph
from layerloom.graph import Graph
from layerloom.graph.block_store import builtin_blocks, insert_block

BUILTINS = {b.name: b for b in builtin_blocks()}
EXPECTED = {"residual_basic", "residual_bottleneck", "inverted_residual", "transformer_encoder",
            "transformer_decoder", "unet_down", "unet_up", "vit_patch_embedding"}


def wrapped(name: str, **params) -> tuple[Graph, str]:
    """input(s) of the block's own shapes -> an instance -> output(s)."""
    stored = BUILTINS[name]
    g = Graph()
    edit = insert_block(g, stored, node_id="block")
    for key, value in params.items():
        g.set_param("block", key, value)
    d = stored.definition
    for port, node in zip(d.input_ports(), d.port_nodes("in"), strict=True):
        x = g.add_node("input", {"shape": list(node.params["shape"])}, node_id=f"in_{port}")
        g.connect(x.id, "out", "block", port)
    for port in d.output_ports():
        y = g.add_node("output", node_id=f"out_{port}")
        g.connect("block", port, y.id, "in")
    return g, edit.node_id


def inputs_of(g: Graph, batch: int = 2) -> list[torch.Tensor]:
    return [torch.randn(batch, *n.params["shape"]) for n in g.nodes if n.type == "input"]


def test_every_built_in_ships():
    assert set(BUILTINS) == EXPECTED
    for b in BUILTINS.values():
        assert b.description and b.definition.exposed


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_built_in_validates_compiles_and_trains_a_step(name):
    g, _ = wrapped(name)
    analysis = g.analysis()
    assert analysis.valid, analysis.errors
    model = compile_graph(g, seed=0)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    out = model(*inputs_of(g))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    loss = sum(o.float().pow(2).mean() for o in outs)
    assert torch.isfinite(loss)
    before = [p.detach().clone() for p in model.parameters()]
    loss.backward()
    opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
    assert sum(p.numel() for p in model.parameters()) == analysis.total_params


def test_exposed_parameters_change_the_instance():
    g, _ = wrapped("transformer_encoder", heads_shape=[-1, 3, 8, 8], ff_width=32)
    assert g.analysis().valid
    g2, _ = wrapped("residual_basic", width=8)
    assert g2.analysis().total_params < wrapped("residual_basic")[0].analysis().total_params
    g3, _ = wrapped("unet_up", channels=24)
    assert g3.analysis().edges[g3.edges[-1]].shape == (24, 16, 16)


def test_decoder_and_unet_up_take_a_second_input():
    assert BUILTINS["transformer_decoder"].definition.input_ports() == ("x", "memory")
    assert BUILTINS["unet_up"].definition.input_ports() == ("x", "skip")
    assert BUILTINS["unet_down"].definition.output_ports() == ("down", "skip")


def test_vit_patch_embedding_adds_a_class_token_and_positions():
    g, _ = wrapped("vit_patch_embedding")
    model = compile_graph(g, seed=0)
    out = model(torch.randn(3, 3, 32, 32))
    assert out.shape == (3, 17, 64)


def test_encoder_attention_is_written_from_operations():
    types = {n.type for n in BUILTINS["transformer_encoder"].definition.body.nodes}
    assert {"matmul", "softmax", "reshape", "transpose"} <= types
    assert not types & {"transformer_encoder_layer", "multi_head_attention", "scaled_dot_product_attention"}


class BasicBlock(nn.Module):
    def __init__(self, channels=16, width=16):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + x)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_basic_residual_equals_the_hand_written_block(mode):
    g, _ = wrapped("residual_basic", width=8)
    model = compile_graph(g, seed=0)
    hand = BasicBlock(16, 8)
    theirs = model.state_dict()
    assert len(theirs) == len(hand.state_dict())
    hand.load_state_dict(dict(zip(hand.state_dict(), theirs.values(), strict=True)))
    getattr(model, mode)()
    getattr(hand, mode)()
    x = torch.randn(4, 16, 8, 8)
    torch.testing.assert_close(model(x), hand(x))


def test_encoder_matches_a_hand_written_attention():
    g, _ = wrapped("transformer_encoder")
    model = compile_graph(g, seed=0).eval()
    sd = {k.split(".", 1)[1]: v for k, v in model.state_dict().items()}
    x = torch.randn(2, 16, 64)
    qkv = x @ sd["qkv.weight"].T + sd["qkv.bias"]
    q, k, v = qkv.view(2, 16, 3, 4, 16).permute(2, 0, 3, 1, 4)
    att = torch.softmax(q @ k.transpose(-2, -1) / 4.0, -1) @ v
    a = att.transpose(1, 2).reshape(2, 16, 64) @ sd["out_proj.weight"].T + sd["out_proj.bias"]
    h = nn.functional.layer_norm(x + a, (64,), sd["norm_1.weight"], sd["norm_1.bias"])
    f = torch.relu(h @ sd["ff_1.weight"].T + sd["ff_1.bias"]) @ sd["ff_2.weight"].T + sd["ff_2.bias"]
    want = nn.functional.layer_norm(h + f, (64,), sd["norm_2.weight"], sd["norm_2.bias"])
    torch.testing.assert_close(model(x), want)
