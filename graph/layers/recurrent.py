"""Recurrent layers: RNN, LSTM and GRU over a sequence ``(T, F)``, batch first.

Each returns every step's output ``(T, H·dirs)`` or, with ``return_sequences``
off, the last step ``(H·dirs,)``. With ``initial_state`` on, the layer reads its
starting hidden state on the port ``h0`` (and the LSTM's cell state on ``c0``);
with ``final_state`` on, it also gives its final states on ``h_n`` (and ``c_n``).
A state is ``(num_layers·dirs, H)`` per sample: the batch stays first, as
everywhere in LayerLoom, where torch keeps it in dim 1. For a bidirectional layer
"the last step" means what PyTorch's final hidden state ``h_n`` holds: the forward
direction after reading step ``T-1`` joined with the backward direction after
reading back to step ``0``. Parameter counts are exactly PyTorch's.
"""

from __future__ import annotations

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float, need_rank
from layerloom.graph.params import Bool, Choice, Float, Int
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

# Weight blocks per cell: the input/forget/cell/output gates of an LSTM, the
# reset/update/new gates of a GRU, a single block for a plain RNN.
GATES = {"rnn": 1, "gru": 3, "lstm": 4}

# Estimated element-wise FLOPs per hidden unit and step besides the matrix products
# (gate nonlinearities, products and sums of the cell update).
CELL_FLOPS = {"rnn": 1, "gru": 9, "lstm": 9}


def directions(p) -> int:
    return 2 if p["bidirectional"] else 1


def layer_inputs(p, features: int) -> list[int]:
    """Input size of each stacked layer: ``F`` first, then ``H·dirs``."""
    return [features] + [p["hidden_size"] * directions(p)] * (p["num_layers"] - 1)


def state_ports(type_id: str) -> tuple[str, ...]:
    """The state ports of a layer: ``h`` (and ``c`` for an LSTM)."""
    return ("h", "c") if type_id == "lstm" else ("h",)


def _inputs(type_id: str):
    def ports(p) -> tuple[str, ...]:
        return ("in", *(f"{s}0" for s in state_ports(type_id))) if p["initial_state"] else ("in",)

    return ports


def _outputs(type_id: str):
    def ports(p) -> tuple[str, ...]:
        return ("out", *(f"{s}_n" for s in state_ports(type_id))) if p["final_state"] else ("out",)

    return ports


def state_shape(p) -> tuple[int, int]:
    """``(num_layers·dirs, H)``: one sample's hidden (or cell) state."""
    return (p["num_layers"] * directions(p), p["hidden_size"])


def _check_states(name: str, type_id: str, p, ins) -> None:
    want = state_shape(p)
    for state in state_ports(type_id):
        t = ins.get(f"{state}0")
        if t is None:
            continue
        need_float(name, t)
        if t.shape != want:
            raise ShapeError(
                f"{name}: the initial state {state}0 must be (num_layers·dirs, hidden_size) = "
                f"{fmt_shape(want)} per sample; it receives {fmt_shape(t.shape)}",
                f"feed a state of shape {fmt_shape(want)}, e.g. the {state}_n of a layer "
                "with the same settings",
            )


def _rule(name: str, type_id: str):
    def rule(p, ins):
        t = ins["in"]
        need_float(name, t)
        need_rank(name, t, (2,), "a sequence (T, F)", "insert Reshape or Permute to (T, F)")
        if p["num_layers"] == 1 and p["dropout"] > 0:
            raise ShapeError(
                f"{name}: dropout {p['dropout']:g} acts only between stacked layers, "
                f"but num_layers is 1",
                "set num_layers to 2 or more, or set dropout to 0 (a Dropout layer after "
                "it drops values of the output instead)",
            )
        width = p["hidden_size"] * directions(p)
        steps = t.shape[0]
        shape = (steps, width) if p["return_sequences"] else (width,)
        _check_states(name, type_id, p, ins)
        outs = {"out": t.with_shape(shape)}
        if p["final_state"]:
            outs.update({f"{s}_n": TensorSpec(state_shape(p)) for s in state_ports(type_id)})
        return outs

    return rule


def _param_count(type_id: str):
    gates = GATES[type_id]

    def count(p, ins, outs):
        h = p["hidden_size"]
        per_direction = sum(
            gates * h * (size + h) + (2 * gates * h if p["bias"] else 0)
            for size in layer_inputs(p, ins["in"].shape[1])
        )
        return directions(p) * per_direction

    return count


def _flops(type_id: str):
    gates, cell = GATES[type_id], CELL_FLOPS[type_id]

    def flops(p, ins, outs):
        steps, features = ins["in"].shape
        h = p["hidden_size"]
        per_step = sum(
            2 * gates * h * (size + h) + (2 * gates * h if p["bias"] else 0) + cell * h
            for size in layer_inputs(p, features)
        )
        return steps * directions(p) * per_step

    return flops


RETURN_SEQUENCES_HELP = (
    "On: the output of every step (T, H·dirs). Off: only the last step (H·dirs,), "
    "equal to torch's final hidden state h_n; when bidirectional, the forward "
    "direction at step T-1 joined with the backward direction at step 0"
)


def _common_params(hidden_default: int) -> tuple:
    return (
        Int("hidden_size", hidden_default, "Features of the hidden state H (per direction)",
            minimum=1, maximum=100_000, key=True),
        Int("num_layers", 1, "Recurrent layers stacked on each other",
            minimum=1, maximum=16, key=True),
        Bool("bidirectional", False,
             "Also read the sequence backwards; outputs of both directions are joined (2·H)"),
        Float("dropout", 0.0,
              "Dropout on the outputs of each layer except the last, while training "
              "(needs num_layers of 2 or more)", minimum=0.0, maximum=1.0),
        Bool("bias", True, "Learn the bias vectors b_ih and b_hh"),
        Bool("return_sequences", False, RETURN_SEQUENCES_HELP, key=True),
        Bool("initial_state", False,
             "Read the starting state on input ports (h0, and c0 for an LSTM), each "
             "(num_layers·dirs, H) per sample; off: the state starts at zeros"),
        Bool("final_state", False,
             "Also give the final state on output ports (h_n, and c_n for an LSTM), each "
             "(num_layers·dirs, H) per sample"),
    )


def _examples(type_id: str) -> tuple[Example, ...]:
    states = {f"{s}0": TensorSpec((2, 4)) for s in state_ports(type_id)}
    return (
        Example({"in": TensorSpec((6, 8))}, {"hidden_size": 4}),
        Example({"in": TensorSpec((5, 3)), **states},
                {"hidden_size": 4, "bidirectional": True, "return_sequences": True,
                 "initial_state": True, "final_state": True}),
    )


def recurrent(type_id: str, name: str, doc: str, keywords: tuple[str, ...],
              extra: tuple = ()) -> LayerSpec:
    """Declaration of one recurrent layer type (``rnn``, ``lstm`` or ``gru``)."""
    return LayerSpec(
        type_id, name, "Recurrent", doc, (*_common_params(32), *extra), _rule(name, type_id),
        inputs=_inputs(type_id), outputs=_outputs(type_id),
        param_count=_param_count(type_id), flops=_flops(type_id),
        keywords=("recurrent", "sequence", "time series", "text", *keywords),
        examples=_examples(type_id),
    )


_LAST = "the last step is h_n of both directions"

SPECS = [
    recurrent(
        "rnn", "RNN",
        f"Plain (Elman) recurrent layer over a sequence (T, F), batch first; {_LAST}.",
        ("elman", "vanilla"),
        extra=(Choice("nonlinearity", "tanh", ("tanh", "relu"),
                      "Activation of the hidden state"),),
    ),
    recurrent(
        "lstm", "LSTM",
        f"Long short-term memory over a sequence (T, F), batch first; {_LAST}.",
        ("long short-term memory", "gates", "cell"),
    ),
    recurrent(
        "gru", "GRU",
        f"Gated recurrent unit over a sequence (T, F), batch first; {_LAST}.",
        ("gated recurrent unit", "gates"),
    ),
]
