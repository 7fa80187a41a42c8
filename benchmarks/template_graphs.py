"""The teaching templates' graphs and settings, one builder per template.

:data:`TEMPLATES` maps each template's name to a function that builds it (a laid
out graph with its ``meta``, ``dataset`` and ``training`` sections);
``benchmarks/make_templates.py`` writes them into ``resources/examples``.
"""

from __future__ import annotations

from benchmarks.template_blocks_gpt import TEMPLATES as GPT_TEMPLATES
from benchmarks.template_blocks_unet import unet_shapes
from benchmarks.template_blocks_vision import VISION_TEMPLATES
from benchmarks.template_concepts import TEMPLATES as CONCEPT_TEMPLATES
from benchmarks.template_gan import gan_templates
from benchmarks.template_parts import (
    DEEP_TRAINING,
    MOONS,
    OVERFIT_MOONS,
    OVERFIT_TRAINING,
    ROW,
    Layer,
    chain,
    dense,
    finish,
    sequential,
)
from benchmarks.template_vae import vae_digits
from layerloom.graph import Graph

# ------------------------------------------------------------------- basics
POINTS = {"shape": [2], "dtype": "float"}
LINEAR_DATA = {"name": "linear", "options": {"n_samples": 200, "seed": 0},
               "normalise": "standard", "val_split": 0.2}
XOR_DATA = {"name": "xor", "options": {"n_samples": 400, "noise": 0.05, "seed": 0},
            "normalise": "standard", "val_split": 0.2}
PERCEPTRON_TRAINING = {"optimizer": "sgd", "lr": 0.1, "loss": "bce_with_logits",
                       "epochs": 30, "batch_size": 16}


def perceptron_linear() -> Graph:
    graph = sequential(POINTS, "Point (x, y)", [dense(1, label="Perceptron")])
    return finish(graph, {
        "title": "Perceptron on separable points",
        "group": "Basics",
        "description": (
            "A single unit: a weighted sum of the two coordinates plus a bias, trained with "
            "the logistic loss. The two classes lie on either side of a straight line, so "
            "one unit is enough: accuracy reaches 100% and the loss keeps falling. Look at "
            "the Boundary "
            "tab: the decision boundary is a straight line, and it always will be. Try "
            "perceptron_xor next, where no straight line works."
        ),
        "expected": "val accuracy >= 98%",
    }, LINEAR_DATA, PERCEPTRON_TRAINING)


def perceptron_xor() -> Graph:
    graph = sequential(POINTS, "Point (x, y)", [dense(1, label="Perceptron")])
    return finish(graph, {
        "title": "Perceptron on XOR (it fails)",
        "group": "Basics",
        "description": (
            "The same single unit on XOR: opposite corners of a square share a class. "
            "No straight line separates them, so however long it trains, accuracy stays "
            "near 50% and the loss stays near log 2 = 0.69. Watch the loss plot go flat "
            "and, in the Boundary tab, the straight boundary cut through both classes. Then "
            "open mlp_xor: one hidden layer is all it takes."
        ),
        "expected": "val accuracy <= 65%",
    }, XOR_DATA, PERCEPTRON_TRAINING)


def mlp_xor() -> Graph:
    graph = sequential(POINTS, "Point (x, y)", [
        dense(8, "tanh", "Hidden (8, tanh)"),
        dense(1, label="Output unit"),
    ])
    return finish(graph, {
        "title": "MLP that solves XOR",
        "group": "Basics",
        "description": (
            "The perceptron of perceptron_xor with one hidden layer of 8 tanh units in "
            "front. The hidden layer bends the plane so that the output unit can cut it "
            "with a line: accuracy climbs to nearly 100%. Look at the Boundary tab, now "
            "curved around the corners. Try 2 hidden units (the fewest that can work) and "
            "other seeds, and see how often training gets stuck."
        ),
        "expected": "val accuracy >= 95%",
    }, XOR_DATA, {**PERCEPTRON_TRAINING, "momentum": 0.9})


def mlp_two_moons() -> Graph:
    graph = sequential(POINTS, "Points", [
        dense(16, "relu", "Hidden 1"),
        dense(16, "relu", "Hidden 2"),
        dense(2, label="Logits"),
    ])
    return finish(graph, {
        "title": "MLP on two moons",
        "group": "Basics",
        "description": (
            "A two-layer perceptron separates two interleaving half-circles. Train it and "
            "watch the Boundary tab bend into an S while the loss and accuracy curves "
            "settle within a few epochs. Try fewer hidden units, or a Sigmoid activation "
            "(the activation_* templates compare them side by side)."
        ),
        "expected": "val accuracy >= 95%",
    }, MOONS, {"optimizer": "adam", "lr": 0.01, "epochs": 30, "batch_size": 32})


# -------------------------------------------------------------- activations
ACTIVATIONS = {
    "relu": ("ReLU", "max(0, x): cheap, does not saturate for positive inputs, so "
             "gradients pass through unchanged; units whose input is always negative die."),
    "sigmoid": ("Sigmoid", "1 / (1 + e^-x): squashes to 0..1, its slope is at most 0.25 and "
                "its output is never centred on zero, so the network learns slowly."),
    "tanh": ("Tanh", "a rescaled sigmoid centred on zero, with slope 1 at the origin: "
             "learns much faster than sigmoid, still saturates for large inputs."),
    "gelu": ("GELU", "x times the Gaussian CDF of x: a smooth ReLU, used in transformers; "
             "here it behaves much like ReLU."),
}
ACTIVATION_EXPECTED = {"relu": "val accuracy >= 95%", "sigmoid": "val accuracy >= 80%",
                       "tanh": "val accuracy >= 95%", "gelu": "val accuracy >= 95%"}


def activation(kind: str) -> Graph:
    name, about = ACTIVATIONS[kind]
    graph = sequential(POINTS, "Points", [
        dense(16, label="Hidden 1"), (kind, {}, f"{name} 1"),
        dense(16, label="Hidden 2"), (kind, {}, f"{name} 2"),
        dense(2, label="Logits"),
    ])
    others = ", ".join(f"activation_{k}" for k in ACTIVATIONS if k != kind)
    return finish(graph, {
        "title": f"Activation functions: {name}",
        "group": "Activations",
        "description": (
            f"The same MLP on two moons with {name} after each hidden layer. {name} is "
            f"{about} Every activation_* template trains with the same SGD settings and "
            "seed, so only the activation differs: train them one after another, tick the "
            "runs in the Runs tab to overlay their loss curves, and compare the accuracy "
            f"curves and the Boundary tab. The others: {others}."
        ),
        "expected": ACTIVATION_EXPECTED[kind],
    }, MOONS, {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 30,
                    "batch_size": 32})


# ------------------------------------------------------------------- losses
DIGITS_DATA = {"name": "digits", "normalise": "standard", "val_split": 0.2}
DIGIT_IMAGE = {"shape": [1, 8, 8], "dtype": "float"}


def loss_template(loss: str) -> Graph:
    graph = sequential(DIGIT_IMAGE, "Digit image (1, 8, 8)", [
        ("flatten", {}, "Flatten (64 pixels)"),
        dense(64, "relu", "Hidden (64)"),
        dense(10, label="Scores (10 digits)"),
    ])
    if loss == "cross_entropy":
        meta = {
            "title": "Loss functions: cross-entropy",
            "description": (
                "An MLP classifies 8x8 digits with the cross-entropy loss: a softmax turns "
                "the ten scores into probabilities and the loss is minus the log-probability "
                "of the right digit, so a confident wrong answer costs a lot and its "
                "gradient stays strong until the answer is right. Compare the accuracy "
                "curve with loss_mse, the same network, data, seed and SGD settings trained "
                "with the squared error (the loss values themselves are on different "
                "scales, so compare accuracy), and read the Confusion tab."
            ),
            "expected": "val accuracy >= 95%",
        }
    else:
        meta = {
            "title": "Loss functions: mean squared error",
            "description": (
                "The network of loss_cross_entropy trained with the mean squared error "
                "between its ten scores and the one-hot target (1 for the right digit, 0 "
                "for the others). The error is averaged over all ten scores and its "
                "gradient shrinks as each score nears its target, however wrong the "
                "ranking still is, so with the same SGD learning rate accuracy climbs more "
                "slowly and ends a few points lower after 10 epochs: compare the accuracy "
                "curves. Then switch both to adam, which rescales the gradients, and watch "
                "the gap close."
            ),
            "expected": "val accuracy >= 85%",
        }
    meta["group"] = "Losses"
    return finish(graph, meta, DIGITS_DATA, {"optimizer": "sgd", "lr": 0.05, "loss": loss,
                                             "epochs": 10, "batch_size": 32})


# ------------------------------------------------------------- optimisation
GD_DATA = {"name": "moons", "options": {"n_samples": 400, "noise": 0.1, "seed": 0},
           "normalise": "standard", "val_split": 0.2}
GD_LAYERS = [dense(16, "tanh", "Hidden 1"), dense(16, "tanh", "Hidden 2"), dense(2, label="Logits")]
BATCHES = {
    "full": ("full batch", "full", "val accuracy >= 85%",
             "Every step uses all 320 training points: each gradient is exact and the loss "
             "curve smooth, but there is only one step per epoch, so after 20 epochs it has "
             "taken 20 steps and the boundary is still almost a straight line."),
    "32": ("mini-batches of 32", 32, "val accuracy >= 95%",
           "Each step uses 32 points: 10 steps per epoch, each gradient a good estimate. The "
           "step loss is a little noisy and falls far sooner per epoch than with the full "
           "batch."),
    "1": ("one sample per step", 1, "val accuracy >= 98%",
          "Each step uses a single point (stochastic gradient descent in its original "
          "form): 320 steps per epoch, each gradient very noisy. The step loss jumps "
          "around, yet per epoch it learns fastest of the three; per second it is the "
          "slowest, because one sample at a time leaves the hardware idle."),
}


def batch_size(kind: str) -> Graph:
    what, size, expected, about = BATCHES[kind]
    graph = sequential(POINTS, "Points", list(GD_LAYERS))
    return finish(graph, {
        "title": f"Gradient descent: {what}",
        "group": "Optimisation",
        "description": (
            f"An MLP on two moons trained with plain SGD (learning rate 0.3) for 20 epochs. "
            f"{about} Train batch_size_full, batch_size_32 and batch_size_1 and compare, "
            "in the Runs tab, their loss after the same number of epochs, their number of "
            "steps, and how long each took."
        ),
        "expected": expected,
    }, GD_DATA, {"optimizer": "sgd", "lr": 0.3, "epochs": 20, "batch_size": size})


SINE_WINDOW = {"shape": [20, 1], "dtype": "float"}
LR_DATA = {"name": "sine", "options": {"length": 20, "n_samples": 1000, "noise": 0.05,
                                       "seed": 0},
           "normalise": "none", "val_split": 0.2}
LEARNING_RATES = {
    "0.001": ("too small", "val r2 <= 0.8",
              "The steps are so small that after 20 epochs the loss is still falling "
              "slowly, far above where it could be."),
    "0.1": ("about right", "val r2 >= 0.95",
            "The loss falls quickly and levels off; R² approaches 1."),
    "1": ("divergent", "diverges",
          "Each step overshoots the minimum by more than it corrects, so the loss grows "
          "instead of shrinking until it overflows within the first epoch: training stops "
          "with a message that the loss became inf or nan, and suggests a lower rate."),
}


def learning_rate(lr: str) -> Graph:
    what, expected, about = LEARNING_RATES[lr]
    graph = sequential(SINE_WINDOW, "Window (20 steps)", [
        ("flatten", {}, "Flatten"),
        dense(32, "tanh", "Hidden (32, tanh)"),
        dense(1, label="Next value"),
    ])
    return finish(graph, {
        "title": f"Learning rate {lr} ({what})",
        "group": "Optimisation",
        "description": (
            "A small MLP predicts the next value of a noisy sine wave from the 20 before "
            f"it, trained with plain SGD at learning rate {lr}. {about} The "
            "learning_rate_* templates differ only in the rate: train all three and tick "
            "them in the Runs tab to overlay their loss curves. Try rates in between to "
            "find where training starts to diverge, or turn on gradient clipping at rate 1."
        ),
        "expected": expected,
    }, LR_DATA, {"optimizer": "sgd", "lr": float(lr), "epochs": 20, "batch_size": 32})


# -------------------------------------------------------- vanishing gradients
DEPTH = 8


def deep_plain(kind: str) -> Graph:
    layers = [dense(32, kind, f"Layer {i}") for i in range(1, DEPTH + 1)]
    graph = sequential(POINTS, "Points", [*layers, dense(2, label="Logits")])
    if kind == "sigmoid":
        meta = {
            "title": "Vanishing gradients: deep sigmoid MLP",
            "description": (
                f"{DEPTH} hidden layers of 32 sigmoid units. Backpropagation multiplies the "
                "gradient by the sigmoid's slope (at most 0.25) once per layer, so it "
                "shrinks roughly geometrically on its way to the first layers. Open the "
                "Gradients tab: the bars of the first layers are orders of magnitude lower "
                "than the last ones, the loss sits at 0.69 and accuracy at chance. Compare "
                "deep_relu_mlp and deep_residual_mlp."
            ),
            "expected": "grad ratio <= 0.01; val accuracy <= 65%",
        }
    else:
        meta = {
            "title": "Vanishing gradients: deep ReLU MLP",
            "description": (
                "The network of deep_sigmoid_mlp with ReLU instead of sigmoid. ReLU's slope "
                "is 1 wherever a unit is active, so the gradient reaches the first layers "
                "and, after a few flat epochs, the network learns, although the first "
                "layers still get smaller "
                "gradients than the last: read the Gradients tab and compare it with "
                "deep_sigmoid_mlp. Watch for dead units too, and try 12 layers: with the "
                "default initialisation even ReLU then stalls for many epochs."
            ),
            "expected": "grad ratio >= 0.05; val accuracy >= 93%",
        }
    meta["group"] = "Deep networks"
    return finish(graph, meta, MOONS, dict(DEEP_TRAINING))


def deep_residual_mlp() -> Graph:
    graph = Graph()
    inp = graph.add_node("input", POINTS, label="Points")
    x = chain(graph, inp.id, [dense(32, "relu", "Stem")])
    blocks = DEPTH // 2
    branches: list[str] = []
    for b in range(1, blocks + 1):
        before = set(n.id for n in graph.nodes)
        branch = chain(graph, x, [
            dense(32, label=f"Block {b} layer 1"), ("batch_norm", {}, f"Block {b} norm 1"),
            ("relu", {}, f"Block {b} ReLU"),
            dense(32, label=f"Block {b} layer 2"), ("batch_norm", {}, f"Block {b} norm 2"),
        ])
        branches += [n.id for n in graph.nodes if n.id not in before]
        add = graph.add_node("add", {"inputs": 2}, label=f"Block {b} skip +")
        graph.connect(x, "out", add.id, "in1")
        graph.connect(branch, "out", add.id, "in2")
        x = chain(graph, add.id, [("relu", {}, f"Block {b} out")])
    last = chain(graph, x, [dense(2, label="Logits")])
    out = graph.add_node("output", label="Prediction")
    graph.connect(last, "out", out.id, "in")
    graph = finish(graph, {
        "title": "Vanishing gradients: residual blocks with batch norm",
        "group": "Deep networks",
        "description": (
            f"As deep as deep_relu_mlp: a dense stem and {DEPTH // 2} residual blocks of two "
            "dense layers each. Each block adds its input back to its output (the skip wire into the "
            "+ node), so the gradient has a direct path to every layer, and batch "
            "normalisation keeps each layer's inputs at a steady scale. The Gradients tab "
            "is nearly level from first layer to last and the loss falls fastest of the "
            "three. Try removing the skip wires or the norm layers one at a time."
        ),
        "expected": "grad ratio >= 0.1; val accuracy >= 93%",
    }, MOONS, dict(DEEP_TRAINING))
    # Each block's layers one row down, so the skip wire runs straight along the top
    # row from the block's input to its + node instead of behind the layers.
    graph.move_nodes({nid: (graph.node(nid).position[0], ROW) for nid in branches})
    return graph


# --------------------------------------------------------------- overfitting
OVERFIT = {
    "baseline": ("without regularisation", 0.0, 0.0,
                 "train accuracy >= 98%; val loss rise >= 100%",
                 "Train it and read the loss plot: the training loss falls towards zero "
                 "while the validation loss reaches its lowest point early and then climbs, "
                 "because the network memorises the noise of its 50 training points. Then "
                 "train overfitting_dropout and overfitting_weight_decay."),
    "dropout": ("with dropout", 0.7, 0.0, "val loss rise <= 30%; val loss <= 0.45",
                "Dropout layers zero 70% of the hidden units at random on every step (a "
                "high rate, for a tiny data set), so no unit can rely on others to memorise "
                "a point. The training loss falls more slowly and stays noisy, while the "
                "validation loss levels off near its best instead of climbing: compare with "
                "overfitting_baseline, and try p = 0.5 and 0.9."),
    "weight_decay": ("with weight decay", 0.0, 0.01, "val loss rise <= 30%; val loss <= 0.45",
                     "Weight decay (0.01) adds a pull towards zero to every weight's gradient, "
                     "so only weights the data keeps asking for grow large and the decision "
                     "boundary stays smooth. The validation loss levels off instead of "
                     "climbing: compare with overfitting_baseline, and try 0.001 and 0.1."),
}


def overfitting(kind: str) -> Graph:
    what, p, decay, expected, about = OVERFIT[kind]
    layers: list[Layer] = []
    for i in (1, 2, 3):
        layers.append(dense(256, "relu", f"Hidden {i} (256)"))
        if p:
            layers.append(("dropout", {"p": p}, f"Dropout {i}"))
    layers.append(dense(2, label="Logits"))
    graph = sequential(POINTS, "Points", layers)
    training = dict(OVERFIT_TRAINING)
    if decay:
        training["weight_decay"] = decay
    return finish(graph, {
        "title": f"Overfitting: a large MLP {what}",
        "group": "Regularisation",
        "description": (
            "Three hidden layers of 256 units (about 130,000 weights) trained on 50 noisy "
            f"points of two moons, with 50 more held out for validation. {about}"
        ),
        "expected": expected,
    }, OVERFIT_MOONS, training)


# ------------------------------------------------------------- architectures
def cnn_digits() -> Graph:
    conv = {"kernel_size": [3, 3], "padding": [1, 1], "activation": "relu"}
    graph = sequential({"shape": [1, 8, 8], "dtype": "float"}, "Digit image (1, 8, 8)", [
        ("conv2d", {"channels": 16, **conv}, "Conv 16 (3x3)"),
        ("max_pool2d", {}, "Pool 1 (2x2)"),
        ("conv2d", {"channels": 32, **conv}, "Conv 32 (3x3)"),
        ("max_pool2d", {}, "Pool 2 (2x2)"),
        ("flatten", {}, "Flatten"),
        dense(64, "relu", "Dense 64"),
        dense(10, label="Logits (10 digits)"),
    ])
    return finish(graph, {
        "title": "CNN on handwritten digits",
        "group": "Architectures",
        "description": (
            "A LeNet-style convolutional network on scikit-learn's 8x8 digits. Two "
            "convolution + pooling stages find strokes, two dense layers classify them; "
            "about 14,000 weights reach over 97% validation accuracy in a minute on a "
            "CPU. Read the Confusion tab to see which digits it still mixes up, and the "
            "Weights tab for the convolutions' weight histograms. Try removing one "
            "convolution stage, or an MLP (Flatten then Dense) in its place, and compare."
        ),
        "expected": "val accuracy >= 97%",
    }, {"name": "digits", "normalise": "standard", "val_split": 0.2},
        {"optimizer": "adam", "lr": 0.002, "epochs": 30, "batch_size": 32})


SINE_DATA = {"name": "sine", "options": {"length": 20, "n_samples": 2000, "noise": 0.05,
                                         "seed": 0},
             "normalise": "none", "val_split": 0.2}
CELLS = {
    "rnn": ("RNN", "a plain (Elman) recurrent cell: one tanh layer that mixes the new value "
            "with its hidden state. Simple and quick, but its gradient fades over long "
            "windows."),
    "lstm": ("LSTM", "a long short-term memory cell: gates decide what to forget, what to "
             "store and what to output, so information and gradients survive many steps."),
    "gru": ("GRU", "a gated recurrent unit: an LSTM simplified to two gates and no separate "
            "cell state, with fewer weights and often the same accuracy."),
}


def recurrent_sine(cell: str) -> Graph:
    name, about = CELLS[cell]
    graph = sequential({"shape": [20, 1], "dtype": "float"}, "Window (20 steps, 1 value)", [
        (cell, {"hidden_size": 32}, f"{name} (32 units)"),
        dense(1, label="Next value"),
    ])
    others = ", ".join(f"{k}_sine" for k in CELLS if k != cell)
    return finish(graph, {
        "title": f"{name} forecasting a sine wave",
        "group": "Architectures",
        "description": (
            f"Reads 20 past values of a noisy sine wave (random frequency and phase) and "
            f"predicts the next one. The cell is {about} Read the loss plot (mean squared "
            f"error) and the mean absolute error curve. Compare with {others}, and try a "
            "longer window (the dataset's length option and the Input shape together)."
        ),
        "expected": "val r2 >= 0.97",
    }, SINE_DATA, {"optimizer": "adam", "lr": 0.005, "epochs": 20, "batch_size": 32})


def transformer_sort() -> Graph:
    length, vocab, width = 10, 10, 64
    graph = sequential({"shape": [length], "dtype": "long"}, "Tokens (10)", [
        ("embedding", {"num_embeddings": vocab, "embedding_dim": width}, "Embedding"),
        ("positional_encoding", {"kind": "sinusoidal", "max_len": 64, "dropout": 0.0},
         "Positional encoding"),
        ("transformer_encoder_layer", {"nhead": 4, "dim_feedforward": 128, "dropout": 0.0,
                                       "norm_first": True}, "Encoder layer 1"),
        ("transformer_encoder_layer", {"nhead": 4, "dim_feedforward": 128, "dropout": 0.0,
                                       "norm_first": True}, "Encoder layer 2"),
        ("layer_norm", {}, "Final norm"),
        dense(vocab, label="Token scores"),
    ])
    return finish(graph, {
        "title": "Transformer encoder that sorts tokens",
        "group": "Architectures",
        "description": (
            "Sequences of 10 digits go in, the same digits sorted come out, one prediction "
            "per position. Each token is embedded as a vector of 64 numbers, a positional "
            "encoding adds where it stands, and two encoder layers let every position "
            "attend to every other one, which sorting needs: the k-th output depends on "
            "how many tokens are smaller. Read the accuracy curve (per token) and the "
            "Weights tab. Try one encoder layer, or remove the "
            "positional encoding and wire the embedding straight to the encoder: every "
            "position then looks the same to attention, the model cannot tell which rank "
            "to output where, and accuracy collapses to about 30%."
        ),
        "expected": "val accuracy >= 97%",
    }, {"name": "sort", "options": {"length": length, "vocab": vocab, "n_samples": 4000,
                                    "seed": 0}, "normalise": "none", "val_split": 0.2},
        {"optimizer": "adam", "lr": 0.002, "epochs": 10, "batch_size": 64})


def conv_autoencoder_digits() -> Graph:
    conv = {"kernel_size": [3, 3], "padding": [1, 1], "activation": "relu"}
    graph = sequential(DIGIT_IMAGE, "Digit image (1, 8, 8)", [
        ("conv2d", {"channels": 16, **conv}, "Encoder conv 16 (3x3)"),
        ("max_pool2d", {}, "Pool to 4x4"),
        ("conv2d", {"channels": 8, **conv}, "Encoder conv 8 (3x3)"),
        ("max_pool2d", {}, "Code (8, 2, 2)"),
        ("conv_transpose2d", {"channels": 16}, "Decoder up to 4x4"),
        ("relu", {}, "ReLU"),
        ("conv_transpose2d", {"channels": 1}, "Decoder up to 8x8"),
        ("sigmoid", {}, "Pixels 0..1"),
        ("flatten", {}, "Flatten (64 pixels)"),
    ])
    return finish(graph, {
        "title": "Convolutional autoencoder on digits",
        "group": "Architectures",
        "description": (
            "The network learns to copy its input through a bottleneck: two convolution "
            "and pooling stages squeeze each 8x8 digit (64 pixels) into a code of 32 "
            "numbers, and two transposed convolutions rebuild the image from it. The "
            "target is the input itself (the dataset's target is set to input), so no "
            "labels are used and the loss is the mean squared error per pixel. Read the "
            "loss plot: it falls far below 0.07, the error of drawing the average digit "
            "every time. Try a smaller code (4 channels in the second encoder "
            "convolution) and watch the loss settle higher."
        ),
        "expected": "val loss <= 0.02",
    }, {**DIGITS_DATA, "normalise": "none", "target": "input"},
        {"optimizer": "adam", "lr": 0.005, "epochs": 30, "batch_size": 32})


TEMPLATES = {
    "perceptron_linear": perceptron_linear,
    "perceptron_xor": perceptron_xor,
    "mlp_xor": mlp_xor,
    "mlp_two_moons": mlp_two_moons,
    **{f"activation_{k}": (lambda k=k: activation(k)) for k in ACTIVATIONS},
    "loss_cross_entropy": lambda: loss_template("cross_entropy"),
    "loss_mse": lambda: loss_template("mse"),
    **{f"batch_size_{k}": (lambda k=k: batch_size(k)) for k in BATCHES},
    **{f"learning_rate_{k}": (lambda k=k: learning_rate(k)) for k in LEARNING_RATES},
    "deep_sigmoid_mlp": lambda: deep_plain("sigmoid"),
    "deep_relu_mlp": lambda: deep_plain("relu"),
    "deep_residual_mlp": deep_residual_mlp,
    **{f"overfitting_{k}": (lambda k=k: overfitting(k)) for k in OVERFIT},
    "cnn_digits": cnn_digits,
    **{f"{k}_sine": (lambda k=k: recurrent_sine(k)) for k in CELLS},
    "transformer_sort": transformer_sort,
    "conv_autoencoder_digits": conv_autoencoder_digits,
    "unet_shapes": lambda: unet_shapes(finish),
}
TEMPLATES.update(VISION_TEMPLATES)
TEMPLATES.update(GPT_TEMPLATES)
TEMPLATES.update(CONCEPT_TEMPLATES)
TEMPLATES.update(gan_templates(finish))
TEMPLATES.update({"vae_digits": vae_digits})
