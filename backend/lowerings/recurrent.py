"""Recurrent layers: ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` with batch-first states.

torch's recurrent modules return ``(output, h_n)`` (``(output, (h_n, c_n))`` for an
LSTM), but a graph edge carries one tensor. The classes below subclass them, so
their parameters keep torch's flat names (``weight_ih_l0``, ...) and a hand-written
model's ``state_dict`` loads as is, and return either the whole output sequence or
its last step (:func:`last_step`), followed by the final states when
``final_state`` is set. States are batch first, ``(N, num_layers·dirs, H)``, as
every tensor of a graph; torch's are ``(num_layers·dirs, N, H)``, so the classes
transpose the initial states they are given and the final states they return. Each class subclasses torch's directly, so that
the standalone file the code exporter writes (it copies their source, with the
functions they call) reads like hand-written PyTorch.

The last step of a bidirectional layer is the forward direction's output at step
``T-1`` joined with the backward direction's output at step ``0``: both directions'
final hidden states, exactly torch's ``h_n`` of the top layer.

They work as ``torch.fx`` leaves, with ``torch.jit.trace`` and with the ONNX
exporter (``dynamo=True``); ``torch.jit.script`` does not support the ``super()``
call.
"""

from __future__ import annotations

import torch
from torch import nn

from layerloom.backend.lowering import Lowering, lowering


def last_step(output: torch.Tensor, hidden_size: int, bidirectional: bool) -> torch.Tensor:
    """The last step of a batch-first recurrent ``output`` ``(N, T, D * H)``: for a
    bidirectional layer, the forward half at step ``T-1`` and the backward half at
    step ``0`` (both directions' final hidden states)."""
    if bidirectional:
        return torch.cat((output[:, -1, :hidden_size], output[:, 0, hidden_size:]), dim=-1)
    return output[:, -1]


class RNN(nn.RNN):
    """``nn.RNN`` with ``batch_first=True`` returning the output or its last step."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, dropout: float = 0.0,
                 bidirectional: bool = False, return_sequences: bool = True,
                 final_state: bool = False):
        super().__init__(input_size, hidden_size, num_layers, nonlinearity=nonlinearity,
                         bias=bias, batch_first=True, dropout=dropout,
                         bidirectional=bidirectional)
        self.return_sequences = return_sequences
        self.final_state = final_state

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        # torch's states are (layers * directions, N, H); LayerLoom's (N, layers * directions, H)
        state = None if h0 is None else h0.transpose(0, 1).contiguous()
        output, h_n = super().forward(x, state)
        if not self.return_sequences:
            output = last_step(output, self.hidden_size, self.bidirectional)
        if self.final_state:
            return output, h_n.transpose(0, 1)
        return output

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, return_sequences={self.return_sequences}, "
                f"final_state={self.final_state}")


class LSTM(nn.LSTM):
    """``nn.LSTM`` with ``batch_first=True`` returning the output or its last step."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, dropout: float = 0.0, bidirectional: bool = False,
                 return_sequences: bool = True, final_state: bool = False):
        super().__init__(input_size, hidden_size, num_layers, bias=bias, batch_first=True,
                         dropout=dropout, bidirectional=bidirectional)
        self.return_sequences = return_sequences
        self.final_state = final_state

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None, c0: torch.Tensor | None = None):
        # torch's states are (layers * directions, N, H); LayerLoom's (N, layers * directions, H)
        state = None if h0 is None else (h0.transpose(0, 1).contiguous(), c0.transpose(0, 1).contiguous())
        output, (h_n, c_n) = super().forward(x, state)
        if not self.return_sequences:
            output = last_step(output, self.hidden_size, self.bidirectional)
        if self.final_state:
            return output, h_n.transpose(0, 1), c_n.transpose(0, 1)
        return output

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, return_sequences={self.return_sequences}, "
                f"final_state={self.final_state}")


class GRU(nn.GRU):
    """``nn.GRU`` with ``batch_first=True`` returning the output or its last step."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, dropout: float = 0.0, bidirectional: bool = False,
                 return_sequences: bool = True, final_state: bool = False):
        super().__init__(input_size, hidden_size, num_layers, bias=bias, batch_first=True,
                         dropout=dropout, bidirectional=bidirectional)
        self.return_sequences = return_sequences
        self.final_state = final_state

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        # torch's states are (layers * directions, N, H); LayerLoom's (N, layers * directions, H)
        state = None if h0 is None else h0.transpose(0, 1).contiguous()
        output, h_n = super().forward(x, state)
        if not self.return_sequences:
            output = last_step(output, self.hidden_size, self.bidirectional)
        if self.final_state:
            return output, h_n.transpose(0, 1)
        return output

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, return_sequences={self.return_sequences}, "
                f"final_state={self.final_state}")


def _common_kwargs(p) -> dict:
    return {
        "num_layers": p["num_layers"], "bias": p["bias"], "dropout": p["dropout"],
        "bidirectional": p["bidirectional"], "return_sequences": p["return_sequences"],
        "final_state": p["final_state"],
    }


@lowering("rnn")
def _rnn(p, ins, outs):
    return Lowering(RNN(ins["in"].shape[1], p["hidden_size"],
                        nonlinearity=p["nonlinearity"], **_common_kwargs(p)))


@lowering("lstm")
def _lstm(p, ins, outs):
    return Lowering(LSTM(ins["in"].shape[1], p["hidden_size"], **_common_kwargs(p)))


@lowering("gru")
def _gru(p, ins, outs):
    return Lowering(GRU(ins["in"].shape[1], p["hidden_size"], **_common_kwargs(p)))
