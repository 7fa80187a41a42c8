"""The image templates built with blocks (ResNet, MobileNetV2, ViT) are made of block
instances, repeat their stages, and compile to torchvision-style sub-modules.

Their brief training run and layout checks are the parametrised tests of
``test_templates.py``; these check what sets them apart.
"""

from __future__ import annotations

import pytest
import torch

from layerloom.backend import compile_graph
from layerloom.backend.templates import load_template
from layerloom.graph.block_store import builtin_blocks

# template -> {block node id: (definition, repeat)}
BLOCKS = {
    "resnet_digits": {"layer1": ("residual_basic", 2), "layer2": ("residual_basic", 2)},
    "mobilenet_digits": {"blocks": ("inverted_residual", 3)},
    "vit_digits": {"patch_embed": ("vit_patch_embedding", 1), "encoder": ("transformer_encoder", 2)},
}
# template -> {compiled sub-module: (type, a telling attribute, its value)}
MODULES = {
    "resnet_digits": {"layer1.1.conv2d_2": (torch.nn.Conv2d, "out_channels", 16),
                      "layer2.1.conv2d_2": (torch.nn.Conv2d, "out_channels", 32),
                      "fc": (torch.nn.Linear, "out_features", 10)},
    "mobilenet_digits": {"blocks.2.conv2d_2": (torch.nn.Conv2d, "groups", 96),
                         "classifier": (torch.nn.Linear, "out_features", 10)},
    "vit_digits": {"patch_embed.patches": (torch.nn.Conv2d, "kernel_size", (2, 2)),
                   "encoder.1.qkv": (torch.nn.Linear, "out_features", 192),
                   "head": (torch.nn.Linear, "out_features", 10)},
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_template_is_built_from_block_instances(name):
    graph = load_template(name)
    found = {n.id: (n.params["block"], n.params["repeat"]) for n in graph.nodes if n.is_block}
    assert found == BLOCKS[name]
    builtins = {b.name for b in builtin_blocks()}
    assert {d for d, _ in found.values()} == set(graph.blocks.names()) <= builtins
    analysis = graph.analysis()
    assert analysis.valid, analysis.errors
    # A block node's card rolls up its copies: the inside, times the repeat.
    for node_id, (block, repeat) in found.items():
        node = graph.node(node_id)
        inputs = analysis.nodes[node_id].inputs
        one = graph.blocks.instance(block, {**node.params, "repeat": 1}, inputs).analysis
        assert analysis.nodes[node_id].params == repeat * one.total_params > 0


@pytest.mark.parametrize("name", sorted(MODULES))
def test_template_compiles_to_named_sub_modules(name):
    graph = load_template(name)
    model = compile_graph(graph, seed=0)
    for path, (kind, attr, value) in MODULES[name].items():
        module = model.get_submodule(path)
        assert isinstance(module, kind) and getattr(module, attr) == value, path
    for node_id, (_, repeat) in BLOCKS[name].items():
        if repeat > 1:
            assert len(model.get_submodule(node_id)) == repeat
    assert sum(p.numel() for p in model.parameters()) == graph.analysis().total_params
    logits = model.eval()(torch.randn(3, 1, 8, 8))
    assert logits.shape == (3, 10)


def test_templates_adjust_their_copies_of_the_built_ins():
    """The ResNet's copy exposes the second convolution's channels (stage 2 runs at 32);
    the ViT's copy cuts 8x8 digits into 2x2 patches: 16 tokens and the class token."""
    resnet = load_template("resnet_digits")
    assert resnet.blocks["residual_basic"].exposed["channels"] == ("conv2d_2", "channels")
    assert [resnet.node(n).params["channels"] for n in ("layer1", "layer2")] == [16, 32]
    vit = load_template("vit_digits")
    analysis = vit.analysis()
    tokens = next(spec for e, spec in analysis.edges.items() if e.source == "patch_embed")
    assert tokens.shape == (17, 64)
    assert vit.blocks["vit_patch_embedding"].body.node("patches").params["stride"] == (2, 2)
