"""A node's training settings applied to its torch module: initialisation and freezing.

Compile calls :func:`apply_node_training` on each node's module as it builds it, so
an initialisation draws from the compile's seeded random state (the same seed gives
the same weights) and a frozen node's parameters have ``requires_grad`` off from
the start: they get no gradient, and the trainer leaves them out of the optimizer
(:func:`trainable_parameters`). See :mod:`layerloom.graph.node_training` for the
settings themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from layerloom.graph.node_training import full


def apply_node_training(module: nn.Module, values: Mapping[str, Any]) -> None:
    """Initialise ``module``'s parameters as ``values["init"]`` says, and freeze them
    when ``values["trainable"]`` is off; an empty ``values`` changes nothing."""
    if not values:
        return
    settings = full(values)
    if settings["init"] != "default":
        initialise(module, settings["init"], settings["init_std"])
    if not settings["trainable"]:
        for p in module.parameters():
            p.requires_grad_(False)


def initialise(module: nn.Module, scheme: str, std: float = 0.02) -> None:
    """Draw ``module``'s weights with ``scheme`` (in place, from torch's random state).

    Every parameter with two or more dims (a weight matrix, a kernel, an embedding
    table, a recurrent layer's matrices) is drawn by the scheme and every bias is set
    to zero; other one-dim parameters (a norm's scale) keep PyTorch's values, except
    with ``zeros``, which sets every parameter to zero.
    """
    with torch.no_grad():
        for name, p in module.named_parameters():
            if scheme == "zeros" or (p.dim() < 2 and "bias" in name.rsplit(".", 1)[-1]):
                p.zero_()
            elif p.dim() >= 2:
                _draw(p, scheme, std)


def _draw(p: torch.Tensor, scheme: str, std: float) -> None:
    init = nn.init
    if scheme == "kaiming_normal":
        init.kaiming_normal_(p, nonlinearity="relu")
    elif scheme == "kaiming_uniform":
        init.kaiming_uniform_(p, nonlinearity="relu")
    elif scheme == "xavier_normal":
        init.xavier_normal_(p)
    elif scheme == "xavier_uniform":
        init.xavier_uniform_(p)
    elif scheme == "normal":
        init.normal_(p, 0.0, std)
    elif scheme == "orthogonal":
        init.orthogonal_(p)
    else:
        raise ValueError(f"unknown initialisation {scheme!r}")


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters an optimizer should update: those not frozen."""
    return [p for p in model.parameters() if p.requires_grad]


def frozen_names(model: nn.Module) -> list[str]:
    """The names (state-dict keys) of ``model``'s frozen parameters."""
    return [name for name, p in model.named_parameters() if not p.requires_grad]


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """``(trainable, frozen)`` numbers of parameter values (shared ones counted once)."""
    trainable = frozen = 0
    for p in model.parameters():
        if p.requires_grad:
            trainable += p.numel()
        else:
            frozen += p.numel()
    return trainable, frozen
