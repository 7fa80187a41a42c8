"""The Sampling node: a VAE's reparameterisation as a small module."""

from __future__ import annotations

import torch
from torch import nn

from layerloom.backend.lowering import Lowering, lowering


class Sampling(nn.Module):
    """``mean + exp(0.5 * logvar) * noise`` with ``noise ~ N(0, I)`` while training,
    so the draw has gradients in both inputs; in eval mode ``mean`` (unless
    ``sample_in_eval``), so inference and exports are repeatable."""

    def __init__(self, sample_in_eval: bool = False):
        super().__init__()
        self.sample_in_eval = sample_in_eval

    def forward(self, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        if self.training or self.sample_in_eval:
            return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        return mean

    def extra_repr(self) -> str:
        return f"sample_in_eval={self.sample_in_eval}"


@lowering("sampling")
def _sampling(p, ins, outs):
    return Lowering(Sampling(p["eval_output"] == "sample"))
