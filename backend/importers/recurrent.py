"""Following a recurrent layer's results to the one tensor LayerLoom's layer gives.

torch's ``nn.LSTM`` returns ``(output, (h_n, c_n))`` and ONNX's ``LSTM`` operator
returns time-major ``Y`` and ``Y_h``; LayerLoom's recurrent layers return either
every step's output or the last step (``return_sequences``). Models reach the last
step in a few usual ways: ``output[:, -1]``, ``h_n[-1]``, ``h_n.squeeze(0)``, or
for a bidirectional layer ``torch.cat((h_n[-2], h_n[-1]), dim=1)`` (also written as
the forward half of the last step joined with the backward half of the first).
The functions here follow those paths step by step on :class:`RecurrentPart`
values; anything else (the cell state, a lower layer's state, a middle step) is
refused with a message that says what the model uses.
"""

from __future__ import annotations

from collections.abc import Sequence

from layerloom.backend.importers.common import Recurrent, RecurrentPart, Unsupported, Value


def node_shape(rec: Recurrent) -> tuple[int, ...]:
    width = rec.hidden * rec.dirs
    return (rec.steps, width) if rec.mode == "seq" else (width,)


def materialise(part: RecurrentPart) -> Value:
    """The LayerLoom value of ``part``: every step (``seq``) or the last (``last``).

    Records the use on the layer, so the importer can choose ``return_sequences``
    (and refuse a model that needs both).
    """
    rec = part.rec
    width = rec.hidden * rec.dirs
    if part.kind == "seq":
        rec.uses.add("seq")
        shape = (rec.steps, width)
    elif part.kind == "last":
        rec.uses.add("last")
        shape = (width,)
    elif part.kind == "seq_tm":
        raise Unsupported(
            f"uses the time-major output (T, N, H) of the batch_first=False {rec.where} '{rec.key}' as it is; "
            "LayerLoom keeps the batch first: use output.transpose(0, 1) or a step (output[-1])")
    else:
        raise Unsupported(f"uses {describe(part)}, which LayerLoom's {rec.where} layer does not give")
    # In a first pass the layer may be built in the other mode; the value carries
    # the shape this use needs, and the importer maps again once it knows the uses.
    return Value(rec.node, "out", shape, shape)


def describe(part: RecurrentPart) -> str:
    names = {
        "call": "the (output, state) tuple",
        "state": "the (h_n, c_n) state",
        "hn": "the hidden state h_n",
        "cn": "the cell state c_n",
        "select_last": "one step of a bidirectional output",
        "select_first": "one step of a bidirectional output",
        "half_fwd": "one direction's last step",
        "half_bwd": "one direction's last step",
        "y": "the time-major output",
        "yt": "the time-major output",
        "seq_tm": "the time-major output",
    }
    return names.get(part.kind, part.kind)


def select_row(part: RecurrentPart, index: int) -> RecurrentPart:
    """``h_n[index]``: one (layer, direction) row; only the top layer's rows are
    the last step LayerLoom gives."""
    if part.kind != "hn":
        raise Unsupported(f"indexes {describe(part)}")
    rows = part.rows
    if not -len(rows) <= index < len(rows):
        raise Unsupported(f"indexes h_n with {index}, out of range for {len(rows)} rows")
    layer, direction = rows[index]
    rec = part.rec
    if layer != rec.layers - 1:
        raise Unsupported(
            f"uses the hidden state of layer {layer + 1} of {rec.layers}; LayerLoom's layer gives "
            "the last layer's only"
        )
    if rec.dirs == 1:
        return RecurrentPart(rec, "last")
    return RecurrentPart(rec, "half_fwd" if direction == 0 else "half_bwd")


def squeeze_rows(part: RecurrentPart) -> RecurrentPart:
    """``h_n.squeeze(0)`` of a one-row ``h_n``."""
    if part.kind != "hn" or len(part.rows) != 1:
        raise Unsupported(f"squeezes {describe(part)}")
    return select_row(part, 0)


def join_rows(parts: Sequence[RecurrentPart]) -> RecurrentPart:
    """``h_n`` rows joined along dim 0 (ONNX keeps one ``Y_h`` per layer)."""
    rec = parts[0].rec
    if any(p.kind != "hn" or p.rec is not rec for p in parts):
        raise Unsupported("joins hidden states of different layers")
    return RecurrentPart(rec, "hn", tuple(row for p in parts for row in p.rows))


def select_step(part: RecurrentPart, step: int, features: slice | None = None) -> RecurrentPart:
    """``output[:, step]`` (and ``[..., features]``) of the batch-first output."""
    rec = part.rec
    if part.kind != "seq":
        raise Unsupported(f"indexes {describe(part)}")
    if step < 0:
        step += rec.steps
    if step == rec.steps - 1:
        which = "last"
    elif step == 0 and rec.dirs == 2:
        which = "first"
    else:
        raise Unsupported(f"uses step {step} of {rec.steps} of the output; LayerLoom gives every step or the last")
    chosen = RecurrentPart(rec, "last") if rec.dirs == 1 and which == "last" else RecurrentPart(rec, f"select_{which}")
    if features is None or _whole(features, rec.hidden * rec.dirs):
        return chosen
    return slice_features(chosen, features)


def slice_features(part: RecurrentPart, features: slice) -> RecurrentPart:
    """One direction's half of a selected step of a bidirectional output."""
    rec = part.rec
    h = rec.hidden
    start, stop, step = features.indices(h * rec.dirs)
    if step != 1:
        raise Unsupported("slices the output with a step")
    if part.kind == "select_last" and (start, stop) == (0, h):
        return RecurrentPart(rec, "half_fwd")
    if part.kind == "select_first" and (start, stop) == (h, 2 * h):
        return RecurrentPart(rec, "half_bwd")
    raise Unsupported(f"slices features {start}:{stop} of {describe(part)}")


def join_halves(parts: Sequence[RecurrentPart]) -> RecurrentPart:
    """``cat((forward last step, backward last step), dim=-1)``: the last step of a
    bidirectional layer, as LayerLoom's layer gives it."""
    if len(parts) == 2 and [p.kind for p in parts] == ["half_fwd", "half_bwd"] and parts[0].rec is parts[1].rec:
        return RecurrentPart(parts[0].rec, "last")
    raise Unsupported("joins parts of recurrent outputs other than the forward and backward last steps")


def _whole(features: slice, width: int) -> bool:
    return features.indices(width) == (0, width, 1)
