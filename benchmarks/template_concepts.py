"""Templates for the seed concepts: a single neuron, width, early stopping, optimisers
compared, batch normalisation, dying ReLU, weight initialisation, word embeddings.

:data:`TEMPLATES` is merged into :data:`benchmarks.template_graphs.TEMPLATES`
(one ``TEMPLATES.update`` line there), and ``benchmarks/make_templates.py`` writes
them into ``resources/examples`` like every other template.
"""

from __future__ import annotations

from benchmarks.template_parts import (
    DEEP_TRAINING,
    MOONS,
    OVERFIT_MOONS,
    OVERFIT_TRAINING,
    Layer,
    dense,
    finish,
    sequential,
)
from layerloom.graph import Graph

ONE_INPUT = {"shape": [1], "dtype": "float"}
POINTS = {"shape": [2], "dtype": "float"}


# ------------------------------------------------------------- single neuron
def single_neuron_line() -> Graph:
    graph = sequential(ONE_INPUT, "x", [dense(1, label="Neuron (w·x + b)")])
    return finish(graph, {
        "title": "A single linear neuron fits a line",
        "group": "Basics",
        "description": (
            "One neuron with one weight w and one bias b learns y = 2x - 1 from 200 noisy "
            "points, with the mean squared error and full-batch gradient descent. Over w and b "
            "the loss is a paraboloid, a bowl with one lowest point: open the Landscape tab "
            "after training to see the exact surface and the gradient-descent steps walking "
            "down it to w = 2, b = -1 (R² near 0.98; the rest is the noise). Try a learning "
            "rate of 0.7: the steps zig-zag across the bowl; above 0.75 they climb out of it."
        ),
        "expected": "val r2 >= 0.95",
    }, {"name": "line", "options": {"n_samples": 200, "noise": 0.3, "seed": 0},
        "normalise": "none", "val_split": 0.2},
        {"optimizer": "sgd", "lr": 0.1, "loss": "mse", "epochs": 40, "batch_size": "full"})


# --------------------------------------------------------------------- width
CURVE_DATA = {"name": "curve", "options": {"n_samples": 400, "noise": 0.05, "seed": 0},
              "normalise": "standard", "val_split": 0.2}
WIDTHS = {
    2: ("val r2 <= 0.9", "Two tanh units can make two bends: the fit follows the overall trend but "
        "misses most of the wiggles, and R² stays well below 1."),
    8: ("val r2 >= 0.9", "Eight units are enough bends for this curve: the fit follows every wiggle "
        "closely."),
    64: ("val r2 >= 0.97", "Sixty-four units fit the curve down to the noise, and quickly: more units "
         "give gradient descent more ways down."),
}


def width(units: int) -> Graph:
    expected, about = WIDTHS[units]
    graph = sequential(ONE_INPUT, "x", [dense(units, "tanh", f"Hidden ({units}, tanh)"),
                                        dense(1, label="y")])
    others = ", ".join(f"width_{k}" for k in WIDTHS if k != units)
    return finish(graph, {
        "title": f"Width: one hidden layer of {units} units fits a curve",
        "group": "Basics",
        "description": (
            "Universal approximation: one hidden layer of enough units can fit any smooth curve. "
            f"Here {units} tanh units learn y = sin(3x) + 0.3x² from noisy samples. {about} "
            f"Train {others} with the same settings and compare R² and the loss curves in the "
            "Runs tab; in Try it, step through samples to see predicted and true values."
        ),
        "expected": expected,
    }, CURVE_DATA, {"optimizer": "adam", "lr": 0.01, "epochs": 150, "batch_size": 32})


# ------------------------------------------------------------ early stopping
def early_stopping() -> Graph:
    layers: list[Layer] = [dense(256, "relu", f"Hidden {i} (256)") for i in (1, 2, 3)]
    graph = sequential(POINTS, "Points", [*layers, dense(2, label="Logits")])
    return finish(graph, {
        "title": "Early stopping",
        "group": "Regularisation",
        "description": (
            "The large MLP of overfitting_baseline on the same 50 noisy training points, with "
            "early stopping on: after each epoch the validation loss is measured, and once it "
            "has not improved for 20 epochs training stops. Read the loss plot: the validation "
            "loss reaches its lowest point and training ends soon after, instead of running "
            "300 epochs while the validation loss climbs. The run's message says it stopped "
            "early. Try patience 5 and 50."
        ),
        "expected": "val loss rise <= 40%; val accuracy >= 75%",
    }, OVERFIT_MOONS, {**OVERFIT_TRAINING, "early_stopping": True, "patience": 20})


# ---------------------------------------------------------------- optimisers
OPTIMISER_DATA = {"name": "spirals", "options": {"n_samples": 600, "noise": 0.02, "seed": 0},
                  "normalise": "standard", "val_split": 0.2}
OPTIMISERS = {
    "sgd": ("plain SGD", {"optimizer": "sgd", "lr": 0.01}, "val accuracy <= 60%",
            "Each step moves against the gradient, scaled by the learning rate: on this winding "
            "problem it creeps along: after 30 epochs it is still little better than guessing."),
    "momentum": ("SGD with momentum", {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9},
                 "val accuracy >= 90%",
                 "Each step adds 0.9 of the previous one: steps that agree build up speed, steps "
                 "that zig-zag cancel, so the same learning rate (0.01) solves the spirals."),
    "rmsprop": ("RMSprop", {"optimizer": "rmsprop", "lr": 0.005}, "val accuracy >= 95%",
                "Each weight's step is divided by a running average of its recent gradient size, "
                "so weights with small gradients move as fast as the others."),
    "adam": ("Adam", {"optimizer": "adam", "lr": 0.005}, "val accuracy >= 95%",
             "Momentum and RMSprop's per-weight scaling together: usually the fastest start with "
             "little tuning."),
}


def optimiser(kind: str) -> Graph:
    what, settings, expected, about = OPTIMISERS[kind]
    graph = sequential(POINTS, "Points", [dense(64, "relu", "Hidden 1 (64)"), dense(64, "relu", "Hidden 2 (64)"),
                                         dense(3, label="Logits")])
    others = ", ".join(f"optimiser_{k}" for k in OPTIMISERS if k != kind)
    return finish(graph, {
        "title": f"Optimisers compared: {what}",
        "group": "Optimisation",
        "description": (
            f"An MLP learns three spiral arms with {what}. {about} The optimiser_* templates "
            "share the network, data, seed and number of epochs (each optimiser at a learning "
            f"rate that suits it): train {others} too and tick the runs in the Runs tab to "
            "overlay their loss curves, then compare the Boundary tab."
        ),
        "expected": expected,
    }, OPTIMISER_DATA, {**settings, "epochs": 30, "batch_size": 32})


# ----------------------------------------------------------- batch normalisation
def batch_norm_deep() -> Graph:
    layers: list[Layer] = []
    for i in range(1, 9):
        layers += [dense(32, label=f"Layer {i}"), ("batch_norm", {}, f"Norm {i}"), ("sigmoid", {}, f"Sigmoid {i}")]
    graph = sequential(POINTS, "Points", [*layers, dense(2, label="Logits")])
    return finish(graph, {
        "title": "Batch normalisation rescues a deep sigmoid MLP",
        "group": "Deep networks",
        "description": (
            "The 8-layer sigmoid network of deep_sigmoid_mlp, with a batch normalisation layer "
            "before each sigmoid and nothing else changed. Batch norm rescales each unit's inputs "
            "over the batch to mean 0 and variance 1 (then learns a scale and shift), so the "
            "sigmoids work in their steep middle instead of saturating: the Gradients tab shows "
            "gradients reaching the first layers, and where deep_sigmoid_mlp stays at chance "
            "this one learns the moons. Compare the two in the Runs tab."
        ),
        "expected": "grad ratio >= 0.01; val accuracy >= 90%",
    }, MOONS, dict(DEEP_TRAINING))


# ----------------------------------------------------------------- dying ReLU
def dying_relu() -> Graph:
    graph = sequential(POINTS, "Points", [dense(64, "relu", "Hidden 1 (64, ReLU)"),
                                         dense(64, "relu", "Hidden 2 (64, ReLU)"), dense(2, label="Logits")])
    return finish(graph, {
        "title": "Dying ReLU: a learning rate too high kills units",
        "group": "Deep networks",
        "description": (
            "An MLP with ReLU units trained with SGD at a learning rate of 3, far too high. "
            "A few big early steps push many units' biases so far down that their input is "
            "negative for every sample: they output 0, get no gradient, and never recover. "
            "Watch the badges under the hidden layers on the canvas (and the Gradients tab): the "
            "share of dead units climbs to about two thirds and stays, and accuracy stalls near 70%. "
            "Lower the learning rate to 0.05 and train again: almost no unit dies."
        ),
        "expected": "dead units >= 40%; val accuracy <= 85%",
    }, MOONS, {"optimizer": "sgd", "lr": 3.0, "epochs": 10, "batch_size": 32})


# -------------------------------------------------------- weight initialisation
INITS = {
    # scheme: (the node's training settings, stated result, what happens)
    "zeros": ({"init": "zeros"}, "val accuracy <= 60%",
              "Every weight starts at 0: each hidden unit outputs 0 for every sample, so every "
              "gradient but the last layer's bias is 0 and nothing learns; and were the units "
              "not dead, they would stay identical, all learning the same thing. Accuracy stays "
              "at chance."),
    "small": ({"init": "normal", "init_std": 0.01}, "val accuracy <= 60%",
              "Weights drawn with a standard deviation of 0.01: each layer shrinks the signal "
              "about tenfold, so after eight layers the output barely depends on the input and "
              "the gradients reaching the first layers are tiny (the Gradients tab). In these "
              "epochs the network stays near chance."),
    "he": ({"init": "kaiming_normal"}, "val accuracy >= 90%",
           "He (Kaiming) initialisation draws each layer's weights with variance 2 / inputs, "
           "which keeps the signal's size through ReLU layers: gradients reach every layer and "
           "the network learns the moons."),
}


def initialisation(scheme: str) -> Graph:
    settings, expected, about = INITS[scheme]
    layers: list[Layer] = [dense(32, "relu", f"Layer {i}") for i in range(1, 9)]
    graph = sequential(POINTS, "Points", [*layers, dense(2, label="Logits")])
    for node in graph.nodes:
        if node.type == "dense":
            graph.set_training(node.id, settings)
    others = ", ".join(f"init_{k}" for k in INITS if k != scheme)
    return finish(graph, {
        "title": f"Weight initialisation: {'zeros' if scheme == 'zeros' else 'too small' if scheme == 'small' else 'He'}",
        "group": "Deep networks",
        "description": (
            "The same 8-layer ReLU network on the moons, trained the same way; only how its "
            f"weights start differs (the Initialisation field of each Dense layer). {about} "
            f"Compare with {others}: select a layer and change its initialisation in the "
            "inspector to try another."
        ),
        "expected": expected,
    }, MOONS, {**DEEP_TRAINING, "epochs": 15})


# ------------------------------------------------------------- word embeddings
def word_embeddings() -> Graph:
    graph = sequential({"shape": [1], "dtype": "long"}, "Word id", [
        ("embedding", {"num_embeddings": 27, "embedding_dim": 8}, "Embedding (27 words, 8 numbers)"),
        ("flatten", {}, "Flatten"),
        dense(27, label="Context word scores"),
    ])
    return finish(graph, {
        "title": "Word embeddings learned from context",
        "group": "Architectures",
        "description": (
            "Each of 27 words gets a vector of 8 numbers (an Embedding layer), trained to predict a "
            "word next to it in generated sentences such as 'the two red cat likes the pear and the "
            "plum' (skip-gram, as in word2vec). Nothing says which words belong together, but words "
            "of one kind fill the same place in a sentence, so they need the same predictions and "
            "their vectors move together. Open the Embedding tab after training: projected to 2-D, "
            "the numbers, colours, animals and fruit form four clusters. Accuracy stays modest, "
            "because a word's neighbour is a guess among several."
        ),
        "expected": "val accuracy >= 33%",
    }, {"name": "word_contexts", "options": {"n_samples": 4000, "window": 1, "seed": 0},
        "normalise": "none", "val_split": 0.2},
        {"optimizer": "adam", "lr": 0.01, "epochs": 20, "batch_size": 32})


TEMPLATES = {
    "single_neuron_line": single_neuron_line,
    **{f"width_{k}": (lambda k=k: width(k)) for k in WIDTHS},
    "early_stopping": early_stopping,
    **{f"optimiser_{k}": (lambda k=k: optimiser(k)) for k in OPTIMISERS},
    "batch_norm_deep": batch_norm_deep,
    "dying_relu": dying_relu,
    **{f"init_{k}": (lambda k=k: initialisation(k)) for k in INITS},
    "word_embeddings": word_embeddings,
}
