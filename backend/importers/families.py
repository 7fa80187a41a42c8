"""Importer rules of the layer families, joined to the importers' tables.

Each module in :data:`FAMILIES` may define ``FUNCTIONS`` and ``METHODS`` (torch
functions and tensor methods, as in
:data:`~layerloom.backend.importers.torch_rules.FUNCTION_RULES`), ``MODULES``
(``torch.nn`` classes, as in
:data:`~layerloom.backend.importers.torch_modules.MODULE_RULES`) and ``ONNX``
(operator types, as in :data:`~layerloom.backend.importers.onnx_rules.RULES`)
and ``ONNX_REWRITES`` (functions ``ops -> ops`` that fold an exporter's
multi-operator pattern into one operator, as
:func:`~layerloom.backend.importers.onnx_rules.rewrite` does for SiLU).
A family's rule replaces a general one for the same key: the family knows its
layer better.
"""

from __future__ import annotations

from layerloom.backend.importers import (
    onnx_rules,
    rules_attention,
    rules_conv,
    rules_recurrent,
    rules_resampling,
    rules_transformer,
    torch_modules,
    torch_rules,
)

FAMILIES: tuple = (
    rules_conv,
    rules_resampling,
    rules_attention,
    rules_recurrent,
    rules_transformer,
)

for _family in FAMILIES:
    torch_rules.FUNCTION_RULES.update(getattr(_family, "FUNCTIONS", {}))
    torch_rules.METHOD_RULES.update(getattr(_family, "METHODS", {}))
    torch_modules.MODULE_RULES.update(getattr(_family, "MODULES", {}))
    onnx_rules.RULES.update(getattr(_family, "ONNX", {}))
    onnx_rules.REWRITES.extend(getattr(_family, "ONNX_REWRITES", ()))
