"""Sampling: the reparameterisation of a variational autoencoder as one node.

``Sampling`` takes a mean and a log-variance of one shape and draws
``mean + exp(0.5 · logvar) · noise`` with ``noise ~ N(0, I)`` (the RandomNormal
node's noise), so that the draw is differentiable in both inputs. At inference
(eval mode) it gives the mean by default, so results and exports are repeatable;
``eval_output="sample"`` keeps drawing there too (exports then refuse it, since a
file cannot hold a random draw that matches the model's).
"""

from __future__ import annotations

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float
from layerloom.graph.params import Choice
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec

EVAL_OUTPUTS = ("mean", "sample")


def _sampling_rule(p, ins):
    mean, logvar = ins["mean"], ins["logvar"]
    need_float("Sampling (mean)", mean)
    need_float("Sampling (logvar)", logvar)
    if mean.shape != logvar.shape:
        raise ShapeError(
            f"Sampling needs mean and logvar of one shape; mean is {mean} but logvar is {logvar}",
            "feed both from layers of the same size (two Dense layers with the code size as units)",
        )
    return {"out": mean}


def _sampling_flops(p, ins, outs) -> int:
    return 4 * ins["mean"].numel  # exp, two products, a sum


SPECS = [
    LayerSpec(
        "sampling", "Sampling", "Tensor",
        "The reparameterisation trick: mean + exp(0.5·logvar)·N(0, 1) while training, so gradients "
        "reach both inputs; at inference (eval mode) the mean, unless eval output is sample.",
        (Choice("eval_output", "mean", EVAL_OUTPUTS,
                "What it gives in eval mode (inference, validation, export): the mean, or a "
                "random sample as while training", key=True),),
        _sampling_rule, inputs=("mean", "logvar"), flops=_sampling_flops,
        keywords=("vae", "variational", "reparameterisation", "reparameterization", "latent",
                  "noise", "gaussian", "sample", "random"),
        examples=(Example({"mean": TensorSpec((2,)), "logvar": TensorSpec((2,))}),),
    ),
]
