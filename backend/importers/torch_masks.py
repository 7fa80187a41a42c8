"""Attention masks in a traced PyTorch model.

A model hands attention a mask in one of two ways, and LayerLoom keeps each:

* a **causal mask**, made from the sequence length only
  (``nn.Transformer.generate_square_subsequent_mask(T)``, ``torch.triu(ones,
  diagonal=1)``): the layer's ``causal`` flag. :func:`causal_flag` runs the
  traced model on two different inputs and accepts the mask when it is the same
  both times and hides exactly the positions above the diagonal (``True`` or
  ``-inf`` there, ``False`` or ``0`` elsewhere);
* a **key-padding mask** computed from an input (``tokens.bool()``,
  ``mask != 0``, ``mask.to(torch.bool)``): the layer's ``mask`` port, which reads
  non-zero as padding. The rules here make such a boolean of a tensor a
  :class:`~layerloom.backend.importers.rules_math.BoolMask`, which a mask argument accepts.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from layerloom.backend.export.common import example_inputs
from layerloom.backend.importers.common import Unsupported, Value, refuse
from layerloom.backend.importers.rules_math import BoolMask
from layerloom.backend.importers.torch_rules import arg


def padding_mask(mp, value) -> Value | None:
    """The tensor a key-padding mask argument marks padding with (non-zero), or
    ``None`` when no mask is given."""
    if value is None:
        return None
    entry = mp.entry(value)
    if isinstance(entry, BoolMask) and not entry.invert:
        return entry.value
    found = mp.tensor(value)
    refuse(found.dtype == "float",
           "is given a float key_padding_mask, which torch adds to the scores; LayerLoom's mask marks "
           "padding by non-zero values: pass a boolean mask (mask.bool() or tokens != 0)")
    return found


def _boolean(builds_masks: bool = False):
    """``x.to(torch.bool)``, ``x != 0``: a :class:`BoolMask` (with ``builds_masks``,
    first as :func:`_mask_builder`); other calls go to the rule this one took the
    place of (see :func:`families._join`)."""
    def rule(mp, node):
        if builds_masks and only_masks(node):
            return MASK_SOURCE
        entry = mp.entry(node.args[0])
        if isinstance(entry, Value) and _to_bool(node):
            return BoolMask(mp.builder.materialise(entry))
        if rule.previous is None:
            raise Unsupported()
        return rule.previous(mp, node)

    rule.previous = None
    return rule


def _to_bool(node) -> bool:
    if node.target == "bool":
        return len(node.args) == 1 and not node.kwargs
    if node.target == "to":
        return arg(node, 1, "dtype") is torch.bool
    if node.target in (operator.ne, torch.ne, "ne"):
        return arg(node, 1, "other") == 0
    return False


# ------------------------------------------------------------------ causal masks
MASK_ARGS = ("attn_mask", "tgt_mask", "src_mask", "mask")
MASK_BUILDERS = {torch.full, torch.ones, torch.zeros, torch.triu, torch.tril, torch.empty}
MASK_METHODS = ("masked_fill", "masked_fill_", "bool", "float", "to", "triu", "tril", "fill_")


class MaskSource:
    """A tensor made from sizes alone on the way to an attention mask argument
    (``torch.full``, ``torch.triu``, ...): no node; the layer's rule reads its
    value (:func:`causal_flag`)."""

    def __repr__(self) -> str:
        return "a tensor built from sizes (LayerLoom reads it as an attention mask only)"


MASK_SOURCE = MaskSource()


def only_masks(node: fx.Node, seen: frozenset = frozenset()) -> bool:
    """Whether every use of ``node`` ends as an attention layer's mask argument
    (through other mask-building calls)."""
    if not node.users:
        return False
    for user in node.users:
        if user in seen:
            continue
        if _builds_mask(user):
            if not only_masks(user, seen | {node}):
                return False
            continue
        if user.op in ("call_module", "call_function") and any(
                user.kwargs.get(name) is node for name in MASK_ARGS):
            if not any(a is node for a in user.args):
                continue
        if user.op == "call_function" and user.target is torch.nn.functional.scaled_dot_product_attention \
                and len(user.args) > 3 and user.args[3] is node:
            continue
        return False
    return True


def _builds_mask(node: fx.Node) -> bool:
    return (node.op == "call_function" and node.target in MASK_BUILDERS) or (
        node.op == "call_method" and node.target in MASK_METHODS)


def _mask_builder():
    """A call whose result only ever reaches attention mask arguments (the layer
    reads the mask itself); other calls go to the rule this one took the place of
    (see :func:`families._join`)."""
    def rule(mp, node):
        if only_masks(node):
            return MASK_SOURCE
        if rule.previous is None:
            raise Unsupported()
        return rule.previous(mp, node)

    rule.previous = None
    return rule
def value_of(mp, node: fx.Node, seed: int = 0):
    """The value ``node`` takes when the traced model runs on example inputs."""
    cache = mp.__dict__.setdefault("_mask_values", {})
    if seed not in cache:
        seen: dict[fx.Node, object] = {}

        class Keep(fx.Interpreter):
            def run_node(self, n):
                result = super().run_node(n)
                seen[n] = result
                return result

        inputs = example_inputs(mp.gm, mp.specs, 2 + seed, seed=seed)
        with torch.no_grad():
            Keep(mp.gm).run(*inputs)
        cache[seed] = seen
    return cache[seed].get(node)


def causal_flag(mp, mask, queries: int, keys: int, is_causal: bool = False) -> bool:
    """Whether the attention mask argument ``mask`` is the causal mask (``False``
    for none); any other mask is refused."""
    if mask is None:
        refuse(is_causal, "sets is_causal without a mask; give the causal mask too")
        return False
    if not isinstance(mask, fx.Node):
        raise Unsupported("is given a mask that is not a tensor")
    first, second = value_of(mp, mask, 0), value_of(mp, mask, 1)
    refuse(not isinstance(first, torch.Tensor) or not isinstance(second, torch.Tensor)
           or first.shape != second.shape or not torch.equal(first, second),
           "is given an attention mask computed from the inputs; LayerLoom's attention takes the causal "
           "mask only (and a key-padding mask)")
    refuse(not is_causal_mask(first, queries, keys),
           f"is given an attention mask {tuple(first.shape)} that is not the causal one (positions above "
           "the diagonal hidden); LayerLoom's attention takes the causal mask only")
    return True


def is_causal_mask(mask: torch.Tensor, queries: int, keys: int) -> bool:
    if tuple(mask.shape) != (queries, keys):
        return False
    above = torch.triu(torch.ones(queries, keys, dtype=torch.bool), diagonal=1)
    if mask.dtype == torch.bool:
        return torch.equal(mask, above)
    if not mask.is_floating_point():
        return False
    return bool(torch.isneginf(mask[above]).all()) and bool((mask[~above] == 0).all())


FUNCTIONS = {
    operator.ne: _boolean(),
    torch.ne: _boolean(),
    **{fn: _mask_builder() for fn in MASK_BUILDERS},
}
METHODS = {
    **{name: _mask_builder() for name in MASK_METHODS},
    "bool": _boolean(builds_masks=True),
    "to": _boolean(builds_masks=True),
    "ne": _boolean(),
}
