"""Importer rules of the Recurrent family for the states of a layer.

ONNX: a LayerLoom RNN, LSTM or GRU whose states are ports (``initial_state``,
``final_state``) exports as the recurrent operator between ``Transpose`` operators
that move the batch of each state; torch's exporter records them all as one call
of LayerLoom's module class, so :mod:`~layerloom.backend.importers.onnx_modules`
folds the call into one operator and the fitter below proposes the settings.
The plain RNN is decomposed into its steps by the exporter and folds the same
way. A torch ``nn.LSTM`` in a user's model (not LayerLoom's class) is not folded:
its operator maps through :mod:`~layerloom.backend.importers.onnx_recurrent`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from layerloom.backend.importers.onnx_modules import FOLDED, Call, fitter, flat, module_rule
from layerloom.backend.importers.onnx_ops import Op
from layerloom.backend.importers.onnx_recurrent import _recurrent_weights

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


# ------------------------------------------------------------------ ONNX
def folded_rule(mp, op: Op):
    """A folded module call; when it holds ONNX recurrent operators, their W, R and
    B (gates in ONNX's order, directions joined) are first converted to the
    torch parameters the fitter's candidates load (``weight_ih_l0``, ...)."""
    inner = [o for o in op.attrs.get("ops", ()) if o.op_type in RECURRENT_OPS]
    if inner:
        op = _with_operator_weights(mp, op, inner)
    return module_rule(mp, op)


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
