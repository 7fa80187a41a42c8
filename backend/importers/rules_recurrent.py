"""Importer rules of the Recurrent family for the states of a layer.

PyTorch: LayerLoom's own classes (and their copies in a Python export) take their
states batch first and give them so. A torch ``nn.RNN``/``nn.LSTM``/``nn.GRU``
may start from another recurrent layer's final state (an encoder-decoder:
``_, (h, c) = encoder(x); y, _ = decoder(z, (h, c))``), which becomes an edge
from the first layer's ``h_n`` (``c_n``) port to the second's ``h0`` (``c0``);
and a final state read batch first (``h_n.transpose(0, 1)``) is the ``h_n``
port. torch keeps the batch of a state in dim 1: a state given as a model input
(its batch in dim 1, see :mod:`~layerloom.backend.importers.batch_dims`) is the
layer's ``h0`` (``c0``) port, a state of zeros sized from the batch
(``torch.zeros(1, x.size(0), H)``) is the layer's own start, and any other state
used as it is (returned, or computed) is refused with a message saying so.

Time first (``batch_first=False``): the layer reads a
:class:`~layerloom.backend.importers.common.TimeMajor` sequence (an input whose
batch is in dim 1, or a batch-first tensor transposed by ``x.permute(1, 0, 2)``)
and gives a time-major output, which ``output[-1]`` (the last step) or
``output.transpose(0, 1)`` (every step, batch first) bring back to LayerLoom's
layout.

ONNX: a LayerLoom RNN, LSTM or GRU whose states are ports (``initial_state``,
``final_state``) exports as the recurrent operator between ``Transpose`` operators
that move the batch of each state; torch's exporter records them all as one call
of LayerLoom's module class, so :mod:`~layerloom.backend.importers.onnx_modules`
folds the call into one operator and the fitter below proposes the settings.
The plain RNN is decomposed into its steps by the exporter and folds the same
way. A call without states is mapped operator by operator, as before (a layer
that reads the previous one's time-major steps joins it as a stacked layer). A
torch ``nn.LSTM`` in a user's model (not LayerLoom's class) is not folded: its
operator maps through :mod:`~layerloom.backend.importers.onnx_recurrent`, which
takes an initial state given as a model input (dim 1 the batch) as the layer's
state port; ``output[-1]`` of its time-major output is a ``Gather`` on axis 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from layerloom.backend.importers import recurrent as rnn
from layerloom.backend.importers import torch_rules
from layerloom.backend.importers.common import (
    Recurrent,
    RecurrentPart,
    TimeMajor,
    Unsupported,
    Value,
    refuse,
)
from layerloom.backend.importers.onnx_modules import FOLDED, Call, fitter, flat, module_rule
from layerloom.backend.importers.onnx_ops import Op
from layerloom.backend.importers.onnx_recurrent import _recurrent_weights
from layerloom.backend.importers.torch_constants import Constant
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


class ZeroState:
    """``torch.zeros(layers, x.size(0), hidden)``: a tensor of zeros whose shape
    follows the batch. As a recurrent layer's initial state it is the state the
    layer starts from anyway; anywhere else LayerLoom has no tensor for it."""

    def as_value(self, mp) -> Value:
        raise Unsupported("makes a tensor of zeros whose shape depends on the batch; LayerLoom takes it "
                          "only as the initial state of an RNN, LSTM or GRU (which starts from zeros)")


ZERO_STATE = ZeroState()


def _zeros(mp, node):
    """``torch.zeros(...)`` whose size follows the batch: a :class:`ZeroState`;
    the rule this one took the place of (see :func:`families._join`) keeps the
    other cases (an attention mask's start, a constant the recording run kept)."""
    try:
        if _zeros.previous is None:
            raise Unsupported()
        return _zeros.previous(mp, node)
    except Unsupported:
        if node in mp.known:
            raise
        return ZERO_STATE


_zeros.previous = None


def _keeps_zeros(general):
    """``h0.to(device)`` (``.float()``, ...) of a :class:`ZeroState` is itself."""

    def rule(mp, node):
        if isinstance(mp.entry(node.args[0]), ZeroState):
            return ZERO_STATE
        return rule.previous(mp, node)

    rule.previous = general
    return rule


def _is_zero(entry) -> bool:
    return isinstance(entry, ZeroState) or (isinstance(entry, Constant) and not bool(entry.value.any()))


def _initial_state(mp, value, rows: int, hidden: int) -> Value:
    part = mp.entry(value)
    if isinstance(part, TimeMajor):  # (layers·dirs, N, H), as torch takes it: the port reads it batch first
        state = mp.builder.materialise(part.value)
        refuse(state.shape != (rows, hidden),
               f"gets an initial state of {state.shape} per sample where it needs ({rows}, {hidden})")
        return state
    which = _whole_state(part)
    if which is None:
        raise Unsupported(
            "starts from a state that is neither a model input (layers·dirs, N, H) nor another recurrent "
            "layer's whole final state"
        )
    return final_state(mp, part.rec, which)


def _sequence(mp, source, m) -> Value:
    """The batch-first sequence a torch recurrent layer reads: the input itself,
    or, for ``batch_first=False``, the batch-first tensor under a time-first one."""
    if m.batch_first:
        return mp.tensor(source)
    recorded = getattr(mp.records.get(source), "shape", ())
    if len(recorded) < 2 or recorded[1] == mp.batch:  # else refused below, even when its input failed
        entry = mp.entry(source)
        if isinstance(entry, TimeMajor):
            return mp.builder.materialise(entry.value)
    raise Unsupported(
        "batch_first=False reads (T, N, F), but this input has its batch in dim 0; transpose it "
        "(x.transpose(0, 1)) or set batch_first=True"
    )


def _states(mp, kind: str, state, rows: int, hidden: int) -> list[Value]:
    """The initial-state inputs of the LayerLoom node; none for zeros."""
    if state is None:
        return []
    entry = mp.entry(state)
    parts = state if isinstance(state, (tuple, list)) else (state,)
    if _is_zero(entry) or all(_is_zero(mp.entry(p)) for p in parts):
        return []
    if kind != "lstm":
        return [_initial_state(mp, state, rows, hidden)]
    if isinstance(entry, RecurrentPart) and entry.kind == "state":
        return [final_state(mp, entry.rec, "h"), final_state(mp, entry.rec, "c")]
    refuse(not isinstance(state, (tuple, list)) or len(state) != 2, "gets a state that is not (h0, c0)")
    return [_initial_state(mp, s, rows, hidden) for s in state]


def _torch_recurrent(kind: str):
    def rule(mp, node, m):
        refuse(getattr(m, "proj_size", 0) > 0, "proj_size is set")
        refuse(len(node.args) + len(node.kwargs) > 2, "is called with arguments besides the input and state")
        x = _sequence(mp, node.args[0] if node.args else node.kwargs.get("input"), m)
        refuse(x.rank != 2, f"receives {x.shape} per sample; LayerLoom's recurrent layers read (T, F)")
        rows = m.num_layers * (2 if m.bidirectional else 1)
        states = _states(mp, kind, arg(node, 1, "hx"), rows, m.hidden_size)
        rec = _make(mp, node, kind, m, x, states) if states else mp.recurrent(node, kind, m, x)
        rec.time_major = not m.batch_first
        return RecurrentPart(rec, "call")

    return rule


def _make(mp, node, kind: str, m, x: Value, states: list[Value]) -> Recurrent:
    mode = mp.modes.get(node.name, "seq")
    rec = Recurrent(key=node.name, node="", hidden=m.hidden_size, dirs=2 if m.bidirectional else 1,
                    layers=m.num_layers, steps=x.shape[0], mode=mode, where=kind.upper())
    width = rec.hidden * rec.dirs
    shape = (rec.steps, width) if mode == "seq" else (width,)
    weights, sources = _module_weights(mp, node, m)
    params = {**_recurrent_params(kind, m, mode == "seq"), "initial_state": True}  # states: batch first
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
        swaps = _swaps_first_two(node)
        which = _whole_state(part)
        if which is not None and swaps:
            return final_state(mp, part.rec, which)
        if swaps and isinstance(part, RecurrentPart) and part.kind == "seq_tm":
            return RecurrentPart(part.rec, "seq")  # a time-major output read batch first
        if swaps and isinstance(part, TimeMajor):
            return part.value
        try:
            return rule.previous(mp, node)
        except Unsupported:
            if swaps and isinstance(part, Value):  # to (T, N, F) for a batch_first=False layer
                return TimeMajor(part)
            raise

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
METHODS["to"] = _keeps_zeros(None)  # families._join gives it the general rule
FUNCTIONS = {torch.transpose: _batch_first_state(torch_rules.FUNCTION_RULES[torch.transpose]),
             torch.permute: _batch_first_state(torch_rules.FUNCTION_RULES[torch.permute]),
             torch.zeros: _zeros}


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


def onnx_gather(mp, op: Op):
    """``output[-1]`` of a time-major output: Gather on axis 0 of ``seq_tm``."""
    found = mp.entry(op.inputs[0])
    if isinstance(found, RecurrentPart) and found.kind == "seq_tm" and int(op.attrs.get("axis", 0)) == 0:
        index = mp.const(op.inputs[1], "the index")
        refuse(index.ndim != 0, "gathers several steps")
        return rnn.select_step(RecurrentPart(found.rec, "seq"), int(index))
    return onnx_gather.previous(mp, op)


def onnx_slice(mp, op: Op):
    """A Slice that keeps all of a time-major tensor (torch's exporter cuts a
    state to its layers' rows) is that tensor."""
    found = mp.entry(op.inputs[0])
    if isinstance(found, TimeMajor) and mp.full_shape(op.outputs[0]) == mp.full_shape(op.inputs[0]):
        return found
    return onnx_slice.previous(mp, op)


onnx_gather.previous = onnx_slice.previous = None  # families._join gives them the general rules
ONNX = {FOLDED: folded_rule, "Gather": onnx_gather, "Slice": onnx_slice}
