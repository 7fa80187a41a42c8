"""Importer rules of TransformerDecoderLayer, Transformer and scaled dot-product
attention.

ONNX: the exporter decomposes all three; the decoder layer and the Transformer
are LayerLoom module classes that :mod:`~layerloom.backend.importers.onnx_modules`
folds by the module the exporter records, and scaled dot-product attention is
folded by the fx node its operators name (:mod:`~layerloom.backend.importers.onnx_sdpa`).
"""

from __future__ import annotations

from layerloom.backend.importers.onnx_sdpa import tag_attention_calls

ONNX_REWRITES = (tag_attention_calls,)
