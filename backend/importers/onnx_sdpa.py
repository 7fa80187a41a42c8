"""Folding ``F.scaled_dot_product_attention`` back into one node, in an ONNX file.

torch's exporter writes the function as matrix products and a softmax; it is no
module, so the exporter records no module for it, but every one of its operators
names the fx node it came from (``aten.scaled_dot_product_attention``).
:func:`tag_attention_calls` gives those operators (with the ``Unsqueeze`` and
mask conversion that LayerLoom's lowering puts around a masked 3-d call, and
the ``Squeeze`` after it) a module of their own, :data:`SDPA`, so that
:mod:`~layerloom.backend.importers.onnx_modules` folds each call into one
operator like a module's, and :func:`fit_attention` proposes the settings.
"""

from __future__ import annotations

import re

from layerloom.backend.importers.onnx_modules import Call, fitter
from layerloom.backend.importers.onnx_ops import Op

SDPA = "torch.nn.functional.scaled_dot_product_attention"
_FX_NAME = re.compile(r"^%(\w+) : .*target=torch\.ops\.aten\.(_?scaled_dot_product\w*attention\w*)")
_AROUND = ("Unsqueeze", "Equal", "Where", "Cast", "Not")


def _call_name(op: Op) -> str | None:
    found = _FX_NAME.match(op.fx_node or "")
    return found.group(1) if found else None


def tag_attention_calls(ops: list[Op], outputs=(), constants=()) -> list[Op]:
    """Add the pseudo-module :data:`SDPA` (named after the fx node) to the
    operators of each scaled dot-product attention call."""
    producers = {name: i for i, op in enumerate(ops) for name in op.outputs if name}
    consumers: dict[str, list[int]] = {}
    for i, op in enumerate(ops):
        for name in op.inputs:
            consumers.setdefault(name, []).append(i)
    calls: dict[str, set[int]] = {}
    for i, op in enumerate(ops):
        name = _call_name(op)
        if name:
            calls.setdefault(name, set()).add(i)
    for name, members in calls.items():
        _grow(ops, members, producers, consumers)
        for i in sorted(members):
            ops[i].modules = (*ops[i].modules, (f"{name}", SDPA))
    return ops


def _grow(ops, members: set[int], producers, consumers) -> None:
    """Take in the operators that only prepare the call's inputs (``Unsqueeze``,
    a mask's ``Equal``/``Where``) and a ``Squeeze`` that only reads its output."""
    changed = True
    while changed:
        changed = False
        for i in list(members):
            for name in ops[i].inputs:
                j = producers.get(name)
                if (j is not None and j not in members and ops[j].op_type in _AROUND
                        and all(c in members for c in consumers.get(name, []))):
                    members.add(j)
                    changed = True
    for i in list(members):
        for name in ops[i].outputs:
            users = consumers.get(name, [])
            if len(users) == 1 and users[0] not in members and ops[users[0]].op_type == "Squeeze":
                members.add(users[0])


@fitter(SDPA)
def fit_attention(call: Call):
    """Settings of a scaled dot-product attention call: a mask when it reads a
    fourth tensor; the scale is the default or found among the call's constants
    (q and k are each multiplied by the square root of the scale)."""
    if len(call.shapes) not in (3, 4):
        return
    masked = len(call.shapes) == 4
    scales = [0.0]
    for value in call.scalars:
        for scale in (value * value, value):
            if scale > 0 and all(abs(scale - s) > 1e-12 for s in scales):
                scales.append(scale)
    for scale in scales:
        for causal in ((False,) if masked else (False, True)):
            yield "scaled_dot_product_attention", {"mask": masked, "causal": causal, "scale": scale,
                                                   "dropout_p": 0.0}
