"""Loss nodes: terms of the training loss wired in the graph.

A loss node is a sink, like Output, but not a model output: training adds its
value, times its ``weight``, to the total loss (with the loss of every Output
whose ``loss`` is set), and compile and export leave it out. Each node computes
one number per batch:

- ReconstructionLoss: MSE or binary cross-entropy of ``pred`` against ``target``
  (wire the Input into ``target`` for an autoencoder), summed over the values of
  a sample (``reduction="sum"``, the VAE's convention) or averaged over them, then
  averaged over the batch.
- KLDivergence: the KL divergence of N(mean, exp(logvar)) from N(0, I),
  ``-0.5 · Σ (1 + logvar - mean² - exp(logvar))`` over a sample's dims, averaged
  over the batch (the regulariser of a variational autoencoder).
- MSELoss, BCELoss, CrossEntropyLoss: torch's losses (mean over every value), of
  ``pred`` against a wired ``target`` or against the dataset's targets.

The backend computes them (``layerloom.backend.training.loss_terms``).
"""

from __future__ import annotations

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float
from layerloom.graph.params import Bool, Choice, Float
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec

TARGETS = ("data", "wired")
RECONSTRUCTION_KINDS = ("mse", "bce", "bce_with_logits")


OUTPUT_DEFAULTS = {"loss": "auto", "target": "data", "weight": 1.0}  # an Output that trains as always


def has_loss_terms(graph) -> bool:
    """Whether ``graph`` trains on loss terms rather than on the training settings'
    one loss: it holds a loss node, several Outputs, or an Output with loss settings."""
    outputs = graph.outputs()
    if len(outputs) > 1 or any(n.spec.loss for n in graph.nodes):
        return True
    return any(o.params.get(k, v) != v for o in outputs for k, v in OUTPUT_DEFAULTS.items())


def _weight() -> Float:
    return Float("weight", 1.0, "Weight of this term in the total loss", minimum=0.0, maximum=1e6, key=True)


def _target() -> Choice:
    return Choice("target", "wired", TARGETS,
                  "What pred is compared with: a tensor wired into the target port, or the "
                  "dataset's targets", key=True)


def _ports(p) -> tuple[str, ...]:
    return ("pred", "target") if p["target"] == "wired" else ("pred",)


def _same_shape(name: str, ins, first: str, second: str) -> None:
    a, b = ins[first], ins[second]
    need_float(f"{name} ({first})", a)
    need_float(f"{name} ({second})", b)
    if a.shape != b.shape:
        raise ShapeError(
            f"{name} needs {first} and {second} of one shape; {first} is {a} but {second} is {b}",
            f"wire outputs of the same shape (a {first} and a {second} of one layer size)",
        )


def _reconstruction_rule(p, ins):
    _same_shape("ReconstructionLoss", ins, "pred", "target")
    return {}


def _kl_rule(p, ins):
    _same_shape("KLDivergence", ins, "mean", "logvar")
    return {}


def _pointwise_rule(name: str):
    def rule(p, ins):
        if p["target"] == "wired":
            _same_shape(name, ins, "pred", "target")
        else:
            need_float(f"{name} (pred)", ins["pred"])
        return {}
    return rule


def _cross_entropy_rule(p, ins):
    pred = ins["pred"]
    need_float("CrossEntropyLoss (pred)", pred)
    if pred.rank == 0:
        raise ShapeError(f"CrossEntropyLoss needs class scores on its last dim; pred is {pred}",
                         "wire the scores of a Dense layer with one unit per class")
    if p["target"] == "wired":
        target = ins["target"]
        if target.dtype != "long" or target.shape != pred.shape[:-1]:
            want = TensorSpec(pred.shape[:-1], "long")
            raise ShapeError(
                f"CrossEntropyLoss needs class indices {want} as target for scores {pred}; "
                f"target is {target}",
                "wire long class labels (one per row of scores), or set target to data",
            )
    return {}


def _no_flops(p, ins, outs) -> int:
    return 0


def _pair(a: str, b: str, shape=(4,)) -> tuple[Example, ...]:
    return (Example({a: TensorSpec(shape), b: TensorSpec(shape)}),)


SPECS = [
    LayerSpec(
        "reconstruction_loss", "ReconstructionLoss", "Loss",
        "A training loss term: how far pred is from target (wire the Input into target for an "
        "autoencoder), MSE or binary cross-entropy, summed over a sample's values.",
        (Choice("kind", "mse", RECONSTRUCTION_KINDS,
                "mse; bce (pred holds probabilities, e.g. after a sigmoid); bce_with_logits "
                "(pred holds logits)", key=True),
         Choice("reduction", "sum", ("sum", "mean"),
                "sum over a sample's values (the VAE's convention) or mean over them; then the "
                "mean over the batch"),
         _weight()),
        _reconstruction_rule, inputs=("pred", "target"), outputs=(), flops=_no_flops, loss=True,
        keywords=("autoencoder", "vae", "reconstruction", "mse", "bce", "loss", "objective"),
        examples=_pair("pred", "target"),
    ),
    LayerSpec(
        "kl_divergence", "KLDivergence", "Loss",
        "A training loss term: the KL divergence of N(mean, exp(logvar)) from N(0, I), summed "
        "over a sample's dims (a VAE's regulariser; wire the encoder's mean and log-variance).",
        (_weight(),),
        _kl_rule, inputs=("mean", "logvar"), outputs=(), flops=_no_flops, loss=True,
        keywords=("kl", "kullback", "leibler", "vae", "variational", "latent", "prior", "loss"),
        examples=_pair("mean", "logvar"),
    ),
    LayerSpec(
        "mse_loss", "MSELoss", "Loss",
        "A training loss term: mean squared error of pred against a wired target or the dataset's targets.",
        (_target(), _weight()),
        _pointwise_rule("MSELoss"), inputs=_ports, outputs=(), flops=_no_flops, loss=True,
        keywords=("mean squared error", "l2", "regression", "loss", "objective"),
        examples=_pair("pred", "target"),
    ),
    LayerSpec(
        "bce_loss", "BCELoss", "Loss",
        "A training loss term: binary cross-entropy of pred (probabilities, or logits) against a "
        "wired target or the dataset's targets.",
        (_target(), Bool("logits", True, "pred holds logits (no sigmoid before it)"), _weight()),
        _pointwise_rule("BCELoss"), inputs=_ports, outputs=(), flops=_no_flops, loss=True,
        keywords=("binary cross entropy", "sigmoid", "logistic", "loss", "objective"),
        examples=_pair("pred", "target"),
    ),
    LayerSpec(
        "cross_entropy_loss", "CrossEntropyLoss", "Loss",
        "A training loss term: cross-entropy of class scores (last dim) against wired class "
        "indices or the dataset's labels.",
        (Choice("target", "data", TARGETS,
                "What the scores are compared with: the dataset's labels, or long class indices "
                "wired into the target port", key=True), _weight()),
        _cross_entropy_rule, inputs=_ports, outputs=(), flops=_no_flops, loss=True,
        keywords=("softmax", "classification", "nll", "loss", "objective"),
        examples=(Example({"pred": TensorSpec((10,))}),),
    ),
]
