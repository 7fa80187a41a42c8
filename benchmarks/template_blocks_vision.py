"""Teaching templates for image classification built with blocks.

Each network is assembled from the built-in blocks (``layerloom blocks list``):
a block node is an instance of a definition the template's file holds once, and a
stage of identical blocks is one node with a repeat count. Where a built-in block
does not fit 8x8 digits as shipped, the template adjusts its own copy of the
definition (the copy is data in the file; the built-in stays as it is).

Block nodes get ids that name their compiled sub-modules the way torchvision and
timm name theirs (``model.layer1[0].conv2d_1``, ``model.encoder[1].qkv``).
:data:`VISION_TEMPLATES` is merged into
:data:`benchmarks.template_graphs.TEMPLATES`.
"""

from __future__ import annotations

from typing import Any

from benchmarks.template_parts import finish
from layerloom.graph import Graph
from layerloom.graph.block_store import builtin_blocks, insert_block

DIGITS = {"name": "digits", "normalise": "standard", "val_split": 0.2}
DIGIT_IMAGE = {"shape": [1, 8, 8], "dtype": "float"}

# A wire's source: (node id, output port).
Source = tuple[str, str]


def ident(label: str) -> str:
    """The node id (and compiled module name) a label makes: ``"Layer1"`` -> ``layer1``."""
    return label.lower().replace(" ", "_")


def add_block(graph: Graph, name: str, label: str, source: Source, repeat: int = 1,
              **params: Any) -> Source:
    """An instance of built-in block ``name`` fed from ``source``; returns its output.

    The first instance copies the definition into ``graph``; later ones use that
    copy, with any adjustments the template made to it.
    """
    node_id = ident(label)
    if name in graph.blocks:
        graph.add_node("block", {"block": name}, label=label, node_id=node_id)
    else:
        stored = next(b for b in builtin_blocks() if b.name == name)
        insert_block(graph, stored, node_id=node_id, label=label)
    graph.set_params(node_id, {"repeat": repeat, **params})
    definition = graph.blocks[name]
    (port_in,), (port_out,) = definition.input_ports(), definition.output_ports()
    graph.connect(*source, node_id, port_in)
    return node_id, port_out


def add_layer(graph: Graph, type_id: str, params: dict[str, Any], label: str,
              source: Source) -> Source:
    node = graph.add_node(type_id, params, label=label, node_id=ident(label))
    graph.connect(*source, node.id, "in")
    return node.id, "out"


def conv_bn(graph: Graph, source: Source, labels: tuple[str, str, str], channels: int,
            activation: str, kernel: int = 3, stride: int = 1) -> Source:
    """Convolution (no bias), batch norm and activation, labelled ``labels``."""
    padding = "same" if stride == 1 else [kernel // 2] * 2
    conv, norm, act = labels
    x = add_layer(graph, "conv2d", {"channels": channels, "kernel_size": [kernel, kernel],
                                    "stride": [stride, stride], "padding": padding,
                                    "bias": False}, conv, source)
    x = add_layer(graph, "batch_norm", {}, norm, x)
    return add_layer(graph, activation, {}, act, x)


def digit_input(graph: Graph) -> Source:
    graph.add_node("input", DIGIT_IMAGE, label="Digit image (1, 8, 8)", node_id="image")
    return "image", "out"


def head(graph: Graph, source: Source, label: str) -> None:
    x = add_layer(graph, "dense", {"units": 10}, label, source)
    graph.add_node("output", label="Prediction", node_id="prediction")
    graph.connect(*x, "prediction", "in")


# -------------------------------------------------------------------- ResNet
def resnet_digits() -> Graph:
    graph = Graph()
    x = conv_bn(graph, digit_input(graph), ("Conv1", "BN1", "ReLU"), 16, "relu")
    x = add_block(graph, "residual_basic", "Layer1", x, repeat=2, width=16)
    # The built-in block keeps 16 channels at its output; the template's copy also
    # exposes its second convolution's channels, so stage 2 can run at 32.
    graph.blocks.expose("residual_basic", "channels", "conv2d_2", "channels")
    x = conv_bn(graph, x, ("Down conv", "Down BN", "Down ReLU"), 32, "relu", stride=2)
    x = add_block(graph, "residual_basic", "Layer2", x, repeat=2, width=32, channels=32)
    x = add_layer(graph, "global_avg_pool", {}, "Avg pool", x)
    head(graph, x, "FC")
    return finish(graph, {
        "title": "ResNet built from residual blocks",
        "group": "Architectures",
        "description": (
            "A small ResNet on the 8x8 digits, made of blocks: a stem convolution, Layer1 "
            "(one node: the built-in residual_basic block with repeat 2, two blocks with "
            "their own weights), a strided convolution down to 4x4 and 32 channels, Layer2 "
            "(the same definition with width and channels 32, repeat 2), a global average "
            "and one dense layer. Each block adds its input to what its two convolutions "
            "make of it. Double-click Layer1 to open the block: an edit inside changes "
            "every instance. Compiled, the blocks are model.layer1[0] ... model.layer2[1], "
            "as in torchvision's ResNet. Read the accuracy curve and the Confusion tab. "
            "Try repeat 1 or 4 in a stage, or bypass the skip inside the block (wire the "
            "second batch norm straight to the last ReLU) and compare."
        ),
        "expected": "val accuracy >= 95%",
    }, DIGITS, {"optimizer": "adam", "lr": 0.002, "epochs": 15, "batch_size": 32})


# ----------------------------------------------------------------- MobileNet
def mobilenet_digits() -> Graph:
    graph = Graph()
    x = conv_bn(graph, digit_input(graph), ("Conv1", "BN1", "ReLU6"), 16, "relu6")
    x = add_block(graph, "inverted_residual", "Blocks", x, repeat=3)
    x = conv_bn(graph, x, ("Conv last", "BN last", "ReLU6 last"), 64, "relu6", kernel=1)
    x = add_layer(graph, "global_avg_pool", {}, "Avg pool", x)
    x = add_layer(graph, "dropout", {"p": 0.2}, "Dropout", x)
    head(graph, x, "Classifier")
    return finish(graph, {
        "title": "MobileNetV2-style net from inverted residual blocks",
        "group": "Architectures",
        "description": (
            "MobileNetV2's building block on the 8x8 digits: after a stem convolution, one "
            "node holds three inverted residual blocks (the built-in inverted_residual, "
            "repeat 3). Open it: a 1x1 convolution expands 16 channels to 96, a 3x3 "
            "depthwise convolution (groups = channels) filters each channel on its own, and "
            "a linear 1x1 convolution projects back to 16, added to the input. A full 3x3 "
            "convolution on 96 channels would need 82,944 weights, the depthwise one needs "
            "864, so a block works with 96 channels for fewer weights than a ResNet basic "
            "block with 16: compare the Blocks card (three blocks, rolled up) with Layer1 "
            "of resnet_digits. Read the accuracy curve and the Confusion tab. Try the "
            "block's kernel_size 5x5, or repeat 1, and compare."
        ),
        "expected": "val accuracy >= 95%",
    }, DIGITS, {"optimizer": "adam", "lr": 0.003, "epochs": 15, "batch_size": 32})


# ----------------------------------------------------------------------- ViT
PATCH = 2  # 8x8 digits in 2x2 patches: 16 tokens and the class token


def vit_digits() -> Graph:
    graph = Graph()
    x = add_block(graph, "vit_patch_embedding", "Patch embed", digit_input(graph))
    # The built-in cuts (3, 32, 32) images into 8x8 patches; the template's copy cuts
    # the digits into 2x2 ones: 16 patches and the class token, the 17 positions the
    # built-in already learns.
    body = graph.blocks["vit_patch_embedding"].body
    body.set_params("patches", {"kernel_size": [PATCH, PATCH], "stride": [PATCH, PATCH]})
    body.set_params("input_1", {"shape": DIGIT_IMAGE["shape"]})
    x = add_block(graph, "transformer_encoder", "Encoder", x, repeat=2,
                  heads_shape=[-1, 3, 4, 16], ff_width=128)
    x = add_layer(graph, "select", {"dim": 1, "index": 0}, "Class token", x)
    head(graph, x, "Head")
    return finish(graph, {
        "title": "Vision transformer (ViT) on digits",
        "group": "Architectures",
        "description": (
            "A vision transformer on the 8x8 digits, from two blocks. The patch embedding "
            "block (the built-in vit_patch_embedding, adjusted in this file to 2x2 patches) "
            "turns each image into 16 patch vectors of 64 numbers, puts a learned class "
            "token in front and adds learned positions. The encoder node is the built-in "
            "transformer_encoder block, written from tensor operations, with repeat 2: two "
            "layers of 4-head self-attention and a feed-forward block. The class token's "
            "final vector is classified (compiled: model.patch_embed, model.encoder[0] and "
            "[1], model.head). Attention does not know which patches are neighbours; the "
            "learned positions must teach it: compare the accuracy curve and the "
            "parameter count with cnn_digits. Try repeat 1 or 4, 8 heads (heads_shape "
            "-1, 3, 8, 8), or 4x4 patches inside the patch embedding (then the positions' "
            "shape is 5, 64)."
        ),
        "expected": "val accuracy >= 93%",
    }, DIGITS, {"optimizer": "adam", "lr": 0.001, "epochs": 30, "batch_size": 32})


VISION_TEMPLATES = {
    "resnet_digits": resnet_digits,
    "mobilenet_digits": mobilenet_digits,
    "vit_digits": vit_digits,
}
