"""ONNX's recurrent operators (``LSTM``, ``GRU``, ``RNN``) as LayerLoom layers.

torch's exporter writes a batch-first recurrent layer as a ``Transpose`` to
(T, N, F), one operator per stacked layer, then ``Transpose`` and ``Reshape`` back
to (N, T, H·dirs) (see :mod:`layerloom.backend.importers.recurrent` for the parts on the
way). An operator reading the steps of one with the same settings is one more
stacked layer of it; weights are converted from ONNX's gate order to torch's.
"""

from __future__ import annotations

import numpy as np

from layerloom.backend.importers import recurrent as rnn
from layerloom.backend.importers.common import (
    Recurrent,
    RecurrentPart,
    TimeMajor,
    Unsupported,
    Value,
    label_of,
    refuse,
)

GATE_ORDER = {  # torch's gate blocks as indices into ONNX's
    "lstm": (0, 2, 3, 1),  # ONNX i, o, f, c -> torch i, f, g, o
    "gru": (1, 0, 2),  # ONNX z, r, h -> torch r, z, n
    "rnn": (0,),
}
DEFAULT_ACTIVATIONS = {"lstm": ["sigmoid", "tanh", "tanh"], "gru": ["sigmoid", "tanh"]}


def recurrent_rule(kind: str):
    """The rule for ONNX's ``LSTM``, ``GRU`` or ``RNN`` operator."""

    def rule(mp, op):
        a = op.attrs
        hidden = int(a["hidden_size"])
        direction = a.get("direction", "forward")
        refuse(direction not in ("forward", "bidirectional"), f"direction={direction}")
        refuse(int(a.get("layout", 0)) != 0, "layout=1 (batch-first recurrent operator)")
        refuse(a.get("clip") is not None, "clip is set")
        refuse(bool(a.get("input_forget", 0)), "input_forget=1")
        dirs = 2 if direction == "bidirectional" else 1
        activations = [s.lower() for s in a.get("activations", [])]
        nonlinearity = "tanh"
        if kind == "rnn":
            nonlinearity = activations[0] if activations else "tanh"
            refuse(nonlinearity not in ("tanh", "relu") or len(set(activations)) > 1, f"activations {activations}")
        elif activations:
            refuse(activations != DEFAULT_ACTIVATIONS[kind] * dirs, f"activations {activations}")
        if kind == "gru":
            refuse(int(a.get("linear_before_reset", 0)) != 1, "linear_before_reset=0 (torch's GRU resets after)")
        refuse(len(op.inputs) > 4 and bool(op.inputs[4]), "sequence_lens is given")
        refuse(len(op.inputs) > 7 and bool(op.inputs[7]), "P (peepholes) is given")
        states = _initial_states(mp, op, kind, hidden, dirs)
        w, r = mp.const(op.inputs[1], "W"), mp.const(op.inputs[2], "R")
        b = mp.optional_const(op, 3, "B")
        source = mp.entry(op.inputs[0])
        if isinstance(source, RecurrentPart) and source.kind == "seq_tm":
            if not states and _stackable(mp, op, source.rec, kind, hidden, dirs, b is not None, nonlinearity):
                rec = _stack(mp, source.rec)
            else:  # a layer of other settings reading the previous one's steps
                x = rnn.materialise(RecurrentPart(source.rec, "seq"))
                rec = _new_recurrent(mp, op, kind, x, hidden, dirs, b is not None, nonlinearity, states)
        elif isinstance(source, TimeMajor):
            rec = _new_recurrent(mp, op, kind, source.value, hidden, dirs, b is not None, nonlinearity, states)
        else:
            raise Unsupported("reads a sequence that is not the model's (T, N, F) transposed input")
        layer = rec.layers - 1
        weights, sources = _recurrent_weights(kind, layer, dirs, hidden, w, r, b, op.inputs[1:4])
        mp.builder.add_weights(rec.node, weights, sources)
        outs = op.outputs + [""] * 3
        if outs[1]:
            mp.env[outs[1]] = RecurrentPart(rec, "hn", tuple((layer, d) for d in range(dirs)))
        if kind == "lstm" and outs[2]:
            mp.env[outs[2]] = RecurrentPart(rec, "cn")
        return RecurrentPart(rec, "y") if outs[0] else None

    return rule


def _initial_states(mp, op, kind: str, hidden: int, dirs: int) -> list[Value]:
    """initial_h (and initial_c) as the LayerLoom node's state inputs: a model
    input (dirs, N, H), which the node reads batch first; none for zeros."""
    names = [op.inputs[i] if len(op.inputs) > i else "" for i in ((5, 6) if kind == "lstm" else (5,))]
    entries = [mp.entry(n) if n else None for n in names]
    if all(e is None or (not isinstance(e, TimeMajor) and _zero(mp, n)) for e, n in zip(entries, names, strict=True)):
        return []
    states = []
    for entry, name in zip(entries, names, strict=True):
        refuse(not isinstance(entry, TimeMajor),
               f"starts from the state {name or '(none)'!r}, which is neither zeros nor a model input "
               "shaped (directions, N, hidden); LayerLoom's layers start from zeros or from such an input")
        value = mp.builder.materialise(entry.value)
        refuse(value.shape != (dirs, hidden), f"gets an initial state of {value.shape} per sample")
        states.append(value)
    return states


def _zero(mp, name: str) -> bool:
    try:
        return bool(np.all(mp.const(name, "the initial state") == 0))
    except Unsupported:
        return False


def _new_recurrent(mp, op, kind, x: Value, hidden, dirs, bias, nonlinearity, states=()) -> Recurrent:
    refuse(x.rank != 2, f"reads {x.shape} per sample; LayerLoom's recurrent layers read (T, F)")
    rec = Recurrent(key=op.name or op.outputs[0], node="", hidden=hidden, dirs=dirs, layers=1,
                    steps=x.shape[0], where=kind.upper())
    rec.mode = mp.modes.get(rec.key, "seq")
    params = {"hidden_size": hidden, "num_layers": 1, "bidirectional": dirs == 2, "dropout": 0.0,
              "bias": bias, "return_sequences": rec.mode == "seq", "initial_state": bool(states)}
    if kind == "rnn":
        params["nonlinearity"] = nonlinearity
    rec.node = mp.builder.add(kind, params, [x, *states], rnn.node_shape(rec), label=label_of(op.inputs[1])).node
    mp.recurrents[rec.key] = (rec, op)
    return rec


def _stackable(mp, op, rec: Recurrent, kind, hidden, dirs, bias, nonlinearity) -> bool:
    """Whether an operator reading ``rec``'s steps is one more layer of it: same
    settings, and the steps used for nothing else (torch exports a stacked LSTM
    as one operator per layer)."""
    node = mp.builder.graph.node(rec.node)
    return (
        node.type == kind and rec.hidden == hidden and rec.dirs == dirs and node.params["bias"] == bias
        and not rec.uses and mp.consumers[op.inputs[0]] == 1
        and node.params.get("nonlinearity", "tanh") == nonlinearity
    )


def _stack(mp, rec: Recurrent) -> Recurrent:
    """One more stacked layer on ``rec``."""
    rec.layers += 1
    mp.builder.graph.set_param(rec.node, "num_layers", rec.layers)
    return rec


def _recurrent_weights(kind, layer, dirs, hidden, w, r, b, names):
    """ONNX W, R, B of one layer as torch's weight_ih_l0, ... (gates reordered)."""
    order = GATE_ORDER[kind]

    def reorder(matrix):
        blocks = np.split(matrix, len(order), axis=0)
        return np.concatenate([blocks[i] for i in order], axis=0)

    weights, sources = {}, {}
    gates = len(order) * hidden
    for d in range(dirs):
        suffix = f"_l{layer}" + ("_reverse" if d else "")
        parts = {"weight_ih": w[d], "weight_hh": r[d]}
        if b is not None:
            parts["bias_ih"], parts["bias_hh"] = b[d][:gates], b[d][gates:]
        for key, value in parts.items():
            weights[key + suffix] = reorder(value)
            sources[key + suffix] = names[{"weight_ih": 0, "weight_hh": 1}.get(key, 2)]
    return weights, sources
