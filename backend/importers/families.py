"""Importer rules of the layer families, joined to the importers' tables.

Each module in :data:`FAMILIES` may define ``FUNCTIONS`` and ``METHODS`` (torch
functions and tensor methods, as in
:data:`~layerloom.backend.importers.torch_rules.FUNCTION_RULES`), ``MODULES``
(``torch.nn`` classes, as in
:data:`~layerloom.backend.importers.torch_modules.MODULE_RULES`) and ``ONNX``
(operator types, as in :data:`~layerloom.backend.importers.onnx_rules.RULES`)
and ``ONNX_REWRITES`` (folds of operator patterns, as in
:data:`~layerloom.backend.importers.onnx_rules.REWRITES`).
A family's rule replaces a general one for the same key: the family knows its
layer better. A rule with a ``previous`` attribute receives the rule it replaced
and passes it the cases it does not handle.
"""

from __future__ import annotations

from layerloom.backend.importers import (
    onnx_rules,
    rules_attention,
    rules_conv,
    rules_math,
    rules_math_onnx,
    rules_norm_act,
    rules_norm_act_onnx,
    rules_recurrent,
    rules_resampling,
    rules_tensor,
    rules_tensor_onnx,
    rules_transformer,
    torch_modules,
    torch_rules,
)

# Where two families have a rule for one key, the later one must take a
# ``previous`` and pass it what it does not handle (tests/backend/test_families.py).
FAMILIES: tuple = (
    rules_tensor,
    rules_resampling,
    rules_norm_act,
    rules_norm_act_onnx,
    rules_math,
    rules_math_onnx,
    rules_tensor_onnx,
    rules_conv,
    rules_attention,
    rules_recurrent,
    rules_transformer,
)


def _join(table: dict, rules: dict) -> None:
    """Put ``rules`` into ``table``; a rule with a ``previous`` attribute is given
    the rule it replaces there (it handles some cases and leaves it the rest)."""
    for key, rule in rules.items():
        if hasattr(rule, "previous") and key in table:
            rule.previous = table[key]
        table[key] = rule


for _family in FAMILIES:
    _join(torch_rules.FUNCTION_RULES, getattr(_family, "FUNCTIONS", {}))
    _join(torch_rules.METHOD_RULES, getattr(_family, "METHODS", {}))
    _join(torch_modules.MODULE_RULES, getattr(_family, "MODULES", {}))
    _join(onnx_rules.RULES, getattr(_family, "ONNX", {}))
    onnx_rules.REWRITES.extend(getattr(_family, "ONNX_REWRITES", ()))
