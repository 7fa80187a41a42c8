"""Importer rules of the Recurrent family for the states of a layer.

PyTorch: LayerLoom's own classes (and their copies in a Python export) take their
states batch first and give them so. A torch ``nn.RNN``/``nn.LSTM``/``nn.GRU``
may start from another recurrent layer's final state (an encoder-decoder:
``_, (h, c) = encoder(x); y, _ = decoder(z, (h, c))``), which becomes an edge
from the first layer's ``h_n`` (``c_n``) port to the second's ``h0`` (``c0``);
and a final state read batch first (``h_n.transpose(0, 1)``) is the ``h_n``
port. torch keeps the batch of a state in dim 1, so a state used as it is
(returned, or computed from the inputs) has no LayerLoom counterpart and is
refused with a message saying so.

ONNX: a LayerLoom RNN, LSTM or GRU whose states are ports (``initial_state``,
``final_state``) exports as the recurrent operator between ``Transpose`` operators
that move the batch of each state; torch's exporter records them all as one call
of LayerLoom's module class, so :mod:`~layerloom.backend.importers.onnx_modules`
folds the call into one operator and the fitter below proposes the settings.
The plain RNN is decomposed into its steps by the exporter and folds the same
way. A call without states is mapped operator by operator, as before (a layer
that reads the previous one's time-major steps joins it as a stacked layer). A torch ``nn.LSTM`` in a user's model (not LayerLoom's class) is not folded:
its operator maps through :mod:`~layerloom.backend.importers.onnx_recurrent`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from layerloom.backend.importers import torch_modules, torch_rules
from layerloom.backend.importers.common import Recurrent, RecurrentPart, Unsupported, Value, refuse
from layerloom.backend.importers.onnx_modules import FOLDED, Call, fitter, flat, module_rule
from layerloom.backend.importers.onnx_ops import Op
from layerloom.backend.importers.onnx_recurrent import _recurrent_weights
from layerloom.backend.importers.torch_modules import _layer, _module_weights, _recurrent_params
from layerloom.backend.importers.torch_rules import Items, arg
from layerloom.backend.lowerings import recurrent as ll_recurrent

LL_RECURRENT = "layerloom.backend.lowerings.recurrent."
RECURRENT_OPS = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn"}


def _fit_recurrent(kind: str):
    def fit(call: Call):
        shape = call.weight_shape("weight_hh_l0")
        if shape is None or not call.shapes or len(call.shapes[0]) != 2:
            return
        layers = 1
        while call.weight_shape(f"weight_hh_l{layers}") is not None:
            layers += 1
        bidirectional = call.weight_shape("weight_hh_l0_reverse") is not None
        states = 2 if kind == "lstm" else 1
        if len(call.shapes) not in (1, 1 + states):
            return
        initial = len(call.shapes) > 1
        hidden = shape[1]
        for final in (len(call.op.outputs) > 1, True, False):
            for sequences in (True, False):
                for bias in (True, False):
                    for nonlinearity in (("tanh", "relu") if kind == "rnn" else ("tanh",)):
                        params = {"hidden_size": hidden, "num_layers": layers, "bidirectional": bidirectional,
                                  "dropout": 0.0, "bias": bias, "return_sequences": sequences,
                                  "initial_state": initial, "final_state": final}
                        if kind == "rnn":
                            params["nonlinearity"] = nonlinearity
                        yield kind, params

    return fit


for _kind, _cls in (("rnn", "RNN"), ("lstm", "LSTM"), ("gru", "GRU")):
    fitter(f"{LL_RECURRENT}{_cls}")(_fit_recurrent(_kind))


# ------------------------------------------------------------------ PyTorch
def _kind(m: nn.Module) -> str:
    return "lstm" if isinstance(m, nn.LSTM) else "gru" if isinstance(m, nn.GRU) else "rnn"


def _layerloom_recurrent(mp, node, m):
    """LayerLoom's RNN/LSTM/GRU (or an unchanged copy): ``layer(x[, h0[, c0]])``."""
    kind = _kind(m)
    refuse(bool(node.kwargs), "is called with keyword arguments")
    states = 2 if kind == "lstm" else 1
    refuse(len(node.args) not in (1, 1 + states), f"is called with {len(node.args)} tensors")
    inputs = [mp.tensor(a) for a in node.args]
    params = {**_recurrent_params(kind, m, m.return_sequences),
              "initial_state": len(inputs) > 1, "final_state": bool(m.final_state)}
    if not m.final_state:
        return _layer(mp, node, m, kind, params, inputs)
    out = _layer(mp, node, m, kind, params, inputs, item=0)
    ports = ("h_n", "c_n")[:states]
    return Items((out, *(mp.builder.port_of(out, port, mp.shape(node, i + 1)) for i, port in enumerate(ports))))


def final_state(mp, rec: Recurrent, which: str) -> Value:
    """The ``h_n`` or ``c_n`` port of ``rec``'s node, turned on."""
    mp.builder.graph.set_param(rec.node, "final_state", True)
    shape = (rec.layers * rec.dirs, rec.hidden)
    return Value(rec.node, f"{which}_n", shape, shape)


def _whole_state(part) -> str | None:
    """``"h"`` or ``"c"`` when ``part`` is a recurrent layer's whole final state."""
    if isinstance(part, RecurrentPart):
        if part.kind == "hn" and part.rows == part.rec.rows():
            return "h"
        if part.kind == "cn":
            return "c"
    return None


def _initial_state(mp, value) -> Value:
    part = mp.entry(value)
    which = _whole_state(part)
    if which is None:
        raise Unsupported(
            "starts from a state that is not another recurrent layer's whole final state; a LayerLoom "
            "layer reads its initial state batch first (N, layers·dirs, H), and torch's is "
            "(layers·dirs, N, H)"
        )
    return final_state(mp, part.rec, which)


def _torch_recurrent(kind: str):
    plain = torch_modules.MODULE_RULES[{"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]]

    def rule(mp, node, m):
        state = arg(node, 1, "hx")
        if state is None:
            return plain(mp, node, m)
        refuse(not m.batch_first,
               "batch_first=False; LayerLoom's sequences are batch first (N, T, F): set batch_first=True")
        refuse(getattr(m, "proj_size", 0) > 0, "proj_size is set")
        refuse(len(node.args) + len(node.kwargs) > 2, "is called with arguments besides the input and state")
        x = mp.tensor(node.args[0])
        refuse(x.rank != 2, f"receives {x.shape} per sample; LayerLoom's recurrent layers read (T, F)")
        if kind == "lstm":
            entry = mp.entry(state)
            if isinstance(entry, RecurrentPart) and entry.kind == "state":
                states = [final_state(mp, entry.rec, "h"), final_state(mp, entry.rec, "c")]
            else:
                refuse(not isinstance(state, (tuple, list)) or len(state) != 2, "gets a state that is not (h0, c0)")
                states = [_initial_state(mp, s) for s in state]
        else:
            states = [_initial_state(mp, state)]
        rec = _make(mp, node, kind, m, x, states)
        return RecurrentPart(rec, "call")

    return rule


def _make(mp, node, kind: str, m, x: Value, states: list[Value]) -> Recurrent:
    mode = mp.modes.get(node.name, "seq")
    rec = Recurrent(key=node.name, node="", hidden=m.hidden_size, dirs=2 if m.bidirectional else 1,
                    layers=m.num_layers, steps=x.shape[0], mode=mode, where=kind.upper())
    width = rec.hidden * rec.dirs
    shape = (rec.steps, width) if mode == "seq" else (width,)
    weights, sources = _module_weights(mp, node, m)
    params = {**_recurrent_params(kind, m, mode == "seq"), "initial_state": True}
    rec.node = mp.builder.add(kind, params, [x, *states], shape, label=node.target, weights=weights,
                              sources=sources).node
    mp.recurrents[node.name] = (rec, node)
    return rec


def _batch_first_state(general):
    """``h_n.transpose(0, 1)`` (or ``.permute(1, 0, 2)``) of a whole final state is
    the layer's ``h_n`` port; anything else goes to the rule this one took the
    place of (see :func:`families._join`), else to ``general``."""

    def rule(mp, node):
        part = mp.entry(node.args[0])
        which = _whole_state(part)
        if which is not None and _swaps_first_two(node):
            return final_state(mp, part.rec, which)
        return rule.previous(mp, node)

    rule.previous = general
    return rule


def _swaps_first_two(node) -> bool:
    if node.target in ("transpose", "swapaxes") or node.target is torch.transpose:
        dims = {arg(node, 1, "dim0"), arg(node, 2, "dim1")}
        return dims in ({0, 1}, {1, -3})
    dims = node.args[1:] if node.op == "call_method" else (arg(node, 1, "dims"),)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    return [d % 3 for d in dims] == [1, 0, 2]


MODULES = {
    nn.RNN: _torch_recurrent("rnn"),
    nn.LSTM: _torch_recurrent("lstm"),
    nn.GRU: _torch_recurrent("gru"),
    ll_recurrent.RNN: _layerloom_recurrent,
    ll_recurrent.LSTM: _layerloom_recurrent,
    ll_recurrent.GRU: _layerloom_recurrent,
}
METHODS = {name: _batch_first_state(torch_rules.METHOD_RULES[name]) for name in ("transpose", "permute", "swapaxes")}
FUNCTIONS = {torch.transpose: _batch_first_state(torch_rules.FUNCTION_RULES[torch.transpose]),
             torch.permute: _batch_first_state(torch_rules.FUNCTION_RULES[torch.permute])}


# ------------------------------------------------------------------ ONNX
def folded_rule(mp, op: Op):
    """A folded module call; when it holds ONNX recurrent operators, their W, R and
    B (gates in ONNX's order, directions joined) are first converted to the
    torch parameters the fitter's candidates load (``weight_ih_l0``, ...)."""
    inner = [o for o in op.attrs.get("ops", ()) if o.op_type in RECURRENT_OPS]
    if not inner:
        return folded_rule.previous(mp, op)
    if len(op.inputs) == 1 and len(op.outputs) == 1:
        return _unfolded(mp, op)  # no states: the operator rules map it, stacked layers included
    return folded_rule.previous(mp, _with_operator_weights(mp, op, inner))


folded_rule.previous = module_rule  # or the rule this one took the place of (see families._join)


def _unfolded(mp, op: Op):
    """Map the operators of a folded call one by one, as if it had not been folded."""
    ops = op.attrs["ops"]
    mp.consumers.subtract(n for n in op.inputs if n)
    mp.consumers.update(n for o in ops for n in o.inputs if n)
    for inner in ops:
        mp._map(inner)
    return mp.env.get(op.outputs[0])


def _array(mp, name: str) -> np.ndarray | None:
    if not name:
        return None
    found = mp.arrays.get(name)
    return found if found is not None else mp.values.get(name)


def _with_operator_weights(mp, op: Op, inner: list[Op]) -> Op:
    weights = dict(op.attrs["weights"])
    prefix = f"p_{flat(op.attrs['path'])}_"
    for layer, rec in enumerate(inner):
        w, r, b = (_array(mp, name) for name in (rec.inputs[1:4] + [""] * 3)[:3])
        if w is None or r is None:
            return op
        dirs = 2 if rec.attrs.get("direction", "forward") == "bidirectional" else 1
        values, _ = _recurrent_weights(RECURRENT_OPS[rec.op_type], layer, dirs, int(rec.attrs["hidden_size"]),
                                       w, r, b, rec.inputs[1:4])
        for key, value in values.items():
            name = f"{rec.inputs[1]}:{key}"
            mp.arrays[name] = np.ascontiguousarray(value)
            weights[prefix + key] = (name, False)
    return dataclasses.replace(op, attrs={**op.attrs, "weights": weights})


ONNX = {FOLDED: folded_rule}
